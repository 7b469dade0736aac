"""Repository names from payloads: exactly `owner/name`, before they enter an API path.

A signed payload is still data: a `full_name` such as `a/..` or `a/b/../../app` would turn
`/repos/{full_name}/issues` into another endpoint. Each segment must match
^[A-Za-z0-9_.-]+$ and be neither `.` nor `..`; the name is then quoted segment by segment
(a no-op for valid names, kept so that a path is never built from unquoted input).
"""

from __future__ import annotations

import re
from urllib.parse import quote

_SEGMENT = re.compile(r"[A-Za-z0-9_.-]+")


def valid_full_name(name: object) -> bool:
    if not isinstance(name, str):
        return False
    parts = name.split("/")
    return len(parts) == 2 and all(
        _SEGMENT.fullmatch(part) is not None and part not in (".", "..") for part in parts
    )


def quoted_full_name(name: str) -> str:
    """`owner/name` quoted for a URL path; ValueError when it is not a valid name."""
    if not valid_full_name(name):
        raise ValueError(f"not a repository name: {name!r}")
    owner, repo = name.split("/")
    return f"{quote(owner, safe='')}/{quote(repo, safe='')}"


# --- shas, branch names and logins from payloads ------------------------------------------

_SHA = re.compile(r"[0-9a-f]{40}(?:[0-9a-f]{24})?")  # SHA-1, or SHA-256 repositories
# GitHub logins: letters, digits and hyphens (managed users add `_shortcode`); apps `slug[bot]`.
_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9_-]{0,99})(?:\[bot\])?")
# git check-ref-format: no control characters, space, ~ ^ : ? * [ \ ; no `..`, `@{`, `//`.
_BAD_REF_CHARS = re.compile(r"[\x00-\x20\x7f~^:?*\[\\]|\.\.|@\{|//")


def valid_sha(value: object) -> bool:
    return isinstance(value, str) and _SHA.fullmatch(value) is not None


def valid_login(value: object) -> bool:
    return isinstance(value, str) and _LOGIN.fullmatch(value) is not None


def valid_branch(value: object) -> bool:
    """A branch (or full ref) name as git itself would accept it (git check-ref-format)."""
    if not isinstance(value, str) or not value or len(value) > 255:
        return False
    if _BAD_REF_CHARS.search(value) or value in ("@", "HEAD") or value.startswith(("-", "/")):
        return False
    if value.endswith(("/", ".", ".lock")):
        return False
    return all(part and not part.startswith(".") and not part.endswith(".lock")
               for part in value.split("/"))


# Where the events this app handles carry a sha, a branch or a login that may enter an API
# path (dotted paths; `*` is every item of a list). A missing or null value is not checked.
_SHAS = (
    "check_run.head_sha", "check_suite.head_sha", "workflow_run.head_sha", "sha",
    "before", "after", "comment.commit_id", "pull_request.head.sha", "pull_request.base.sha",
    "pull_request.merge_commit_sha",
)
_BRANCHES = (
    "repository.default_branch", "check_run.check_suite.head_branch", "check_suite.head_branch",
    "workflow_run.head_branch", "ref", "pull_request.head.ref", "pull_request.base.ref",
    "branches.*.name",
)
_LOGINS = ("sender.login", "comment.user.login", "issue.user.login", "pull_request.user.login")


def _values(data: object, keys: tuple[str, ...]) -> list[object]:
    if "*" not in keys:  # one value at most: walked without lists
        value = data
        for key in keys:
            if not isinstance(value, dict):
                return []
            value = value.get(key)
        return [] if value is None else [value]
    found = [data]
    for key in keys:
        step: list[object] = []
        for item in found:
            if key == "*" and isinstance(item, list):
                step.extend(item)
            elif isinstance(item, dict) and key in item:
                step.append(item[key])
        found = step
    return [value for value in found if value is not None]


# Every check, in the order problems are reported, with its path split once: (first key,
# keys, path, check, what it must be). A payload is checked only where it has the first key
# (a check_run event: its check_run, repository and sender), so an event costs its own fields.
_CHECKS = tuple(
    (path.partition(".")[0], tuple(path.split(".")), path, valid, what)
    for paths, valid, what in (
        (_SHAS, valid_sha, "a commit sha"),
        (_BRANCHES, valid_branch, "a branch name"),
        (_LOGINS, valid_login, "a GitHub login"),
    )
    for path in paths
)


def payload_name_problem(data: object) -> str | None:
    """The first sha, branch or login in a payload that must never enter an API path, said
    as a field name (`check_run.head_sha must be a commit sha`); None when all are sound."""
    if not isinstance(data, dict):
        return None
    for root, keys, path, valid, what in _CHECKS:
        if root in data and any(not valid(value) for value in _values(data, keys)):
            return f"{path} must be {what}"
    return None
