"""One gidgethub Router per webhook concern, merged into `router`; a payload becomes one call.
Each concern may say from the payload alone whether an event can matter to it
(`router.may_matter`): the receiver answers the rest 202 without queueing them."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.handlers import config_push, detect, incident_events, revert_command, revert_merge
from app.settings import Settings

# (event name, payload, settings) -> can this event matter to the concern? False is certain.
Relevance = Callable[[str, dict[str, Any], Settings], bool]


class Concerns(Router):
    """The concerns' routers merged, each with its own relevance rule (None: every event it
    subscribes to matters)."""

    def __init__(self, *concerns: tuple[Router, Relevance | None]) -> None:
        super().__init__(*(concern for concern, _ in concerns))
        self._concerns = concerns
        # By event name: the concerns registered for it (whatever the action).
        self._by_event: dict[str, list[tuple[Router, Relevance | None]]] = {}
        for concern, relevant in concerns:
            for name in {*concern._shallow_routes, *concern._deep_routes}:
                self._by_event.setdefault(name, []).append((concern, relevant))

    def may_matter(self, event: Event, settings: Settings) -> bool:
        """Whether some concern has a handler for `event` and may act on it."""
        for concern, relevant in self._by_event.get(event.event, ()):
            if concern.fetch(event) and (
                relevant is None or relevant(event.event, event.data, settings)
            ):
                return True
        return False


router = Concerns(
    (detect.router, detect.may_matter),
    (incident_events.router, None),
    (revert_command.router, None),
    (revert_merge.router, revert_merge.may_matter),
    (config_push.router, None),
)
