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
