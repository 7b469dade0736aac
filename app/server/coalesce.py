"""Coalescing: CI events that ask the same question share one evaluation.

A CI event asks "is the default branch's head red?" about one (repository, head sha)
(app.handlers.detect.ci_question). While an evaluation of that question is queued and not
yet started, another event asking it is merged into it: it takes no place in the queue and
costs no call, and its delivery counts as processed when that evaluation succeeds (it is
released for a redelivery when it fails, as its own job would be). Once the evaluation has
started, it may already have read what the new event reports, so the next event opens the
next evaluation (at most one queued per question), which later ones merge into; and a head
already judged red with its incident open costs no evaluation at all
(app.detect.evaluate.already_judged).

In process (no REDIS_URL) only: with REDIS_URL every delivery is its own entry of the shared
queue (any replica may run it), and only the judged-head rule applies, in the handler, on
the replica that judged the head.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Evaluation:
    """One queued evaluation and the deliveries it answers."""

    key: tuple[str, str]  # (repository key, head sha)
    deliveries: list[str] = field(default_factory=list)
    started: bool = False


class Coalescer:
    """Queued evaluations by question: at most one per (repository, head sha)."""

    def __init__(self) -> None:
        self._queued: dict[tuple[str, str], Evaluation] = {}
        self.merged = 0

    def merge(self, key: tuple[str, str], delivery_id: str) -> bool:
        """True: an evaluation of `key` is queued and now answers `delivery_id` too."""
        queued = self._queued.get(key)
        if queued is None or queued.started:
            return False
        queued.deliveries.append(delivery_id)
        self.merged += 1
        return True

    def open(self, key: tuple[str, str], delivery_id: str) -> Evaluation:
        """A new queued evaluation of `key`, answering `delivery_id`."""
        evaluation = Evaluation(key, [delivery_id])
        self._queued[key] = evaluation
        return evaluation

    def start(self, evaluation: Evaluation) -> list[str]:
        """It starts: nothing merges into it any more. The deliveries it answers."""
        evaluation.started = True
        if self._queued.get(evaluation.key) is evaluation:
            del self._queued[evaluation.key]
        return list(evaluation.deliveries)

    def drop(self, evaluation: Evaluation) -> None:
        """It will not run (refused, or cancelled before it started)."""
        self.start(evaluation)

    def __len__(self) -> int:
        return len(self._queued)
