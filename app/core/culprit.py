"""The one record of a commit suspected of breaking the branch, read once from GitHub's
`GET /repos/{repo}/commits/{sha}`: what the safety rails judge, what the revert rebuilds,
and what its texts say. Also what a commit message says about reverts.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

# The line our revert commits end with (app.core.revert_messages.revert_commit_message).
APP_COMMIT_MARK = "\nIncident: "

_REVERT_SUBJECT = re.compile(r'Revert "')
_REVERTS_COMMIT = re.compile(r"^\s*This reverts commit ([0-9a-f]{7,40})\b", re.I | re.M)
_REVERTS_PR = re.compile(r"^\s*Reverts [\w.-]+/[\w.-]+#\d+\s*$", re.M)  # GitHub's revert button


@dataclass(frozen=True)
class CulpritFacts:
    sha: str
    message: str  # full commit message
    author_login: str | None = None  # None when the author's email maps to no account
    author_type: str | None = None  # "User" | "Bot" | None
    committed_at: float = 0.0  # epoch seconds (the committer's date)
    is_app_commit: bool = False  # made by this app (its bot login, or our revert's mark)
    html_url: str = ""
    author_name: str = ""  # git's author name, always present
    tree_sha: str = ""
    parents: tuple[str, ...] = ()
    # Every path the commit changed against its first parent (both names of a rename),
    # as the REST commit lists them; None when not known whole (a commit listed without
    # its files, or 300 or more of them: GitHub pages them).
    files: tuple[str, ...] | None = None

    @property
    def subject(self) -> str:
        return subject_of(self.message)

    @property
    def is_merge(self) -> bool:
        return len(self.parents) > 1

    @property
    def author_is_bot(self) -> bool:
        login = self.author_login
        return self.author_type == "Bot" or bool(login and login.endswith("[bot]"))


def culprit_from_commit(data: Mapping[str, Any], app_login: str | None = None) -> CulpritFacts:
    """The facts of a REST commit object; `app_login` ("slug[bot]") tells our own commits."""
    commit = data["commit"]
    author = data.get("author") or {}
    login = author.get("login")
    message = commit.get("message") or ""
    return CulpritFacts(
        sha=data["sha"],
        message=message,
        author_login=login,
        author_type=author.get("type"),
        committed_at=parse_time((commit.get("committer") or {}).get("date")),
        is_app_commit=(app_login is not None and login == app_login)
        or (is_revert_message(message) and APP_COMMIT_MARK in message),
        html_url=data.get("html_url") or "",
        author_name=(commit.get("author") or {}).get("name") or "",
        tree_sha=(commit.get("tree") or {}).get("sha") or "",
        parents=tuple(p["sha"] for p in data.get("parents") or ()),
        files=_files(data.get("files")),
    )


FILES_PAGE = 300  # GitHub lists a commit's files 300 to a page


def _files(listed: Any) -> tuple[str, ...] | None:
    if not isinstance(listed, list) or len(listed) >= FILES_PAGE:
        return None
    paths: set[str] = set()
    for item in listed:
        if not isinstance(item, dict) or not isinstance(item.get("filename"), str):
            return None
        paths.add(item["filename"])
        if isinstance(item.get("previous_filename"), str):
            paths.add(item["previous_filename"])
    return tuple(sorted(paths))


def parse_time(text: str | None) -> float:
    """GitHub's ISO 8601 time ("2024-05-01T12:00:00Z") as epoch seconds; 0 when absent."""
    if not text:
        return 0.0
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def subject_of(message: str) -> str:
    """git's subject: the first line after any leading blank lines."""
    for line in message.splitlines():
        if line.strip():
            return line
    return ""


def is_revert_message(message: str) -> bool:
    """A revert made by git (`Revert "..."` + "This reverts commit <sha>.") or by
    GitHub's Revert button (`Revert "..." (#12)`, "Reverts owner/repo#11")."""
    subject = message.lstrip().split("\n", 1)[0]
    return bool(
        _REVERT_SUBJECT.match(subject)
        or _REVERTS_COMMIT.search(message)
        or _REVERTS_PR.search(message)
    )


def reverted_shas(message: str) -> tuple[str, ...]:
    """Every sha named by a "This reverts commit <sha>." line, lowercase, in order."""
    return tuple(m.group(1).lower() for m in _REVERTS_COMMIT.finditer(message))


def reverted_sha(message: str) -> str | None:
    """The sha in "This reverts commit <sha>." (the first, if several)."""
    shas = reverted_shas(message)
    return shas[0] if shas else None
