"""Commands people type in incident comments: `/revert`, `/ack`, `/status`, ...

Only the first line of a comment counts, so quoting or explaining a command
("> /revert", a code block, "later we could /revert") never runs it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMAND_NAMES = ("revert", "ack", "status", "mitigated", "resolve", "page")

# The command word must end there: `/reverted` and `/revert-it` are not `/revert`.
_COMMAND = re.compile(
    r"/(?P<name>" + "|".join(COMMAND_NAMES) + r")(?![\w-])(?P<arg>.*)", re.IGNORECASE
)
_ON_IT = re.compile(r"i(?:['’]?m| am) +on +it *[!.]?", re.IGNORECASE)
_SHA = re.compile(r"[0-9a-f]{7,40}", re.IGNORECASE)


@dataclass(frozen=True)
class Command:
    name: str  # one of COMMAND_NAMES
    arg: str  # rest of the first line, stripped; for "revert" a lowercase sha or ""


def is_sha(text: str) -> bool:
    """A full or abbreviated (7 to 40 hex digits) commit sha."""
    return _SHA.fullmatch(text) is not None


def _first_line(body: str | None) -> str:
    if not body:
        return ""
    stripped = body.lstrip()
    return stripped.splitlines()[0].strip() if stripped else ""


def parse_command(body: str | None) -> Command | None:
    """The command a comment gives, or None when it gives none (or one we must not run).

    `/revert <word>` where the word is not a sha gives None rather than a bare
    `/revert`: reverting the incident's culprit after a typo would be the wrong revert.
    `explain_rejection` says why, for a reply.
    """
    if body and _ON_IT.fullmatch(body.strip()):
        return Command("ack", "")
    line = _first_line(body)
    match = _COMMAND.match(line)
    if match is None:
        return None
    name = match.group("name").lower()
    arg = match.group("arg").strip()
    if name == "revert":
        words = arg.split()
        if not words:
            return Command("revert", "")
        if not is_sha(words[0]):
            return None
        return Command("revert", words[0].lower())
    return Command(name, arg)


def explain_rejection(body: str | None) -> str | None:
    """Why a comment that looks like a command was not taken as one (None if it was, or
    if it does not look like one): worth a reply so the person is not left waiting."""
    line = _first_line(body)
    match = _COMMAND.match(line)
    if match is None or parse_command(body) is not None:
        return None
    word = match.group("arg").split()[0]
    return (
        f"`{word}` is not a commit sha (7 to 40 hex digits), so nothing was reverted: "
        "write `/revert <sha>`, or `/revert` alone to revert the incident's culprit."
    )
