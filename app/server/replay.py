"""`python -m app replay FILE`: feed one recorded webhook to the handlers, for debugging.

FILE is either a delivery as GitHub's "Recent Deliveries" shows it
(`{"event": ..., "payload": {...}}`, optionally with "delivery_id") or a bare payload
with `--event`. It runs the same router against the real GitHub named by the
environment (App credentials or GITHUB_TOKEN), in the foreground, and exits 0 when
the handlers finished, 1 when one raised, 2 on bad input.
"""

from __future__ import annotations

import asyncio
import json
import sys
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from gidgethub.sansio import Event

from app.clock import SystemClock
from app.github.client import GitHubClient
from app.logs import configure_logging, event_logger
from app.server.wiring import build_services
from app.services import EventContext
from app.settings import Settings, SettingsError, environment


def load_delivery(path: Path, event: str | None) -> tuple[str, dict[str, Any], str]:
    data = json.loads(path.read_text())
    if not isinstance(data, dict):
        raise ValueError("the file must hold a JSON object")
    if "payload" in data and ("event" in data or event):
        payload = data["payload"]
        name = event or str(data["event"])
    else:
        if not event:
            raise ValueError("a bare payload needs --event NAME")
        payload, name = data, event
    return name, payload, str(data.get("delivery_id") or f"replay-{uuid.uuid4()}")


async def replay(settings: Settings, name: str, payload: dict[str, Any], delivery: str) -> int:
    from app.handlers import router

    async with aiohttp.ClientSession() as session:
        services = build_services(settings, session, clock=SystemClock())
        installation = (payload.get("installation") or {}).get("id")
        gh: GitHubClient | None = services.default_github
        if installation is not None:
            gh = await services.github_for_installation(int(installation))
        if gh is None:
            print(
                "buildsheriff: the payload names no installation; set GITHUB_TOKEN",
                file=sys.stderr,
            )
            return 2
        repo = (payload.get("repository") or {}).get("full_name", "")
        log = event_logger(delivery, name, payload.get("action"), repo)
        ctx = EventContext(services, gh, delivery, repo, int(installation or 0), log)
        event = Event(payload, event=name, delivery_id=delivery)
        if not router.fetch(event):
            log.info("no handler for this event: nothing to do")
            return 0
        try:
            await router.dispatch(event, ctx)
        except Exception:
            log.exception("handler failed")
            return 1
        if services.slack is not None:
            await services.slack.flush()
            await services.slack.close()
    return 0


def main(file: str, *, event: str | None = None) -> int:
    try:
        settings = Settings.from_env(environment())
        name, payload, delivery = load_delivery(Path(file), event)
    except SettingsError as exc:
        for line in exc.lines:
            print(f"buildsheriff: {line}", file=sys.stderr)
        return 2
    except (OSError, ValueError) as exc:
        print(f"buildsheriff: cannot replay {file}: {exc}", file=sys.stderr)
        return 2
    configure_logging(settings.log_level, settings.log_format)
    return asyncio.run(replay(settings, name, payload, delivery))
