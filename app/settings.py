"""Process settings from the environment, with Probot's names where Probot has one.

`Settings.from_env(env)` validates everything once at start-up and raises `SettingsError`
listing every setting that is present but cannot be honoured, one line each
(`NAME: problem`), never with its value (values may be secrets, and start-up errors end
up in log archives). `environment()` is what `serve`, `register` and `replay` read: the
process environment over the `.env` file of the working directory (never read on import,
so tests and library users are not affected by a developer's `.env`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import math
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from app.github.client import graphql_endpoint

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
# Probot's (pino's) level names, and Python's, to the logging module's.
_LEVEL_NAMES = {
    "trace": "DEBUG",
    "debug": "DEBUG",
    "info": "INFO",
    "warn": "WARNING",
    "warning": "WARNING",
    "error": "ERROR",
    "fatal": "CRITICAL",
    "critical": "CRITICAL",
}
# Probot's `pretty` is our human-readable `text`.
_FORMAT_NAMES = {"json": "json", "text": "text", "pretty": "text"}
LOG_FORMATS = ("json", "text")
DEFAULT_WEBHOOK_PATH = "/webhooks"
PROBOT_WEBHOOK_PATH = "/api/github/webhooks"
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")
_HOST = re.compile(r"^[A-Za-z0-9.-]+(:[0-9]{1,5})?$")
_PATH = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@/-]*$")

T = TypeVar("T")


class SettingsError(ValueError):
    """Settings that cannot be honoured; str() is one `NAME: problem` line per setting."""

    def __init__(self, name: str, problem: str, *more: tuple[str, str]) -> None:
        self.problems: list[tuple[str, str]] = [(name, problem), *more]
        self.setting = name
        self.problem = problem
        super().__init__("\n".join(f"{n}: {p}" for n, p in self.problems))

    @property
    def lines(self) -> list[str]:
        return [f"{n}: {p}" for n, p in self.problems]


class _Problems:
    """Collects every unusable setting so that one start-up reports them all."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str]] = []

    def add(self, name: str, problem: str) -> None:
        self.items.append((name, problem))

    def catch(self, fn: Callable[[], T], fallback: T) -> T:
        try:
            return fn()
        except SettingsError as exc:
            self.items.extend(exc.problems)
            return fallback

    def raise_if_any(self) -> None:
        if self.items:
            first, *rest = self.items
            raise SettingsError(*first, *rest)


def read_dotenv(path: Path) -> dict[str, str]:
    """The variables a `.env` file sets (dotenv syntax, as Probot writes and reads it)."""
    from dotenv import dotenv_values

    if not path.is_file():
        return {}
    values = dotenv_values(path, interpolate=False)
    return {k: v for k, v in values.items() if v is not None}


def environment(cwd: Path | None = None) -> dict[str, str]:
    """The process environment over `.env` in `cwd` (default: the working directory).

    As Probot does, with neither PRIVATE_KEY nor PRIVATE_KEY_PATH set, the one `*.pem` file
    in `cwd` (as GitHub's download names it) is the App's key; with several, none is
    guessed and PRIVATE_KEY_PATH says which (from_env then reports the missing key).
    """
    where = cwd or Path.cwd()
    env = {**read_dotenv(where / ".env"), **os.environ}
    if not (env.get("PRIVATE_KEY", "").strip() or env.get("PRIVATE_KEY_PATH", "").strip()):
        pems = sorted(where.glob("*.pem"))
        if len(pems) == 1:
            env["PRIVATE_KEY_PATH"] = str(pems[0])
    return env


@dataclass(frozen=True)
class Settings:
    # Secrets carry repr=False: a Settings object printed in a traceback or a log
    # line must not leak them.
    app_id: str | None = None
    private_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
    webhook_path: str = DEFAULT_WEBHOOK_PATH
    github_api_url: str = "https://api.github.com"
    github_token: str | None = field(default=None, repr=False)
    slack_bot_token: str | None = field(default=None, repr=False)
    slack_channel: str = "#incidents"
    slack_api_url: str = "https://slack.com/api/"
    pagerduty_routing_key: str | None = field(default=None, repr=False)
    pagerduty_api_token: str | None = field(default=None, repr=False)
    pagerduty_events_url: str = "https://events.pagerduty.com"
    pagerduty_api_url: str = "https://api.pagerduty.com"
    opsgenie_api_key: str | None = field(default=None, repr=False)
    opsgenie_api_url: str = "https://api.opsgenie.com"
    jsm_api_key: str | None = field(default=None, repr=False)
    jsm_api_url: str = "https://api.atlassian.com"
    host: str = "0.0.0.0"
    port: int = 3000
    log_level: str = "INFO"
    log_format: str = "json"
    queue_size: int = 1000
    workers: int = 4
    reconcile_interval: float = 300.0
    shutdown_timeout: float = 25.0
    app_slug: str = "buildsheriff"
    # Several replicas share dedupe, per-repository order and the queue on Redis; unset:
    # everything stays in this process. The URL may carry a password: never shown.
    redis_url: str | None = field(default=None, repr=False)
    redis_prefix: str = "buildsheriff:"
    # A dead replica's repositories and queued events pass to another after this long.
    redis_lease: float = 30.0

    @property
    def graphql_url(self) -> str:
        return graphql_endpoint(self.github_api_url)

    @property
    def github_web_url(self) -> str:
        """Where people see GitHub (the new-app page lives there), derived from the API URL."""
        return web_url_of(self.github_api_url)

    @property
    def has_app_credentials(self) -> bool:
        return bool(self.app_id and self.private_key)

    def secret_values(self) -> list[str]:
        """Every secret this process holds, for the log redaction filter."""
        values = [
            self.private_key,
            self.webhook_secret,
            self.github_token,
            self.slack_bot_token,
            self.pagerduty_routing_key,
            self.pagerduty_api_token,
            self.opsgenie_api_key,
            self.jsm_api_key,
            self.redis_url,
            redis_password(self.redis_url),
        ]
        out = [v for v in values if v]
        if self.private_key:
            # A traceback or a debug dump may show one line of the key rather than all of it.
            out.extend(
                line.strip()
                for line in self.private_key.splitlines()
                if line.strip() and not line.startswith("-----")
            )
        return out

    def serving_problems(self) -> list[tuple[str, str]]:
        problems = []
        # Fail closed: without a webhook secret gidgethub would skip signature checks.
        if not self.webhook_secret:
            problems.append(("WEBHOOK_SECRET", "is required to serve webhooks"))
        if not (self.has_app_credentials or self.github_token):
            problems.append(
                ("APP_ID", "set APP_ID with PRIVATE_KEY (or PRIVATE_KEY_PATH), or GITHUB_TOKEN")
            )
        return problems

    def require_serving(self) -> None:
        problems = self.serving_problems()
        if problems:
            first, *rest = problems
            raise SettingsError(*first, *rest)

    @classmethod
    def from_env(cls, env: Mapping[str, str], *, serving: bool = False) -> Settings:
        """Every setting from `env`; with `serving`, also what `serve` needs. Raises
        SettingsError naming every unusable setting at once."""

        def get(name: str) -> str | None:
            # An empty value (common in .env files and compose) means "unset".
            value = env.get(name)
            if value is None or value.strip() == "":
                return None
            return value.strip()

        problems = _Problems()
        defaults = cls()

        app_id = get("APP_ID")
        if app_id is not None and not app_id.isdigit():
            problems.add("APP_ID", "must be a positive integer")
            app_id = None
        key_problems = len(problems.items)
        private_key = problems.catch(
            lambda: _private_key(get("PRIVATE_KEY"), get("PRIVATE_KEY_PATH")), None
        )
        key_failed = len(problems.items) > key_problems
        if app_id and not private_key and not key_failed:
            problems.add("PRIVATE_KEY", "is required when APP_ID is set")
        if private_key and not app_id and get("APP_ID") is None:
            problems.add("APP_ID", "is required when a private key is set")

        level_name = (get("LOG_LEVEL") or defaults.log_level).lower()
        log_level = _LEVEL_NAMES.get(level_name, defaults.log_level)
        if level_name not in _LEVEL_NAMES:
            problems.add(
                "LOG_LEVEL", "must be one of trace, debug, info, warn, error, fatal"
            )
        format_name = (get("LOG_FORMAT") or defaults.log_format).lower()
        log_format = _FORMAT_NAMES.get(format_name, defaults.log_format)
        if format_name not in _FORMAT_NAMES:
            problems.add("LOG_FORMAT", "must be json, or text (Probot's pretty)")
        app_slug = get("APP_SLUG") or defaults.app_slug
        if not _SLUG.match(app_slug):
            problems.add("APP_SLUG", "must be lowercase letters, digits and dashes")
            app_slug = defaults.app_slug
        webhook_path = get("WEBHOOK_PATH") or defaults.webhook_path
        if not _PATH.match(webhook_path) or "//" in webhook_path:
            problems.add("WEBHOOK_PATH", "must be a URL path starting with / (e.g. /webhooks)")
            webhook_path = defaults.webhook_path

        for name, why in _PROBOT_ONLY.items():
            if get(name) is not None:
                problems.add(name, why)

        def url(name: str, default: str) -> str:
            return problems.catch(lambda: _url(get, name, default), default).rstrip("/")

        def number(name: str, default: T, kind: Callable[[str], T], **bounds: float) -> T:
            return problems.catch(lambda: _number(get, name, default, kind, **bounds), default)

        settings = cls(
            app_id=app_id,
            private_key=private_key,
            webhook_secret=get("WEBHOOK_SECRET"),
            webhook_path=webhook_path.rstrip("/") or "/",
            github_api_url=problems.catch(
                lambda: _github_api_url(get), defaults.github_api_url
            ),
            github_token=get("GITHUB_TOKEN"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_channel=get("SLACK_CHANNEL") or defaults.slack_channel,
            # slack_sdk joins method names onto this base: it needs the trailing slash.
            slack_api_url=url("SLACK_API_URL", defaults.slack_api_url) + "/",
            pagerduty_routing_key=get("PAGERDUTY_ROUTING_KEY"),
            pagerduty_api_token=get("PAGERDUTY_API_TOKEN"),
            pagerduty_events_url=url("PAGERDUTY_EVENTS_URL", defaults.pagerduty_events_url),
            pagerduty_api_url=url("PAGERDUTY_API_URL", defaults.pagerduty_api_url),
            opsgenie_api_key=get("OPSGENIE_API_KEY"),
            opsgenie_api_url=url("OPSGENIE_API_URL", defaults.opsgenie_api_url),
            jsm_api_key=get("JSM_API_KEY"),
            jsm_api_url=url("JSM_API_URL", defaults.jsm_api_url),
            host=get("HOST") or defaults.host,
            port=number("PORT", defaults.port, int, low=0, high=65535),
            log_level=log_level,
            log_format=log_format,
            queue_size=number("QUEUE_SIZE", defaults.queue_size, int, low=1),
            workers=number("WORKERS", defaults.workers, int, low=1, high=256),
            reconcile_interval=number(
                "RECONCILE_INTERVAL", defaults.reconcile_interval, float, low=1
            ),
            shutdown_timeout=number("SHUTDOWN_TIMEOUT", defaults.shutdown_timeout, float, low=0),
            app_slug=app_slug,
            redis_url=problems.catch(lambda: _redis_url(get("REDIS_URL")), None),
            redis_prefix=get("REDIS_PREFIX") or defaults.redis_prefix,
            redis_lease=number("REDIS_LEASE", defaults.redis_lease, float, low=1),
        )
        if serving:
            reported = {n for n, _ in problems.items}
            key_reported = bool(reported & {"APP_ID", "PRIVATE_KEY", "PRIVATE_KEY_PATH"})
            for name, problem in settings.serving_problems():
                if name not in reported and not (name == "APP_ID" and key_reported):
                    problems.add(name, problem)
        problems.raise_if_any()
        return settings


# Probot settings Build Sheriff cannot honour: refused, not silently ignored.
_PROBOT_ONLY = {
    "WEBHOOK_PROXY_URL": "is not supported (no smee.io client built in): point the App's "
    "webhook URL at this server, or run a smee client that forwards to WEBHOOK_PATH",
    "SENTRY_DSN": "is not supported (no Sentry client built in): unset it; errors are in the "
    "logs, with their traceback",
}


def _private_key(text: str | None, path: str | None) -> str | None:
    if text and path:
        raise SettingsError("PRIVATE_KEY", "set only one of PRIVATE_KEY or PRIVATE_KEY_PATH")
    name = "PRIVATE_KEY"
    if path:
        name = "PRIVATE_KEY_PATH"
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "unreadable"
            raise SettingsError(name, f"cannot read the key file ({reason})") from None
    if not text:
        return None
    if "-----BEGIN" not in text:
        # Probot's third form: the whole PEM file base64-encoded on one line.
        text = _from_base64(name, text)
    # Hosting dashboards store one-line values: Probot accepts a literal "\n".
    pem = text.replace("\\n", "\n").strip() + "\n"
    _check_pem(name, pem)
    return pem


def _from_base64(name: str, text: str) -> str:
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        decoded = ""
    if "-----BEGIN" not in decoded:
        raise SettingsError(
            name, "is neither a PEM private key (-----BEGIN ...) nor a base64-encoded one"
        )
    return decoded


def _check_pem(name: str, pem: str) -> None:
    from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    try:
        key = load_pem_private_key(pem.encode("utf-8"), password=None)
    except (ValueError, TypeError):
        # `from None`: cryptography's message could quote part of the input.
        raise SettingsError(name, "is not an unencrypted PEM private key") from None
    except Exception:  # cryptography raises its own types for unsupported algorithms
        raise SettingsError(name, "is not a usable PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise SettingsError(name, "must be an RSA key (GitHub Apps sign JWTs with RS256)")


def _github_api_url(get: Callable[[str], str | None]) -> str:
    """GITHUB_API_URL, or Probot's GHE_HOST + GHE_PROTOCOL; never both."""
    host, protocol = get("GHE_HOST"), get("GHE_PROTOCOL")
    if host and get("GITHUB_API_URL"):
        raise SettingsError(
            "GHE_HOST", "set either GHE_HOST (Probot's name) or GITHUB_API_URL, not both"
        )
    if protocol and protocol.lower() not in ("http", "https"):
        raise SettingsError("GHE_PROTOCOL", "must be https or http")
    if host:
        if not _HOST.match(host):
            raise SettingsError(
                "GHE_HOST",
                "must be the server's host name only, e.g. ghe.example.com "
                "(no https:// and no path)",
            )
        return f"{(protocol or 'https').lower()}://{host}/api/v3"
    if protocol:
        raise SettingsError("GHE_PROTOCOL", "needs GHE_HOST")
    api_url = _url(get, "GITHUB_API_URL", "https://api.github.com").rstrip("/")
    _refuse_web_urls(api_url)
    return api_url


def _refuse_web_urls(api_url: str) -> None:
    """A web address given for the API answers HTML to every call: say what to write."""
    parts = urlsplit(api_url)
    host = (parts.hostname or "").lower()
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    if host in ("github.com", "www.github.com"):
        raise SettingsError(
            "GITHUB_API_URL", "is GitHub's web address: GitHub's API is https://api.github.com"
        )
    if host == "api.github.com" or (host.startswith("api.") and host.endswith(".ghe.com")):
        return
    if parts.path in ("", "/") and not _is_loopback(host):
        raise SettingsError(
            "GITHUB_API_URL",
            f"looks like GitHub Enterprise Server, whose REST API is under /api/v3: "
            f"use {origin}/api/v3 (or set GHE_HOST={parts.netloc.rpartition('@')[2]})",
        )


def _is_loopback(host: str) -> bool:
    # A local simulator or proxy serves the API at its root.
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def web_url_of(api_url: str) -> str:
    """github.com for api.github.com; https://HOST for https://HOST/api/v3 (GHES); the
    API's own origin otherwise (a local simulator serves both)."""
    parts = urlsplit(api_url)
    host = parts.netloc.rpartition("@")[2]
    if host.lower() == "api.github.com":
        return "https://github.com"
    if host.lower().startswith("api.") and host.lower().endswith(".ghe.com"):
        return f"https://{host[4:]}"
    path = parts.path.rstrip("/")
    if path.endswith("/api/v3"):
        path = path[: -len("/api/v3")]
    return f"{parts.scheme}://{host}{path}"


def _url(get: Callable[[str], str | None], name: str, default: str) -> str:
    value = get(name)
    if value is None:
        return default
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise SettingsError(name, "must be an http(s) URL")
    return value


def _number(
    get: Callable[[str], str | None],
    name: str,
    default: T,
    kind: Callable[[str], T],
    *,
    low: float | None = None,
    high: float | None = None,
) -> T:
    raw = get(name)
    if raw is None:
        return default
    noun = "an integer" if kind is int else "a number"
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(name, f"must be {noun}") from None
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        raise SettingsError(name, f"must be {noun}")
    if low is not None and number < low:
        raise SettingsError(name, f"must be {noun} >= {low:g}")
    if high is not None and number > high:
        raise SettingsError(name, f"must be {noun} <= {high:g}")
    return value


def _redis_url(value: str | None) -> str | None:
    if value is None:
        return None
    scheme = value.split("://", 1)[0].lower() if "://" in value else ""
    if scheme not in ("redis", "rediss", "unix"):
        raise SettingsError("REDIS_URL", "must be redis://, rediss:// or unix:// (e.g. "
                            "redis://127.0.0.1:6379/0)")
    return value


def redis_password(url: str | None) -> str | None:
    """The password in a Redis URL (for the log redaction), if any."""
    if not url:
        return None
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def redis_where(url: str) -> str:
    """host:port (or the socket path) of a Redis URL: safe to show, unlike the URL."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}"
