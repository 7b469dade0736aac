"""A push that touches `.github/buildsheriff.yml` forgets the cached config at once."""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.core.config import CONFIG_PATH
from app.services import EventContext

router = Router()


@router.register("push")
async def on_push(event: Event, ctx: EventContext) -> None:
    touched: set[str] = set()
    for commit in event.data.get("commits") or []:
        for key in ("added", "modified", "removed"):
            touched.update(commit.get(key) or [])
    if CONFIG_PATH in touched and ctx.services.config_loader is not None:
        ctx.services.config_loader.invalidate(ctx.repo)
        ctx.log.info("repository config changed; cache dropped")
