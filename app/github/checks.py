"""What CI reported on a commit: every check run and commit status, as CheckResults."""

from __future__ import annotations

from app.core.builds import CheckResult, from_check_run, from_status
from app.github.client import GitHubClient


async def commit_checks(gh: GitHubClient, repo: str, sha: str) -> list[CheckResult]:
    """Check runs (all pages), then the combined status's contexts."""
    results = [
        from_check_run(run)
        async for run in gh.getiter(
            f"/repos/{repo}/commits/{sha}/check-runs?per_page=100", iterable_key="check_runs"
        )
    ]
    combined = await gh.getitem(f"/repos/{repo}/commits/{sha}/status")
    return results + [from_status(s) for s in combined.get("statuses") or ()]
