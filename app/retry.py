"""One retry policy for every service the app calls (GitHub, Slack, the pagers), on tenacity,
waiting on the injectable Clock so that tests never sleep for real.

The caller says what a failure means, `classify(exc) -> Retry | None`:
- None: repeating cannot help or is not safe (a refusal; a create that may have been
  applied): the error is raised at once;
- `Retry(reason)`: a transient failure (5xx, a dropped connection): back off exponentially,
  with jitter (each wait drawn between half and all of 1 s, 2 s, 4 s ... up to `cap`), so
  that workers that failed together do not come back together;
- `Retry(reason, after=s)`: the service said how long (`Retry-After`, a rate limit's
  reset): wait that long plus up to 10 % more (jitter again), or, when it is longer than
  `max_wait`, give up now: holding a worker that long would stall every later event of its
  repository, and the next event or the reconciler will find the work still to do.

At most `attempts` tries in all. Each retry is logged at info, a give-up at warning, with
the caller's `what` and fields (never a secret: callers pass names and statuses).
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from tenacity import AsyncRetrying, RetryCallState, stop_after_attempt

from app.clock import Clock

T = TypeVar("T")


@dataclass(frozen=True)
class Retry:
    """A failure worth another try; `after`: the wait the service asked for (seconds)."""

    reason: str
    after: float | None = None


Classify = Callable[[BaseException], "Retry | None"]


@dataclass(frozen=True)
class Policy:
    attempts: int = 4  # tries in all, the first included
    base: float = 1.0  # the first back-off's ceiling (seconds)
    cap: float = 60.0  # the largest back-off ceiling
    max_wait: float = 60.0  # the longest wait a service may ask for that is honoured
    after_jitter: float = 0.1  # up to this fraction is added to a service's wait

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """The wait after failed try number `attempt` (1-based), jittered: [c/2, c]."""
        ceiling = min(self.cap, self.base * 2 ** (attempt - 1))
        return (rng or _RNG).uniform(ceiling / 2, ceiling)

    def honoured(self, after: float, rng: random.Random | None = None) -> float:
        return after + (rng or _RNG).uniform(0, after * self.after_jitter)


_RNG = random.Random()


def seed(value: int) -> None:
    """Make the jitter repeatable (tests seed it, so a seeded fault test replays exactly)."""
    _RNG.seed(value)


def _failure(state: RetryCallState) -> BaseException | None:
    outcome = state.outcome
    if outcome is None or not outcome.failed:
        return None
    return outcome.exception()


async def call(
    fn: Callable[[], Awaitable[T]],
    *,
    policy: Policy,
    clock: Clock,
    classify: Classify,
    what: str,
    log: logging.Logger | logging.LoggerAdapter[logging.Logger],
    fields: Mapping[str, Any] | None = None,
    rng: random.Random | None = None,
) -> T:
    """`await fn()`, retried as `classify` and `policy` say; the last error is raised."""
    verdicts: dict[int, Retry | None] = {}

    def verdict(state: RetryCallState) -> Retry | None:
        if state.attempt_number not in verdicts:
            failure = _failure(state)
            verdicts[state.attempt_number] = classify(failure) if failure is not None else None
        return verdicts[state.attempt_number]

    def retry(state: RetryCallState) -> bool:
        found = verdict(state)
        if found is None:
            return False
        if found.after is not None and found.after > policy.max_wait:
            log.warning(
                "%s: giving up (%s asks to wait %.0fs, more than %.0fs)",
                what, found.reason, found.after, policy.max_wait,
                extra={**(fields or {}), "reason": found.reason},
            )
            return False
        if state.attempt_number >= policy.attempts:
            log.warning(
                "%s: giving up after %d attempts (%s)", what, state.attempt_number, found.reason,
                extra={**(fields or {}), "reason": found.reason, "attempts": state.attempt_number},
            )
        return True

    def wait(state: RetryCallState) -> float:
        found = verdict(state)
        if found is not None and found.after is not None:
            return policy.honoured(found.after, rng)
        return policy.backoff(state.attempt_number, rng)

    def before_sleep(state: RetryCallState) -> None:
        found = verdict(state)
        seconds = state.upcoming_sleep
        log.info(
            "%s failed (%s), attempt %d/%d; retrying in %.1fs",
            what, found.reason if found else "?", state.attempt_number, policy.attempts, seconds,
            extra={**(fields or {}), "attempt": state.attempt_number, "wait_s": round(seconds, 3)},
        )

    retrying = AsyncRetrying(
        sleep=clock.sleep,
        stop=stop_after_attempt(max(1, policy.attempts)),
        wait=wait,
        retry=retry,
        before_sleep=before_sleep,
        reraise=True,
    )

    async def attempt() -> T:  # a coroutine function, so that tenacity awaits it
        return await fn()

    return await retrying(attempt)
