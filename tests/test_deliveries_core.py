"""app.core.deliveries: which failed webhook deliveries to ask GitHub for again."""

from __future__ import annotations

import pytest

from app.core.deliveries import DeliveryAttempt, to_redeliver

NOW = 1_800_000_000.0
HOUR = 3600.0


def a(id: int, guid: str, age_h: float, code: int) -> DeliveryAttempt:
    return DeliveryAttempt(id=id, guid=guid, delivered_at=NOW - age_h * HOUR, status_code=code)


@pytest.mark.parametrize(
    ("attempts", "processed", "budget", "expected", "failed_here"),
    [
        # nothing answered (0), a proxy's 502, our 503 while busy: ask again
        ([a(1, "g1", 1, 0), a(2, "g2", 1, 502), a(3, "g3", 1, 503)], set(), 10, [1, 2, 3], set()),
        # a guid with one success is done, whatever failed before or after it
        ([a(1, "g1", 2, 0), a(2, "g1", 1, 200)], set(), 10, [], set()),
        ([a(1, "g1", 2, 202), a(2, "g1", 1, 503)], set(), 10, [], set()),
        # refused on purpose (bad signature, malformed, too large): asking again cannot help
        ([a(1, "g1", 1, 401), a(2, "g2", 1, 400), a(3, "g3", 1, 413)], set(), 10, [], set()),
        # ... but a timeout or a rate limit can
        ([a(1, "g1", 1, 408), a(2, "g2", 1, 429)], set(), 10, [1, 2], set()),
        # processed by this app although GitHub saw a failure (answered too late)
        ([a(1, "g1", 1, 0)], {"g1"}, 10, [], set()),
        # GitHub redelivers only the past 3 days (asked a little inside the window)
        ([a(1, "g1", 71, 0), a(2, "g2", 72.5, 0)], set(), 10, [1], set()),
        # the newest attempt of a guid is the one asked for; oldest guid first
        ([a(5, "late", 1, 0), a(1, "early", 5, 0), a(3, "early", 2, 502)], set(), 10, [3, 5],
         set()),
        # the budget bounds one pass, oldest first
        ([a(i, f"g{i}", 10 - i, 0) for i in range(1, 6)], set(), 2, [1, 2], set()),
        # a guid failed five times: stop asking
        ([a(i, "g", 6 - i, 502) for i in range(1, 6)], set(), 10, [], set()),
        ([a(i, "g", 6 - i, 502) for i in range(1, 5)], set(), 10, [4], set()),
        # GitHub logged 202 but the app's work failed after answering: ask again
        ([a(1, "g1", 1, 202), a(2, "g2", 1, 202)], set(), 10, [1], {"g1"}),
        # ... its newest attempt, whatever GitHub logged for each
        ([a(1, "g1", 3, 202), a(2, "g1", 2, 503), a(3, "g1", 1, 202)], set(), 10, [3],
         {"g1"}),
        # ... unless it was processed since (a later attempt did the work)
        ([a(1, "g1", 2, 202), a(2, "g1", 1, 202)], {"g1"}, 10, [], {"g1"}),
        # ... and only inside GitHub's window
        ([a(1, "g1", 72.5, 202), a(2, "g2", 71, 202)], set(), 10, [2], {"g1", "g2"}),
        # ... and under the failure bound: five attempts whose work failed, stop asking
        ([a(i, "g", 6 - i, 202) for i in range(1, 6)], set(), 10, [], {"g"}),
        ([a(i, "g", 6 - i, 202) for i in range(1, 5)], set(), 10, [4], {"g"}),
        # ... never one the app refused on purpose last time
        ([a(1, "g1", 2, 202), a(2, "g1", 1, 401)], set(), 10, [], {"g1"}),
        # ... ordered with GitHub's own failures, oldest first, within the budget
        ([a(1, "old", 5, 0), a(2, "mine", 4, 202), a(3, "new", 1, 502)], set(), 2, [1, 2],
         {"mine"}),
        # a guid the app failed that is not in the log (older than what was read): nothing
        ([a(1, "g1", 1, 200)], set(), 10, [], {"gone"}),
    ],
)
def test_which_deliveries_to_ask_for_again(
    attempts: list[DeliveryAttempt],
    processed: set[str],
    budget: int,
    expected: list[int],
    failed_here: set[str],
) -> None:
    chosen = to_redeliver(
        attempts, now=NOW, processed=processed, failed_here=failed_here, budget=budget
    )
    assert [c.id for c in chosen] == expected
