"""Config errors where people edit the file: a push or a pull request that touches
`.github/buildsheriff.yml` gets a `buildsheriff/config` check run on its head commit, and a
push drops the cached config of every repository that read the file (all of the
organization's, for its `.github` repository).
"""

from __future__ import annotations

from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.core.config import CONFIG_PATH
from app.core.landing import is_merge_queue_branch
from app.github.config_check import publish_config_check
from app.services import EventContext

router = Router()

# A push webhook lists at most 20 commits; beyond, the compare API says what changed.
PUSH_COMMITS_LISTED = 20
NO_COMMIT = "0" * 40


def _touched_in_payload(data: dict[str, Any]) -> set[str]:
    touched: set[str] = set()
    for commit in data.get("commits") or []:
        for key in ("added", "modified", "removed"):
            touched.update(commit.get(key) or [])
    return touched


async def _push_touches_config(ctx: EventContext, data: dict[str, Any]) -> bool:
    if CONFIG_PATH in _touched_in_payload(data):
        return True
    before = str(data.get("before") or NO_COMMIT)
    if len(data.get("commits") or []) < PUSH_COMMITS_LISTED or before == NO_COMMIT:
        return False
    compare = await ctx.gh.getitem(f"/repos/{ctx.repo}/compare/{before}...{data['after']}")
    return any(f.get("filename") == CONFIG_PATH for f in compare.get("files") or [])


async def _check(ctx: EventContext, sha: str) -> None:
    loader = ctx.services.config_loader
    if loader is None:
        return
    loaded = await loader.load(ctx.gh, ctx.repo, sha)
    run = await publish_config_check(
        ctx.gh, ctx.repo, sha, loaded, app_id=ctx.services.settings.app_id
    )
    ctx.log.info(
        "config checked",
        extra={"sha": sha, "errors": len(loaded.errors), "check_run": (run or {}).get("id")},
    )


@router.register("push")
async def on_push(event: Event, ctx: EventContext) -> None:
    data = event.data
    if is_merge_queue_branch(str(data.get("ref") or "")):
        return  # a merge group: the pull request was checked, and the base's push will be
    if data.get("deleted") or not await _push_touches_config(ctx, data):
        return
    if ctx.services.config_loader is not None:
        dropped = ctx.services.config_loader.invalidate(ctx.repo)
        ctx.log.info("repository config changed; cache dropped", extra={"dropped": dropped})
    await _check(ctx, str(data["after"]))


@router.register("pull_request", action="opened")
@router.register("pull_request", action="reopened")
@router.register("pull_request", action="synchronize")
async def on_pull_request(event: Event, ctx: EventContext) -> None:
    pr = event.data["pull_request"]
    if (pr.get("user") or {}).get("login") == f"{ctx.services.settings.app_slug}[bot]":
        return  # our own revert PRs: one call fewer for each, in the middle of an incident
    files = ctx.gh.getiter(f"/repos/{ctx.repo}/pulls/{pr['number']}/files?per_page=100")
    async for changed in files:
        if changed.get("filename") == CONFIG_PATH or changed.get("previous_filename") == (
            CONFIG_PATH
        ):
            await _check(ctx, str(pr["head"]["sha"]))
            return
