"""What CI reported on a commit: every check run and commit status, as CheckResults."""

from __future__ import annotations

import asyncio
from typing import Any

from app.core.bisect import is_probe_branch
from app.core.builds import CheckResult, from_check_run, from_status
from app.github.client import GitHubClient

# Build Sheriff's own checks (`buildsheriff/config`): they say nothing about the build, so
# they never make a commit red, nor hold a revert PR back.
OWN_CONTEXT_PREFIX = "buildsheriff/"


async def commit_checks(gh: GitHubClient, repo: str, sha: str) -> list[CheckResult]:
    """Check runs (all pages) and the combined status's contexts, read concurrently; never
    our own, nor the checks of a bisection's probe ref (the same sha, built again in its own
    check suite)."""

    async def check_runs() -> list[dict[str, Any]]:
        url = f"/repos/{repo}/commits/{sha}/check-runs?per_page=100"
        runs = [run async for run in gh.getiter(url, iterable_key="check_runs")]
        return await without_probe_suites(gh, repo, sha, runs)

    runs, combined = await asyncio.gather(
        check_runs(), gh.getitem(f"/repos/{repo}/commits/{sha}/status")
    )
    results = [from_check_run(run) for run in runs]
    results += [from_status(s) for s in combined.get("statuses") or ()]
    return [r for r in results if not r.name.startswith(OWN_CONTEXT_PREFIX)]


def _suite_id(run: dict[str, Any]) -> int:
    return int((run.get("check_suite") or {}).get("id") or 0)


async def without_probe_suites(
    gh: GitHubClient, repo: str, sha: str, runs: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """A check run (REST) names only its suite's id. Only when one check name comes from
    two suites can a probe ref's be among them: then one more call tells them apart."""
    suites_of: dict[str, set[int]] = {}
    for run in runs:
        suites_of.setdefault(run["name"], set()).add(_suite_id(run))
    if all(len(ids) < 2 for ids in suites_of.values()):
        return runs
    listed = await gh.getitem(f"/repos/{repo}/commits/{sha}/check-suites?per_page=100")
    probes = {
        int(s["id"])
        for s in listed.get("check_suites") or []
        if is_probe_branch(s.get("head_branch"))
    }
    return [r for r in runs if _suite_id(r) not in probes]
