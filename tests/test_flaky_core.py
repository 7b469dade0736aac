"""Flaky checks, pure: which checks passed only on a re-run, and how the report counts them."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.flaky import DAY, Flake, FlakyLog, flakes_on, parse_report, report_body

NOW = 1_800_000_000.0
SHA = "a" * 40


def run(
    run_id: int, name: str, conclusion: str | None, status: str = "completed"
) -> dict[str, Any]:
    return {"id": run_id, "name": name, "status": status, "conclusion": conclusion,
            "html_url": f"https://ci/{run_id}"}


@pytest.mark.parametrize(
    ("case", "runs", "flaky"),
    [
        ("failed, then passed", [run(1, "build", "failure"), run(2, "build", "success")],
         [("build", 1)]),
        ("listed newest first", [run(2, "build", "success"), run(1, "build", "failure")],
         [("build", 1)]),
        ("failed twice, then passed",
         [run(1, "build", "failure"), run(2, "build", "timed_out"), run(3, "build", "success")],
         [("build", 1), ("build", 2)]),
        ("passed first time", [run(1, "build", "success")], []),
        ("failed, then failed again", [run(1, "t", "failure"), run(2, "t", "failure")], []),
        ("failed, re-run still running",
         [run(1, "t", "failure"), run(2, "t", None, "in_progress")], []),
        ("cancelled, then passed: not a false alarm",
         [run(1, "t", "cancelled"), run(2, "t", "success")], []),
        ("another check's failure is not this one's",
         [run(1, "lint", "failure"), run(2, "build", "success")], []),
    ],
)
def test_flakes_on_a_commit(case: str, runs: list[dict[str, Any]],
                            flaky: list[tuple[str, int]]) -> None:
    assert [(f.check, f.run_id) for f in flakes_on(SHA, runs, NOW)] == flaky, case


def test_the_log_counts_each_failure_once_and_only_within_the_window() -> None:
    old = Flake("build", SHA, NOW - 20 * DAY, 1)
    log = FlakyLog((old,))
    seen = [Flake("build", SHA, NOW, 2), Flake("lint", SHA, NOW, 3)]
    updated = log.add(seen, NOW, 14)
    assert [f.run_id for f in updated.flakes] == [2, 3]  # the 20-day-old one fell out
    assert updated.add(seen, NOW, 14) == updated  # logged once
    later = updated.add([Flake("build", "b" * 40, NOW + DAY, 4)], NOW + DAY, 14)
    assert [(c, n) for c, n, _ in later.counts(NOW + DAY, 14)] == [("build", 2), ("lint", 1)]
    assert [(c, n) for c, n, _ in later.counts(NOW + 15 * DAY, 14)] == [("build", 1)]


def test_the_report_body_carries_its_log() -> None:
    log = FlakyLog((Flake("build", SHA, NOW, 9, "https://ci/9"),))
    body = report_body(log, NOW, 14)
    assert "| `build` | 1 | [2027-01-15 08:00 UTC](https://ci/9) on `aaaaaaa` |" in body
    assert parse_report(body) == log
    assert "No flaky check in the last 14 days." in report_body(FlakyLog(), NOW, 14)
    assert parse_report("an issue someone wrote") is None
