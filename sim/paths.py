"""Where GitHub's published artifacts (OpenAPI, GraphQL schema, webhook examples) live."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path


@cache
def shared_github_dir() -> Path:
    """`$BUILDSHERIFF_SHARED_GITHUB`, else the first `shared/github` beside an ancestor folder."""
    env = os.environ.get("BUILDSHERIFF_SHARED_GITHUB")
    if env:
        return Path(env)
    here = Path(__file__).resolve()
    for parent in here.parents:
        candidate = parent / "shared" / "github"
        if (candidate / "openapi").is_dir():
            return candidate
    raise FileNotFoundError(
        "GitHub's artifacts were not found: "
        "set BUILDSHERIFF_SHARED_GITHUB to the shared/github folder"
    )
