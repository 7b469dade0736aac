"""What an incident's next step is, from what GitHub holds: the heart of resuming.

Pure. Whatever stopped an incident half way (a GitHub error, a killed process, a lost
webhook), its issue says how far it got: the marker holds the culprit, the rails' refusal,
the revert PR's number and the timeline; the revert PR, when there is one, says whether it
merged. `due` reads those facts and names the steps that are due, so whoever looks next
(the next event about the repository, the reconciler) takes them, and each write those
steps make is idempotent (deterministic names, "already exists" means continue, hidden
step ids in comments), so a step taken twice is taken once.

Cheap by construction: everything but the revert PR's state comes from the marker already
read; the PR is asked for (`Step.READ_PR`) only by a caller that can afford one read
(the reconciler), and only while its merge is not recorded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from app.core.bisect import Outcome
from app.core.config import RepoConfig
from app.core.incident import OPEN_STATES, Incident, State
from app.core.safety import revert_target

# Timeline moments after which no automatic revert is due: it was refused, conflicted, found
# nothing to revert, or one was opened (a person may have closed it: theirs to reopen).
REVERT_SETTLED = ("revert_refused", "revert_conflict", "revert_empty", "revert_opened")


class Step(StrEnum):
    START_THREAD = "start-thread"  # no Slack thread yet: post its top message
    PAGE = "page"  # escalation is due: the core's Tick pages
    SEND_PAGE = "send-page"  # a page its provider did not take yet: send it (once)
    OPEN_REVERT = "open-revert"  # the culprit (or range) the rails allow has no revert PR
    READ_PR = "read-pr"  # the revert PR's state is needed to go on
    RECORD_MERGED = "record-merged"  # the revert merged and the incident does not say so
    LAND = "land"  # the revert PR is open: one landing step (arm, update, merge)


@dataclass(frozen=True)
class PullState:
    """The revert PR as GitHub shows it (GET /pulls/{n})."""

    state: str  # open | closed | merged
    merge_sha: str | None = None


@dataclass(frozen=True)
class Due:
    step: Step
    shas: tuple[str, ...] = ()  # OPEN_REVERT: what to revert, oldest first
    pr: int | None = None  # READ_PR, RECORD_MERGED, LAND
    merge_sha: str | None = None  # RECORD_MERGED


def revert_due(incident: Incident, config: RepoConfig) -> tuple[str, ...]:
    """What the incident should have reverted and has not even tried: its culprit (one
    suspect, or the one a bisection found), or with `revert_range` every suspect; () when
    nothing is due (refused, tried, running bisection, several suspects without a range)."""
    if incident.state not in OPEN_STATES or incident.revert_pr is not None:
        return ()
    if incident.refusal is not None or any(incident.first(k) for k in REVERT_SETTLED):
        return ()
    if incident.bisection is not None:
        found = incident.bisection.outcome is Outcome.FOUND and incident.bisection.culprit
        return (incident.bisection.culprit,) if found and incident.bisection.culprit else ()
    return revert_target(incident.suspects, config)


def due(
    incident: Incident,
    config: RepoConfig,
    now: float,
    *,
    slack: bool = False,
    pr: PullState | None = None,
) -> tuple[Due, ...]:
    """The steps due for `incident` now, in order. `slack`: Slack mirroring is on. `pr`: the
    revert PR as read (after a READ_PR)."""
    if incident.number is None or incident.state is State.RESOLVED:
        return ()
    steps: list[Due] = []
    if slack and not incident.slack_ts:
        steps.append(Due(Step.START_THREAD))
    if (
        incident.state is State.TRIAGE
        and not incident.paged
        and now - incident.opened_at >= config.escalate_after
    ):
        steps.append(Due(Step.PAGE))
    if incident.page_waiting and incident.state in OPEN_STATES:
        steps.append(Due(Step.SEND_PAGE))
    target = revert_due(incident, config)
    if target:
        steps.append(Due(Step.OPEN_REVERT, shas=target))
    elif incident.revert_pr is not None and not incident.first("revert_merged"):
        number = incident.revert_pr
        if pr is None:
            steps.append(Due(Step.READ_PR, pr=number))
        elif pr.state == "merged":
            steps.append(Due(Step.RECORD_MERGED, pr=number, merge_sha=pr.merge_sha))
        elif pr.state == "open" and incident.state in OPEN_STATES:
            steps.append(Due(Step.LAND, pr=number))
    return tuple(steps)


# ------------------------------------------------------------------ step ids

STEP_MARKER = "<!-- buildsheriff-step: {} -->"
# " echo": the comment is news also said in the incident's Slack thread (its reply carries
# the step id in its metadata), so a process that starts can say there what a dead one did not.
_STEP = re.compile(r"<!-- buildsheriff-step: ([0-9a-f]+)( echo)? -->")
# What may differ between two tries of the same step (who merges it, how long it was red):
# not part of the step's identity.
_VOLATILE = frozenset({"merging", "red_for", "url"})
# News whose id counts rounds, not timeline positions -> the moment that counts them: a
# state the incident enters (and the post-mortem of each resolution), and a revert's merge
# (said once per incident: decide() checks its moment first). Its id says how many such
# moments the incident had before, not where the timeline stood: a retry finds its comment
# whatever else was noted meanwhile (a page, a merge; a marker save that failed after the
# comment), and a second resolution after a reopen is news again.
_ROUND_OF = {"acknowledged": "acknowledged", "mitigated": "mitigated", "resolved": "resolved",
             "reopened": "reopened", "postmortem": "resolved",
             "revert_merged": "revert_merged"}


def news_position(incident: Incident | None, kind: str) -> int:
    """The `position` of `kind`'s step id for a decision taken on `incident` (as it was)."""
    timeline = incident.timeline if incident is not None else ()
    moment = _ROUND_OF.get(kind)
    if moment is None:
        return len(timeline)
    # negative, so never the same as a timeline's length
    return -1 - sum(1 for m in timeline if m.kind == moment)


def step_id(position: int, kind: str, data: Mapping[str, Any] | None = None) -> str:
    """The id of one comment a decision posts: where in the incident's timeline the decision
    started (`position`, the number of moments it had), what kind of news it is and what it
    says. The same decision retried from the same issue gets the same id, so a comment it
    already posted is found and not posted again."""
    stable = {k: v for k, v in (data or {}).items() if k not in _VOLATILE}
    text = json.dumps([position, kind, stable], sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def with_step(body: str, step: str, *, echo: bool = False) -> str:
    return f"{body}\n\n{STEP_MARKER.format(step + (' echo' if echo else ''))}"


def steps_in(body: str | None) -> set[str]:
    """The step ids a comment carries."""
    return {match.group(1) for match in _STEP.finditer(body or "")}


def echo_in(body: str | None) -> tuple[str, str] | None:
    """(step id, what it says) of a comment whose news is also said in Slack, else None."""
    match = _STEP.search(body or "")
    if match is None or not match.group(2):
        return None
    return match.group(1), (body or "")[: match.start()].rstrip()
