"""The pure judgement of commits and the culprit range."""

from __future__ import annotations

import pytest

from app.core.builds import (
    CheckResult,
    JudgedCommit,
    Verdict,
    analyse_history,
    check_outcome,
    judge_commit,
)


def all_count(_name: str) -> bool:
    return True


def run(name: str, outcome: str) -> CheckResult:
    return CheckResult(name, outcome, kind="check_run")


def status(name: str, state: str) -> CheckResult:
    return CheckResult(name, state, kind="status")


@pytest.mark.parametrize(
    ("results", "verdict"),
    [
        ([run("build", "success")], Verdict.GREEN),
        ([run("build", "failure")], Verdict.RED),
        ([run("build", "timed_out")], Verdict.RED),
        ([run("build", "startup_failure")], Verdict.RED),
        ([run("build", "action_required")], Verdict.RED),
        ([run("build", "cancelled")], Verdict.UNKNOWN),
        ([run("build", "cancelled"), run("lint", "success")], Verdict.GREEN),
        ([run("build", "skipped"), run("lint", "neutral")], Verdict.GREEN),
        ([run("build", "pending")], Verdict.PENDING),
        ([run("build", "success"), run("lint", "pending")], Verdict.PENDING),
        ([run("build", "failure"), run("lint", "pending")], Verdict.RED),
        ([status("ci/jenkins", "failure")], Verdict.RED),
        ([status("ci/jenkins", "error")], Verdict.RED),
        ([status("ci/jenkins", "pending")], Verdict.PENDING),
        ([status("ci/jenkins", "success")], Verdict.GREEN),
        ([], Verdict.UNKNOWN),
        # a re-run replaces the earlier attempt of the same name
        ([run("build", "failure"), run("build", "success")], Verdict.GREEN),
    ],
)
def test_judge_commit(results: list[CheckResult], verdict: Verdict) -> None:
    assert judge_commit(results, counts=all_count).verdict is verdict


def test_failing_checks_are_named() -> None:
    judged = judge_commit(
        [run("a", "failure"), run("b", "success"), status("c", "error")], counts=all_count
    )
    assert [c.name for c in judged.failing] == ["a", "c"]


def test_config_filter_decides_what_counts() -> None:
    results = [run("flaky-e2e", "failure"), run("build", "success")]
    judged = judge_commit(results, counts=lambda name: name != "flaky-e2e")
    assert judged.verdict is Verdict.GREEN


def test_required_checks_only_count_and_missing_ones_keep_pending() -> None:
    results = [run("optional", "failure"), run("build", "success")]
    assert judge_commit(results, counts=all_count, required=["build"]).verdict is Verdict.GREEN
    assert (
        judge_commit(results, counts=all_count, required=["build", "test"]).verdict
        is Verdict.PENDING
    )
    failing = [run("test", "failure")]
    assert (
        judge_commit(failing, counts=all_count, required=["build", "test"]).verdict is Verdict.RED
    )


def test_check_outcome() -> None:
    assert check_outcome("completed", "failure") == "failure"
    assert check_outcome("in_progress", None) == "pending"
    assert check_outcome("queued", None) == "pending"


def history(*verdicts: str) -> list[JudgedCommit]:
    """Newest first: history("R", "P", "G") is head red, then pending, then green."""
    word = {"R": Verdict.RED, "G": Verdict.GREEN, "P": Verdict.PENDING, "U": Verdict.UNKNOWN}
    return [JudgedCommit(f"c{len(verdicts) - i}", word[v]) for i, v in enumerate(verdicts)]


@pytest.mark.parametrize(
    ("verdicts", "first_red", "last_green", "suspects", "streak", "culprit"),
    [
        ("RG", "c2", "c1", ("c2",), 1, "c2"),
        ("RRG", "c2", "c1", ("c2",), 2, "c2"),
        ("RRRG", "c2", "c1", ("c2",), 3, "c2"),
        # pending commits between the last green and the first red are suspects too
        ("RPG", "c3", "c1", ("c2", "c3"), 1, None),
        ("PRG", "c2", "c1", ("c2",), 1, "c2"),
        ("RUPG", "c4", "c1", ("c2", "c3", "c4"), 1, None),
        ("RRUG", "c3", "c1", ("c2", "c3"), 2, None),
        # no green within reach: every walked commit up to the first red is suspect
        ("RR", "c1", None, ("c1",), 2, "c1"),
        ("RRP", "c2", None, ("c1", "c2"), 2, None),
    ],
)
def test_analyse_history(
    verdicts: str,
    first_red: str,
    last_green: str | None,
    suspects: tuple[str, ...],
    streak: int,
    culprit: str | None,
) -> None:
    analysis = analyse_history(history(*verdicts))
    assert analysis.first_red == first_red
    assert analysis.last_green == last_green
    assert analysis.suspects == suspects
    assert analysis.red_streak == streak
    assert analysis.culprit == culprit
    assert analysis.walked_to_limit == (last_green is None)


def test_green_head_has_no_suspects() -> None:
    analysis = analyse_history(history("G", "R"))
    assert analysis.first_red is None and analysis.suspects == ()


def test_empty_history_is_refused() -> None:
    with pytest.raises(ValueError):
        analyse_history([])
