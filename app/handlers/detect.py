"""Detection: the four ways CI reports on a commit, reduced to "is the default branch head red?".

check_suite, check_run, status and workflow_run all end in `evaluate_head`.
An event about another branch, or a pending result, costs no GitHub call; a
success costs one only when this process knows of an active incident there.
"""

from __future__ import annotations

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.core.bisect import is_probe_branch
from app.core.builds import RED_CONCLUSIONS, RED_STATUS_STATES
from app.detect.evaluate import awaiting_rerun, continue_bisection, evaluate_head
from app.github.checks import OWN_CONTEXT_PREFIX
from app.incident.runner import active_repos
from app.services import EventContext

router = Router()

# Commit statuses list at most 10 branches and may omit the default one.
STATUS_BRANCH_LIST_LIMIT = 10


def _signal(outcome: str | None, *, red: frozenset[str]) -> str:
    if outcome is None:
        return "pending"
    return "red" if outcome in red else "green"


@router.register("check_run", action="completed")
async def on_check_run(event: Event, ctx: EventContext) -> None:
    run = event.data["check_run"]
    if str(run.get("name", "")).startswith(OWN_CONTEXT_PREFIX):
        return  # our own config check says nothing about the build
    branch = (run.get("check_suite") or {}).get("head_branch")
    await _maybe_evaluate(event, ctx, branch, _signal(run.get("conclusion"), red=RED_CONCLUSIONS))


@router.register("check_suite", action="completed")
async def on_check_suite(event: Event, ctx: EventContext) -> None:
    suite = event.data["check_suite"]
    if _is_ours(ctx, suite):
        return  # the suite of our own config check
    if is_probe_branch(suite.get("head_branch")):
        # A bisection's probe ref answered; never an event about the default branch.
        await continue_bisection(ctx, event.data["repository"]["default_branch"])
        return
    await _maybe_evaluate(
        event, ctx, suite.get("head_branch"), _signal(suite.get("conclusion"), red=RED_CONCLUSIONS)
    )


@router.register("workflow_run", action="completed")
async def on_workflow_run(event: Event, ctx: EventContext) -> None:
    run = event.data["workflow_run"]
    await _maybe_evaluate(
        event, ctx, run.get("head_branch"), _signal(run.get("conclusion"), red=RED_CONCLUSIONS)
    )


@router.register("status")
async def on_status(event: Event, ctx: EventContext) -> None:
    state = event.data["state"]
    if state == "pending" or str(event.data.get("context", "")).startswith(OWN_CONTEXT_PREFIX):
        return
    default = event.data["repository"]["default_branch"]
    names = [b["name"] for b in event.data.get("branches") or []]
    if default not in names and 0 < len(names) < STATUS_BRANCH_LIST_LIMIT:
        return  # about other branches: the list is complete, and it does not hold ours
    # An empty or full (truncated) list says nothing: evaluate_head judges the head by sha.
    signal = "red" if state in RED_STATUS_STATES else "green"
    await _maybe_evaluate(event, ctx, default, signal)


def _is_ours(ctx: EventContext, suite: dict[str, object]) -> bool:
    app = suite.get("app")
    settings = ctx.services.settings
    if not isinstance(app, dict):
        return False
    if settings.app_id:
        return str(app.get("id")) == str(settings.app_id)
    return app.get("slug") == settings.app_slug


async def _maybe_evaluate(event: Event, ctx: EventContext, branch: str | None, signal: str) -> None:
    default = event.data["repository"]["default_branch"]
    if branch != default or signal == "pending":
        return
    quiet = ctx.repo not in active_repos(ctx.services)
    if signal == "green" and quiet and not awaiting_rerun(ctx):
        return
    await evaluate_head(ctx, default)


