"""The pure bisection planner: what to ask CI next, and when the culprit is found or it stops."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest

from app.core.bisect import (
    ROUND_TIMEOUT,
    Answer,
    Ask,
    Bisection,
    Done,
    Mode,
    Outcome,
    Probe,
    Wait,
    begin_round,
    finish,
    next_step,
    record_answer,
    rounds_needed,
    start,
)

NOW = 1_000.0


def shas(n: int) -> tuple[str, ...]:
    return tuple(f"{i:02d}" + "a" * 38 for i in range(n))


def run(
    bisection: Bisection,
    answer: Callable[[str, int], Answer],
    *,
    limit: int = 50,
) -> tuple[Done, Bisection, list[tuple[str, ...]]]:
    """Drive the planner against a CI that answers `answer(sha, times asked before)`."""
    asked: list[tuple[str, ...]] = []
    counts: dict[str, int] = {}
    for _ in range(limit):
        step = next_step(bisection, NOW)
        if isinstance(step, Done):
            return step, finish(bisection, step), asked
        assert isinstance(step, Ask), step
        asked.append(step.shas)
        bisection = begin_round(bisection, [Probe(s) for s in step.shas], NOW)
        assert isinstance(next_step(bisection, NOW), Wait)
        for sha in step.shas:
            bisection = record_answer(bisection, sha, answer(sha, counts.get(sha, 0)), "link")
            counts[sha] = counts.get(sha, 0) + 1
    raise AssertionError("the bisection never stopped")


def culprit_at(suspects: tuple[str, ...], index: int) -> Callable[[str, int], Answer]:
    def answer(sha: str, _times: int) -> Answer:
        return Answer.RED if suspects.index(sha) >= index else Answer.GREEN

    return answer


@pytest.mark.parametrize("n", [2, 3, 4, 5, 7, 8, 9, 16, 17, 32, 33])
def test_every_culprit_is_found_in_at_most_log2_n_rounds_one_at_a_time(n: int) -> None:
    suspects = shas(n)
    for index in range(n):
        bisection = start(suspects, Mode.PROBE, max_rounds=10)
        assert bisection is not None
        done, final, asked = run(bisection, culprit_at(suspects, index))
        assert (done.outcome, done.culprit) == (Outcome.FOUND, suspects[index]), index
        assert len(asked) <= math.ceil(math.log2(n)) == rounds_needed(n)
        assert all(len(round_) == 1 for round_ in asked)  # one at a time
        flat = [s for round_ in asked for s in round_]
        assert len(flat) == len(set(flat))  # nobody asked twice
        assert suspects[-1] not in flat  # the first red already failed on the branch
        assert final.culprit == suspects[index] and not final.running


def test_eight_suspects_culprit_third_takes_three_rounds_and_asks_the_middle_first() -> None:
    suspects = shas(8)
    bisection = start(suspects, Mode.RERUN, runs=[(s, i) for i, s in enumerate(suspects)])
    assert bisection is not None
    done, _final, asked = run(bisection, culprit_at(suspects, 2))
    assert asked == [(suspects[3],), (suspects[1],), (suspects[2],)]
    assert done.culprit == suspects[2]
    assert done.reason.startswith(f"`{suspects[2][:7]}` is the first suspect that fails")
    assert "3 rounds" in done.reason


@pytest.mark.parametrize("n", [2, 3, 8, 32])
def test_in_parallel_one_round_asks_every_suspect(n: int) -> None:
    suspects = shas(n)
    for index in range(n):
        bisection = start(suspects, Mode.PROBE, parallel=True)
        assert bisection is not None
        done, _final, asked = run(bisection, culprit_at(suspects, index))
        assert (done.outcome, done.culprit) == (Outcome.FOUND, suspects[index])
        assert asked == [suspects]  # the first red too: does it fail again on its own ref?


def test_parallel_is_for_probe_refs_only() -> None:
    suspects = shas(4)
    bisection = start(suspects, Mode.RERUN, runs=[(s, 1) for s in suspects], parallel=True)
    assert bisection is not None and not bisection.parallel


@pytest.mark.parametrize(
    ("case", "suspects", "mode", "runs", "expected"),
    [
        ("one suspect is already the culprit", 1, Mode.PROBE, None, False),
        ("no suspect at all", 0, Mode.PROBE, None, False),
        ("probe refs can ask about any commit", 2, Mode.PROBE, None, True),
        ("re-runs need a run", 3, Mode.RERUN, [], False),
        ("only the first red has a run", 3, Mode.RERUN, [2], False),
        ("one older suspect has a run", 3, Mode.RERUN, [1], True),
        ("runs of other commits do not count", 3, Mode.RERUN, [7], False),
    ],
)
def test_start_only_when_bisection_can_help(
    case: str, suspects: int, mode: Mode, runs: list[int] | None, expected: bool
) -> None:
    commits = shas(max(suspects, 8))[:suspects]
    run_ids = [(shas(8)[i], 100 + i) for i in runs or []]
    assert (start(commits, mode, runs=run_ids) is not None) is expected, case


def test_rerun_mode_asks_only_commits_with_a_run_and_narrows_as_far_as_it_can() -> None:
    suspects = shas(8)
    runs = [(suspects[i], 100 + i) for i in (0, 5)]
    bisection = start(suspects, Mode.RERUN, runs=runs)
    assert bisection is not None
    done, _final, asked = run(bisection, culprit_at(suspects, 2))
    assert asked == [(suspects[5],), (suspects[0],)]  # the one nearest the middle first
    assert done.outcome is Outcome.INCONCLUSIVE
    assert done.candidates == suspects[1:6]
    assert "no GitHub Actions run of theirs can be re-run" in done.reason
    assert "5 suspects left" in done.reason


def test_the_round_budget_stops_it_with_what_is_left() -> None:
    suspects = shas(32)
    bisection = start(suspects, Mode.PROBE, max_rounds=2)
    assert bisection is not None
    done, final, asked = run(bisection, culprit_at(suspects, 9))
    assert len(asked) == 2 and done.outcome is Outcome.INCONCLUSIVE
    assert suspects[9] in done.candidates and len(done.candidates) == 8
    assert "`bisect_max_rounds`" in done.reason and final.candidates == done.candidates


def test_a_cancelled_answer_is_asked_again_in_a_new_round() -> None:
    suspects = shas(4)
    bisection = start(suspects, Mode.PROBE)
    assert bisection is not None

    def answer(sha: str, times: int) -> Answer:
        if sha == suspects[1] and times == 0:
            return Answer.CANCELLED  # a push to main cancelled the re-run
        return culprit_at(suspects, 1)(sha, times)

    done, _final, asked = run(bisection, answer)
    assert asked == [(suspects[1],), (suspects[1],), (suspects[0],)]
    assert done.culprit == suspects[1]


@pytest.mark.parametrize(
    ("case", "parallel", "answers", "says"),
    [
        (
            "every suspect green, the first red included",
            True,
            {0: "green", 1: "green", 2: "green", 3: "green"},
            "every suspect passed when CI was asked again",
        ),
        (
            "the first red passes on its probe",
            True,
            {0: "green", 1: "red", 2: "red", 3: "green"},
            "both passed and failed",
        ),
        (
            "a newer commit passes after an older one failed",
            True,
            {0: "red", 1: "green", 2: "red", 3: "red"},
            "passed although the older",
        ),
    ],
)
def test_inconsistent_answers_stop_it_and_say_why(
    case: str, parallel: bool, answers: dict[int, str], says: str
) -> None:
    suspects = shas(4)
    bisection = start(suspects, Mode.PROBE, parallel=parallel)
    assert bisection is not None
    done, _final, _asked = run(bisection, lambda sha, _t: Answer(answers[suspects.index(sha)]))
    assert done.outcome is Outcome.INCONSISTENT, case
    assert says in done.reason, case
    assert done.culprit is None and done.candidates == suspects


def test_a_flaky_probe_green_then_red_on_the_same_sha_stops_it() -> None:
    suspects = shas(8)
    bisection = start(suspects, Mode.PROBE)
    assert bisection is not None
    # Round 1 asks suspects[3]: green. A later answer about it (say, a re-delivered
    # answer recorded in a later round) says red: the same sha both passed and failed.
    bisection = begin_round(bisection, [Probe(suspects[3])], NOW)
    bisection = record_answer(bisection, suspects[3], Answer.GREEN)
    bisection = begin_round(bisection, [Probe(suspects[3])], NOW)
    bisection = record_answer(bisection, suspects[3], Answer.RED)
    step = next_step(bisection, NOW)
    assert isinstance(step, Done) and step.outcome is Outcome.INCONSISTENT
    assert f"`{suspects[3][:7]}` both passed and failed" in step.reason


def test_a_round_without_answer_times_out() -> None:
    suspects = shas(4)
    bisection = start(suspects, Mode.PROBE)
    assert bisection is not None
    bisection = begin_round(bisection, [Probe(suspects[1])], NOW)
    assert isinstance(next_step(bisection, NOW + ROUND_TIMEOUT - 1), Wait)
    step = next_step(bisection, NOW + ROUND_TIMEOUT)
    assert isinstance(step, Done) and step.outcome is Outcome.INCONCLUSIVE
    assert f"no answer about `{suspects[1][:7]}` within 60 minutes of round 1" in step.reason
    assert step.candidates == suspects


def test_the_marker_round_trip_continues_without_repeating_a_finished_round() -> None:
    suspects = shas(8)
    bisection = start(suspects, Mode.RERUN, runs=[(s, 10 + i) for i, s in enumerate(suspects)])
    assert bisection is not None
    first = next_step(bisection, NOW)
    assert first == Ask((suspects[3],))
    bisection = begin_round(bisection, [Probe(suspects[3], run_id=13, attempt=1)], NOW)
    bisection = record_answer(bisection, suspects[3], Answer.RED, "https://ci/13")
    second = next_step(bisection, NOW)
    assert second == Ask((suspects[1],))
    bisection = begin_round(bisection, [Probe(suspects[1], run_id=11, attempt=1)], NOW)
    # The process stops here; another one reads the marker back.
    restored = Bisection.from_json(bisection.to_json())
    assert restored == bisection
    assert isinstance(next_step(restored, NOW), Wait)  # round 2 is in flight, not asked again
    restored = record_answer(restored, suspects[1], Answer.GREEN)
    assert next_step(restored, NOW) == Ask((suspects[2],))
    done = finish(restored, Done(Outcome.FOUND, "found", suspects[2]))
    again = Bisection.from_json(done.to_json())
    assert next_step(again, NOW) == Done(Outcome.FOUND, "found", suspects[2])
    assert again.run_of(suspects[3]) == 13


def test_an_answer_is_recorded_once() -> None:
    suspects = shas(3)
    bisection = start(suspects, Mode.PROBE)
    assert bisection is not None
    bisection = begin_round(bisection, [Probe(suspects[0])], NOW)
    bisection = record_answer(bisection, suspects[0], Answer.GREEN, "first")
    bisection = record_answer(bisection, suspects[0], Answer.RED, "second")
    assert bisection.rounds[0].probes[0] == Probe(suspects[0], Answer.GREEN, "first")


def test_a_refused_question_is_not_asked_again() -> None:
    suspects = shas(4)
    bisection = start(suspects, Mode.RERUN, runs=[(s, 10 + i) for i, s in enumerate(suspects)])
    assert bisection is not None

    def answer(sha: str, _times: int) -> Answer:
        if sha == suspects[1]:
            return Answer.UNAVAILABLE  # "created over a month ago"
        return culprit_at(suspects, 2)(sha, _times)

    done, _final, asked = run(bisection, answer)
    assert asked == [(suspects[1],), (suspects[0],), (suspects[2],)]
    assert done.outcome is Outcome.INCONCLUSIVE and done.candidates == suspects[1:3]
