"""The `buildsheriff/config` check run's words: every config error with its line, key, and
what is allowed, as GitHub's check run output and annotations (pure; posted by
app.github.config_check).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from app.core.config import CONFIG_PATH, ConfigError

CHECK_NAME = "buildsheriff/config"
# GitHub's limits: summary and text 65,535 characters; 50 annotations per request
OUTPUT_MAX_CHARS = 65535
ANNOTATIONS_PER_REQUEST = 50
ANNOTATION_MAX_CHARS = 4000  # a message is allowed 64 KB; one error is a sentence


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def where(error: ConfigError) -> str:
    """`12`, or `acme/.github:4` for an error in a file this one extends."""
    line = str(error.line) if error.line is not None else "–"
    return f"{error.source}:{line}" if error.source else line


def conclusion(errors: Sequence[ConfigError]) -> str:
    return "failure" if errors else "success"


def check_title(errors: Sequence[ConfigError]) -> str:
    if not errors:
        return f"{CONFIG_PATH} is valid"
    count = len(errors)
    return f"{count} problem{'s' if count != 1 else ''} in {CONFIG_PATH}"


def check_summary(errors: Sequence[ConfigError], sources: Sequence[str]) -> str:
    """A table of every error (line, key, what is wrong and what is allowed), then the files
    read; cut to GitHub's limit with a count of what was left out."""
    read = " ← ".join(f"`{s}`" for s in sources) if sources else "none: the defaults apply"
    footer = (
        f"\n\nFiles read, the repository's own first (`_extends` and the organization's "
        f"`.github` repository): {read}.\n"
        "An invalid key never stops Build Sheriff: its default applies and the other keys "
        "still do. All keys and their defaults: the README's configuration reference; "
        "editors can validate the file with the JSON Schema published with Build Sheriff."
    )
    if not errors:
        return "Every key is valid." + footer
    head = "| Line | Key | What is wrong, and what is allowed |\n|---|---|---|\n"
    rows = [f"| {_cell(where(e))} | `{_cell(e.key)}` | {_cell(e.message)} |\n" for e in errors]
    budget = OUTPUT_MAX_CHARS - len(head) - len(footer) - 100
    kept: list[str] = []
    for row in rows:
        if len(row) > budget:
            break
        kept.append(row)
        budget -= len(row)
    body = head + "".join(kept)
    if len(kept) < len(rows):
        body += f"\n… and {len(rows) - len(kept)} more, not shown (GitHub's size limit).\n"
    return body + footer


def check_output(errors: Sequence[ConfigError], sources: Sequence[str]) -> dict[str, Any]:
    return {"title": check_title(errors), "summary": check_summary(errors, sources)}


def annotations_of(errors: Sequence[ConfigError]) -> list[dict[str, Any]]:
    """One failure annotation per error in the repository's own file that has a line."""
    found: list[dict[str, Any]] = []
    for error in errors:
        if error.source or error.line is None:
            continue
        message = error.message
        if len(message) > ANNOTATION_MAX_CHARS:
            message = message[: ANNOTATION_MAX_CHARS - 1] + "…"
        found.append(
            {
                "path": CONFIG_PATH,
                "start_line": error.line,
                "end_line": error.line,
                "annotation_level": "failure",
                "title": error.key,
                "message": message,
            }
        )
    return found


def batches(items: Sequence[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Annotations in GitHub's per-request batches of 50."""
    return [
        list(items[i : i + ANNOTATIONS_PER_REQUEST])
        for i in range(0, len(items), ANNOTATIONS_PER_REQUEST)
    ]
