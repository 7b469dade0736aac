"""Which GitHub App permission (or repository role) a REST operation or GraphQL mutation needs.

Installation tokens carry the App's permissions (`sim.app_permissions` when issued); a request
outside them gets GitHub's 403 "Resource not accessible by integration" (GraphQL: a FORBIDDEN
error). Set `sim.app_permissions` to the App manifest's `default_permissions` to prove the App
asks for nothing it did not declare.

The table follows GitHub's "Permissions required for GitHub Apps"
(https://docs.github.com/en/rest/authentication/permissions-required-for-github-apps) and each
endpoint's "Fine-grained access tokens" section. Endpoints that serve issues and pull requests
alike (comments, labels, reactions, assignees) open with either permission, as documented.
"""

from __future__ import annotations

from sim.github.routes import ApiError
from sim.github.state import PERMISSION_RANK

# One permission, a choice ("issues|pull_requests": either), or several ("a+b": all of them),
# each at "read" or "write".
Need = tuple[str, str]
_R = "/repos/{owner}/{repo}"
_ISSUE_OR_PR = "issues|pull_requests"

REST_PERMISSIONS: dict[tuple[str, str], Need] = {
    ("GET", _R): ("metadata", "read"),
    ("PATCH", _R): ("administration", "write"),  # repository settings, merge methods
    # Actions
    ("GET", _R + "/actions/runs"): ("actions", "read"),
    ("GET", _R + "/actions/runs/{run_id}"): ("actions", "read"),
    ("GET", _R + "/actions/runs/{run_id}/jobs"): ("actions", "read"),
    ("POST", _R + "/actions/runs/{run_id}/rerun"): ("actions", "write"),
    ("POST", _R + "/actions/runs/{run_id}/rerun-failed-jobs"): ("actions", "write"),
    # Branches and their protection
    ("GET", _R + "/branches"): ("contents", "read"),
    ("GET", _R + "/branches/{branch}"): ("contents", "read"),
    ("GET", _R + "/branches/{branch}/protection"): ("administration", "read"),
    ("PUT", _R + "/branches/{branch}/protection"): ("administration", "write"),
    ("DELETE", _R + "/branches/{branch}/protection"): ("administration", "write"),
    ("GET", _R + "/branches/{branch}/protection/required_status_checks"):
        ("administration", "read"),
    ("GET", _R + "/rules/branches/{branch}"): ("metadata", "read"),
    # Checks and statuses
    ("POST", _R + "/check-runs"): ("checks", "write"),
    ("GET", _R + "/check-runs/{check_run_id}"): ("checks", "read"),
    ("PATCH", _R + "/check-runs/{check_run_id}"): ("checks", "write"),
    ("GET", _R + "/check-runs/{check_run_id}/annotations"): ("checks", "read"),
    ("GET", _R + "/check-suites/{check_suite_id}"): ("checks", "read"),
    ("GET", _R + "/check-suites/{check_suite_id}/check-runs"): ("checks", "read"),
    ("GET", _R + "/commits/{ref}/check-runs"): ("checks", "read"),
    ("GET", _R + "/commits/{ref}/check-suites"): ("checks", "read"),
    ("GET", _R + "/commits/{ref}/status"): ("statuses", "read"),
    ("GET", _R + "/commits/{ref}/statuses"): ("statuses", "read"),
    ("POST", _R + "/statuses/{sha}"): ("statuses", "write"),
    # Collaborators
    ("GET", _R + "/collaborators"): ("metadata", "read"),
    ("GET", _R + "/collaborators/{username}"): ("metadata", "read"),
    ("GET", _R + "/collaborators/{username}/permission"): ("metadata", "read"),
    # Commits, commit comments, contents, compare, the Git database
    ("GET", _R + "/comments"): ("contents", "read"),
    ("GET", _R + "/comments/{comment_id}"): ("contents", "read"),
    ("GET", _R + "/comments/{comment_id}/reactions"): ("contents", "read"),
    ("POST", _R + "/comments/{comment_id}/reactions"): ("contents", "write"),
    ("GET", _R + "/commits"): ("contents", "read"),
    ("GET", _R + "/commits/{ref}"): ("contents", "read"),
    ("GET", _R + "/commits/{commit_sha}/comments"): ("contents", "read"),
    ("POST", _R + "/commits/{commit_sha}/comments"): ("contents", "write"),
    ("GET", _R + "/commits/{commit_sha}/pulls"): ("pull_requests", "read"),
    ("GET", _R + "/compare/{basehead}"): ("contents", "read"),
    ("GET", _R + "/contents/{path}"): ("contents", "read"),
    ("POST", _R + "/git/blobs"): ("contents", "write"),
    ("GET", _R + "/git/blobs/{file_sha}"): ("contents", "read"),
    ("POST", _R + "/git/commits"): ("contents", "write"),
    ("GET", _R + "/git/commits/{commit_sha}"): ("contents", "read"),
    ("GET", _R + "/git/matching-refs/{ref}"): ("contents", "read"),
    ("GET", _R + "/git/ref/{ref}"): ("contents", "read"),
    ("POST", _R + "/git/refs"): ("contents", "write"),
    ("PATCH", _R + "/git/refs/{ref}"): ("contents", "write"),
    ("DELETE", _R + "/git/refs/{ref}"): ("contents", "write"),
    ("POST", _R + "/git/trees"): ("contents", "write"),
    ("GET", _R + "/git/trees/{tree_sha}"): ("contents", "read"),
    # Deployments
    ("GET", _R + "/deployments"): ("deployments", "read"),
    ("POST", _R + "/deployments"): ("deployments", "write"),
    ("GET", _R + "/deployments/{deployment_id}"): ("deployments", "read"),
    ("GET", _R + "/deployments/{deployment_id}/statuses"): ("deployments", "read"),
    ("POST", _R + "/deployments/{deployment_id}/statuses"): ("deployments", "write"),
    # Issues (and what they share with pull requests)
    ("GET", _R + "/issues"): ("issues", "read"),
    ("POST", _R + "/issues"): ("issues", "write"),
    ("GET", _R + "/issues/{issue_number}"): ("issues", "read"),
    ("PATCH", _R + "/issues/{issue_number}"): (_ISSUE_OR_PR, "write"),
    ("GET", _R + "/issues/comments"): (_ISSUE_OR_PR, "read"),
    ("GET", _R + "/issues/comments/{comment_id}"): (_ISSUE_OR_PR, "read"),
    ("PATCH", _R + "/issues/comments/{comment_id}"): (_ISSUE_OR_PR, "write"),
    ("GET", _R + "/issues/comments/{comment_id}/reactions"): (_ISSUE_OR_PR, "read"),
    ("POST", _R + "/issues/comments/{comment_id}/reactions"): (_ISSUE_OR_PR, "write"),
    ("GET", _R + "/issues/{issue_number}/comments"): (_ISSUE_OR_PR, "read"),
    ("POST", _R + "/issues/{issue_number}/comments"): (_ISSUE_OR_PR, "write"),
    ("POST", _R + "/issues/{issue_number}/assignees"): (_ISSUE_OR_PR, "write"),
    ("DELETE", _R + "/issues/{issue_number}/assignees"): (_ISSUE_OR_PR, "write"),
    ("GET", _R + "/issues/{issue_number}/assignees/{assignee}"): (_ISSUE_OR_PR, "read"),
    ("GET", _R + "/issues/{issue_number}/labels"): (_ISSUE_OR_PR, "read"),
    ("POST", _R + "/issues/{issue_number}/labels"): (_ISSUE_OR_PR, "write"),
    ("PUT", _R + "/issues/{issue_number}/labels"): (_ISSUE_OR_PR, "write"),
    ("DELETE", _R + "/issues/{issue_number}/labels"): (_ISSUE_OR_PR, "write"),
    ("DELETE", _R + "/issues/{issue_number}/labels/{name}"): (_ISSUE_OR_PR, "write"),
    ("GET", _R + "/issues/{issue_number}/reactions"): (_ISSUE_OR_PR, "read"),
    ("POST", _R + "/issues/{issue_number}/reactions"): (_ISSUE_OR_PR, "write"),
    ("GET", _R + "/labels"): (_ISSUE_OR_PR, "read"),
    ("POST", _R + "/labels"): (_ISSUE_OR_PR, "write"),
    ("GET", _R + "/labels/{name}"): (_ISSUE_OR_PR, "read"),
    ("PATCH", _R + "/labels/{name}"): (_ISSUE_OR_PR, "write"),
    ("DELETE", _R + "/labels/{name}"): (_ISSUE_OR_PR, "write"),
    # Pull requests
    ("GET", _R + "/pulls"): ("pull_requests", "read"),
    ("POST", _R + "/pulls"): ("pull_requests", "write"),
    ("GET", _R + "/pulls/{pull_number}"): ("pull_requests", "read"),
    ("PATCH", _R + "/pulls/{pull_number}"): ("pull_requests", "write"),
    ("GET", _R + "/pulls/{pull_number}/commits"): ("pull_requests", "read"),
    ("GET", _R + "/pulls/{pull_number}/files"): ("pull_requests", "read"),
    ("GET", _R + "/pulls/{pull_number}/requested_reviewers"): ("pull_requests", "read"),
    ("POST", _R + "/pulls/{pull_number}/requested_reviewers"): ("pull_requests", "write"),
    ("DELETE", _R + "/pulls/{pull_number}/requested_reviewers"): ("pull_requests", "write"),
    ("GET", _R + "/pulls/{pull_number}/reviews"): ("pull_requests", "read"),
    ("POST", _R + "/pulls/{pull_number}/reviews"): ("pull_requests", "write"),
    ("GET", _R + "/pulls/{pull_number}/merge"): ("pull_requests", "read"),
    # Merging writes the base branch: "Contents" write (not "Pull requests").
    ("PUT", _R + "/pulls/{pull_number}/merge"): ("contents", "write"),
    # "you must also have permissions to write the contents of the head repository"
    ("PUT", _R + "/pulls/{pull_number}/update-branch"): ("pull_requests+contents", "write"),
}

# GraphQL mutations the app calls. Landing a pull request needs what the REST merge needs;
# arming auto-merge edits the pull request and will merge it with the App's identity.
GRAPHQL_PERMISSIONS: dict[str, Need] = {
    "enablePullRequestAutoMerge": ("pull_requests+contents", "write"),
    "disablePullRequestAutoMerge": ("pull_requests", "write"),
    "mergePullRequest": ("contents", "write"),
    # "Merge queues" (merge_queues in the App's permissions): manage a repository's merge
    # queues, i.e. add and remove pull requests.
    "enqueuePullRequest": ("merge_queues", "write"),
    "dequeuePullRequest": ("merge_queues", "write"),
}

# Routes outside the table fall back to a category by path (see `category`); a test keeps
# every simulated route in the table.
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
    ("/issues", _ISSUE_OR_PR),
    ("/labels", _ISSUE_OR_PR),
    ("/git/", "contents"),
    ("/contents/", "contents"),
    ("/commits", "contents"),
    ("/compare/", "contents"),
    ("/branches", "contents"),
    ("/comments", "contents"),
)

ALL_WRITE = {
    "actions": "write", "administration": "write", "checks": "write", "contents": "write",
    "deployments": "write", "issues": "write", "merge_queues": "write", "metadata": "read",
    "pull_requests": "write", "statuses": "write",
}


def category(template: str) -> str | None:
    if not template.startswith(_R):
        return None
    rest = template.removeprefix(_R)
    if not rest:
        return "metadata"
    return next((name for fragment, name in _CATEGORIES if fragment in rest), "metadata")


def needed(template: str, method: str) -> Need | None:
    """(permission expression, access) for a REST operation; None outside repositories."""
    listed = REST_PERMISSIONS.get((method, template))
    if listed is not None:
        return listed
    name = category(template)
    if name is None:
        return None
    return name, "read" if method == "GET" else "write"


def granted(need: Need, permissions: dict[str, str]) -> bool:
    expression, access = need
    if expression == "metadata":
        return True  # every installation can read metadata

    def one(name: str) -> bool:
        level = permissions.get(name)
        return level == "write" or (level == "read" and access == "read")

    if "|" in expression:
        return any(one(name) for name in expression.split("|"))
    return all(one(name) for name in expression.split("+"))


def check_installation(template: str, method: str, permissions: dict[str, str]) -> None:
    need = needed(template, method)
    if need is not None and not granted(need, permissions):
        raise ApiError(403, "Resource not accessible by integration")


def mutation_refused(field: str, permissions: dict[str, str]) -> bool:
    need = GRAPHQL_PERMISSIONS.get(field)
    return need is not None and not granted(need, permissions)


def role_needed(template: str, method: str) -> str:
    """The repository role a person needs for a request (GitHub's rules, simplified)."""
    if method == "GET":
        return "read"
    need = needed(template, method)
    name = need[0] if need else None
    if name == "administration":
        return "admin"
    if name == _ISSUE_OR_PR and ("/labels" in template or "/assignees" in template):
        return "triage"
    if name in ("issues", _ISSUE_OR_PR, "metadata") or (
        name == "pull_requests" and not template.endswith(("/merge", "/update-branch"))
    ) or template.endswith(("/reactions", "/comments")):
        return "read"
    return "write"


def check_person(role: str, template: str, method: str) -> None:
    required = role_needed(template, method)
    if PERMISSION_RANK.get(role, 0) < PERMISSION_RANK[required]:
        if required == "admin":
            raise ApiError(403, "Must have admin rights to Repository.")
        raise ApiError(403, f"Must have {required} access to this repository.")
