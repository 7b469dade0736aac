"""One gidgethub Router per webhook concern, merged into `router`; a payload becomes one call."""

from __future__ import annotations

from gidgethub.routing import Router

from app.handlers import config_push, detect, incident_events, revert_command, revert_merge

router = Router(
    detect.router,
    incident_events.router,
    revert_command.router,
    revert_merge.router,
    config_push.router,
)
