"""Is one commit in another's history? One compare-API call answers it."""

from __future__ import annotations

from gidgethub import BadRequest

from app.github.client import GitHubClient


async def is_ancestor(gh: GitHubClient, repo: str, ancestor: str, descendant: str) -> bool | None:
    """True when `ancestor` is in the history of `descendant` (or is it); None when GitHub
    knows no such commit (or ref). Refs (branch names) work on either side.

    Compared as `descendant...ancestor`, so the answer lists nothing (an ancestor is
    "behind"); the other way round GitHub would list up to 250 commits and 300 files."""
    try:
        compare = await gh.getitem(f"/repos/{repo}/compare/{descendant}...{ancestor}")
    except BadRequest as exc:
        if exc.status_code in (404, 422):
            return None
        raise
    return compare.get("status") in ("behind", "identical")
