"""Validates webhook payloads against octokit's published schemas of GitHub's events.

Schemas live in `webhook-schemas/<event>/<action>.schema.json`; events without an action (push,
status, ping) have a single `event.schema.json`. They are draft-07 and refer to each other with
relative `$ref`s ("common/user.schema.json", or "user.schema.json" from inside common/), which
resolve against the `$id`s of the files in `common/`.
"""

from __future__ import annotations

import json
import re
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker
from jsonschema.exceptions import ValidationError, best_match
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT7

from sim.paths import shared_github_dir

# Names become file paths: keep them to what GitHub uses, so no payload can point outside.
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")
_MAX_PROBLEMS = 20
_MAX_MESSAGE = 300


def _schemas_dir() -> Path:
    return shared_github_dir() / "webhook-schemas"


@cache
def _registry() -> Registry[Any]:
    resources: list[tuple[str, Resource[Any]]] = []
    for file in sorted((_schemas_dir() / "common").glob("*.schema.json")):
        contents = json.loads(file.read_text(encoding="utf-8"))
        uri = contents.get("$id", f"common/{file.name}")
        resources.append((uri, DRAFT7.create_resource(contents)))
    registry: Registry[Any] = Registry().with_resources(resources)
    return registry.crawl()


# The schemas rely on formats being asserted, as octokit's own ajv setup does: e.g.
# `environment_url` is oneOf [uri, ""] and "" would match both without the uri check.
# jsonschema's built-in "uri" check needs an extra package, hence these two small ones.
_FORMATS = FormatChecker(formats=())
_URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:[^\s]*$")


@_FORMATS.checks("uri")
def _is_uri(value: object) -> bool:
    return not isinstance(value, str) or bool(_URI.match(value))


@_FORMATS.checks("date-time", raises=ValueError)
def _is_date_time(value: object) -> bool:
    """RFC 3339, as GitHub sends them: a time part and an offset ("Z" or "+02:00")."""
    if isinstance(value, str):
        if len(value) < 11 or value[10] not in "Tt ":
            raise ValueError(f"{value!r} has no time part")
        if datetime.fromisoformat(value).tzinfo is None:
            raise ValueError(f"{value!r} has no UTC offset")
    return True


@cache
def _validator(schema_file: Path) -> Draft7Validator:
    # jsonschema ignores keywords it does not know, so `tsAdditionalProperties` (a hint for
    # octokit's TypeScript generator) has no effect, as intended.
    schema = json.loads(schema_file.read_text(encoding="utf-8"))
    return Draft7Validator(schema, registry=_registry(), format_checker=_FORMATS)


def schema_file_for(event: str, payload: dict[str, Any]) -> Path | None:
    """The schema GitHub's `event` with this payload's `action` must satisfy, if there is one."""
    if not _NAME.match(event):
        return None
    folder = _schemas_dir() / event
    action = payload.get("action")
    if isinstance(action, str) and _NAME.match(action):
        candidate = folder / f"{action}.schema.json"
        if candidate.is_file():
            return candidate
    candidate = folder / "event.schema.json"
    return candidate if candidate.is_file() else None


def _describe(error: ValidationError) -> str:
    # The top error of a oneOf/anyOf says little ("is not valid under any of the given
    # schemas" + the whole instance); the most relevant nested one says what is wrong.
    relevant = best_match([error])
    location = "/".join(str(part) for part in relevant.absolute_path) or "(root)"
    message = relevant.message
    if len(message) > _MAX_MESSAGE:
        message = message[: _MAX_MESSAGE - 3] + "..."
    return f"{location}: {message}"


def validate_webhook(event: str, payload: dict[str, Any]) -> list[str]:
    """What a receiver checking GitHub's published schema would reject; [] when valid."""
    if not isinstance(payload, dict):
        return [f"{event} payload must be a JSON object, got {type(payload).__name__}"]
    schema_file = schema_file_for(event, payload)
    if schema_file is None:
        action = payload.get("action")
        suffix = f" with action {action!r}" if action is not None else ""
        return [f"no schema for webhook event {event!r}{suffix}"]
    errors = sorted(
        _validator(schema_file).iter_errors(payload),
        key=lambda error: [str(part) for part in error.absolute_path],
    )
    problems = [f"{event}/{schema_file.name}: {_describe(error)}" for error in errors]
    if len(problems) > _MAX_PROBLEMS:
        hidden = len(problems) - _MAX_PROBLEMS
        problems = [*problems[:_MAX_PROBLEMS], f"... and {hidden} more"]
    return problems
