"""What Slack shows: mrkdwn and Block Kit, never GitHub markdown.

Slack's mrkdwn has no headings, tables or task lists, writes bold with one `*` and links
as `<url|text>`, and pings a person only as `<@U…>`. GitHub logins become mentions when
the repository's `slack_users:` maps them; any other `@login` is left for the Slack
outbox, which may find the person by their commit email, or else writes the plain name.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from app.core.incident import Incident
from app.core.render import (
    DURATION_NAMES,
    FOLLOW_UPS,
    STATE_EMOJI,
    STATE_WORDS,
    duration,
    durations,
    sha7,
    timeline_line,
)

# Block Kit's limits (Slack refuses the whole message with invalid_blocks beyond them)
HEADER_MAX_CHARS = 150
SECTION_MAX_CHARS = 3000
FIELD_MAX_CHARS = 2000
MAX_BLOCKS = 50

_FENCE = re.compile(r"(```.*?```)", re.DOTALL)
_LINK = re.compile(r"\[([^\]\n]+)\]\(([^)\s]+)\)")
_BOLD = re.compile(r"\*\*([^*\n]+)\*\*")
_HEADING = re.compile(r"^#{1,6}[ \t]+(.+?)[ \t]*#*[ \t]*$", re.MULTILINE)
_TASK = re.compile(r"^([ \t]*)[-*+][ \t]+\[( |x|X)\][ \t]+", re.MULTILINE)
_BULLET = re.compile(r"^([ \t]*)[-*+][ \t]+", re.MULTILINE)
# `@login` (GitHub: letters, digits, single hyphens): not inside an email or `<@U…>`
MENTION = re.compile(r"(?<![\w@<])@([A-Za-z0-9](?:[A-Za-z0-9-]{0,37}[A-Za-z0-9])?)(?![\w-])")
_SLACK_ID = re.compile(r"[UW][A-Z0-9]{2,}")

UNCHECKED, CHECKED = "☐", "☑"


def escape(text: str) -> str:
    """Slack's three control characters; everything else is literal."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def mention(login: str, slack_users: Mapping[str, str]) -> str:
    """`<@U…>` for a mapped GitHub login; otherwise `@login`, for the outbox to resolve."""
    user_id = lookup_slack_user(login, slack_users)
    return f"<@{user_id}>" if user_id else f"@{login}"


def lookup_slack_user(login: str, slack_users: Mapping[str, str]) -> str | None:
    """The Slack id the config maps `login` to (GitHub logins ignore case)."""
    wanted = login.casefold()
    for known, user_id in slack_users.items():
        if known.casefold() == wanted and _SLACK_ID.fullmatch(user_id):
            return user_id
    return None


def _outside_code(markdown: str, slack_users: Mapping[str, str]) -> str:
    text = escape(markdown)
    text = _LINK.sub(lambda m: f"<{m.group(2)}|{m.group(1)}>", text)
    text = _HEADING.sub(lambda m: f"*{m.group(1)}*", text)
    text = _TASK.sub(lambda m: f"{m.group(1)}{UNCHECKED if m.group(2) == ' ' else CHECKED} ", text)
    text = _BULLET.sub(lambda m: f"{m.group(1)}• ", text)
    text = _BOLD.sub(lambda m: f"*{m.group(1)}*", text)
    return MENTION.sub(lambda m: mention(m.group(1), slack_users), text)


def to_mrkdwn(markdown: str, slack_users: Mapping[str, str] | None = None) -> str:
    """GitHub markdown (as the issue shows it) to Slack mrkdwn; code blocks stay as written."""
    users = slack_users or {}
    parts = _FENCE.split(markdown)
    return "".join(
        escape(part) if index % 2 else _outside_code(part, users)
        for index, part in enumerate(parts)
    )


def plain(text: str, limit: int) -> dict[str, Any]:
    """A plain_text object cut to `limit` characters (header blocks take 150)."""
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    return {"type": "plain_text", "text": text}


def section(mrkdwn: str) -> dict[str, Any]:
    if len(mrkdwn) > SECTION_MAX_CHARS:
        mrkdwn = mrkdwn[: SECTION_MAX_CHARS - 1] + "…"
    return {"type": "section", "text": {"type": "mrkdwn", "text": mrkdwn}}


def sections(title: str, lines: list[str]) -> list[dict[str, Any]]:
    """A bold title and its lines, in as many section blocks as Slack's size limit needs."""
    blocks: list[dict[str, Any]] = []
    chunk = f"*{title}*"
    for line in lines:
        if len(chunk) + 1 + len(line) > SECTION_MAX_CHARS:
            blocks.append(section(chunk))
            chunk = line
        else:
            chunk += "\n" + line
    blocks.append(section(chunk))
    return blocks


def incident_people(incident: Incident) -> dict[str, str | None]:
    """GitHub login -> the commit email Slack may know them by (None: no email worth asking).

    GitHub's noreply addresses belong to nobody's Slack account."""
    people: dict[str, str | None] = {}
    for commit in incident.commits:
        if not commit.login:
            continue
        email = commit.email if commit.email and not is_noreply(commit.email) else None
        if people.get(commit.login) is None:
            people[commit.login] = email
    return people


def is_noreply(email: str) -> bool:
    """GitHub's private addresses (`ID+login@users.noreply.github.com`, and GHES's own)."""
    domain = email.rpartition("@")[2].casefold()
    return domain.startswith("users.noreply.") or domain == "noreply.github.com"


def slack_top(
    incident: Incident, repo: str, repo_url: str, slack_users: Mapping[str, str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The thread's top-level message: edited in place so its state line is always current."""
    users = slack_users or {}
    issue_url = f"{repo_url}/issues/{incident.number}" if incident.number else repo_url
    state_line = f"{STATE_EMOJI[incident.state]} *{STATE_WORDS[incident.state]}*"
    if incident.owner:
        state_line += f" — owner {mention(incident.owner, users)}"
    checks = ", ".join(
        f"<{c.url}|{escape(c.name)}>" if c.url else escape(c.name) for c in incident.failing
    )
    if incident.culprit:
        culprit = f"<{repo_url}/commit/{incident.culprit}|{sha7(incident.culprit)}>"
        summary = next((c for c in incident.commits if c.sha == incident.culprit), None)
        if summary:
            who = mention(summary.login, users) if summary.login else escape(summary.author)
            culprit += f" {escape(summary.title)} — {who}"
    else:
        culprit = f"{len(incident.suspects)} suspects"
        if incident.bisection is not None and incident.bisection.running:
            culprit += ", bisecting"
    links = f"<{issue_url}|Incident #{incident.number}>"
    if incident.revert_pr:
        links += f" · <{repo_url}/pull/{incident.revert_pr}|Revert #{incident.revert_pr}>"
    title = f"{incident.branch} is broken in {repo}"
    text = f"{escape(title)}: {state_line}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(title, HEADER_MAX_CHARS)},
        section(state_line),
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": _cut(f"*Failing*\n{checks or 'CI'}", FIELD_MAX_CHARS)},
                {"type": "mrkdwn", "text": _cut(f"*Culprit*\n{culprit}", FIELD_MAX_CHARS)},
            ],
        },
        {"type": "context", "elements": [{"type": "mrkdwn", "text": links}]},
    ]
    return text, blocks


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def postmortem_slack(
    incident: Incident, repo: str, repo_url: str, slack_users: Mapping[str, str] | None = None
) -> tuple[str, list[dict[str, Any]]]:
    """The post-mortem as Block Kit: a header block, bold section titles, ☐ follow-ups."""
    users = slack_users or {}
    issue_url = f"{repo_url}/issues/{incident.number}" if incident.number else repo_url
    timeline = [
        to_mrkdwn(timeline_line(m, incident.branch), users) for m in incident.timeline
    ] or ["• (nothing recorded)"]
    spans = [
        f"• {DURATION_NAMES[key]}: {duration(seconds) if seconds is not None else 'n/a'}"
        for key, seconds in durations(incident).items()
    ]
    follow_ups = [f"{UNCHECKED} {escape(item)}" for item in FOLLOW_UPS]
    title = f"Post-mortem: {incident.branch} in {repo}"
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": plain(title, HEADER_MAX_CHARS)},
        *sections("Durations", spans),
        *sections("Follow-ups", follow_ups),
        {"type": "context", "elements": [
            {"type": "mrkdwn", "text": f"<{issue_url}|Incident #{incident.number}> is resolved."}
        ]},
    ]
    timeline_blocks = sections("Timeline", timeline)
    room = MAX_BLOCKS - len(blocks)
    if len(timeline_blocks) > room:
        timeline_blocks = [
            *timeline_blocks[: room - 1],
            section(f"… the rest of the timeline is in <{issue_url}|the issue>."),
        ]
    blocks[1:1] = timeline_blocks  # the timeline first, under the header
    text = f"*Post-mortem* of <{issue_url}|incident #{incident.number}> ({escape(repo)})"
    return text, blocks
