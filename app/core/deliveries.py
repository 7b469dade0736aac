"""Which of GitHub's failed webhook deliveries to ask again for (pure; `now` is a parameter).

GitHub never redelivers on its own. Its delivery log lists attempts (an integer `id`
each) grouped by `guid`, the id the app saw as X-GitHub-Delivery. A guid is worth a
redelivery when none of its attempts succeeded, the app did not process it some other
way, it is young enough for GitHub to redeliver (3 days), the app did not refuse it on
purpose (a 4xx answer other than 408/429: bad signature, malformed, too large), and it
has not failed too often already. The oldest go first, so a repository's events come
back in their original order.

GitHub logs an attempt as a success when the app answered 2xx, which it does as soon as
the event is queued: work that failed after the answer (GitHub unreachable beyond the
retries, a shutdown) looks done in the log. The app remembers those guids itself
(`failed_here`), and such a guid is asked for again although its attempts succeeded, under
the same window, processed and failure-count rules. GitHub redelivers any attempt of the
past 3 days, successful or not.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

REDELIVER_WINDOW = 3 * 86400.0
# Ask a little inside GitHub's window: a request that arrives after it is refused.
WINDOW_MARGIN = 600.0
MAX_FAILED_ATTEMPTS = 5
_RETRYABLE_4XX = {408, 429}


@dataclass(frozen=True)
class DeliveryAttempt:
    id: int
    guid: str
    delivered_at: float  # epoch seconds
    status_code: int  # 0 when nothing answered (failed to connect, timed out)
    event: str = ""


def succeeded(attempt: DeliveryAttempt) -> bool:
    return 200 <= attempt.status_code < 300


def refused_on_purpose(attempt: DeliveryAttempt) -> bool:
    return 400 <= attempt.status_code < 500 and attempt.status_code not in _RETRYABLE_4XX


def to_redeliver(
    attempts: Iterable[DeliveryAttempt],
    *,
    now: float,
    processed: frozenset[str] | set[str] = frozenset(),
    failed_here: frozenset[str] | set[str] = frozenset(),
    budget: int,
    window: float = REDELIVER_WINDOW,
    max_failed: int = MAX_FAILED_ATTEMPTS,
) -> list[DeliveryAttempt]:
    """One attempt (the newest) of each guid to ask GitHub to redeliver, oldest guid first,
    at most `budget` of them. `processed` holds guids this app finished anyway;
    `failed_here` guids whose work failed in this app after it answered 2xx."""
    oldest_allowed = now - window + WINDOW_MARGIN
    by_guid: dict[str, list[DeliveryAttempt]] = {}
    for attempt in attempts:
        by_guid.setdefault(attempt.guid, []).append(attempt)
    chosen: list[tuple[float, DeliveryAttempt]] = []
    for guid, group in by_guid.items():
        if guid in processed:
            continue
        if guid not in failed_here and any(succeeded(a) for a in group):
            continue
        newest = max(group, key=lambda a: (a.delivered_at, a.id))
        first = min(a.delivered_at for a in group)
        if newest.delivered_at < oldest_allowed or refused_on_purpose(newest):
            continue
        if len(group) >= max_failed:
            continue
        chosen.append((first, newest))
    chosen.sort(key=lambda pair: (pair[0], pair[1].id))
    return [attempt for _, attempt in chosen[: max(0, budget)]]
