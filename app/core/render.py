"""Every text a human reads on GitHub: the incident issue, its comments, the post-mortem.

Pure functions of the incident. The issue body ends with the hidden marker
that makes the issue the single source of truth; `parse_marker` reads it back.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

from app.core.incident import Incident, Moment, State
from app.core.render_bisect import bisect_announcement, bisection_next_step, bisection_section
from app.core.revert_messages import Merger
from app.core.safety import human_duration

MARKER_RE = re.compile(r"<!-- buildsheriff: (\{.*?\}) -->", re.DOTALL)

STATE_EMOJI = {
    State.TRIAGE: "🔴",
    State.ACKNOWLEDGED: "🟠",
    State.MITIGATED: "🟢",
    State.RESOLVED: "✅",
}
STATE_WORDS = {
    State.TRIAGE: "Triage: nobody has taken it yet",
    State.ACKNOWLEDGED: "Acknowledged",
    State.MITIGATED: "Mitigated: the branch is green again",
    State.RESOLVED: "Resolved",
}

COMMANDS_HELP = (
    "| Comment | What it does |\n"
    "|---|---|\n"
    "| `/ack` or `I'm on it` | you own the incident |\n"
    "| `/status <text>` | post an update to the Slack thread and the timeline |\n"
    "| `/revert <sha>` | revert a commit now |\n"
    "| `/page` | page the on-call engineer |\n"
    "| `/mitigated` | the branch is safe again |\n"
    "| `/resolve` | close the incident and post the post-mortem |"
)


def sha7(sha: str | None) -> str:
    return (sha or "")[:7]


def render_marker(data: dict[str, Any]) -> str:
    # `--` may not appear inside an HTML comment; JSON never needs it escaped otherwise.
    text = json.dumps(data, separators=(",", ":"), sort_keys=True).replace("--", "-\\u002d")
    return f"<!-- buildsheriff: {text} -->"


def parse_marker(body: str | None) -> dict[str, Any] | None:
    if not body:
        return None
    match = MARKER_RE.search(body)
    if not match:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return data if isinstance(data, dict) else None


def issue_title(incident: Incident) -> str:
    names = ", ".join(c.name for c in incident.failing[:3]) or "CI"
    if len(incident.failing) > 3:
        names += f" and {len(incident.failing) - 3} more"
    return f"🔴 {incident.branch} is broken: {names} since {sha7(incident.first_red)}"


def _commit_line(incident: Incident, sha: str, repo_url: str) -> str:
    summary = next((c for c in incident.commits if c.sha == sha), None)
    url = summary.url if summary and summary.url else f"{repo_url}/commit/{sha}"
    if summary is None:
        return f"[`{sha7(sha)}`]({url})"
    author = f"@{summary.login}" if summary.login else summary.author
    line = f"[`{sha7(sha)}`]({url}) {summary.title} — {author}"
    if summary.pr:
        line += f" (#{summary.pr})"
    return line


def issue_body(incident: Incident, repo_url: str) -> str:
    parts: list[str] = [
        f"**{STATE_EMOJI[incident.state]} {STATE_WORDS[incident.state]}**"
        + (f" — owner @{incident.owner}" if incident.owner else ""),
        "",
        f"The `{incident.branch}` branch went red at "
        f"{_commit_line(incident, incident.first_red, repo_url)}.",
        "",
        "### What failed",
    ]
    for check in incident.failing:
        parts.append(f"- [{check.name}]({check.url})" if check.url else f"- {check.name}")
    if not incident.failing:
        parts.append("- (no check names were reported)")
    parts.append("")
    if incident.culprit:
        parts += ["### Culprit", f"- {_commit_line(incident, incident.culprit, repo_url)}", ""]
    elif incident.suspects:
        parts.append(f"### Suspects ({len(incident.suspects)} commits, oldest first)")
        parts += [f"- {_commit_line(incident, sha, repo_url)}" for sha in incident.suspects]
        parts.append("")
    else:
        parts += [
            "### Suspects",
            "- No green commit was found within reach; look at recent history.",
            "",
        ]
    if incident.bisection is not None:
        parts += bisection_section(incident.bisection)
    if incident.owners:
        parts.append("### Suggested resolution owners")
        parts += [f"- {o.who} ({o.why})" for o in incident.owners]
        parts.append("")
    parts += ["### What Build Sheriff is doing", _next_step(incident, repo_url), ""]
    parts += ["### Taking over", COMMANDS_HELP, ""]
    parts.append(render_marker(incident.marker()))
    return "\n".join(parts)


def _next_step(incident: Incident, repo_url: str) -> str:
    if incident.state is State.RESOLVED:
        return "Nothing more: the incident is resolved. The post-mortem is in the comments."
    if incident.state is State.MITIGATED:
        return (
            "The branch is green again. "
            "Resolve the incident with `/resolve` once the follow-ups are filed."
        )
    if incident.revert_pr:
        return (
            f"Reverting in [#{incident.revert_pr}]({repo_url}/pull/{incident.revert_pr}); "
            "it merges by itself as soon as CI passes. Close that PR to stop it."
        )
    if incident.refusal:
        return incident.refusal  # a whole sentence: "Not reverting ..."
    waiting = bisection_next_step(incident.bisection) if incident.bisection else None
    if waiting:
        return waiting
    if incident.culprit:
        return f"Opening a revert of `{sha7(incident.culprit)}`."
    return "Waiting for a human: use `/revert <sha>` to revert a suspect."


def duration(seconds: float) -> str:
    return human_duration(max(seconds, 0.0))


def announcement(kind: str, data: dict[str, Any], incident: Incident, repo_url: str) -> str:
    """The markdown of one piece of news (Slack's text: app.core.render_slack.to_mrkdwn)."""
    if kind == "revert_opened":
        how = {
            Merger.AUTO: "GitHub auto-merge is on: it merges by itself as soon as CI passes.",
            Merger.SHERIFF: "Auto-merge is not available here: Build Sheriff merges it as soon "
            "as CI passes.",
            Merger.QUEUE: "The branch requires a merge queue: Build Sheriff queues it as soon "
            "as CI passes.",
        }.get(data.get("merging", Merger.AUTO), "It is not set to merge by itself.")
        return f"↩️ Revert opened: [#{data['pr']}]({data['url']}). {how}"
    if kind == "revert_conflict":
        files = "\n".join(f"- `{f}`" for f in data.get("files", []))
        sha = data["sha"]
        return (
            f"⚠️ `{sha7(sha)}` cannot be reverted automatically: these files changed again since.\n"
            f"{files}\n\nTo revert by hand:\n```\ngit fetch origin {incident.branch}\n"
            f"git checkout -b revert-{sha7(sha)} origin/{incident.branch}\ngit revert {sha}\n```"
        )
    if kind == "revert_refused":
        return f"✋ {data['reason']}"  # the reason is a whole sentence: "Not reverting ..."
    if kind == "revert_merged":
        return f"✅ Revert #{data['pr']} merged. Waiting for CI on `{incident.branch}`."
    if kind == "green":
        return (
            f"🟢 `{incident.branch}` is green again at `{sha7(data['sha'])}` after being red for "
            f"{duration(data['red_for'])}. Incident mitigated; `/resolve` when done."
        )
    if kind == "red_again":
        return f"🔴 `{incident.branch}` is red again at `{sha7(data['sha'])}`: back to triage."
    if kind == "acknowledged":
        return f"🙋 @{data['actor']} is on it."
    if kind == "status":
        return f"📣 Update from @{data['actor']}: {data['text']}"
    if kind == "mitigated":
        return f"🟢 Marked mitigated by @{data['actor']}."
    if kind == "resolved":
        return f"✅ Resolved by @{data['actor']}."
    if kind == "reopened":
        return f"🔁 Reopened by @{data['actor']}: back to {data['state']}."
    if kind == "escalated":
        if data.get("actor"):
            return f"📟 @{data['actor']} paged the on-call engineer."
        return (
            f"📟 Nobody acknowledged within {duration(data.get('after', 0))}: "
            "paging the on-call engineer."
        )
    if kind == "note":
        return str(data["text"])
    if kind.startswith("bisect_"):
        return bisect_announcement(kind, data)
    return f"{kind}: {data}"


def _when(at: float) -> str:
    return datetime.fromtimestamp(at, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


TIMELINE_WORDS = {
    "detected": "Detected: `{branch}` red",
    "acknowledged": "Acknowledged by @{actor}",
    "status": "Update from @{actor}: {detail}",
    "revert_opened": "Revert opened: {detail}",
    "revert_conflict": "Revert conflicted: {detail}",
    "revert_refused": "Automatic revert refused ({detail})",
    "revert_empty": "{detail}",
    "revert_merged": "Revert merged: {detail}",
    "mitigated": "Mitigated ({detail})",
    "escalated": "Escalated to on-call",
    "resolved": "Resolved by @{actor}",
    "reopened": "Reopened by @{actor}",
    "still_red": "Still red at {detail}",
    "red_again": "Red again at {detail}",
    "bisect_round": "Bisection round {detail}",
    "bisect_done": "Bisection {detail}",
}


def timeline_line(moment: Moment, branch: str) -> str:
    template = TIMELINE_WORDS.get(moment.kind, moment.kind + " {detail}")
    text = template.format(branch=branch, actor=moment.actor or "someone", detail=moment.detail)
    return f"- {_when(moment.at)} — {text}"


def durations(incident: Incident) -> dict[str, float | None]:
    start = incident.opened_at

    def since(kind: str) -> float | None:
        moment = incident.first(kind)
        return None if moment is None else moment.at - start

    return {
        "acknowledge": since("acknowledged"),
        "mitigate": since("mitigated"),
        "resolve": since("resolved"),
    }


DURATION_NAMES = {
    "acknowledge": "Time to acknowledge",
    "mitigate": "Time to mitigate",
    "resolve": "Time to resolve",
}
FOLLOW_UPS = (
    "Close the issues and pull requests related to this incident",
    "Announce the resolution where the incident was announced",
    "Record the incident in the ops log",
    "Open follow-up issues for the root cause and for what would have caught it sooner",
    "Schedule a retrospective if it would be valuable",
)


def postmortem(incident: Incident) -> str:
    lines = ["## Post-mortem", "", "### Timeline"]
    lines += [timeline_line(m, incident.branch) for m in incident.timeline]
    lines += ["", "### Durations"]
    for key, seconds in durations(incident).items():
        lines.append(
            f"- {DURATION_NAMES[key]}: {duration(seconds) if seconds is not None else 'n/a'}"
        )
    lines += ["", "### Follow-ups"]
    lines += [f"- [ ] {item}" for item in FOLLOW_UPS]
    return "\n".join(lines)
