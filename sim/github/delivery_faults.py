"""Webhook delivery as it goes wrong in production: dropped, duplicated, reordered, delayed.

GitHub promises none of exactly-once, in-order or instant delivery: a delivery that times out is
not retried by itself (it may be redelivered later, with the same X-GitHub-Delivery), and
deliveries race each other. Off by default; a test switches faults on, reproducibly (seeded):

    sim.delivery_faults = DeliveryFaults(duplicate=0.2, reorder=0.2, seed=7)

Delays run on the simulator's clock: a delayed delivery goes out once the clock has moved past
its time (the test advances its ManualClock, then drains).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class DeliveryFaults:
    drop: float = 0.0  # share of deliveries never sent
    duplicate: float = 0.0  # share sent twice, with the same delivery id (a redelivery)
    reorder: float = 0.0  # share held back and sent after the next delivery
    delay: float = 0.0  # seconds on the simulator's clock before each delivery goes out
    seed: int = 0
    events: frozenset[str] | None = None  # only these events suffer (None: every event)
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def applies(self, event: str) -> bool:
        return self.events is None or event in self.events

    def roll(self, share: float) -> bool:
        return share > 0 and self._rng.random() < share
