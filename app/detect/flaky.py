"""The flaky report's shell: with `confirm: rerun`, a green head whose checks failed before
their re-run passed is logged in one issue per repository, updated in place (never pinned).

Derived from what GitHub holds (every attempt of the head's check runs), so a restart
between the re-run and its green result loses nothing: the next look logs it, once.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest

from app.core.config import RepoConfig
from app.core.flaky import (
    FLAKY_LABEL,
    FLAKY_LABEL_STYLE,
    REPORT_TITLE,
    FlakyLog,
    flakes_on,
    parse_report,
    report_body,
)
from app.github.checks import without_probe_suites
from app.services import EventContext


async def record_flakes(ctx: EventContext, config: RepoConfig, sha: str) -> None:
    """Log the checks on green `sha` that passed only on a re-run (one call when none)."""
    if config.confirm != "rerun":
        return
    runs = [
        run
        async for run in ctx.gh.getiter(
            f"/repos/{ctx.repo}/commits/{sha}/check-runs?filter=all&per_page=100",
            iterable_key="check_runs",
        )
    ]
    now = ctx.services.clock.now()
    runs = await without_probe_suites(ctx.gh, ctx.repo, sha, runs)
    seen = [f for f in flakes_on(sha, runs, now) if config.counts(f.check)]
    if not seen:
        return
    issue = await report_issue(ctx)
    log = (parse_report(issue.get("body")) if issue else None) or FlakyLog()
    updated = log.add(seen, now, config.flaky_window_days)
    if issue is not None and updated == log:
        return  # logged already
    body = report_body(updated, now, config.flaky_window_days)
    if issue is not None:
        await ctx.gh.patch(f"/repos/{ctx.repo}/issues/{issue['number']}", data={"body": body})
    else:
        await _ensure_label(ctx)
        await ctx.gh.post(
            f"/repos/{ctx.repo}/issues",
            data={"title": REPORT_TITLE, "body": body, "labels": [FLAKY_LABEL]},
        )
    ctx.log.info(
        "flaky checks logged", extra={"sha": sha, "checks": sorted({f.check for f in seen})}
    )


async def report_issue(ctx: EventContext) -> dict[str, Any] | None:
    """The repository's open flaky report: labelled, and carrying our marker."""
    url = f"/repos/{ctx.repo}/issues?state=open&labels={quote(FLAKY_LABEL, safe='')}"
    async for issue in ctx.gh.getiter(url + "&per_page=100"):
        if "pull_request" not in issue and parse_report(issue.get("body")) is not None:
            return dict(issue)
    return None


async def _ensure_label(ctx: EventContext) -> None:
    color, description = FLAKY_LABEL_STYLE
    try:
        await ctx.gh.post(
            f"/repos/{ctx.repo}/labels",
            data={"name": FLAKY_LABEL, "color": color, "description": description},
        )
    except BadRequest as exc:
        if exc.status_code != 422:  # 422: it exists already
            raise
