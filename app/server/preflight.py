"""Start-up checks beyond the settings: what the host must provide (git >= 2.38)."""

from __future__ import annotations

import re
import shutil
import subprocess

# `git merge-tree --write-tree` (three-way merges without a work tree) came in git 2.38.
MIN_GIT = (2, 38)
_VERSION = re.compile(r"git version ((\d+)\.(\d+)[0-9.]*)")


def git_problem(git: str) -> str | None:
    """One line saying why `git` cannot serve the revert merges, or None when it can."""
    need = f"git {MIN_GIT[0]}.{MIN_GIT[1]} or newer is needed (for git merge-tree --write-tree)"
    executable = shutil.which(git)
    if executable is None:
        return f"{need}: no `{git}` on PATH"
    try:
        answer = subprocess.run(
            [executable, "--version"], capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"{need}: `{git} --version` failed ({type(exc).__name__})"
    match = _VERSION.search(answer.stdout)
    if answer.returncode != 0 or match is None:
        return f"{need}: `{git} --version` did not say its version"
    if (int(match.group(2)), int(match.group(3))) < MIN_GIT:
        return f"{need}, found git {match.group(1).rstrip('.')}"
    return None
