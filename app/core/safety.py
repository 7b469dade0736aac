"""Should Build Sheriff revert on its own, and what? The one place that decides it.

The shell reads the facts (`RevertFacts`: the suspects, what their commits say, what was
reverted already, how many reverts today); `revert_refusal` says why not (rails after
Chromium's and Flutter's bots) and `revert_target` what an automatic revert takes back
when nothing refuses. Each refusal names a stable rule id (for code and metrics) and a
sentence for people that says what happened and that `/revert <sha>` still works by
hand: a refusal stops the automation, never the humans.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from app.core.config import RepoConfig
from app.core.culprit import CulpritFacts, is_revert_message

OPT_OUT_MARKER = "NO_AUTO_REVERT"

RULES = (
    "auto_revert_off",
    "several_suspects",
    "no_culprit",
    "is_revert",
    "app_commit",
    "opt_out",
    "already_reverted",
    "daily_limit",
    "too_old",
)

_OPT_OUT = re.compile(rf"(?<![A-Za-z0-9_]){OPT_OUT_MARKER}(?![A-Za-z0-9_])", re.I)


@dataclass(frozen=True)
class Refusal:
    rule: str  # one of RULES
    reason: str  # one sentence for people, ending with how to revert by hand


@dataclass(frozen=True)
class RevertFacts:
    """What the shell read for the rails when an incident opens."""

    suspects: tuple[str, ...]  # every suspect, oldest first (app.core.builds.Analysis)
    commits: tuple[CulpritFacts, ...]  # those read (at most a bounded number), same order
    reverted: frozenset[str] = frozenset()  # of `commits`, the shas a human reverted already
    reverts_today: int = 0  # automatic reverts in this repository in the last 24 hours


def revert_target(suspects: Sequence[str], config: RepoConfig) -> tuple[str, ...]:
    """What an automatic revert takes back when nothing refuses: the one culprit, or with
    `revert_range` every suspect (oldest first); nothing when no single commit is to blame."""
    if len(suspects) == 1 or (len(suspects) > 1 and config.revert_range):
        return tuple(suspects)
    return ()


def commits_to_vet(suspects: Sequence[str], read: int, config: RepoConfig) -> tuple[str, ...]:
    """The suspects whose history the rails ask about (was it reverted already?), given
    that `read` of them were read: the target, when all of it was read."""
    target = revert_target(suspects, config)
    return target if len(target) <= read else ()


def revert_refusal(facts: RevertFacts, config: RepoConfig, now: float) -> Refusal | None:
    """Why the incident's suspects must not be reverted automatically, or None.

    One culprit passes every rail, or is refused. With `revert_range`, every suspect must
    pass the rails about a commit (not a revert, not ours, no opt-out, not already reverted,
    not too old); the daily limit counts the range as one revert."""
    target = revert_target(facts.suspects, config)
    if len(target) < 2 or len(facts.commits) < len(target):
        culprit = facts.commits[0] if facts.commits and len(facts.suspects) <= 1 else None
        return auto_revert_refusal(
            culprit,
            suspects=len(facts.suspects),
            config=config,
            reverts_today=facts.reverts_today,
            already_reverted=culprit is not None and culprit.sha in facts.reverted,
            now=now,
        )
    for commit in facts.commits:
        refusal = auto_revert_refusal(
            commit,
            suspects=1,
            config=config,
            reverts_today=facts.reverts_today,
            already_reverted=commit.sha in facts.reverted,
            now=now,
        )
        if refusal is not None:
            return refusal
    return None


def human_duration(seconds: float) -> str:
    """Say "45s", "15m", "2h 5m", "26h", "3d 4h": the two largest units, zero parts left out.

    Hours run up to 48 before days take over, so a 24h limit reads "24h", as configured.
    """
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    if total < 3600:
        big, small, units = total // 60, total % 60, "ms"
    elif total < 48 * 3600:
        big, small, units = total // 3600, total % 3600 // 60, "hm"
    else:
        big, small, units = total // 86400, total % 86400 // 3600, "dh"
    return f"{big}{units[0]}" + (f" {small}{units[1]}" if small else "")


def _by_hand(sha7: str | None) -> str:
    target = sha7 or "<sha>"
    return f"comment `/revert {target}` to revert it by hand"


def auto_revert_refusal(
    culprit: CulpritFacts | None,
    *,
    suspects: int,
    config: RepoConfig,
    reverts_today: int,
    already_reverted: bool,
    now: float,
) -> Refusal | None:
    """Why the culprit must not be reverted automatically, or None when it may be.

    The first rule that applies wins, in the order of RULES: the repository's own
    choices first, then facts about the commit, then the rate and age limits.
    """
    sha7 = culprit.sha[:7] if culprit else None
    if not config.auto_revert:
        what = f"{sha7}" if sha7 else "the culprit"
        return Refusal(
            "auto_revert_off",
            f"Not reverting {what} automatically: this repository sets `auto_revert: false`; "
            + _by_hand(sha7)
            + ".",
        )
    if suspects > 1 and not config.revert_range:
        return Refusal(
            "several_suspects",
            f"Not reverting automatically: {suspects} commits landed between the last green "
            "and the first red build, so there is no single culprit (set `revert_range: true` "
            "to revert them all); " + _by_hand(None) + " on the one to blame.",
        )
    if culprit is None:
        if suspects > 1:
            return Refusal(
                "several_suspects",
                f"Not reverting automatically: the {suspects} suspect commits could not be "
                "reverted as a range; " + _by_hand(None) + " on the one to blame.",
            )
        return Refusal(
            "no_culprit",
            "Not reverting automatically: no single commit could be blamed for the red "
            "build; " + _by_hand(None) + " once you find it.",
        )
    if is_revert_message(culprit.message):
        return Refusal(
            "is_revert",
            f"Not reverting {sha7} automatically: it is itself a revert, and reverting it "
            "would re-land the change that was pulled out; " + _by_hand(sha7) + ".",
        )
    if culprit.is_app_commit:
        return Refusal(
            "app_commit",
            f"Not reverting {sha7} automatically: Build Sheriff made that commit itself; "
            + _by_hand(sha7)
            + ".",
        )
    if _OPT_OUT.search(culprit.message):
        return Refusal(
            "opt_out",
            f"Not reverting {sha7} automatically: its message carries `{OPT_OUT_MARKER}`; "
            + _by_hand(sha7)
            + ".",
        )
    if already_reverted:
        return Refusal(
            "already_reverted",
            f"Not reverting {sha7} again: a revert of it already exists; "
            f"if that one did not land, {_by_hand(sha7)}.",
        )
    if reverts_today >= config.max_reverts_per_day:
        return Refusal(
            "daily_limit",
            f"Not reverting {sha7} automatically: {reverts_today} automatic revert"
            f"{'s' if reverts_today != 1 else ''} today already reach the limit of "
            f"{config.max_reverts_per_day} (`max_reverts_per_day`); " + _by_hand(sha7) + ".",
        )
    age = now - culprit.committed_at
    if age > config.max_culprit_age:
        return Refusal(
            "too_old",
            f"Not reverting {sha7} automatically: it was committed {human_duration(age)} ago, "
            f"longer than the {human_duration(config.max_culprit_age)} allowed "
            "(`max_culprit_age`); " + _by_hand(sha7) + ".",
        )
    return None


def unbisected_refusal(suspects_left: int) -> Refusal:
    """A bisection stopped without a culprit: the several-suspects rail applies."""
    return Refusal(
        "several_suspects",
        f"Not reverting automatically: bisection found no single culprit among the "
        f"{suspects_left} suspects left; " + _by_hand(None) + " on the one to blame.",
    )
