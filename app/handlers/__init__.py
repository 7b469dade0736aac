"""One gidgethub Router per webhook concern, merged into `router`; a payload becomes one call.
Each concern may say whether an event can matter to it from the payload fields it declares
(`router.view`, `router.may_matter`): the receiver answers the rest 202 unparsed, unqueued."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.github.payload_view import PayloadView
from app.handlers import config_push, detect, incident_events, revert_command, revert_merge
from app.settings import Settings

# (event name, payload, settings) -> can this event matter to the concern? False is certain.
Relevance = Callable[[str, dict[str, Any], Settings], bool]
# By event name: the dotted payload paths a Relevance reads (a leaf path is read whole).
Reads = Mapping[str, tuple[str, ...]]

# The receiver itself checks the repository's name before anything is believed.
_RECEIVER_READS = ("repository.full_name",)


class Concerns(Router):
    """The concerns' routers merged, each with its own relevance rule (None: every event it
    subscribes to matters) and the payload paths the rule reads."""

    def __init__(self, *concerns: tuple[Router, Relevance | None, Reads]) -> None:
        super().__init__(*(concern for concern, _, _ in concerns))
        # By event name: the concerns registered for it (whatever the action).
        self._by_event: dict[str, list[tuple[Router, Relevance | None]]] = {}
        paths: dict[str, set[str]] = {}
        for concern, relevant, reads in concerns:
            for name in {*concern._shallow_routes, *concern._deep_routes}:
                self._by_event.setdefault(name, []).append((concern, relevant))
                wanted = paths.setdefault(name, set(_RECEIVER_READS))
                # The router's own choice of handler reads these (e.g. "action").
                wanted.update(concern._deep_routes.get(name, {}))
                if relevant is not None:
                    wanted.update(reads.get(name, ()))
        self._views = {name: PayloadView(wanted) for name, wanted in paths.items()}

    def view(self, name: str) -> PayloadView | None:
        """What to decode of an `name` event's body to ask `may_matter` (None: unsubscribed)."""
        return self._views.get(name)

    def may_matter(self, event: Event, settings: Settings) -> bool:
        """Whether some concern has a handler for `event` and may act on it. Asked of a
        whole payload or of its view (`view`): the answer is the same."""
        for concern, relevant in self._by_event.get(event.event, ()):
            if concern.fetch(event) and (
                relevant is None or relevant(event.event, event.data, settings)
            ):
                return True
        return False


router = Concerns(
    (detect.router, detect.may_matter, detect.READS),
    (incident_events.router, None, {}),
    (revert_command.router, None, {}),
    (revert_merge.router, revert_merge.may_matter, revert_merge.READS),
    (config_push.router, None, {}),
)
