"""The end-to-end harness: demo.stack's stack, plus helpers only tests need."""

from __future__ import annotations

import json
from typing import Any

from demo.stack import (
    APP_ID,
    Stack,
    generate_app_key,
    public_key_of,
    sign,
    stack,
    webhook_headers,
)

__all__ = [
    "APP_ID",
    "Stack",
    "example_payload",
    "generate_app_key",
    "public_key_of",
    "sign",
    "stack",
    "webhook_headers",
]


def example_payload(event: str, name: str = "payload") -> dict[str, Any]:
    """A payload GitHub published: webhook-examples/<event>/<name>.payload.json (or <name>)."""
    from sim.paths import shared_github_dir

    folder = shared_github_dir() / "webhook-examples" / event
    candidates = [folder / f"{name}.payload.json", folder / f"{name}.json", folder / name]
    path = next((c for c in candidates if c.is_file()), candidates[0])
    data: dict[str, Any] = json.loads(path.read_text())
    return data
