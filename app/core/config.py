"""A repository's own settings: `.github/buildsheriff.yml` -> RepoConfig.

Errors are values, never raised (kodiak's lesson): a typo in one key must not stop the
app from guarding the branch, so a bad value falls back to its default, the other keys
still apply, and each problem comes back as a `ConfigError` a handler can show people.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from fnmatch import fnmatchcase
from typing import Any

import yaml

CONFIG_PATH = ".github/buildsheriff.yml"
FILE_KEY = "<file>"
# A config file is a few hundred bytes; anything far larger is a mistake (or an alias bomb).
MAX_CONFIG_CHARS = 64 * 1024
LABEL_MAX_CHARS = 50  # GitHub refuses longer label names
MAX_WALK_LIMIT = 1000
MAX_CONSECUTIVE = 100

CONFIRM_MODES = ("none", "rerun", "consecutive")
BISECT_MODES = ("rerun", "probe", "false")
MAX_BISECT_ROUNDS = 20
MAX_FLAKY_WINDOW_DAYS = 90
MERGE_METHODS = ("merge", "squash", "rebase")
MERGE_METHOD_ORDER = ("squash", "merge", "rebase")  # the default preference
MAX_BRANCH_UPDATES = 100
ONCALL_PROVIDERS = ("pagerduty", "jsm", "opsgenie")
DURATION_HINT = "a duration such as '24h', '90m', '2d', '30s' or a number of seconds"


@dataclass(frozen=True)
class Labels:
    incident: str = "incident"
    triage: str = "incident:triage"
    acknowledged: str = "incident:acknowledged"
    mitigated: str = "incident:mitigated"
    resolved: str = "incident:resolved"
    revert: str = "revert"
    hold: str = "do-not-merge"  # on a revert PR: a person holds it (never merged meanwhile)


@dataclass(frozen=True)
class OncallConfig:
    provider: str | None = None  # None | "pagerduty" | "jsm" | "opsgenie"
    schedule_id: str | None = None
    service_id: str | None = None  # informational (PagerDuty service)


@dataclass(frozen=True)
class RepoConfig:
    checks: tuple[str, ...] = ()  # fnmatch globs of check/status/workflow names; empty = all
    ignore_checks: tuple[str, ...] = ()  # globs never counted (beat `checks`)
    confirm: str = "none"  # "none" | "rerun" | "consecutive"
    consecutive: int = 1  # red commits in a row needed before acting
    auto_revert: bool = True
    revert_range: bool = False
    max_reverts_per_day: int = 4
    max_culprit_age: float = 86400.0  # seconds
    # Merge methods in order of preference; the first the repository allows is used.
    merge_method: tuple[str, ...] = MERGE_METHOD_ORDER
    max_branch_updates: int = 10  # times a revert PR behind a strict base is brought up to date
    merge_queue_jump: bool = True  # enqueue the revert at the front of a merge queue
    labels: Labels = field(default_factory=Labels)
    slack_channel: str | None = None
    escalate_after: float = 900.0  # seconds
    oncall: OncallConfig = field(default_factory=OncallConfig)
    production_environment: str = "production"
    rollback: bool = False
    max_walk: int = 50  # commits walked back looking for the last green one
    bisect: str = "rerun"  # "rerun" | "probe" | "false": how to find the culprit in a batch
    bisect_max_rounds: int = 6  # rounds of CI one bisection may spend
    bisect_parallel: bool = False  # probe refs only: every suspect in one round
    flaky_window_days: int = 14  # the flaky report counts failures over this many days
    # GitHub login -> Slack member id ("U…"/"W…"): who a mention in Slack pings
    slack_users: tuple[tuple[str, str], ...] = ()

    @property
    def slack_user_ids(self) -> dict[str, str]:
        return dict(self.slack_users)

    def counts(self, check_name: str) -> bool:
        """Whether a check/status/workflow of this name decides red or green.

        Matching ignores case: people write `ci/*` for a check GitHub shows as `CI/build`.
        """
        name = check_name.casefold()
        if any(fnmatchcase(name, glob.casefold()) for glob in self.ignore_checks):
            return False
        return not self.checks or any(fnmatchcase(name, glob.casefold()) for glob in self.checks)


@dataclass(frozen=True)
class ConfigError:
    key: str  # dotted ("confirm", "oncall.provider") or "<file>" for the file as a whole
    message: str  # a sentence naming the key, what was found and what is allowed
    line: int | None = None  # where the key is written (1-based), when known
    source: str = ""  # "" for the repository's own file; else the file it extends

    def __str__(self) -> str:
        return self.message


TOP_LEVEL_KEYS = (
    "checks",
    "ignore_checks",
    "confirm",
    "auto_revert",
    "revert_range",
    "max_reverts_per_day",
    "max_culprit_age",
    "merge_method",
    "max_branch_updates",
    "merge_queue_jump",
    "labels",
    "slack_channel",
    "escalate_after",
    "oncall",
    "production_environment",
    "rollback",
    "max_walk",
    "bisect",
    "bisect_max_rounds",
    "bisect_parallel",
    "flaky_window_days",
    "slack_users",
)
LABEL_KEYS = tuple(f.name for f in fields(Labels))
ONCALL_KEYS = ("provider", "schedule", "schedule_id", "service", "service_id")
# Keys people reach for that live elsewhere: a pointer beats a difflib guess.
_HINTS = {
    "consecutive": "write `confirm: {consecutive: N}` instead",
    "schedule": "it belongs under `oncall:`",
    "schedule_id": "it belongs under `oncall:`",
    "provider": "it belongs under `oncall:`",
    "slack": "did you mean `slack_channel`?",
}


class _Invalid(Exception):
    """A value that cannot be used; its text becomes the ConfigError's message."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key


# --------------------------------------------------------------------------- values


def _shape(value: object) -> str:
    """Describe a bad value briefly, so the sentence shows what was actually found."""
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return f"{str(value).lower()} (a true/false value)"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    if isinstance(value, list):
        return f"a list of {len(value)} item{'s' if len(value) != 1 else ''}"
    if isinstance(value, dict):
        return "a mapping"
    return f"a {type(value).__name__} ({value!s:.40})"


_DURATION_UNITS = {
    "s": 1.0, "sec": 1.0, "secs": 1.0, "second": 1.0, "seconds": 1.0,
    "m": 60.0, "min": 60.0, "mins": 60.0, "minute": 60.0, "minutes": 60.0,
    "h": 3600.0, "hr": 3600.0, "hrs": 3600.0, "hour": 3600.0, "hours": 3600.0,
    "d": 86400.0, "day": 86400.0, "days": 86400.0,
    "w": 604800.0, "week": 604800.0, "weeks": 604800.0,
}  # fmt: skip
_DURATION_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([a-z]+)\s*")
_NUMBER = re.compile(r"\d+(?:\.\d+)?")


def parse_duration(value: object) -> float:
    """Seconds from a number of seconds or text like "24h", "90m", "1h 30m", "2d", "30s"."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"expected {DURATION_HINT}, got {_shape(value)}")
    if isinstance(value, str):
        text = value.strip().lower()
        if _NUMBER.fullmatch(text):
            return float(text)
        total, pos = 0.0, 0
        for part in _DURATION_PART.finditer(text):
            if part.start() != pos or part.group(2) not in _DURATION_UNITS:
                break
            total += float(part.group(1)) * _DURATION_UNITS[part.group(2)]
            pos = part.end()
        if not text or pos != len(text):
            raise ValueError(f"expected {DURATION_HINT}, got {_shape(value)}")
        return total
    if not math.isfinite(value) or value < 0:
        raise ValueError(f"expected {DURATION_HINT} (not negative), got {_shape(value)}")
    return float(value)


def _duration(key: str, value: object) -> float:
    try:
        return parse_duration(value)
    except ValueError:
        raise _Invalid(key, f"`{key}` must be {DURATION_HINT}, got {_shape(value)}") from None


_TRUE = frozenset({"true", "yes", "on"})
_FALSE = frozenset({"false", "no", "off"})


def _bool(key: str, value: object) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise _Invalid(key, f"`{key}` must be true or false, got {_shape(value)}")


def _whole(key: str, value: object, low: int, high: int | None = None) -> int:
    number: int | None = None
    if isinstance(value, bool):
        number = None  # YAML's yes/no are booleans; 1 == True must not slip through
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str) and value.strip().isdigit():
        number = int(value.strip())
    if number is None or number < low or (high is not None and number > high):
        allowed = f">= {low}" if high is None else f"from {low} to {high}"
        raise _Invalid(key, f"`{key}` must be a whole number {allowed}, got {_shape(value)}")
    return number


def _text(key: str, value: object, *, what: str = "a non-empty text") -> str:
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise _Invalid(key, f"`{key}` must be {what}, got {_shape(value)}")


def _one_of(key: str, value: object, allowed: tuple[str, ...]) -> str:
    if isinstance(value, str) and value.strip().lower() in allowed:
        return value.strip().lower()
    raise _Invalid(key, f"`{key}` must be one of {', '.join(allowed)}; got {_shape(value)}")


def _merge_methods(key: str, value: object) -> tuple[str, ...]:
    """One method, or a list of them as a preference order (the first allowed one is used)."""
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and items:
        chosen = tuple(_one_of(key, item, MERGE_METHODS) for item in items)
        return tuple(dict.fromkeys(chosen))
    raise _Invalid(
        key,
        f"`{key}` must be one of {', '.join(MERGE_METHODS)} or a list of them in order of "
        f"preference; got {_shape(value)}",
    )


def _globs(key: str, value: object) -> tuple[str, ...]:
    items = [value] if isinstance(value, str) else value
    if isinstance(items, list) and all(isinstance(i, str) and i.strip() for i in items):
        return tuple(i.strip() for i in items)
    raise _Invalid(
        key,
        f"`{key}` must be a check name (glob) or a list of them, each quoted text, "
        f"got {_shape(value)}",
    )


_CONFIRM_TEXT = re.compile(r"consecutive\s*[:=]?\s*(\S+)")
_CONFIRM_ALLOWED = "none, rerun or {consecutive: N} with N a whole number from 1 to 100"


def _confirm(value: object) -> tuple[str, int]:
    if value is False:  # YAML reads `confirm: no` / `off` as false
        return "none", 1
    count: object = None
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("none", "rerun"):
            return text, 1
        match = _CONFIRM_TEXT.fullmatch(text)
        if match is None:
            if text == "consecutive":
                raise _Invalid(
                    "confirm",
                    "`confirm: consecutive` needs a count: write `confirm: {consecutive: 3}`",
                )
            raise _Invalid("confirm", f"`confirm` must be {_CONFIRM_ALLOWED}, got {_shape(value)}")
        count = match.group(1)
    elif isinstance(value, dict) and list(value) == ["consecutive"]:
        count = value["consecutive"]
    else:
        raise _Invalid("confirm", f"`confirm` must be {_CONFIRM_ALLOWED}, got {_shape(value)}")
    return "consecutive", _whole("confirm.consecutive", count, 1, MAX_CONSECUTIVE)


def _bisect(key: str, value: object) -> str:
    if value is False:  # YAML reads `bisect: no` / `off` as false
        return "false"
    if value is True:
        return "rerun"
    return _one_of(key, value, BISECT_MODES)


# --------------------------------------------------------------------------- sections


def _unknown(key: str, known: tuple[str, ...], prefix: str = "") -> ConfigError:
    dotted = f"{prefix}{key}"
    hint = _HINTS.get(key) if not prefix else None
    if hint is None:
        close = difflib.get_close_matches(key, known, n=1, cutoff=0.6)
        hint = f"did you mean `{prefix}{close[0]}`?" if close else None
    if hint is None:
        hint = "known keys: " + ", ".join(f"`{prefix}{k}`" for k in known)
    return ConfigError(dotted, f"unknown key `{dotted}` is ignored; {hint}")


def _labels(value: object, errors: list[ConfigError]) -> Labels:
    if not isinstance(value, dict):
        raise _Invalid(
            "labels",
            f"`labels` must be a mapping such as `triage: sev/triage`, got {_shape(value)}",
        )
    chosen: dict[str, str] = {}
    for raw_key, raw in value.items():
        key = str(raw_key)
        if key not in LABEL_KEYS:
            errors.append(_unknown(key, LABEL_KEYS, "labels."))
            continue
        if raw is None:
            continue
        what = f"a label name of 1 to {LABEL_MAX_CHARS} characters"
        try:
            name = _text(f"labels.{key}", raw, what=what)
            if len(name) > LABEL_MAX_CHARS:
                raise _Invalid(f"labels.{key}", f"`labels.{key}` must be {what}, got {_shape(raw)}")
        except _Invalid as exc:
            errors.append(ConfigError(exc.key, str(exc)))
            continue
        chosen[key] = name
    labels = replace(Labels(), **chosen)
    names = [getattr(labels, k) for k in LABEL_KEYS]
    clashes = sorted({n for n in names if names.count(n) > 1})
    if clashes:
        # One label for two states would make the incident's state unreadable.
        raise _Invalid(
            "labels",
            "`labels` must all differ, but "
            + ", ".join(f"'{n}'" for n in clashes)
            + (" are" if len(clashes) > 1 else " is")
            + " used for two states; the default labels apply",
        )
    return labels


def _oncall(value: object, errors: list[ConfigError]) -> OncallConfig:
    if not isinstance(value, dict):
        raise _Invalid(
            "oncall",
            "`oncall` must be a mapping such as `{provider: opsgenie, schedule: ID}`, "
            f"got {_shape(value)}",
        )
    provider: str | None = None
    ids: dict[str, str] = {}
    for raw_key, raw in value.items():
        key = str(raw_key)
        if key not in ONCALL_KEYS:
            errors.append(_unknown(key, ONCALL_KEYS, "oncall."))
            continue
        if raw is None:
            continue
        try:
            if key == "provider":
                provider = _one_of("oncall.provider", raw, ONCALL_PROVIDERS)
                continue
            if isinstance(raw, int) and not isinstance(raw, bool):
                raw = str(raw)  # numeric ids read as numbers by YAML
            field_name = key if key.endswith("_id") else f"{key}_id"
            ident = _text(f"oncall.{key}", raw, what="an id (text)")
            if ids.get(field_name, ident) != ident:
                raise _Invalid(
                    f"oncall.{key}",
                    f"`oncall.{key}` disagrees with another spelling of the same key "
                    f"('{ids[field_name]}' vs '{ident}'); the first one applies",
                )
            ids[field_name] = ident
        except _Invalid as exc:
            errors.append(ConfigError(exc.key, str(exc)))
    if provider is None and ids:
        raise _Invalid(
            "oncall.provider",
            "`oncall.provider` must be set (pagerduty, jsm or opsgenie) when a schedule or "
            "service is given; paging stays off",
        )
    return OncallConfig(provider=provider, **ids)


_LOGIN = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38}")
_SLACK_MEMBER_ID = re.compile(r"[UW][A-Z0-9]{2,}")


def _slack_users(value: object, errors: list[ConfigError]) -> tuple[tuple[str, str], ...]:
    if not isinstance(value, dict):
        raise _Invalid(
            "slack_users",
            "`slack_users` must be a mapping of GitHub login to Slack member id, such as "
            f"`mona: U012AB3CD`, got {_shape(value)}",
        )
    pairs: list[tuple[str, str]] = []
    for raw_login, raw_id in value.items():
        login = str(raw_login).strip().lstrip("@")
        key = f"slack_users.{login}"
        if not _LOGIN.fullmatch(login):
            errors.append(
                ConfigError(key, f"`{key}` is not a GitHub login (letters, digits and single "
                                 "hyphens, at most 39 characters); the entry is ignored")
            )
            continue
        user_id = raw_id.strip() if isinstance(raw_id, str) else None
        if user_id is None or not _SLACK_MEMBER_ID.fullmatch(user_id):
            errors.append(
                ConfigError(key, f"`{key}` must be a Slack member id such as U012AB3CD (in "
                                 f"Slack: profile, ⋮, Copy member ID), got {_shape(raw_id)}")
            )
            continue
        pairs.append((login, user_id))
    return tuple(pairs)


_SCALARS: dict[str, Callable[[str, Any], Any]] = {
    "checks": _globs,
    "ignore_checks": _globs,
    "auto_revert": _bool,
    "revert_range": _bool,
    "rollback": _bool,
    "max_reverts_per_day": lambda k, v: _whole(k, v, 0),
    "max_walk": lambda k, v: _whole(k, v, 1, MAX_WALK_LIMIT),
    "bisect": _bisect,
    "bisect_max_rounds": lambda k, v: _whole(k, v, 1, MAX_BISECT_ROUNDS),
    "bisect_parallel": _bool,
    "flaky_window_days": lambda k, v: _whole(k, v, 1, MAX_FLAKY_WINDOW_DAYS),
    "max_culprit_age": _duration,
    "escalate_after": _duration,
    "merge_method": _merge_methods,
    "max_branch_updates": lambda k, v: _whole(k, v, 0, MAX_BRANCH_UPDATES),
    "merge_queue_jump": _bool,
    "slack_channel": lambda k, v: _text(k, v, what='a channel name such as "#build" or an id'),
    "production_environment": lambda k, v: _text(k, v, what="an environment name"),
}


# --------------------------------------------------------------------------- YAML


class _Loader(yaml.SafeLoader):
    """SafeLoader that notes keys written twice (PyYAML silently keeps the last)."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.duplicates: list[tuple[str, int, int]] = []  # key, first line, repeat line

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        first_line: dict[str, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge" or not isinstance(
                key_node, yaml.ScalarNode
            ):
                continue
            line = key_node.start_mark.line + 1
            if key_node.value in first_line:
                self.duplicates.append((key_node.value, first_line[key_node.value], line))
            else:
                first_line[key_node.value] = line
        return super().construct_mapping(node, deep=deep)


def _key_lines(node: yaml.Node | None) -> dict[str, int]:
    """Dotted key -> the line it is written on (1-based), two levels deep; a key written
    twice is at its later line, whose value applies."""
    lines: dict[str, int] = {}
    if not isinstance(node, yaml.MappingNode):
        return lines
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            continue
        key = str(key_node.value)
        lines[key] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode):
            for sub_key, _ in value_node.value:
                if isinstance(sub_key, yaml.ScalarNode):
                    lines[f"{key}.{sub_key.value}"] = sub_key.start_mark.line + 1
    return lines


def _load_yaml(text: str) -> tuple[Any, dict[str, int], list[ConfigError]]:
    loader = _Loader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = exc.problem or exc.context or "invalid YAML"
        error = ConfigError(
            FILE_KEY,
            f"`{CONFIG_PATH}` is not valid YAML{where}: {problem}; the defaults apply",
            line=mark.line + 1 if mark else None,
        )
        return None, {}, [error]
    except yaml.YAMLError as exc:
        return None, {}, [ConfigError(FILE_KEY, f"`{CONFIG_PATH}` is not valid YAML: {exc}")]
    finally:
        loader.dispose()
    errors = [
        ConfigError(
            key, f"`{key}` is set twice (lines {a} and {b}); the later value applies", line=b
        )
        for key, a, b in loader.duplicates
    ]
    return data, _key_lines(node), errors


# `slack_channel: #build-cops` (a channel name, not a `# comment`): YAML drops it silently.
_UNQUOTED_CHANNEL = re.compile(
    r"^slack_channel:[ \t]+#[a-z0-9][a-z0-9_.-]*[ \t]*$", re.MULTILINE | re.IGNORECASE
)


@dataclass(frozen=True)
class ConfigFile:
    """One YAML file of a repository's config chain, read but not yet validated."""

    source: str = ""  # "" for the repository's own file; else "owner/repo" (and ":path")
    data: dict[str, Any] = field(default_factory=dict)  # its settings, `_extends` removed
    lines: dict[str, int] = field(default_factory=dict)  # dotted key -> line
    errors: tuple[ConfigError, ...] = ()  # what is wrong with the file as a whole
    extends: str | None = None  # its `_extends`, when it names a repository
    unquoted_channel: bool = False  # `slack_channel: #name` that YAML read as a comment


def read_config_file(text: str | None, source: str = "") -> ConfigFile:
    """A file's settings, the line of each key, and its file-level errors. Never raises."""
    if text is None or not text.strip():
        return ConfigFile(source)
    if len(text) > MAX_CONFIG_CHARS:
        error = ConfigError(
            FILE_KEY,
            f"`{CONFIG_PATH}` is {len(text)} characters long, more than the "
            f"{MAX_CONFIG_CHARS} allowed; the defaults apply",
            line=1,
        )
        return ConfigFile(source, errors=_from(source, [error]))
    data, lines, errors = _load_yaml(text)
    if data is None:
        return ConfigFile(source, lines=lines, errors=_from(source, errors))
    if not isinstance(data, dict):
        errors.append(
            ConfigError(
                FILE_KEY,
                f"`{CONFIG_PATH}` must be a mapping of settings (`key: value` lines), "
                f"got {_shape(data)}; the defaults apply",
                line=1,
            )
        )
        return ConfigFile(source, lines=lines, errors=_from(source, errors))
    settings = {str(k): v for k, v in data.items()}
    extends: str | None = None
    if EXTENDS_KEY in settings:
        raw = settings.pop(EXTENDS_KEY)
        if isinstance(raw, str) and parse_extends(raw) is not None:
            extends = raw.strip()
        else:
            errors.append(
                ConfigError(
                    EXTENDS_KEY,
                    f"`{EXTENDS_KEY}` must name a repository: `other-repo`, `owner/repo`, "
                    f"or either with `:path/file.yml`; got {_shape(raw)}; nothing is inherited",
                    line=lines.get(EXTENDS_KEY),
                )
            )
    return ConfigFile(
        source,
        data=settings,
        lines=lines,
        errors=_from(source, errors),
        extends=extends,
        unquoted_channel=bool(_UNQUOTED_CHANNEL.search(text)),
    )


def _from(source: str, errors: list[ConfigError]) -> tuple[ConfigError, ...]:
    return tuple(replace(e, source=source) for e in errors)


# --------------------------------------------------------------------------- _extends

EXTENDS_KEY = "_extends"
MAX_EXTENDS_DEPTH = 5  # files a chain may inherit from, beyond the repository's own
_EXTENDS = re.compile(
    r"(?:(?P<owner>[A-Za-z0-9](?:[A-Za-z0-9]|-(?=[A-Za-z0-9])){0,38})/)?"
    r"(?P<repo>[A-Za-z0-9_.-]{1,100})"
    r"(?::(?P<path>[A-Za-z0-9_./-]+\.ya?ml))?"
)


@dataclass(frozen=True)
class ConfigSource:
    """Where a config file lives: a repository (owner/name) and a path in it."""

    repo: str
    path: str = CONFIG_PATH

    def __str__(self) -> str:
        return self.repo if self.path == CONFIG_PATH else f"{self.repo}:{self.path}"

    @property
    def key(self) -> tuple[str, str]:
        return self.repo.casefold(), self.path


def parse_extends(value: str, owner: str = "") -> ConfigSource | None:
    """`other-repo`, `owner/repo`, `repo:path.yml`: what Probot's `_extends` accepts."""
    match = _EXTENDS.fullmatch(value.strip())
    if match is None or match.group("repo") in (".", ".."):
        return None
    repo_owner = match.group("owner") or owner
    return ConfigSource(f"{repo_owner}/{match.group('repo')}", match.group("path") or CONFIG_PATH)


def chain_error(chain: list[ConfigSource], target: ConfigSource) -> str | None:
    """Why `target` may not be read next in `chain` (a loop, or too deep), or None."""
    if any(source.key == target.key for source in chain):
        path = " → ".join(str(s) for s in [*chain, target])
        return f"`{EXTENDS_KEY}` makes a loop ({path}); the chain stops before repeating"
    if len(chain) > MAX_EXTENDS_DEPTH:
        return (
            f"`{EXTENDS_KEY}` goes deeper than {MAX_EXTENDS_DEPTH} files "
            f"({' → '.join(str(s) for s in chain)} → …); the rest is ignored"
        )
    return None


def parse_repo_config(text: str | None) -> tuple[RepoConfig, list[ConfigError]]:
    """The config one file asks for (no `_extends` followed), plus every problem found."""
    return build_config([read_config_file(text)])


def build_config(files: Sequence[ConfigFile]) -> tuple[RepoConfig, list[ConfigError]]:
    """The config of a chain of files, the repository's own first, each `_extends`-ed one
    after: a key takes the value of the first file that sets it (Probot's shallow merge),
    and an error names the file and line the bad value came from. Never raises: whatever
    is wrong with one key costs only that key."""
    merged: dict[str, Any] = {}
    origin: dict[str, ConfigFile] = {}
    for config_file in reversed(files):
        for key, value in config_file.data.items():
            merged[key] = value
            origin[key] = config_file
    errors: list[ConfigError] = []
    values = _validated(merged, origin, errors)
    placed = [_placed(e, origin) for e in errors]
    file_errors = [e for f in files for e in f.errors]
    return replace(RepoConfig(), **values), file_errors + placed


def _placed(error: ConfigError, origin: Mapping[str, ConfigFile]) -> ConfigError:
    """The error, with the file and line of the key it is about."""
    top = error.key.split(".", 1)[0]
    config_file = origin.get(top)
    if config_file is None:
        return error
    line = config_file.lines.get(error.key) or config_file.lines.get(top)
    return replace(error, line=line, source=config_file.source)


def _validated(
    data: Mapping[str, Any], origin: Mapping[str, ConfigFile], errors: list[ConfigError]
) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for key, value in data.items():
        if key not in TOP_LEVEL_KEYS:
            errors.append(_unknown(key, TOP_LEVEL_KEYS))
            continue
        if value is None:
            # `key:` with nothing after it means "the default", but `slack_channel: #x`
            # also reads as nothing because YAML takes `#x` for a comment.
            if key == "slack_channel" and origin[key].unquoted_channel:
                errors.append(_unquoted_channel_error())
            continue
        try:
            if key == "confirm":
                values["confirm"], values["consecutive"] = _confirm(value)
            elif key == "labels":
                values["labels"] = _labels(value, errors)
            elif key == "oncall":
                values["oncall"] = _oncall(value, errors)
            elif key == "slack_users":
                values["slack_users"] = _slack_users(value, errors)
            else:
                values[key] = _SCALARS[key](key, value)
        except _Invalid as exc:
            errors.append(ConfigError(exc.key, str(exc)))
    if values.get("bisect_parallel") and values.get("bisect", RepoConfig.bisect) != "probe":
        values["bisect_parallel"] = False
        errors.append(
            ConfigError(
                "bisect_parallel",
                "`bisect_parallel: true` needs `bisect: probe`: re-runs on the default branch "
                "share its concurrency group and would cancel each other, so they go one at a "
                "time",
            )
        )
    return values


def _unquoted_channel_error() -> ConfigError:
    return ConfigError(
        "slack_channel",
        "`slack_channel` is empty because YAML reads an unquoted `#` as a comment: "
        'write `slack_channel: "#your-channel"` with quotes',
    )


def _yaml_text(value: str) -> str:
    return value if re.fullmatch(r"[A-Za-z0-9_./-]+", value) else f'"{value}"'


def example_config() -> str:
    """A commented `.github/buildsheriff.yml` listing every key with its default value."""
    d = RepoConfig()
    lab = d.labels
    return f"""\
# .github/buildsheriff.yml: Build Sheriff's settings for this repository.
# Every key is optional; the values below are the defaults. Read from the default branch.

# Which checks, commit statuses and workflows decide red or green (globs, case ignored).
# An empty list means all of them. `ignore_checks` wins over `checks`.
checks: []            # e.g. ["ci/*", "build"]
ignore_checks: []     # e.g. ["*flaky*", "codecov/*"]

# How sure to be before acting on a red commit:
#   none                  act on the first red commit
#   rerun                 re-run the failed jobs once; act only if they fail again
#   {{consecutive: 3}}      wait for 3 red commits in a row
confirm: {d.confirm}

# Open (and auto-merge) a revert pull request for the culprit.
auto_revert: {str(d.auto_revert).lower()}
# When several commits landed between green and red, revert them all at once.
revert_range: {str(d.revert_range).lower()}
# At most this many automatic reverts per repository per day.
max_reverts_per_day: {d.max_reverts_per_day}
# Never auto-revert a commit older than this ("30s", "90m", "24h", "2d" or seconds).
max_culprit_age: {human_config_duration(d.max_culprit_age)}
# How the revert pull request is merged: merge, squash or rebase, or a list of them in
# order of preference (the first one the repository allows is used).
merge_method: [{", ".join(d.merge_method)}]
# A revert PR behind a branch that must be up to date is updated each time the branch
# moves, at most this many times; then Build Sheriff stops and says so in the incident.
max_branch_updates: {d.max_branch_updates}
# With a merge queue, put the revert at the front of the queue (Build Sheriff must be
# allowed to bypass the queue's ruleset); false: it waits its turn.
merge_queue_jump: {str(d.merge_queue_jump).lower()}
# How many commits to walk back looking for the last green one.
max_walk: {d.max_walk}

# When several commits landed between green and red, find the culprit by asking CI:
#   rerun   re-run the suspects' cancelled or skipped GitHub Actions runs, one at a time
#   probe   push buildsheriff/probe/<sha> for a suspect and read that push's own checks
#           (for CI that builds every branch)
#   false   no bisection: list the suspects (and see `revert_range`)
bisect: {d.bisect}
# At most this many rounds of CI per incident (one round halves the suspects).
bisect_max_rounds: {d.bisect_max_rounds}
# Probe refs only: ask about every suspect in one round (more CI runs, one round).
bisect_parallel: {str(d.bisect_parallel).lower()}
# With `confirm: rerun`, the flaky report counts each check's failures over this many days.
flaky_window_days: {d.flaky_window_days}

# Labels that carry an incident's state, and the revert PR's (created if missing).
labels:
  incident: {_yaml_text(lab.incident)}
  triage: {_yaml_text(lab.triage)}
  acknowledged: {_yaml_text(lab.acknowledged)}
  mitigated: {_yaml_text(lab.mitigated)}
  resolved: {_yaml_text(lab.resolved)}
  revert: {_yaml_text(lab.revert)}
  # Not created: a person adds it to a revert PR (or makes the PR a draft) to hold it.
  hold: {_yaml_text(lab.hold)}

# Mirror incidents to this Slack channel; quote names starting with "#".
slack_channel:        # e.g. "#build-cops"
# Who a mention pings in Slack: GitHub login -> Slack member id. Without an entry, the
# commit author's email is looked up in Slack (the bot needs users:read.email); else
# the name is written without a ping.
slack_users: {{}}       # e.g. {{mona: U012AB3CD}}
# Page on-call when nobody acknowledges an incident within this time.
escalate_after: {human_config_duration(d.escalate_after)}
oncall:
  provider:           # pagerduty, jsm (Jira Service Management Ops) or opsgenie
  schedule:           # the schedule id that says who is on call
  service:            # PagerDuty service id (informational)

# Deployments to this environment are rolled back when `rollback` is true.
production_environment: {_yaml_text(d.production_environment)}
rollback: {str(d.rollback).lower()}
"""


def human_config_duration(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size and seconds % size == 0 and not (unit == "d" and seconds < 172800):
            return f"{int(seconds // size)}{unit}"
    return f"{seconds:g}s"
