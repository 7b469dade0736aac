"""Comments on issues and pull requests (a pull request's conversation is its issue's)."""

from __future__ import annotations

from typing import Any

from app.github.client import GitHubClient


async def comment_on_issue(gh: GitHubClient, repo: str, number: int, body: str) -> Any:
    """Post `body` on issue (or pull request) `number`; GitHub's answer, the new comment."""
    return await gh.post(f"/repos/{repo}/issues/{number}/comments", data={"body": body})


async def comment_on_issue_once(
    gh: GitHubClient, repo: str, number: int, body: str, *, marker: str
) -> bool:
    """Post `body` (which carries the hidden `marker`) unless a comment with `marker` is
    already there: what a later event or a second process must not say twice.
    True when it posted."""
    async for comment in gh.getiter(f"/repos/{repo}/issues/{number}/comments"):
        if marker in (comment.get("body") or ""):
            return False
    await comment_on_issue(gh, repo, number, body)
    return True
