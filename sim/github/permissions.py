"""Which GitHub App permission (or repository role) a REST operation needs.

Installation tokens carry the App's permissions (`sim.app_permissions` when issued); a request
outside them gets GitHub's 403 "Resource not accessible by integration". Set
`sim.app_permissions` to the App manifest's `default_permissions` to prove the App asks for
nothing it did not declare.
"""

from __future__ import annotations

from sim.github.routes import ApiError
from sim.github.state import PERMISSION_RANK

# First matching fragment of the OpenAPI template wins.
_CATEGORIES: tuple[tuple[str, str], ...] = (
    ("/protection", "administration"),
    # "Get rules for a branch" needs only metadata: read (GitHub's docs); managing rulesets
    # needs administration.
    ("/rules/branches/", "metadata"),
    ("/rules/", "administration"),
    ("/rulesets", "administration"),
    ("/collaborators", "metadata"),
    ("/check-runs", "checks"),
    ("/check-suites", "checks"),
    ("/statuses/", "statuses"),
    ("/status", "statuses"),
    ("/actions/", "actions"),
    ("/deployments", "deployments"),
    ("/pulls", "pull_requests"),
    ("/issues", "issues"),
    ("/labels", "issues"),
    ("/git/", "contents"),
    ("/contents/", "contents"),
    ("/commits", "contents"),
    ("/compare/", "contents"),
    ("/branches", "contents"),
    ("/comments", "contents"),
)

ALL_WRITE = {
    "actions": "write", "administration": "write", "checks": "write", "contents": "write",
    "deployments": "write", "issues": "write", "metadata": "read", "pull_requests": "write",
    "statuses": "write",
}


def category(template: str) -> str | None:
    if not template.startswith("/repos/{owner}/{repo}"):
        return None
    rest = template.removeprefix("/repos/{owner}/{repo}")
    if not rest:
        return "metadata"
    return next((name for fragment, name in _CATEGORIES if fragment in rest), "metadata")


def check_installation(template: str, method: str, permissions: dict[str, str]) -> None:
    name = category(template)
    if template == "/repos/{owner}/{repo}" and method == "PATCH":
        name = "administration"  # repository settings
    if name is None or name == "metadata":
        return
    granted = permissions.get(name)
    # Issue endpoints also serve pull requests: either permission opens them.
    if name == "issues" and granted is None:
        granted = permissions.get("pull_requests")
    needed = "read" if method == "GET" else "write"
    if granted is None or (needed == "write" and granted != "write"):
        raise ApiError(403, "Resource not accessible by integration")


def role_needed(template: str, method: str) -> str:
    """The repository role a person needs for a request (GitHub's rules, simplified)."""
    if method == "GET":
        return "read"
    name = category(template)
    if name == "administration":
        return "admin"
    if name == "issues" and ("/labels" in template or "/assignees" in template):
        return "triage"
    if name in ("issues", "metadata") or (
        name == "pull_requests" and not template.endswith("/merge")
    ) or template.endswith(("/reactions", "/comments")):
        return "read"
    return "write"


def check_person(role: str, template: str, method: str) -> None:
    needed = role_needed(template, method)
    if PERMISSION_RANK.get(role, 0) < PERMISSION_RANK[needed]:
        if needed == "admin":
            raise ApiError(403, "Must have admin rights to Repository.")
        raise ApiError(403, f"Must have {needed} access to this repository.")
