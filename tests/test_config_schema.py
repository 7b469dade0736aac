"""The JSON Schema of `.github/buildsheriff.yml` is the config model's, and is committed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from jsonschema import Draft202012Validator

from app.core.config import TOP_LEVEL_KEYS, RepoConfig, example_config, parse_repo_config
from app.core.config_schema import SCHEMA_PATH, config_schema

ROOT = Path(__file__).resolve().parents[1]


def test_the_committed_schema_is_the_one_the_model_generates() -> None:
    committed = json.loads((ROOT / SCHEMA_PATH).read_text())
    assert committed == config_schema(), "run: python scripts/config_schema.py"


def test_the_schema_is_valid_and_names_every_key_with_its_default() -> None:
    schema = config_schema()
    Draft202012Validator.check_schema(schema)
    assert set(schema["properties"]) == {*TOP_LEVEL_KEYS, "_extends"}
    default = RepoConfig()
    for key in ("auto_revert", "max_walk", "bisect_max_rounds", "rollback", "max_branch_updates"):
        assert schema["properties"][key]["default"] == getattr(default, key), key
    assert schema["properties"]["merge_method"]["default"] == list(default.merge_method)


def test_the_readme_links_the_schema() -> None:
    assert SCHEMA_PATH in (ROOT / "README.md").read_text()


# Documents the schema and the parser must judge alike: valid <=> no error.
SAMPLES = [
    example_config(),
    "",
    "_extends: octo/base\nmax_walk: 3\n",
    "checks: build\nignore_checks: ['*flaky*']\n",
    "confirm: rerun\n",
    "confirm: {consecutive: 3}\n",
    "confirm: {consecutive: 0}\n",
    "confirm: maybe\n",
    "max_culprit_age: 2d\nescalate_after: 90\n",
    "max_culprit_age: -5\n",
    "max_reverts_per_day: lots\n",
    "max_walk: 1001\n",
    "merge_method: fast-forward\n",
    "merge_method: [merge, rebase]\n",
    "merge_method: []\n",
    "merge_method: [squash, ff]\n",
    "max_branch_updates: 3\n",
    "max_branch_updates: -1\n",
    "merge_queue_jump: false\n",
    "merge_queue_jump: later\n",
    "labels:\n  hold: hold-it\n",
    "bisect: probe\nbisect_parallel: true\n",
    "bisect: false\n",
    "bisect: sometimes\n",
    "labels:\n  triage: sev/triage\n",
    "labels:\n  colour: red\n",
    "oncall:\n  provider: pagerduty\n  schedule: P123\n",
    "oncall:\n  provider: pagerdoodie\n",
    "slack_users:\n  mona: U012AB3CD\n",
    "slack_users:\n  mona: nope\n",
    "slack_channel: '#build'\n",
    "auto_revert: perhaps\n",
    "merge_methd: squash\n",
    "flaky_window_days: 91\n",
]


@pytest.mark.parametrize("text", SAMPLES)
def test_schema_and_parser_agree(text: str) -> None:
    document = yaml.safe_load(text) if text else None
    schema_ok = not list(Draft202012Validator(config_schema()).iter_errors(document))
    _config, errors = parse_repo_config(text)
    assert schema_ok == (not errors), [e.message for e in errors]
