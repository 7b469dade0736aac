"""Detection: the four ways CI reports on a commit, reduced to "is the default branch head red?".

check_suite, check_run, status and workflow_run all end in `evaluate_head`.
An event about another branch (a merge queue's `gh-readonly-queue/...` groups included), or a
pending result, costs no GitHub call; a
success costs one only when this process knows of an active incident there.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from gidgethub.routing import Router
from gidgethub.sansio import Event

from app.core.bisect import is_probe_branch
from app.core.builds import RED_CONCLUSIONS, RED_STATUS_STATES
from app.core.landing import is_merge_queue_branch
from app.detect.evaluate import already_judged, awaiting_rerun, continue_bisection, evaluate_head
from app.github.checks import OWN_CONTEXT_PREFIX
from app.incident.runner import active_repos
from app.services import EventContext
from app.settings import Settings

router = Router()

# Commit statuses list at most 10 branches and may omit the default one.
STATUS_BRANCH_LIST_LIMIT = 10


@dataclass(frozen=True)
class Question:
    """What a CI event asks: is the default branch's head red? About `sha`, with `signal`
    (red or green; a pending result asks nothing)."""

    sha: str
    signal: str


def ci_question(event: str, data: dict[str, Any], settings: Settings) -> Question | None:
    """The question a CI event asks of the default branch's head, or None when it asks
    none (another branch, a pending result, our own check, a bisection's probe). Also
    used before queueing, to coalesce the events asking the same (app.server.coalesce)."""
    default = (data.get("repository") or {}).get("default_branch")
    if event in ("check_run", "check_suite", "workflow_run") and data.get("action") != "completed":
        return None
    if event == "check_run":
        run = data["check_run"]
        if str(run.get("name", "")).startswith(OWN_CONTEXT_PREFIX):
            return None  # our own config check says nothing about the build
        branch, sha, outcome = (
            (run.get("check_suite") or {}).get("head_branch"), run.get("head_sha"),
            run.get("conclusion"),
        )  # fmt: skip
    elif event == "check_suite":
        suite = data["check_suite"]
        if _is_ours(settings, suite) or is_probe_branch(suite.get("head_branch")):
            return None
        branch, sha, outcome = (
            suite.get("head_branch"), suite.get("head_sha"), suite.get("conclusion")
        )  # fmt: skip
    elif event == "workflow_run":
        run = data["workflow_run"]
        branch, sha, outcome = run.get("head_branch"), run.get("head_sha"), run.get("conclusion")
    elif event == "status":
        state = data.get("state")
        if state == "pending" or str(data.get("context", "")).startswith(OWN_CONTEXT_PREFIX):
            return None
        names = [b["name"] for b in data.get("branches") or []]
        if names and all(is_merge_queue_branch(n) for n in names):
            return None  # a merge group's commit: the queue's business, not the default branch's
        if default not in names and 0 < len(names) < STATUS_BRANCH_LIST_LIMIT:
            return None  # about other branches: the list is complete, and it does not hold ours
        # An empty or full (truncated) list says nothing: evaluate_head judges the head by sha.
        signal = "red" if state in RED_STATUS_STATES else "green"
        return Question(str(data.get("sha") or ""), signal)
    else:
        return None
    if branch != default or outcome is None or is_merge_queue_branch(branch):
        return None  # another branch (a merge group's gh-readonly-queue/... too), or not done
    return Question(str(sha or ""), "red" if outcome in RED_CONCLUSIONS else "green")


# What `may_matter` reads of each event (a leaf is read whole): the receiver decodes only
# these before asking it (app.handlers.Concerns; tests/test_payload_view.py holds it to it).
READS: dict[str, tuple[str, ...]] = {
    "check_run": (
        "action", "repository.default_branch", "check_run.name", "check_run.head_sha",
        "check_run.conclusion", "check_run.check_suite.head_branch",
    ),
    "check_suite": (
        "action", "repository.default_branch", "check_suite.app", "check_suite.head_branch",
        "check_suite.head_sha", "check_suite.conclusion",
    ),
    "workflow_run": (
        "action", "repository.default_branch", "workflow_run.head_branch",
        "workflow_run.head_sha", "workflow_run.conclusion",
    ),
    "status": ("repository.default_branch", "state", "context", "branches", "sha"),
}


def may_matter(event: str, data: dict[str, Any], settings: Settings) -> bool:
    """Whether a CI event can matter to detection, from the payload alone, before it is
    queued (app.server.webhooks): it asks a question of the default branch's head
    (`ci_question`), or it is a bisection's probe ref answering. False is certain (the
    handlers below would do nothing with it); an odd payload is True, for the receiver's
    full checks and the handler to judge."""
    try:
        if ci_question(event, data, settings) is not None:
            return True
        if event == "check_suite":
            suite = data["check_suite"]
            return not _is_ours(settings, suite) and is_probe_branch(suite.get("head_branch"))
    except (LookupError, TypeError, AttributeError):
        return True
    return False


@router.register("check_run", action="completed")
@router.register("workflow_run", action="completed")
@router.register("status")
async def on_ci_result(event: Event, ctx: EventContext) -> None:
    await _maybe_evaluate(event, ctx, ci_question(event.event, event.data, ctx.services.settings))


@router.register("check_suite", action="completed")
async def on_check_suite(event: Event, ctx: EventContext) -> None:
    suite = event.data["check_suite"]
    if not _is_ours(ctx.services.settings, suite) and is_probe_branch(suite.get("head_branch")):
        # A bisection's probe ref answered; never an event about the default branch.
        await continue_bisection(ctx, event.data["repository"]["default_branch"])
        return
    await _maybe_evaluate(event, ctx, ci_question(event.event, event.data, ctx.services.settings))


def _is_ours(settings: Settings, suite: dict[str, Any]) -> bool:
    app = suite.get("app")
    if not isinstance(app, dict):
        return False
    if settings.app_id:
        return str(app.get("id")) == str(settings.app_id)
    return app.get("slug") == settings.app_slug


async def _maybe_evaluate(event: Event, ctx: EventContext, question: Question | None) -> None:
    if question is None:
        return
    quiet = ctx.repo not in active_repos(ctx.services)
    if question.signal == "green" and quiet and not awaiting_rerun(ctx):
        return
    if question.signal == "red" and already_judged(ctx.services, ctx.repo, question.sha):
        # This head is red and an open incident covers it: nothing new to look at.
        ctx.log.info("head already judged; no call", extra={"sha": question.sha})
        return
    await evaluate_head(ctx, event.data["repository"]["default_branch"])
