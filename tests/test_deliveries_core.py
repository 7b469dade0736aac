"""app.core.deliveries: which failed webhook deliveries to ask GitHub for again."""

from __future__ import annotations

import pytest

from app.core.deliveries import DeliveryAttempt, to_redeliver

NOW = 1_800_000_000.0
HOUR = 3600.0


def a(id: int, guid: str, age_h: float, code: int) -> DeliveryAttempt:
    return DeliveryAttempt(id=id, guid=guid, delivered_at=NOW - age_h * HOUR, status_code=code)


@pytest.mark.parametrize(
    ("attempts", "processed", "budget", "expected"),
    [
        # nothing answered (0), a proxy's 502, our 503 while busy: ask again
        ([a(1, "g1", 1, 0), a(2, "g2", 1, 502), a(3, "g3", 1, 503)], set(), 10, [1, 2, 3]),
        # a guid with one success is done, whatever failed before or after it
        ([a(1, "g1", 2, 0), a(2, "g1", 1, 200)], set(), 10, []),
        ([a(1, "g1", 2, 202), a(2, "g1", 1, 503)], set(), 10, []),
        # refused on purpose (bad signature, malformed, too large): asking again cannot help
        ([a(1, "g1", 1, 401), a(2, "g2", 1, 400), a(3, "g3", 1, 413)], set(), 10, []),
        # ... but a timeout or a rate limit can
        ([a(1, "g1", 1, 408), a(2, "g2", 1, 429)], set(), 10, [1, 2]),
        # processed by this app although GitHub saw a failure (answered too late)
        ([a(1, "g1", 1, 0)], {"g1"}, 10, []),
        # GitHub redelivers only the past 3 days (asked a little inside the window)
        ([a(1, "g1", 71, 0), a(2, "g2", 72.5, 0)], set(), 10, [1]),
        # the newest attempt of a guid is the one asked for; oldest guid first
        ([a(5, "late", 1, 0), a(1, "early", 5, 0), a(3, "early", 2, 502)], set(), 10, [3, 5]),
        # the budget bounds one pass, oldest first
        ([a(i, f"g{i}", 10 - i, 0) for i in range(1, 6)], set(), 2, [1, 2]),
        # a guid failed five times: stop asking
        ([a(i, "g", 6 - i, 502) for i in range(1, 6)], set(), 10, []),
        ([a(i, "g", 6 - i, 502) for i in range(1, 5)], set(), 10, [4]),
    ],
)
def test_which_deliveries_to_ask_for_again(
    attempts: list[DeliveryAttempt], processed: set[str], budget: int, expected: list[int]
) -> None:
    chosen = to_redeliver(attempts, now=NOW, processed=processed, budget=budget)
    assert [c.id for c in chosen] == expected
