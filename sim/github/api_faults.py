"""GitHub's API as it fails in production: 5xx, secondary limits, dropped connections,
writes applied and then answered with an error; and requests held until a test lets go.

Off by default. A test switches random faults on, reproducibly (seeded):

    sim.api_faults = ApiFaults(rate=0.2, seed=7)

Each API request (REST and GraphQL, App endpoints included) then fails with probability
`rate`, as one of `kinds`:
- "500", "502": answered before anything was done (a 502 from GitHub's front end is HTML);
- "429", "403": a secondary rate limit with `retry-after` (seconds on the simulator's clock);
- "reset": the connection is dropped before anything was done;
- "applied-502", "applied-reset": a write is done, then answered 502 or dropped, as when
  GitHub times out behind its front end (a read so hit is a plain 502 or reset).

`hold` makes the next matching request wait, not done, until `release_holds` (a test kills
the process that sent it meanwhile: a crash at a chosen step boundary).
"""

from __future__ import annotations

import asyncio
import collections
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

KINDS = ("500", "502", "429", "403", "reset", "applied-502", "applied-reset")


@dataclass
class ApiFaults:
    rate: float = 0.2
    seed: int = 0
    kinds: tuple[str, ...] = KINDS
    retry_after: int = 1
    # what was injected, by kind; and every (method, path, kind), in order
    counts: collections.Counter[str] = field(default_factory=collections.Counter)
    log: list[tuple[str, str, str]] = field(default_factory=list)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def pick(self, method: str, path: str) -> str | None:
        """The fault this request meets, or None."""
        if self.rate <= 0 or self._rng.random() >= self.rate:
            return None
        kind = self._rng.choice(self.kinds)
        if kind.startswith("applied-") and method in ("GET", "HEAD"):
            kind = kind.removeprefix("applied-")
        self.counts[kind] += 1
        self.log.append((method, path, kind))
        return kind


@dataclass
class Hold:
    """Requests matching `method`, `template` (and `when(body)`) wait until released."""

    method: str
    template: str
    when: Callable[[Any], bool] | None = None
    times: int = 1
    reached: asyncio.Event = field(default_factory=asyncio.Event)
    released: asyncio.Event = field(default_factory=asyncio.Event)
    held: int = 0

    def matches(self, method: str, template: str, body: Any) -> bool:
        if self.held >= self.times or method != self.method or template != self.template:
            return False
        return self.when is None or bool(self.when(body))
