"""The `buildsheriff/config` check run on a commit: every config error where people look.

Idempotent: a commit whose latest `buildsheriff/config` run from this App already says the
same thing gets nothing new; a changed verdict (a base config changed) gets a new run, which
GitHub shows instead of the old one. Annotations go 50 per request, as GitHub allows.
"""

from __future__ import annotations

import logging
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest

from app.core.config_report import (
    CHECK_NAME,
    annotations_of,
    batches,
    check_output,
    conclusion,
)
from app.github.client import GitHubClient
from app.github.config_loader import LoadedConfig

log = logging.getLogger(__name__)


async def publish_config_check(
    gh: GitHubClient, repo: str, sha: str, loaded: LoadedConfig, *, app_id: str | None = None
) -> dict[str, Any] | None:
    """The check run now on `sha` (created if needed); None when GitHub refuses check runs
    to this caller (a plain token: only an App may create them)."""
    output = check_output(loaded.errors, loaded.sources)
    verdict = conclusion(loaded.errors)
    latest = await _latest_run(gh, repo, sha, app_id)
    if (
        latest is not None
        and latest.get("conclusion") == verdict
        and (latest.get("output") or {}).get("title") == output["title"]
        and (latest.get("output") or {}).get("summary") == output["summary"]
    ):
        return latest
    notes = batches(annotations_of(loaded.errors))
    body = {
        "name": CHECK_NAME,
        "head_sha": sha,
        "status": "completed",
        "conclusion": verdict,
        "output": {**output, "annotations": notes[0]} if notes else output,
    }
    try:
        run: dict[str, Any] = await gh.post(f"/repos/{repo}/check-runs", data=body)
    except BadRequest as exc:
        if exc.status_code == HTTPStatus.FORBIDDEN:
            log.warning(
                "cannot create the buildsheriff/config check run (checks: write, as an App)",
                extra={"repo": repo, "sha": sha, "status": int(exc.status_code)},
            )
            return None
        raise
    for batch in notes[1:]:  # GitHub appends each request's annotations to the run's
        more = {"output": {**output, "annotations": batch}}
        await gh.patch(f"/repos/{repo}/check-runs/{run['id']}", data=more)
    return run


async def _latest_run(
    gh: GitHubClient, repo: str, sha: str, app_id: str | None
) -> dict[str, Any] | None:
    url = (
        f"/repos/{repo}/commits/{sha}/check-runs"
        f"?check_name={quote(CHECK_NAME, safe='')}&filter=latest"
    )
    answer = await gh.getitem(url)
    for run in answer.get("check_runs") or ():
        if app_id is None or str((run.get("app") or {}).get("id")) == str(app_id):
            return dict(run)
    return None
