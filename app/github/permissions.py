"""Who may command the app: people with write, maintain or admin access."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from gidgethub import BadRequest

from app.github.client import GitHubClient

WRITE_PERMISSIONS = frozenset({"admin", "write"})
WRITE_ROLES = frozenset({"admin", "maintain", "write"})


def is_bot(user: dict[str, Any] | None) -> bool:
    if not user:
        return True
    return user.get("type") == "Bot" or str(user.get("login", "")).endswith("[bot]")


async def can_write(gh: GitHubClient, repo: str, login: str) -> bool:
    """Asked of GitHub each time (never read from the payload's `author_association`):
    a permission taken away a minute ago counts now. GitHub maps maintain to "write" in
    `permission`; `role_name` keeps it exact."""
    try:
        answer = await gh.getitem(f"/repos/{repo}/collaborators/{quote(login, safe='')}/permission")
    except BadRequest as exc:
        if exc.status_code in (403, 404):
            return False
        raise
    return answer.get("permission") in WRITE_PERMISSIONS or answer.get("role_name") in WRITE_ROLES
