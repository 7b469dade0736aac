"""Process settings from the environment, with Probot's names where Probot has one.

`Settings.from_env(os.environ)` validates everything once at start-up and raises
`SettingsError`, whose message is one line naming the setting and the problem and
never its value (values may be secrets, and start-up errors end up in log archives).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

from app.github.client import graphql_endpoint

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("json", "text")
_SLUG = re.compile(r"^[a-z0-9][a-z0-9-]*$")

T = TypeVar("T")


class SettingsError(ValueError):
    """A setting is missing or malformed; str() is one line: `NAME: problem`."""

    def __init__(self, name: str, problem: str) -> None:
        self.setting = name
        self.problem = problem
        super().__init__(f"{name}: {problem}")


@dataclass(frozen=True)
class Settings:
    # Secrets carry repr=False: a Settings object printed in a traceback or a log
    # line must not leak them.
    app_id: str | None = None
    private_key: str | None = field(default=None, repr=False)
    webhook_secret: str | None = field(default=None, repr=False)
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
    host: str = "0.0.0.0"
    port: int = 3000
    log_level: str = "INFO"
    log_format: str = "json"
    queue_size: int = 1000
    workers: int = 4
    reconcile_interval: float = 300.0
    shutdown_timeout: float = 25.0
    app_slug: str = "buildsheriff"

    @property
    def graphql_url(self) -> str:
        return graphql_endpoint(self.github_api_url)

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

    def require_serving(self) -> None:
        """Fail closed: without a webhook secret gidgethub would skip signature checks."""
        if not self.webhook_secret:
            raise SettingsError("WEBHOOK_SECRET", "is required to serve webhooks")
        if not (self.has_app_credentials or self.github_token):
            raise SettingsError(
                "APP_ID", "set APP_ID with PRIVATE_KEY (or PRIVATE_KEY_PATH), or GITHUB_TOKEN"
            )

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Settings:
        def get(name: str) -> str | None:
            # An empty value (common in .env files and compose) means "unset".
            value = env.get(name)
            if value is None or value.strip() == "":
                return None
            return value.strip()

        app_id = get("APP_ID")
        if app_id is not None and not app_id.isdigit():
            raise SettingsError("APP_ID", "must be a positive integer")
        private_key = _private_key(get("PRIVATE_KEY"), get("PRIVATE_KEY_PATH"))
        if app_id and not private_key:
            raise SettingsError("PRIVATE_KEY", "is required when APP_ID is set")
        if private_key and not app_id:
            raise SettingsError("APP_ID", "is required when a private key is set")

        defaults = cls()
        log_level = (get("LOG_LEVEL") or defaults.log_level).upper()
        if log_level not in LOG_LEVELS:
            raise SettingsError("LOG_LEVEL", f"must be one of {', '.join(LOG_LEVELS)}")
        log_format = (get("LOG_FORMAT") or defaults.log_format).lower()
        if log_format not in LOG_FORMATS:
            raise SettingsError("LOG_FORMAT", "must be json or text")
        app_slug = get("APP_SLUG") or defaults.app_slug
        if not _SLUG.match(app_slug):
            raise SettingsError("APP_SLUG", "must be lowercase letters, digits and dashes")

        return cls(
            app_id=app_id,
            private_key=private_key,
            webhook_secret=get("WEBHOOK_SECRET"),
            github_api_url=_url(get, "GITHUB_API_URL", defaults.github_api_url).rstrip("/"),
            github_token=get("GITHUB_TOKEN"),
            slack_bot_token=get("SLACK_BOT_TOKEN"),
            slack_channel=get("SLACK_CHANNEL") or defaults.slack_channel,
            # slack_sdk joins method names onto this base: it needs the trailing slash.
            slack_api_url=_url(get, "SLACK_API_URL", defaults.slack_api_url).rstrip("/") + "/",
            pagerduty_routing_key=get("PAGERDUTY_ROUTING_KEY"),
            pagerduty_api_token=get("PAGERDUTY_API_TOKEN"),
            pagerduty_events_url=_url(
                get, "PAGERDUTY_EVENTS_URL", defaults.pagerduty_events_url
            ).rstrip("/"),
            pagerduty_api_url=_url(get, "PAGERDUTY_API_URL", defaults.pagerduty_api_url).rstrip(
                "/"
            ),
            opsgenie_api_key=get("OPSGENIE_API_KEY"),
            opsgenie_api_url=_url(get, "OPSGENIE_API_URL", defaults.opsgenie_api_url).rstrip("/"),
            host=get("HOST") or defaults.host,
            port=_number(get, "PORT", defaults.port, int, low=0, high=65535),
            log_level=log_level,
            log_format=log_format,
            queue_size=_number(get, "QUEUE_SIZE", defaults.queue_size, int, low=1),
            workers=_number(get, "WORKERS", defaults.workers, int, low=1, high=256),
            reconcile_interval=_number(
                get, "RECONCILE_INTERVAL", defaults.reconcile_interval, float, low=1
            ),
            shutdown_timeout=_number(
                get, "SHUTDOWN_TIMEOUT", defaults.shutdown_timeout, float, low=0
            ),
            app_slug=app_slug,
        )


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
    # Hosting dashboards store one-line values: Probot accepts a literal "\n".
    pem = text.replace("\\n", "\n").strip() + "\n"
    _check_pem(name, pem)
    return pem


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
