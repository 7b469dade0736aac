"""A JSON Schema of `.github/buildsheriff.yml`, generated from the config model (its keys,
defaults, choices and bounds), so editors can check the file as it is typed.

`schema/buildsheriff.schema.json` is this function's output, committed; a test keeps the two
equal (regenerate with `python scripts/config_schema.py`).
"""

from __future__ import annotations

from typing import Any

from app.core.config import (
    BISECT_MODES,
    EXTENDS_KEY,
    LABEL_KEYS,
    LABEL_MAX_CHARS,
    MAX_BISECT_ROUNDS,
    MAX_BRANCH_UPDATES,
    MAX_CONSECUTIVE,
    MAX_FLAKY_WINDOW_DAYS,
    MAX_WALK_LIMIT,
    MERGE_METHODS,
    ONCALL_PROVIDERS,
    TOP_LEVEL_KEYS,
    RepoConfig,
    human_config_duration,
)

SCHEMA_PATH = "schema/buildsheriff.schema.json"

# What `true`/`false` may also be written as (YAML 1.1 reads most of these itself)
_BOOLEAN = {"oneOf": [{"type": "boolean"}, {"enum": ["true", "false", "yes", "no", "on", "off"]}]}
_DURATION = {
    "oneOf": [
        {"type": "number", "minimum": 0},
        {
            "type": "string",
            "pattern": r"^\s*\d+(\.\d+)?\s*([a-z]+\s*(\d+(\.\d+)?\s*[a-z]+\s*)*)?$",
        },
    ],
    "description": "A duration such as '24h', '90m', '2d', '1h 30m', '30s' or a number of seconds.",
}
_GLOBS = {
    "oneOf": [
        {"type": "string", "minLength": 1},
        {"type": "array", "items": {"type": "string", "minLength": 1}},
    ]
}


def _whole(low: int, high: int | None = None) -> dict[str, Any]:
    number: dict[str, Any] = {"type": "integer", "minimum": low}
    if high is not None:
        number["maximum"] = high
    return number


def _choice(options: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "string", "enum": list(options)}


DESCRIPTIONS = {
    EXTENDS_KEY: "Inherit keys from another repository's file: `other-repo`, `owner/repo`, "
    "or either with `:path/file.yml` (Probot's `_extends`). This file's keys win.",
    "checks": "Check, status and workflow names (globs, case ignored) that decide red or "
    "green; empty means all.",
    "ignore_checks": "Globs of checks never counted; they win over `checks`.",
    "confirm": "How sure to be before acting: none, rerun, or {consecutive: N}.",
    "auto_revert": "Open (and auto-merge) a revert pull request for the culprit.",
    "revert_range": "When several commits landed between green and red, revert them all.",
    "max_reverts_per_day": "At most this many automatic reverts per repository per day.",
    "max_culprit_age": "Never auto-revert a commit older than this.",
    "merge_method": "How the revert pull request is merged: one method, or a list in order "
    "of preference (the first one the repository allows is used).",
    "max_branch_updates": "How many times a revert PR behind a branch that must be up to date "
    "is brought up to date before Build Sheriff stops and says so.",
    "merge_queue_jump": "With a merge queue, put the revert at the front of the queue.",
    "labels": "Labels that carry an incident's state, and the revert PR's hold label.",
    "slack_channel": "Mirror incidents to this Slack channel (quote names starting with #).",
    "slack_users": "GitHub login -> Slack member id (U…): who a mention pings in Slack.",
    "escalate_after": "Page on-call when nobody acknowledges an incident within this time.",
    "oncall": "The on-call provider and schedule to page.",
    "production_environment": "Deployments to this environment are rolled back when "
    "`rollback` is true.",
    "rollback": "Roll back the production deployment to the last green commit.",
    "max_walk": "How many commits to walk back looking for the last green one.",
    "bisect": "How to find the culprit among several suspects: rerun, probe or false.",
    "bisect_max_rounds": "At most this many rounds of CI per incident.",
    "bisect_parallel": "Probe refs only: ask about every suspect in one round.",
    "flaky_window_days": "With `confirm: rerun`, the flaky report counts failures over this "
    "many days.",
}


def _property(key: str, default: RepoConfig) -> dict[str, Any]:
    value = getattr(default, key, None)
    schemas: dict[str, dict[str, Any]] = {
        "checks": dict(_GLOBS, default=list(default.checks)),
        "ignore_checks": dict(_GLOBS, default=list(default.ignore_checks)),
        "confirm": {
            "oneOf": [
                {"enum": ["none", "rerun", False]},
                {"type": "string", "pattern": r"^\s*consecutive\s*[:=]?\s*\d+\s*$"},
                {
                    "type": "object",
                    "properties": {"consecutive": _whole(1, MAX_CONSECUTIVE)},
                    "required": ["consecutive"],
                    "additionalProperties": False,
                },
            ],
            "default": default.confirm,
        },
        "max_reverts_per_day": _whole(0),
        "max_walk": _whole(1, MAX_WALK_LIMIT),
        "bisect_max_rounds": _whole(1, MAX_BISECT_ROUNDS),
        "flaky_window_days": _whole(1, MAX_FLAKY_WINDOW_DAYS),
        "max_culprit_age": dict(_DURATION, default=human_config_duration(default.max_culprit_age)),
        "escalate_after": dict(_DURATION, default=human_config_duration(default.escalate_after)),
        "merge_method": {
            "oneOf": [
                _choice(MERGE_METHODS),
                {"type": "array", "items": _choice(MERGE_METHODS), "minItems": 1},
            ],
            "default": list(default.merge_method),
        },
        "max_branch_updates": _whole(0, MAX_BRANCH_UPDATES),
        "bisect": {"oneOf": [_choice(BISECT_MODES), {"type": "boolean"}]},
        "slack_channel": {"type": ["string", "null"], "minLength": 1},
        "production_environment": {"type": "string", "minLength": 1},
        "labels": {
            "type": "object",
            "properties": {
                name: {
                    "type": ["string", "null"],
                    "minLength": 1,
                    "maxLength": LABEL_MAX_CHARS,
                    "default": getattr(default.labels, name),
                }
                for name in LABEL_KEYS
            },
            "additionalProperties": False,
        },
        "oncall": {
            "type": "object",
            "properties": {
                "provider": {"enum": [*ONCALL_PROVIDERS, None]},
                "schedule": {"type": ["string", "integer", "null"]},
                "schedule_id": {"type": ["string", "integer", "null"]},
                "service": {"type": ["string", "integer", "null"]},
                "service_id": {"type": ["string", "integer", "null"]},
            },
            "additionalProperties": False,
        },
        "slack_users": {
            "type": "object",
            "propertyNames": {"pattern": r"^@?[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}$"},
            "additionalProperties": {"type": "string", "pattern": r"^[UW][A-Z0-9]{2,}$"},
            "default": {},
        },
    }
    if key in schemas:
        schema = schemas[key]
    elif isinstance(value, bool):
        schema = dict(_BOOLEAN)
    else:
        raise KeyError(f"no schema for the config key {key!r}")
    if "default" not in schema and isinstance(value, bool | int | str):
        schema = {**schema, "default": value}
    return {"description": DESCRIPTIONS[key], **schema}


def config_schema() -> dict[str, Any]:
    default = RepoConfig()
    properties = {EXTENDS_KEY: {"description": DESCRIPTIONS[EXTENDS_KEY], "type": "string"}}
    properties.update({key: _property(key, default) for key in TOP_LEVEL_KEYS})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "Build Sheriff: .github/buildsheriff.yml",
        "description": "Every key is optional. An invalid key costs only that key: its default "
        "applies and the buildsheriff/config check run says what is wrong.",
        "type": ["object", "null"],
        "properties": properties,
        "additionalProperties": False,
    }
