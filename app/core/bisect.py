"""Bisection: find the one culprit among several suspects by asking CI about some of them.

Pure: the shell asks CI (re-runs a cancelled or skipped Actions run, or pushes a probe ref)
and records each answer; `next_step` reads what is known and says what to do next: ask about
these commits, wait for the round in flight, or stop, with the culprit or with the reason
there is none. The state is plain data, kept in the incident's marker, so any process can
take the next step after a restart, and a finished round is never asked again.

What is known: suspects are oldest first; the commit before the first one (the last green)
passed, and the last one (the first red) failed on the default branch. The culprit is the
first suspect that fails. Asked one commit at a time (re-runs share the default branch's
concurrency group, so they must not overlap), each round halves the candidates: at most
ceil(log2 N) rounds for N suspects. With probe refs in parallel, one round asks every
suspect at once, the first red included, so a red that does not reproduce shows.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import Any

# A round with no answer after this long stops the bisection (CI does not build probe refs,
# or a re-run waits behind a queue that never drains).
ROUND_TIMEOUT = 3600.0
PROBE_PREFIX = "buildsheriff/probe/"


class Mode(StrEnum):
    RERUN = "rerun"  # re-run the suspect's cancelled or skipped Actions run (on its own ref)
    PROBE = "probe"  # push buildsheriff/probe/<sha> and read that push's own check suites


class Answer(StrEnum):
    GREEN = "green"
    RED = "red"
    CANCELLED = "cancelled"  # CI said nothing about the code (superseded): ask again
    UNAVAILABLE = "unavailable"  # CI refused the question (a run too old to re-run)


class Outcome(StrEnum):
    FOUND = "found"
    INCONCLUSIVE = "inconclusive"  # out of rounds, of time, or of commits CI can be asked about
    INCONSISTENT = "inconsistent"  # the answers contradict each other: a flaky build


def probe_branch(sha: str) -> str:
    return PROBE_PREFIX + sha


def is_probe_branch(branch: str | None) -> bool:
    return bool(branch) and str(branch).startswith(PROBE_PREFIX)


@dataclass(frozen=True)
class Probe:
    """One question to CI about one commit, and its answer once there is one."""

    sha: str
    answer: Answer | None = None
    link: str | None = None  # where people can see the build that answered
    run_id: int | None = None  # re-run mode: the workflow run that was re-run
    attempt: int = 0  # re-run mode: the run's attempt before our re-run (ours is a later one)
    since: str | None = None  # re-run mode: the run's run_started_at before our re-run

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {"sha": self.sha}
        if self.answer is not None:
            data["answer"] = self.answer.value
        if self.link:
            data["link"] = self.link
        if self.run_id is not None:
            data["run_id"] = self.run_id
            data["attempt"] = self.attempt
        if self.since:
            data["since"] = self.since
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Probe:
        answer = data.get("answer")
        run_id = data.get("run_id")
        return cls(
            sha=str(data["sha"]),
            answer=Answer(answer) if answer else None,
            link=data.get("link"),
            run_id=int(run_id) if run_id is not None else None,
            attempt=int(data.get("attempt", 0)),
            since=data.get("since"),
        )


@dataclass(frozen=True)
class Round:
    number: int  # 1, 2, ...
    started_at: float
    probes: tuple[Probe, ...]

    @property
    def answered(self) -> bool:
        return all(p.answer is not None for p in self.probes)

    def to_json(self) -> dict[str, Any]:
        probes = [p.to_json() for p in self.probes]
        return {"n": self.number, "at": self.started_at, "probes": probes}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Round:
        return cls(
            number=int(data["n"]),
            started_at=float(data["at"]),
            probes=tuple(Probe.from_json(p) for p in data.get("probes", [])),
        )


@dataclass(frozen=True)
class Bisection:
    mode: Mode
    suspects: tuple[str, ...]  # oldest first; the last one is the first red
    runs: tuple[tuple[str, int], ...] = ()  # re-run mode: (sha, workflow run id) CI can re-run
    parallel: bool = False  # probe mode only: every suspect in one round
    max_rounds: int = 6
    rounds: tuple[Round, ...] = ()
    outcome: Outcome | None = None
    culprit: str | None = None
    reason: str = ""  # one sentence for people once it stopped
    candidates: tuple[str, ...] = ()  # still suspect when it stopped without a culprit

    @property
    def running(self) -> bool:
        return self.outcome is None

    def run_of(self, sha: str) -> int | None:
        return dict(self.runs).get(sha)

    def askable(self, sha: str) -> bool:
        refused = any(
            p.sha == sha and p.answer is Answer.UNAVAILABLE for r in self.rounds for p in r.probes
        )
        return not refused and (self.mode is Mode.PROBE or self.run_of(sha) is not None)

    @property
    def current(self) -> Round | None:
        return self.rounds[-1] if self.rounds else None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "mode": self.mode.value,
            "suspects": list(self.suspects),
            "parallel": self.parallel,
            "max_rounds": self.max_rounds,
            "rounds": [r.to_json() for r in self.rounds],
        }
        if self.runs:
            data["runs"] = [[sha, run_id] for sha, run_id in self.runs]
        if self.outcome is not None:
            data["outcome"] = self.outcome.value
            data["culprit"] = self.culprit
            data["reason"] = self.reason
            data["candidates"] = list(self.candidates)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Bisection:
        outcome = data.get("outcome")
        return cls(
            mode=Mode(data["mode"]),
            suspects=tuple(data["suspects"]),
            runs=tuple((str(sha), int(run_id)) for sha, run_id in data.get("runs", [])),
            parallel=bool(data.get("parallel", False)),
            max_rounds=int(data.get("max_rounds", 6)),
            rounds=tuple(Round.from_json(r) for r in data.get("rounds", [])),
            outcome=Outcome(outcome) if outcome else None,
            culprit=data.get("culprit"),
            reason=str(data.get("reason", "")),
            candidates=tuple(data.get("candidates", [])),
        )


# ------------------------------------------------------------------- steps


@dataclass(frozen=True)
class Ask:
    """Start a round: ask CI about these commits (one, or all of them in parallel)."""

    shas: tuple[str, ...]


@dataclass(frozen=True)
class Wait:
    """A round is in flight: wait for CI's answers."""


@dataclass(frozen=True)
class Done:
    outcome: Outcome
    reason: str
    culprit: str | None = None
    candidates: tuple[str, ...] = field(default_factory=tuple)


Step = Ask | Wait | Done


def rounds_needed(suspects: int) -> int:
    """The most rounds one commit at a time needs: ceil(log2 N)."""
    return math.ceil(math.log2(suspects)) if suspects > 1 else 0


def start(
    suspects: Iterable[str],
    mode: Mode,
    *,
    runs: Iterable[tuple[str, int]] = (),
    parallel: bool = False,
    max_rounds: int = 6,
) -> Bisection | None:
    """A new bisection, or None when it cannot help: one suspect (nothing to find), or in
    re-run mode no suspect but the first red has a run CI could re-run."""
    shas = tuple(suspects)
    if len(shas) < 2:
        return None
    bisection = Bisection(
        mode=mode,
        suspects=shas,
        runs=tuple((sha, run_id) for sha, run_id in runs if sha in shas),
        parallel=parallel and mode is Mode.PROBE,
        max_rounds=max_rounds,
    )
    if not any(bisection.askable(sha) for sha in shas[:-1]):
        return None
    return bisection


def next_step(bisection: Bisection, now: float) -> Step:
    """What to do next, from everything CI answered so far."""
    if bisection.outcome is not None:
        return Done(bisection.outcome, bisection.reason, bisection.culprit, bisection.candidates)
    current = bisection.current
    if current is not None and not current.answered:
        if now - current.started_at >= ROUND_TIMEOUT:
            silent = [_short(p.sha) for p in current.probes if p.answer is None]
            return _inconclusive(
                bisection,
                f"CI gave no answer about {_listing(silent)} within "
                f"{int(ROUND_TIMEOUT // 60)} minutes of round {current.number}",
                *_range(bisection),
            )
        return Wait()
    contradiction = _contradiction(bisection)
    if contradiction is not None:
        return Done(Outcome.INCONSISTENT, contradiction, None, bisection.suspects)
    lo, hi = _range(bisection)
    suspects = bisection.suspects
    if lo == hi:
        return Done(Outcome.FOUND, _found_reason(bisection, hi), suspects[hi])
    unknown = [i for i in range(lo, hi) if bisection.askable(suspects[i])]
    if bisection.parallel and not _asked(bisection, suspects[hi]):
        unknown.append(hi)  # does the first red fail again, on its own ref?
    if not unknown:
        return _inconclusive(
            bisection,
            f"CI cannot be asked about {_listing([_short(s) for s in suspects[lo:hi]])}: "
            + (
                "no GitHub Actions run of theirs can be re-run"
                if bisection.mode is Mode.RERUN
                else "CI refused every probe"
            ),
            lo,
            hi,
        )
    if len(bisection.rounds) >= bisection.max_rounds:
        return _inconclusive(
            bisection,
            f"the budget of {bisection.max_rounds} rounds (`bisect_max_rounds`) is spent",
            lo,
            hi,
        )
    if bisection.parallel:
        return Ask(tuple(suspects[i] for i in unknown))
    middle = (lo + hi - 1) // 2
    pick = min(unknown, key=lambda i: (abs(i - middle), i))
    return Ask((suspects[pick],))


def begin_round(bisection: Bisection, probes: Iterable[Probe], now: float) -> Bisection:
    round_ = Round(len(bisection.rounds) + 1, now, tuple(probes))
    return replace(bisection, rounds=(*bisection.rounds, round_))


def record_answer(
    bisection: Bisection, sha: str, answer: Answer, link: str | None = None
) -> Bisection:
    """CI answered about `sha` in the round in flight (an answered probe stays answered)."""
    current = bisection.current
    if current is None:
        return bisection
    probes = tuple(
        replace(p, answer=answer, link=link or p.link) if p.sha == sha and p.answer is None else p
        for p in current.probes
    )
    return replace(bisection, rounds=(*bisection.rounds[:-1], replace(current, probes=probes)))


def finish(bisection: Bisection, done: Done) -> Bisection:
    return replace(
        bisection,
        outcome=done.outcome,
        culprit=done.culprit,
        reason=done.reason,
        candidates=done.candidates,
    )


# --------------------------------------------------------------- reading


def verdicts(bisection: Bisection) -> dict[str, set[Answer]]:
    """Every green or red answer about each suspect; the first red failed on the branch."""
    known: dict[str, set[Answer]] = {sha: set() for sha in bisection.suspects}
    known[bisection.suspects[-1]].add(Answer.RED)
    for round_ in bisection.rounds:
        for probe in round_.probes:
            if probe.answer in (Answer.GREEN, Answer.RED) and probe.sha in known:
                known[probe.sha].add(probe.answer)
    return known


def _asked(bisection: Bisection, sha: str) -> bool:
    return any(
        p.sha == sha and p.answer in (Answer.GREEN, Answer.RED)
        for r in bisection.rounds
        for p in r.probes
    )


def _range(bisection: Bisection) -> tuple[int, int]:
    """(lo, hi): the culprit is one of suspects[lo..hi], hi the oldest known red."""
    known = verdicts(bisection)
    suspects = bisection.suspects
    greens = [i for i, sha in enumerate(suspects) if Answer.GREEN in known[sha]]
    reds = [i for i, sha in enumerate(suspects) if Answer.RED in known[sha]]
    hi = min(reds)
    lo = max((i + 1 for i in greens if i < hi), default=0)
    return lo, hi


def _contradiction(bisection: Bisection) -> str | None:
    known = verdicts(bisection)
    suspects = bisection.suspects
    if all(Answer.GREEN in known[sha] for sha in suspects):
        return (
            f"every suspect passed when CI was asked again, {_short(suspects[-1])} included, "
            "although it failed on the branch: the red build does not reproduce (a flaky check?)"
        )
    for sha in suspects:
        if {Answer.GREEN, Answer.RED} <= known[sha]:
            return (
                f"{_short(sha)} both passed and failed: its build is flaky, so no answer "
                "can be trusted"
            )
    greens = [i for i, sha in enumerate(suspects) if Answer.GREEN in known[sha]]
    reds = [i for i, sha in enumerate(suspects) if Answer.RED in known[sha]]
    late_green = max(greens, default=-1)
    early_red = min(reds)
    if late_green > early_red:
        return (
            f"{_short(suspects[late_green])} passed although the older "
            f"{_short(suspects[early_red])} failed: the answers contradict each other "
            "(a flaky check, or a break that needs two commits)"
        )
    return None


def _found_reason(bisection: Bisection, hi: int) -> str:
    culprit = bisection.suspects[hi]
    before = (
        f"{_short(bisection.suspects[hi - 1])} before it passed"
        if hi > 0
        else "the last green commit before it passed"
    )
    rounds = len(bisection.rounds)
    return (
        f"{_short(culprit)} is the first suspect that fails ({before}), "
        f"found in {rounds} round{'s' if rounds != 1 else ''} of CI"
    )


def _inconclusive(bisection: Bisection, why: str, lo: int, hi: int) -> Done:
    left = bisection.suspects[lo : hi + 1]
    return Done(
        Outcome.INCONCLUSIVE,
        f"{why}; {len(left)} suspect{'s' if len(left) != 1 else ''} left",
        None,
        left,
    )


def _short(sha: str) -> str:
    return f"`{sha[:7]}`"


def _listing(items: list[str]) -> str:
    if len(items) <= 3:
        return ", ".join(items)
    return ", ".join(items[:3]) + f" and {len(items) - 3} more"
