"""Every text the revert step writes: commit message, PR title and body, notices, replies.

Pure functions of their arguments, so tests read exactly what people will read.
Markers (`<!-- buildsheriff-... -->`) are hidden HTML comments: GitHub is the database,
and a marker is how a later process finds what an earlier one already said.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from app.core.culprit import CulpritFacts
from app.core.revert_moves import Followed

BRANCH_PREFIX = "buildsheriff/revert-"
_REVERT_MARKER = re.compile(r"<!--\s*buildsheriff-revert:\s*(\{.*?\})\s*-->", re.DOTALL)
BLOCKED_MARKER = "<!-- buildsheriff-revert-blocked -->"
CI_FAILED_MARKER = "<!-- buildsheriff-revert-ci-failed -->"
NOT_MERGEABLE_MARKER = "<!-- buildsheriff-revert-not-mergeable -->"
UPDATES_SPENT_MARKER = "<!-- buildsheriff-revert-updates-spent -->"
NO_METHOD_MARKER = "<!-- buildsheriff-revert-no-method -->"
JUMP_REFUSED_MARKER = "<!-- buildsheriff-revert-jump-refused -->"
# Hold notices alternate (held, released, held, ...): the last one says where things stand.
HOLD_MARKER = "<!-- buildsheriff-revert-hold: {state} -->"
QUEUE_LEFT_MARKER = "<!-- buildsheriff-revert-left-queue: {sha} -->"


def notice_marker(culprit_sha: str) -> str:
    """Hidden in the author's notice: one commit's notice, not another's on the same PR."""
    return f"<!-- buildsheriff-revert-notice: {culprit_sha} -->"


def revert_branch(culprit_sha: str) -> str:
    """The revert's branch: a function of the culprit, so creating it is the lock."""
    return BRANCH_PREFIX + culprit_sha


def revert_title(subject: str) -> str:
    # The git this project runs (2.39) writes `Revert "Revert "x""` for a revert of a
    # revert; later gits write `Reapply "x"`. We follow the git we are tested against.
    return f'Revert "{subject}"'


def revert_commit_message(
    subject: str,
    culprit_sha: str,
    *,
    mainline_parent: str | None = None,
    incident_url: str | None = None,
) -> str:
    """Exactly `git revert`'s message (sequencer.c), then a line linking the incident."""
    text = f"{revert_title(subject)}\n\nThis reverts commit {culprit_sha}"
    if mainline_parent:
        text += f", reversing\nchanges made to {mainline_parent}"
    text += ".\n"
    if incident_url:
        text += f"\nIncident: {incident_url}\n"
    return text


class Merger(StrEnum):
    """Who merges a revert PR once its checks pass: written in its body's marker, said in
    the incident's news. The values are the marker's words."""

    AUTO = "auto"  # GitHub's auto-merge
    SHERIFF = "sheriff"  # auto-merge was refused: app.handlers.revert_merge merges it
    QUEUE = "queue"  # the base requires a merge queue: Build Sheriff enqueues it on green
    NOBODY = "none"  # not set to merge by itself (not open, or a human disabled auto-merge)


def revert_marker(
    culprit_sha: str, incident: int | None, merge: Merger = Merger.AUTO, *, recorded: bool = False
) -> str:
    """`recorded`: the incident flow opened this PR and records it itself (its `opened`
    webhook needs no look at the issue; a stop before the record is a resumable step)."""
    fields: dict[str, object] = {"culprit": culprit_sha, "incident": incident, "merge": merge}
    if recorded:
        fields["recorded"] = True
    payload = json.dumps(fields, separators=(", ", ": "))
    return f"<!-- buildsheriff-revert: {payload} -->"


@dataclass(frozen=True)
class RevertMarker:
    culprit: str
    incident: int | None
    merge: Merger = Merger.AUTO  # who merges on green: AUTO, SHERIFF or QUEUE
    recorded: bool = False  # the incident flow records this PR itself


def parse_revert_marker(body: str | None) -> RevertMarker | None:
    """The culprit and incident a revert PR's body names, if it is one of ours."""
    match = _REVERT_MARKER.search(body or "")
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
    except ValueError:
        return None
    culprit = data.get("culprit") if isinstance(data, dict) else None
    if not isinstance(culprit, str):
        return None
    incident = data.get("incident")
    merge = data.get("merge")
    return RevertMarker(
        culprit,
        incident if isinstance(incident, int) else None,
        Merger(merge) if merge in (Merger.AUTO, Merger.SHERIFF, Merger.QUEUE) else Merger.AUTO,
        recorded=data.get("recorded") is True,
    )


def short(sha: str) -> str:
    return sha[:7]


def _culprit_line(c: CulpritFacts, culprit_pr: int | None) -> str:
    who = f"@{c.author_login}" if c.author_login else c.author_name or "an unknown author"
    via = f" from #{culprit_pr}" if culprit_pr else ""
    return f"This reverts [`{short(c.sha)}`]({c.html_url}) (“{c.subject}”){via} by {who}."


def revert_pr_body(
    culprit: CulpritFacts,
    *,
    culprit_pr: int | None,
    why_markdown: str,
    incident_number: int | None,
    mention: str | None = None,
    merge: Merger = Merger.AUTO,
    followed: Sequence[Followed] = (),
    hold_label: str = "do-not-merge",
    recorded: bool = False,
) -> str:
    """`culprit_pr`: the pull request that brought the culprit in, if any."""
    parts = [_culprit_line(culprit, culprit_pr), ""]
    parts += ["### Why", why_markdown.strip() or "_No reason was given._", ""]
    if followed:
        parts += [
            "### Files that moved",
            "Files the reverted commit changed have moved since; the revert follows them, "
            "as `git revert` does:",
            *(f"- `{f.old}` → `{f.new}`" for f in followed),
            "",
        ]
    if incident_number is not None:
        parts += [f"Incident: #{incident_number}", ""]
    if mention:
        parts += [_mention_note(mention), ""]
    parts += ["### Stopping the merge"]
    how = {
        Merger.QUEUE: "This branch requires a merge queue: Build Sheriff adds this pull request "
        "to it as soon as its checks pass",
        Merger.SHERIFF: "GitHub's auto-merge is not available here, so Build Sheriff merges "
        "this pull request itself as soon as its checks pass",
    }.get(merge, "This pull request merges itself as soon as its checks pass")
    stop = "**close this pull request**"
    if merge == Merger.AUTO:
        stop += " or **disable auto-merge** on it"
    parts.append(
        f"{how}, without waiting for review: reverting is how the branch gets green again. "
        f"To hold it, **convert it to a draft** or label it `{hold_label}` (undo that to let "
        f"it go); to stop it for good, {stop}."
    )
    parts += [
        "To land the change again, revert this revert once the fix is ready.",
        "",
        revert_marker(culprit.sha, incident_number, merge, recorded=recorded),
    ]
    return "\n".join(parts)


def _mention_note(login: str) -> str:
    return (
        f"@{login}: you wrote the reverted commit. GitHub would not let me request your review "
        "(you are not a collaborator with access), so I am mentioning you instead."
    )


def culprit_notice(
    culprit: CulpritFacts, *, pr_number: int, pr_url: str, incident_number: int | None
) -> str:
    """Posted where the author works (the culprit's PR, else the commit)."""
    who = f"@{culprit.author_login} " if culprit.author_login else ""
    incident = f" (incident #{incident_number})" if incident_number is not None else ""
    return (
        f"{who}Build Sheriff opened #{pr_number} to revert `{short(culprit.sha)}`{incident}: "
        f"the branch went red after it landed. Details and failing checks: {pr_url}\n\n"
        "If the revert is wrong, close that pull request before its checks finish. "
        "To land the change again, push a fix and revert the revert.\n"
        f"{notice_marker(culprit.sha)}"
    )


def manual_revert_commands(
    culprit_sha: str, base_branch: str, *, is_merge: bool, paths: Sequence[str]
) -> str:
    mainline = "-m 1 " if is_merge else ""
    branch = revert_branch(culprit_sha)
    listed = "".join(f"#   {p}\n" for p in paths)
    return (
        "```sh\n"
        "git fetch origin\n"
        f"git switch -c {branch} origin/{base_branch}\n"
        f"git revert {mainline}{culprit_sha}\n"
        f"# resolve the conflicts in:\n{listed}"
        "git add -A && git revert --continue\n"
        f"git push -u origin {branch}\n"
        "```"
    )


def conflict_text(
    culprit_sha: str,
    base_branch: str,
    *,
    is_merge: bool,
    conflicts: Sequence[tuple[str, str]],
) -> str:
    """Why no revert PR could be opened, and the exact commands to do it by hand."""
    lines = [
        f"`{short(culprit_sha)}` cannot be reverted automatically on `{base_branch}`: "
        "files it changed were changed again since.",
        "",
    ]
    lines += [f"- `{path}`: {reason}" for path, reason in conflicts]
    lines += ["", "To revert it by hand:", ""]
    lines.append(
        manual_revert_commands(
            culprit_sha, base_branch, is_merge=is_merge, paths=[p for p, _ in conflicts]
        )
    )
    return "\n".join(lines)


def empty_text(culprit_sha: str, base_branch: str, reason: str) -> str:
    return f"Nothing to revert for `{short(culprit_sha)}` on `{base_branch}`: {reason}."


def blocked_text(base_branch: str, github_message: str, *, auto_merge_allowed: bool = True) -> str:
    """Branch protection refused the merge: say what an admin must change."""
    lowered = github_message.lower()
    if "review" in lowered or "approv" in lowered:
        change = (
            "an approving review is required. Someone with write access can approve this pull "
            f"request, or an admin can let Build Sheriff bypass the pull-request rule on "
            f"`{base_branch}` (Settings → Branches or Rules → bypass list)"
        )
        if not auto_merge_allowed:
            change += (
                "; with **Allow auto-merge** on (Settings → General → Pull Requests), GitHub "
                "would merge it by itself as soon as it is approved"
            )
    elif "authorized" in lowered or "restrict" in lowered or "push" in lowered:
        change = (
            f"pushes to `{base_branch}` are restricted. An admin must add the Build Sheriff app "
            "to the branch's push allowances (or the ruleset's bypass list)"
        )
    else:
        change = (
            f"branch protection on `{base_branch}` forbids it. An admin must allow the "
            "Build Sheriff app to merge (bypass list), or someone must merge it by hand"
        )
    return (
        f"The revert's checks passed, but GitHub refused to merge it: {change}.\n\n"
        f"GitHub said: “{github_message}”\n{BLOCKED_MARKER}"
    )


def ci_failed_text(failed: Sequence[str]) -> str:
    names = ", ".join(f"`{n}`" for n in failed) or "a check"
    return (
        f"The revert's own checks failed ({names}), so I will not merge it. "
        "Over to humans: fix forward, or push to this branch and merge by hand.\n"
        f"{CI_FAILED_MARKER}"
    )


def not_mergeable_text(github_message: str) -> str:
    return (
        "The revert's checks passed, but GitHub says it cannot be merged "
        f"(“{github_message}”). The branch probably moved on; please merge or update it by "
        f"hand.\n{NOT_MERGEABLE_MARKER}"
    )


# ----------------------------------------------------------------- /revert replies


def reply_opened(pr_url: str, *, created: bool) -> str:
    if created:
        return f"Opened {pr_url} to revert this. It merges itself once its checks pass."
    return f"A revert is already open or done: {pr_url}"


def reply_not_allowed(login: str) -> str:
    return (
        f"Sorry @{login}, only people with write access to this repository can use `/revert`. "
        "Please ask a maintainer."
    )


def reply_pr_not_merged(number: int) -> str:
    return f"#{number} is not merged, so there is nothing to revert. Close it instead."


def reply_rebase_merged(number: int, last_sha: str, count: int) -> str:
    return (
        f"#{number} was rebase-merged as {count} commits, so reverting its last commit alone "
        "would leave the others in. Revert them together by hand:\n\n"
        f"```sh\ngit revert --no-edit {last_sha}~{count}..{last_sha}\n```\n"
        "or `/revert <sha>` one commit at a time."
    )


def reply_not_on_branch(sha: str, branch: str) -> str:
    return f"`{short(sha)}` is not on `{branch}`, so I will not revert it from there."


def reply_unknown_commit(sha: str) -> str:
    return f"I cannot find commit `{sha}` in this repository."


def reply_need_sha() -> str:
    return "Which commit? Write `/revert <sha>`."


def reply_failed(detail: str) -> str:
    return f"I could not open the revert: {detail}"
