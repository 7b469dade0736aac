"""`.github/buildsheriff.yml`: every key, every way to get it wrong, and the cached loader."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from dataclasses import dataclass, field, fields
from typing import Any, cast

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from gidgethub import GitHubBroken
from gidgethub.aiohttp import GitHubAPI

from app.core.config import (
    CONFIG_PATH,
    MAX_EXTENDS_DEPTH,
    TOP_LEVEL_KEYS,
    ConfigError,
    ConfigSource,
    Labels,
    OncallConfig,
    RepoConfig,
    build_config,
    chain_error,
    example_config,
    parse_duration,
    parse_extends,
    parse_repo_config,
    read_config_file,
)
from app.github.config_loader import LoadedConfig, RepoConfigLoader

DEFAULTS = RepoConfig()


# ---------------------------------------------------------------- good files


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("checks: build", {"checks": ("build",)}),
        ("checks: [build, 'ci/*']", {"checks": ("build", "ci/*")}),
        ("checks: []", {"checks": ()}),
        (
            "ignore_checks:\n  - '*flaky*'\n  - codecov/patch",
            {"ignore_checks": ("*flaky*", "codecov/patch")},
        ),
        ("confirm: none", {"confirm": "none", "consecutive": 1}),
        ("confirm: rerun", {"confirm": "rerun", "consecutive": 1}),
        ("confirm: RERUN", {"confirm": "rerun"}),
        ("confirm: no", {"confirm": "none"}),  # YAML reads `no` as false
        ("confirm: {consecutive: 3}", {"confirm": "consecutive", "consecutive": 3}),
        ("confirm:\n  consecutive: 2", {"confirm": "consecutive", "consecutive": 2}),
        ('confirm: "consecutive: 3"', {"confirm": "consecutive", "consecutive": 3}),
        ("confirm: consecutive 4", {"confirm": "consecutive", "consecutive": 4}),
        ("auto_revert: false", {"auto_revert": False}),
        ("auto_revert: off", {"auto_revert": False}),
        ('auto_revert: "no"', {"auto_revert": False}),
        ("revert_range: yes", {"revert_range": True}),
        ("rollback: true", {"rollback": True}),
        ("max_reverts_per_day: 0", {"max_reverts_per_day": 0}),
        ("max_reverts_per_day: 10", {"max_reverts_per_day": 10}),
        ("max_reverts_per_day: '2'", {"max_reverts_per_day": 2}),
        ("max_reverts_per_day: 3.0", {"max_reverts_per_day": 3}),
        ("max_culprit_age: 2d", {"max_culprit_age": 172800.0}),
        ("max_culprit_age: 90m", {"max_culprit_age": 5400.0}),
        ("max_culprit_age: 3600", {"max_culprit_age": 3600.0}),
        ("max_culprit_age: 1h 30m", {"max_culprit_age": 5400.0}),
        ("escalate_after: 30s", {"escalate_after": 30.0}),
        ("escalate_after: 0", {"escalate_after": 0.0}),
        ("merge_method: rebase", {"merge_method": ("rebase",)}),
        ("merge_method: [merge, Rebase]", {"merge_method": ("merge", "rebase")}),
        ("merge_method: [merge, merge, squash]", {"merge_method": ("merge", "squash")}),
        ("max_branch_updates: 0", {"max_branch_updates": 0}),
        ("max_branch_updates: 25", {"max_branch_updates": 25}),
        ("merge_queue_jump: off", {"merge_queue_jump": False}),
        ("labels: {hold: hold-it}", {"labels": Labels(hold="hold-it")}),
        ("bisect: probe", {"bisect": "probe"}),
        ("bisect: Rerun", {"bisect": "rerun"}),
        ("bisect: false", {"bisect": "false"}),
        ("bisect: off", {"bisect": "false"}),  # YAML reads `off` as false
        ("bisect: true", {"bisect": "rerun"}),
        ("bisect_max_rounds: 3", {"bisect_max_rounds": 3}),
        ("bisect: probe\nbisect_parallel: true", {"bisect": "probe", "bisect_parallel": True}),
        ("flaky_window_days: 30", {"flaky_window_days": 30}),
        ("merge_method: Merge", {"merge_method": ("merge",)}),
        ('slack_channel: "#build-cops"', {"slack_channel": "#build-cops"}),
        ("slack_channel: C0123ABC", {"slack_channel": "C0123ABC"}),
        ("production_environment: prod-eu", {"production_environment": "prod-eu"}),
        ("max_walk: 1", {"max_walk": 1}),
        ("max_walk: 1000", {"max_walk": 1000}),
        (
            "labels:\n  triage: 'sev: triage'\n  revert: auto-revert",
            {"labels": Labels(triage="sev: triage", revert="auto-revert")},
        ),
        ("labels: {}", {"labels": Labels()}),
        (
            "oncall:\n  provider: opsgenie\n  schedule: ops-schedule",
            {"oncall": OncallConfig("opsgenie", "ops-schedule", None)},
        ),
        (
            "oncall: {provider: PagerDuty, schedule_id: PABC123, service: PSVC1}",
            {"oncall": OncallConfig("pagerduty", "PABC123", "PSVC1")},
        ),
        (
            "oncall: {provider: pagerduty, schedule: 1234, schedule_id: '1234'}",
            {"oncall": OncallConfig("pagerduty", "1234", None)},
        ),
        ("oncall: {provider: opsgenie}", {"oncall": OncallConfig("opsgenie")}),
        # a key with no value keeps its default
        ("confirm:\nmax_walk:\nlabels:\noncall:", {}),
        # several keys at once
        (
            "auto_revert: false\nmax_walk: 20\nconfirm: rerun",
            {"auto_revert": False, "max_walk": 20, "confirm": "rerun"},
        ),
    ],
)
def test_valid_settings(text: str, expected: dict[str, Any]) -> None:
    config, errors = parse_repo_config(text)
    assert errors == []
    assert config == RepoConfig(**{**_as_dict(DEFAULTS), **expected})


def _as_dict(config: RepoConfig) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in fields(config)}


@pytest.mark.parametrize(
    "text",
    [None, "", "   \n", "# only a comment\n# and another", "---\n", "~", "null"],
)
def test_nothing_means_defaults(text: str | None) -> None:
    assert parse_repo_config(text) == (DEFAULTS, [])


# ---------------------------------------------------------------- bad values


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("checks: 3", "checks", "got 3"),
        ("checks: [build, 3.1]", "checks", "each quoted text"),
        ("checks: ['']", "checks", "a check name"),
        ("ignore_checks: {a: b}", "ignore_checks", "got a mapping"),
        ("confirm: always", "confirm", "got 'always'"),
        ("confirm: consecutive", "confirm", "needs a count"),
        ("confirm: {consecutive: 0}", "confirm.consecutive", "from 1 to 100, got 0"),
        ("confirm: {consecutive: many}", "confirm.consecutive", "got 'many'"),
        ("confirm: 'consecutive: -2'", "confirm.consecutive", "got '-2'"),
        ("confirm: {rerun: 2}", "confirm", "got a mapping"),
        ("confirm: true", "confirm", "got true (a true/false value)"),
        ("confirm: [rerun]", "confirm", "got a list of 1 item"),
        ("auto_revert: maybe", "auto_revert", "must be true or false, got 'maybe'"),
        ("auto_revert: 1", "auto_revert", "must be true or false, got 1"),
        ("rollback: [true]", "rollback", "got a list of 1 item"),
        ("max_reverts_per_day: lots", "max_reverts_per_day", "whole number >= 0, got 'lots'"),
        ("max_reverts_per_day: -1", "max_reverts_per_day", "got -1"),
        ("max_reverts_per_day: 2.5", "max_reverts_per_day", "got 2.5"),
        ("max_reverts_per_day: true", "max_reverts_per_day", "got true"),
        ("max_walk: 0", "max_walk", "from 1 to 1000, got 0"),
        ("bisect: always", "bisect", "one of rerun, probe, false; got 'always'"),
        ("bisect_max_rounds: 0", "bisect_max_rounds", "from 1 to 20, got 0"),
        ("bisect_parallel: true", "bisect_parallel", "needs `bisect: probe`"),
        ("bisect: rerun\nbisect_parallel: yes", "bisect_parallel", "one at a time"),
        ("flaky_window_days: 365", "flaky_window_days", "from 1 to 90, got 365"),
        ("max_walk: 1001", "max_walk", "got 1001"),
        ("max_culprit_age: soon", "max_culprit_age", "a duration such as '24h'"),
        ("max_culprit_age: -5", "max_culprit_age", "got -5"),
        ("max_culprit_age: 5ms", "max_culprit_age", "got '5ms'"),
        ("escalate_after: [15m]", "escalate_after", "got a list"),
        ("escalate_after: .inf", "escalate_after", "got inf"),
        ("merge_method: fast-forward", "merge_method", "merge, squash, rebase"),
        ("merge_method: [squash, ff]", "merge_method", "got 'ff'"),
        ("merge_method: []", "merge_method", "a list of them in order of preference"),
        ("max_branch_updates: -1", "max_branch_updates", "from 0 to 100, got -1"),
        ("merge_queue_jump: sometimes", "merge_queue_jump", "true or false"),
        ("labels: {hold: revert}", "labels", "'revert' is used for two states"),
        ("slack_channel: ''", "slack_channel", "a channel name"),
        ("slack_channel: 42", "slack_channel", "got 42"),
        ("slack_channel: #build-cops", "slack_channel", 'write `slack_channel: "#your-channel"`'),
        ("production_environment: [a]", "production_environment", "an environment name"),
        ("labels: incident", "labels", "must be a mapping"),
        ("labels: {triage: ''}", "labels.triage", "a label name of 1 to 50 characters"),
        ("labels: {triage: " + "x" * 51 + "}", "labels.triage", "1 to 50 characters"),
        ("labels: {triage: 3}", "labels.triage", "got 3"),
        ("labels: {traige: t}", "labels.traige", "did you mean `labels.triage`?"),
        ("labels: {triage: incident}", "labels", "'incident' is used for two states"),
        ("oncall: pagerduty", "oncall", "must be a mapping"),
        ("oncall: {provider: victorops}", "oncall.provider", "pagerduty, jsm, opsgenie"),
        ("oncall: {schedule: S1}", "oncall.provider", "must be set"),
        ("oncall: {provider: opsgenie, team: t}", "oncall.team", "unknown key `oncall.team`"),
        ("oncall: {provider: opsgenie, schedule: [a]}", "oncall.schedule", "an id"),
        (
            "oncall: {provider: opsgenie, schedule: a, schedule_id: b}",
            "oncall.schedule_id",
            "disagrees",
        ),
    ],
)
def test_a_bad_value_is_an_error_value_and_falls_back(text: str, key: str, says: str) -> None:
    top = key.split(".")[0]
    # An unrelated good key after the bad one must still apply.
    good, field_name, value = "rollback: true", "rollback", cast(object, True)
    if top == "rollback":
        good, field_name, value = ("max_walk: 7", "max_walk", 7)
    config, errors = parse_repo_config(f"{text}\n{good}\n")
    assert [e.key for e in errors] == [key]
    assert says in errors[0].message
    assert f"`{key}" in str(errors[0])  # the sentence names the key
    assert getattr(config, field_name) == value
    if top in {"labels", "oncall"} and key != top and "disagrees" not in says:
        return  # inside a section only the bad entry is dropped (checked below)
    if top == "oncall" and "disagrees" in says:
        assert config.oncall == OncallConfig("opsgenie", "a", None)
        return
    assert getattr(config, top) == getattr(DEFAULTS, top)


def test_inside_a_section_only_the_bad_entry_is_dropped() -> None:
    config, errors = parse_repo_config(
        "labels:\n  triage: ''\n  revert: reverted\n  bogus: x\n"
        "oncall:\n  provider: opsgenie\n  schedule: [x]\n  service: S1\n"
    )
    assert [e.key for e in errors] == ["labels.triage", "labels.bogus", "oncall.schedule"]
    assert config.labels == Labels(revert="reverted")
    assert config.oncall == OncallConfig("opsgenie", None, "S1")


def test_confirm_bad_count_keeps_both_confirm_defaults() -> None:
    config, _ = parse_repo_config("confirm: {consecutive: 0}")
    assert (config.confirm, config.consecutive) == ("none", 1)


@pytest.mark.parametrize(
    ("text", "key", "says"),
    [
        ("conirm: rerun", "conirm", "did you mean `confirm`?"),
        ("auto_revrt: false", "auto_revert", None),
        ("consecutive: 3", "consecutive", "write `confirm: {consecutive: N}` instead"),
        ("schedule: P1", "schedule", "it belongs under `oncall:`"),
        ("zebra: 1", "zebra", "known keys: `checks`"),
        ("1: x", "1", "unknown key `1` is ignored"),
        ("on: push", "True", "unknown key `True`"),  # YAML 1.1: `on` is true
    ],
)
def test_unknown_keys_are_reported_and_ignored(text: str, key: str, says: str | None) -> None:
    config, errors = parse_repo_config(text + "\nrollback: true")
    assert config == RepoConfig(rollback=True)
    assert len(errors) == 1
    if says is None:  # the misspelt key itself is reported, with a suggestion
        assert errors[0].key == "auto_revrt"
        assert "did you mean `auto_revert`?" in errors[0].message
    else:
        assert errors[0].key == key
        assert says in errors[0].message
    assert "is ignored" in errors[0].message


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("confirm: [rerun\nauto_revert: false", "line 2, column"),
        ("auto_revert: false\n  max_walk: 3", "line 2, column 11"),
        ("confirm: consecutive: 3", "line 1, column 21"),
        ("a: 1\n---\nb: 2", "line 2, column 1"),
        ("key: 'unterminated", "line 1, column"),
    ],
)
def test_yaml_syntax_errors_give_defaults_and_a_position(text: str, where: str) -> None:
    config, errors = parse_repo_config(text)
    assert config == DEFAULTS
    assert len(errors) == 1
    assert errors[0].key == "<file>"
    assert "not valid YAML" in errors[0].message and where in errors[0].message
    assert CONFIG_PATH in errors[0].message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("- auto_revert: false", "got a list of 1 item"),
        ("just some words", "got 'just some words'"),
        ("42", "got 42"),
    ],
)
def test_top_level_must_be_a_mapping(text: str, says: str) -> None:
    config, errors = parse_repo_config(text)
    assert config == DEFAULTS
    assert [e.key for e in errors] == ["<file>"]
    assert "must be a mapping of settings" in errors[0].message and says in errors[0].message


def test_a_key_written_twice_is_reported_and_the_later_applies() -> None:
    config, errors = parse_repo_config("max_walk: 3\nrollback: true\nmax_walk: 9\n")
    assert config.max_walk == 9 and config.rollback is True
    assert [str(e) for e in errors] == [
        "`max_walk` is set twice (lines 1 and 3); the later value applies"
    ]


def test_yaml_merge_keys_are_not_mistaken_for_duplicates() -> None:
    text = "base: &b {provider: opsgenie}\noncall:\n  <<: *b\n  schedule: S\n"
    config, errors = parse_repo_config(text)
    assert config.oncall == OncallConfig("opsgenie", "S")
    assert [e.key for e in errors] == ["base"]


def test_a_huge_file_is_refused_whole() -> None:
    config, errors = parse_repo_config("max_walk: 3\n" + "# padding\n" * 10_000)
    assert config == DEFAULTS
    assert [e.key for e in errors] == ["<file>"] and "allowed" in errors[0].message


def test_python_tags_are_not_executed() -> None:
    config, errors = parse_repo_config("max_walk: !!python/object/apply:os.getcwd []")
    assert config == DEFAULTS
    assert [e.key for e in errors] == ["<file>"]


def test_error_str_is_the_sentence() -> None:
    _, errors = parse_repo_config("max_reverts_per_day: lots")
    assert errors == [
        ConfigError(
            "max_reverts_per_day",
            "`max_reverts_per_day` must be a whole number >= 0, got 'lots'",
            line=1,
        )
    ]
    assert str(errors[0]) == "`max_reverts_per_day` must be a whole number >= 0, got 'lots'"


# ---------------------------------------------------------------- durations


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (0, 0.0),
        (45, 45.0),
        (1.5, 1.5),
        ("30s", 30.0),
        ("90m", 5400.0),
        ("24h", 86400.0),
        ("2d", 172800.0),
        ("1w", 604800.0),
        ("1h30m", 5400.0),
        ("1h 30m", 5400.0),
        ("1.5h", 5400.0),
        (" 15m ", 900.0),
        ("15M", 900.0),
        ("15 minutes", 900.0),
        ("2 hours", 7200.0),
        ("1 day", 86400.0),
        ("3600", 3600.0),
        ("0", 0.0),
    ],
)
def test_parse_duration(value: object, seconds: float) -> None:
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    ["", "soon", "5ms", "h", "1h 30", "-5m", "1.5.2h", "m30", -1, float("nan"), float("inf"),
     True, None, [1], {"h": 1}],
)  # fmt: skip
def test_parse_duration_rejects(value: object) -> None:
    with pytest.raises(ValueError, match=r"expected a duration such as '24h', '90m'"):
        parse_duration(value)


# ---------------------------------------------------------------- which checks count


@pytest.mark.parametrize(
    ("checks", "ignore", "name", "counts"),
    [
        ((), (), "anything", True),
        (("build",), (), "build", True),
        (("build",), (), "build-extra", False),
        (("ci/*",), (), "ci/linux", True),
        (("ci/*",), (), "CI/Linux", True),  # case ignored
        (("ci/*",), (), "lint", False),
        (("ci/*", "lint"), (), "lint", True),
        ((), ("*flaky*",), "test-flaky-suite", False),
        ((), ("*flaky*",), "test", True),
        (("ci/*",), ("ci/optional-*",), "ci/optional-arm", False),  # ignore beats checks
        (("ci/*",), ("ci/optional-*",), "ci/linux", True),
        (("test (3.1?)",), (), "test (3.11)", True),
    ],
)
def test_counts(checks: tuple[str, ...], ignore: tuple[str, ...], name: str, counts: bool) -> None:
    assert RepoConfig(checks=checks, ignore_checks=ignore).counts(name) is counts


# ---------------------------------------------------------------- the example file


def test_example_config_parses_to_the_defaults() -> None:
    assert parse_repo_config(example_config()) == (RepoConfig(), [])


def test_example_config_shows_every_key() -> None:
    text = example_config()
    for key in TOP_LEVEL_KEYS:
        assert f"\n{key}:" in text, key
    for label in (f.name for f in fields(Labels)):
        assert f"\n  {label}:" in text, label
    for key in ("provider", "schedule", "service"):
        assert f"\n  {key}:" in text, key
    assert "{consecutive: 3}" in text
    assert "max_culprit_age: 24h" in text and "escalate_after: 15m" in text


def test_each_example_line_can_be_changed() -> None:
    text = (
        example_config()
        .replace("max_walk: 50", "max_walk: 5")
        .replace("slack_channel:        #", 'slack_channel: "#x"  #')
    )
    assert parse_repo_config(text) == (RepoConfig(max_walk=5, slack_channel="#x"), [])


# ---------------------------------------------------------------- the loader


@dataclass
class FakeRepo:
    """What a GitHub contents endpoint serves: (repo, ref) -> file, and what it was asked."""

    files: dict[tuple[str, str], Any] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)
    broken: bool = False
    invisible: set[str] = field(default_factory=set)  # repositories the App cannot see
    cut: set[str] = field(default_factory=set)  # repositories whose blob GraphQL cuts
    graphql_asked: int = 0


def _contents_answer(value: Any) -> web.Response:
    if isinstance(value, list):  # a directory
        return web.json_response(value)
    raw = value if isinstance(value, bytes) else value.encode()
    encoded = base64.encodebytes(raw).decode()  # GitHub wraps base64 at 60 columns
    return web.json_response(
        {
            "type": "file",
            "encoding": "base64",
            "size": len(raw),
            "name": "buildsheriff.yml",
            "path": CONFIG_PATH,
            "content": encoded,
        }
    )


# Plain gidgethub (what the loader relies on), without the app's retrying client.
class Api(GitHubAPI):
    """gidgethub with its GraphQL endpoint on the fake server (as GitHubClient sets it)."""

    async def graphql(self, query: str, *, endpoint: str | None = None, **variables: Any) -> Any:
        url = endpoint or self.base_url.rstrip("/") + "/graphql"
        return await super().graphql(query, endpoint=url, **variables)


@pytest.fixture
async def fake() -> AsyncIterator[tuple[FakeRepo, GitHubAPI]]:
    state = FakeRepo()

    async def contents(request: web.Request) -> web.Response:
        repo = f"{request.match_info['owner']}/{request.match_info['name']}"
        ref = request.query.get("ref", "")
        state.asked.append((repo, ref))
        if state.broken:
            return web.json_response({"message": "Server Error"}, status=502)
        if (repo, ref) not in state.files:
            return web.json_response({"message": "Not Found"}, status=404)
        return _contents_answer(state.files[(repo, ref)])

    async def graphql(request: web.Request) -> web.Response:
        # The loader's first look: the repository's file and its organization's, by alias.
        variables = (await request.json())["variables"]
        if state.broken:
            return web.json_response({"message": "Server Error"}, status=502)
        state.graphql_asked += 1
        data: dict[str, Any] = {}
        errors: list[dict[str, Any]] = []
        for alias, keys in (("repo", ("owner", "name", "expression")),
                            ("org", ("orgOwner", "orgName", "orgExpression"))):
            repo = f"{variables[keys[0]]}/{variables[keys[1]]}"
            rev = variables[keys[2]].partition(":")[0]
            ref = "" if rev == "HEAD" else rev
            state.asked.append((repo, ref))
            if repo in state.invisible:
                data[alias] = None
                errors.append({"type": "NOT_FOUND", "path": [alias],
                               "locations": [{"line": 1, "column": 2}], "message":
                               f"Could not resolve to a Repository with the name '{repo}'."})
                continue
            value = state.files.get((repo, ref))
            if value is None:
                blob = None
            elif isinstance(value, list):
                blob = {"__typename": "Tree"}
            else:
                raw = value if isinstance(value, bytes) else value.encode()
                try:
                    text: str | None = raw.decode()
                except UnicodeDecodeError:
                    text = None
                cut = repo in state.cut
                blob = {"__typename": "Blob", "text": text[:10] if cut and text else text,
                        "isBinary": False, "isTruncated": cut, "byteSize": len(raw)}
            data[alias] = {"object": blob}
        return web.json_response({"data": data, **({"errors": errors} if errors else {})})

    app = web.Application()
    app.router.add_get("/repos/{owner}/{name}/contents/.github/buildsheriff.yml", contents)
    app.router.add_post("/graphql", graphql)
    server = TestServer(app, host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession() as session:
        yield state, Api(session, "test", oauth_token="t", base_url=str(server.make_url("")))
    await server.close()


def pair(loaded: LoadedConfig) -> tuple[RepoConfig, list[ConfigError]]:
    return loaded.config, list(loaded.errors)


class Timer:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


Fake = tuple[FakeRepo, GitHubAPI]


async def test_missing_file_means_defaults(fake: Fake) -> None:
    state, gh = fake
    loader = RepoConfigLoader()
    assert pair(await loader.load(gh, "octo/repo", "main")) == (RepoConfig(), [])
    # and none in the organization's `.github` repository either (asked at the same time)
    assert sorted(state.asked) == [("octo/.github", ""), ("octo/repo", "main")]


async def test_file_is_read_at_the_given_ref(fake: Fake) -> None:
    state, gh = fake
    state.files[("octo/repo", "main")] = "max_walk: 10\n"
    state.files[("octo/repo", "feature/x")] = "max_walk: 20\nauto_revert: false\n"
    loader = RepoConfigLoader()
    assert pair(await loader.load(gh, "octo/repo", "main")) == (RepoConfig(max_walk=10), [])
    assert pair(await loader.load(gh, "octo/repo", "feature/x")) == (
        RepoConfig(max_walk=20, auto_revert=False),
        [],
    )


async def test_errors_come_back_as_values(fake: Fake) -> None:
    state, gh = fake
    state.files[("octo/repo", "main")] = "max_walk: lots\nrollback: true\n"
    loader = RepoConfigLoader()
    config, errors = pair(await loader.load(gh, "octo/repo", "main"))
    assert config == RepoConfig(rollback=True)
    assert [e.key for e in errors] == ["max_walk"]
    errors.clear()  # the caller's list is its own; the cache keeps the errors
    assert [e.key for e in (pair(await loader.load(gh, "octo/repo", "main")))[1]] == ["max_walk"]


@pytest.mark.parametrize(
    ("served", "says"),
    [
        ([{"type": "file", "name": "a"}], "is not a file"),
        (b"\xff\xfe max_walk: 3", "is not UTF-8 text"),
    ],
)
async def test_unreadable_files_are_error_values(fake: Fake, served: Any, says: str) -> None:
    state, gh = fake
    state.files[("octo/repo", "main")] = served
    config, errors = pair(await RepoConfigLoader().load(gh, "octo/repo", "main"))
    assert config == RepoConfig()
    assert [e.key for e in errors] == ["<file>"] and says in errors[0].message


async def test_a_bom_is_tolerated(fake: Fake) -> None:
    state, gh = fake
    state.files[("octo/repo", "main")] = "\ufeffmax_walk: 3\n".encode()
    loaded = await RepoConfigLoader().load(gh, "octo/repo", "main")
    assert pair(loaded) == (RepoConfig(max_walk=3), [])


async def test_cached_until_the_ttl_passes(fake: Fake) -> None:
    state, gh = fake
    timer = Timer()
    loader = RepoConfigLoader(timer=timer)  # the default TTL: 300 s
    state.files[("octo/repo", "main")] = "max_walk: 1\n"
    assert (pair(await loader.load(gh, "octo/repo", "main")))[0].max_walk == 1
    state.files[("octo/repo", "main")] = "max_walk: 2\n"
    timer.now += 299
    assert (pair(await loader.load(gh, "octo/repo", "main")))[0].max_walk == 1
    assert (pair(await loader.load(gh, "OCTO/Repo", "main")))[0].max_walk == 1  # same repo
    timer.now += 2
    assert (pair(await loader.load(gh, "octo/repo", "main")))[0].max_walk == 2
    # the organization's file is asked for once per TTL too (with the first look)
    assert sorted(state.asked) == sorted([("octo/repo", "main"), ("octo/.github", "")] * 2)


async def test_invalidate_forgets_only_that_repo(fake: Fake) -> None:
    state, gh = fake
    loader = RepoConfigLoader(timer=Timer())
    state.files[("octo/repo", "main")] = "max_walk: 1\n"
    state.files[("octo/repo", "dev")] = "max_walk: 1\n"
    state.files[("octo/other", "main")] = "max_walk: 1\n"
    for repo, ref in [("octo/repo", "main"), ("octo/repo", "dev"), ("octo/other", "main")]:
        pair(await loader.load(gh, repo, ref))
    for key in list(state.files):
        state.files[key] = "max_walk: 2\n"
    loader.invalidate("Octo/Repo")
    assert (pair(await loader.load(gh, "octo/repo", "main")))[0].max_walk == 2
    assert (pair(await loader.load(gh, "octo/repo", "dev")))[0].max_walk == 2
    assert (pair(await loader.load(gh, "octo/other", "main")))[0].max_walk == 1
    loader.invalidate("nobody/here")  # harmless


async def test_a_missing_file_is_cached_too_and_invalidated(fake: Fake) -> None:
    state, gh = fake
    loader = RepoConfigLoader(timer=Timer())
    assert (pair(await loader.load(gh, "octo/repo", "main")))[0] == RepoConfig()
    state.files[("octo/repo", "main")] = "rollback: true\n"
    assert (pair(await loader.load(gh, "octo/repo", "main")))[0] == RepoConfig()
    loader.invalidate("octo/repo")
    assert (pair(await loader.load(gh, "octo/repo", "main")))[0] == RepoConfig(rollback=True)


async def test_other_failures_propagate_and_are_not_cached(fake: Fake) -> None:
    # Defaults here could auto-revert in a repo that said `auto_revert: false`.
    state, gh = fake
    state.files[("octo/repo", "main")] = "auto_revert: false\n"
    state.broken = True
    loader = RepoConfigLoader(timer=Timer())
    with pytest.raises(GitHubBroken):
        pair(await loader.load(gh, "octo/repo", "main"))
    state.broken = False
    assert (pair(await loader.load(gh, "octo/repo", "main")))[0].auto_revert is False


# ---------------------------------------------------------------- lines, files, _extends


def test_every_error_has_the_line_of_its_key() -> None:
    text = (
        "# comment\n"
        "confirm: maybe\n"
        "labels:\n"
        "  triage: ''\n"
        "  colour: red\n"
        "oncall:\n"
        "  provider: pagerdoodie\n"
        "max_walk: 5\n"
        "max_walk: 0\n"
        "slack_users:\n"
        "  mona: nope\n"
    )
    _config, errors = parse_repo_config(text)
    assert sorted((e.line, e.key) for e in errors) == [
        (2, "confirm"),
        (4, "labels.triage"),
        (5, "labels.colour"),
        (7, "oncall.provider"),
        (9, "max_walk"),  # set twice: the repeat
        (9, "max_walk"),  # and its value (0) is out of range
        (11, "slack_users.mona"),
    ]
    assert all(e.source == "" for e in errors)


def test_a_yaml_error_has_its_line_and_a_file_too_large_the_first() -> None:
    (error,) = parse_repo_config("max_walk: 3\nchecks: [a\nrollback: true\n")[1]
    assert error.key == "<file>" and error.line is not None and error.line >= 2
    (error,) = parse_repo_config("#" * 70_000)[1]
    assert error.line == 1


@pytest.mark.parametrize(
    ("value", "source"),
    [
        ("base", ConfigSource("octo/base")),
        ("other/base", ConfigSource("other/base")),
        (".github", ConfigSource("octo/.github")),
        ("base:.github/team.yml", ConfigSource("octo/base", ".github/team.yml")),
        ("other/base:conf/x.yaml", ConfigSource("other/base", "conf/x.yaml")),
        ("a/b/c", None),
        ("base:notes.txt", None),
        ("", None),
        ("-bad/base", None),
        ("..", None),
    ],
)
def test_extends_names_a_repository_as_probot_does(value: str, source: Any) -> None:
    assert parse_extends(value, "octo") == source


def test_an_extends_that_names_nothing_is_an_error_on_its_line() -> None:
    config_file = read_config_file("max_walk: 3\n_extends: [a, b]\n")
    assert config_file.extends is None
    (error,) = config_file.errors
    assert (error.key, error.line) == ("_extends", 2)
    assert "`owner/repo`" in error.message


def test_a_chain_merges_shallowly_the_nearest_file_winning() -> None:
    own = read_config_file("_extends: base\nmax_walk: 5\nlabels:\n  triage: own/triage\n")
    base = read_config_file(
        "max_walk: 50\nrollback: true\nlabels:\n  mitigated: base/mitigated\nbisect: sometimes\n",
        "octo/base",
    )
    config, errors = build_config([own, base])
    assert own.extends == "base"
    assert config.max_walk == 5 and config.rollback is True
    # nested mappings are not merged: the own file's `labels` replaces the base's
    assert config.labels.triage == "own/triage"
    assert config.labels.mitigated == Labels().mitigated
    (error,) = errors
    assert (error.key, error.source, error.line) == ("bisect", "octo/base", 5)


def test_loops_and_depth_are_named_with_the_chain() -> None:
    chain = [ConfigSource("octo/a"), ConfigSource("octo/b")]
    loop = chain_error(chain, ConfigSource("OCTO/A"))
    assert loop is not None and "loop (octo/a → octo/b → OCTO/A)" in loop
    assert chain_error(chain, ConfigSource("octo/a", "other.yml")) is None
    deep = [ConfigSource(f"octo/r{n}") for n in range(MAX_EXTENDS_DEPTH + 1)]
    too_deep = chain_error(deep, ConfigSource("octo/last"))
    assert too_deep is not None and f"deeper than {MAX_EXTENDS_DEPTH}" in too_deep


async def test_without_a_file_the_organizations_applies(fake: Fake) -> None:
    state, gh = fake
    state.files[("octo/.github", "")] = "max_walk: 7\n"
    loaded = await RepoConfigLoader().load(gh, "octo/repo", "main")
    assert loaded.config == RepoConfig(max_walk=7)
    assert loaded.sources == ("octo/.github",)
    assert sorted(state.asked) == [("octo/.github", ""), ("octo/repo", "main")]


async def test_the_first_look_is_one_graphql_query_and_uses_its_partial_answer(
    fake: Fake,
) -> None:
    # The organization's `.github` repository is not visible to the installation: GitHub
    # answers the repository's file and, for the org, null with a NOT_FOUND error.
    state, gh = fake
    state.invisible.add("octo/.github")
    state.files[("octo/repo", "main")] = "max_walk: 4\n"
    loaded = await RepoConfigLoader().load(gh, "octo/repo", "main")
    assert loaded.config == RepoConfig(max_walk=4) and loaded.errors == ()
    assert state.graphql_asked == 1
    assert sorted(state.asked) == [("octo/.github", ""), ("octo/repo", "main")]
    # and with no file of its own either: the defaults, no error
    loaded = await RepoConfigLoader().load(gh, "octo/other", "main")
    assert loaded.config == RepoConfig() and loaded.errors == ()


async def test_a_file_graphql_cuts_or_cannot_give_as_text_is_read_through_rest(
    fake: Fake,
) -> None:
    state, gh = fake
    state.cut.add("octo/repo")
    state.files[("octo/repo", "main")] = "max_walk: 6\nrollback: true\n"
    state.files[("octo/.github", "")] = b"max_walk: \xff\n"  # not UTF-8
    loaded = await RepoConfigLoader().load(gh, "octo/repo", "main")
    assert loaded.config == RepoConfig(max_walk=6, rollback=True)
    # both read again through REST contents, after the one query
    assert state.graphql_asked == 1 and len(state.asked) == 4
    loaded = await RepoConfigLoader().load(gh, "octo/plain", "main")
    assert loaded.sources == ("octo/.github",)
    assert [e.message for e in loaded.errors] == [
        f"`{CONFIG_PATH}` is not UTF-8 text; the defaults apply"]


async def test_the_org_repository_does_not_fall_back_on_itself(fake: Fake) -> None:
    state, gh = fake
    loaded = await RepoConfigLoader().load(gh, "octo/.github", "main")
    assert loaded.config == RepoConfig() and state.asked == [("octo/.github", "main")]


async def test_the_organizations_file_is_asked_once_for_all_its_repositories(
    fake: Fake,
) -> None:
    state, gh = fake
    loader = RepoConfigLoader(timer=Timer())
    state.files[("octo/b", "main")] = "max_walk: 2\n"
    for repo in ("octo/a", "octo/b", "octo/c"):
        await loader.load(gh, repo, "main")
    assert state.asked.count(("octo/.github", "")) == 1


async def test_extends_follows_the_chain_and_reports_a_loop(fake: Fake) -> None:
    state, gh = fake
    state.files[("octo/repo", "main")] = "_extends: base\nmax_walk: 5\n"
    state.files[("octo/base", "")] = "_extends: other/shared\nrollback: true\nmax_walk: 9\n"
    state.files[("other/shared", "")] = "_extends: octo/base\nbisect: probe\n"
    loaded = await RepoConfigLoader().load(gh, "octo/repo", "main")
    assert loaded.config == RepoConfig(max_walk=5, rollback=True, bisect="probe")
    assert loaded.sources == ("octo/repo", "octo/base", "other/shared")
    (error,) = loaded.errors
    assert error.key == "_extends" and error.source == "other/shared" and error.line == 1
    assert "loop (octo/repo → octo/base → other/shared → octo/base)" in error.message


async def test_a_push_to_a_base_or_the_org_repository_drops_who_read_it(fake: Fake) -> None:
    state, gh = fake
    loader = RepoConfigLoader(timer=Timer())
    state.files[("octo/repo", "main")] = "_extends: base\n"
    state.files[("octo/base", "")] = "max_walk: 1\n"
    state.files[("octo/.github", "")] = "max_walk: 1\n"
    state.files[("elsewhere/x", "main")] = "max_walk: 1\n"
    for repo in ("octo/repo", "octo/plain", "elsewhere/x"):
        await loader.load(gh, repo, "main")
    assert loader.invalidate("octo/base") == 1  # octo/repo read it
    assert loader.invalidate("octo/base") == 0
    await loader.load(gh, "octo/repo", "main")
    assert loader.invalidate("Octo/.github") == 2  # the whole organization
    assert (await loader.load(gh, "elsewhere/x", "main")).config.max_walk == 1
    assert state.asked.count(("elsewhere/x", "main")) == 1
