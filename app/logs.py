"""Structured logging: one JSON object a line (or readable text), secrets redacted.

Every `extra=` field becomes a JSON key, so a line can be found by delivery id,
repository or event. Code never logs a secret on purpose; the redaction filter is
defence in depth for the day someone logs a header dict or an exception that
quotes a token.
"""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
import traceback
from collections.abc import Callable, Mapping, MutableMapping
from datetime import UTC, datetime
from typing import Any

REDACTED = "[REDACTED]"
# Shorter values would redact ordinary words; real tokens and keys are far longer.
_MIN_SECRET_LENGTH = 8

# The attributes every LogRecord has; anything else on a record came from `extra=`.
_RECORD_ATTRS = frozenset(
    vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))
) | {"message", "asctime", "taskName"}

_secrets: set[str] = set()
_secrets_lock = threading.Lock()


def register_secret(value: str | None) -> None:
    """Redact `value` from every log line from now on (ignored when short or empty)."""
    if value and len(value) >= _MIN_SECRET_LENGTH:
        with _secrets_lock:
            _secrets.add(value)


def redact(text: str) -> str:
    if not _secrets:
        return text
    # Longest first: a key's whole PEM is redacted before its individual lines.
    for secret in sorted(_secrets, key=len, reverse=True):
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


def _redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, Mapping):
        return {k: _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    if isinstance(value, int | float | bool) or value is None:
        return value
    return redact(str(value))


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _RECORD_ATTRS}


class RedactSecrets(logging.Filter):
    """Rewrites the record in place: message, extras and traceback lose registered secrets."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not _secrets:
            return True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: let the handler report it as usual
            return True
        record.msg = redact(message)
        record.args = None
        for key, value in extra_fields(record).items():
            setattr(record, key, _redact_value(value))
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip()
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class RepeatedErrors(logging.Filter):
    """Warnings and errors that repeat are logged once per `window` seconds with a count:
    the first with its traceback, then one line saying how many were left out. A flood
    of bad requests cannot fill the disk with tracebacks nor drown the real lines."""

    def __init__(self, window: float = 60.0, timer: Callable[[], float] | None = None) -> None:
        super().__init__()
        self.window = window
        self._timer = timer or time.monotonic
        self._seen: dict[tuple[str, str, str], tuple[float, int]] = {}
        self._lock = threading.Lock()

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        error = record.exc_info[0].__name__ if record.exc_info and record.exc_info[0] else ""
        key = (record.name, str(record.msg), error + str(getattr(record, "reason", "")))
        now = self._timer()
        with self._lock:
            since, left_out = self._seen.get(key, (now - self.window - 1, 0))
            if now - since < self.window:
                self._seen[key] = (since, left_out + 1)
                return False
            self._seen[key] = (now, 0)
            if len(self._seen) > 10_000:  # bounded: forget the oldest keys
                for old in sorted(self._seen, key=lambda k: self._seen[k][0])[:5_000]:
                    del self._seen[old]
        if left_out:
            record.repeated = left_out  # the JSON line gets "repeated": N
            record.exc_info = None  # the first one had the traceback
            record.exc_text = None
        return True


def _json_default(value: Any) -> str:
    return str(value)


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
        }
        for key, value in extra_fields(record).items():
            line.setdefault(key, value)
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = record.stack_info
        # The final redact() catches a secret that reached the record after the filter ran.
        return redact(json.dumps(line, default=_json_default, ensure_ascii=False))


class TextFormatter(logging.Formatter):
    """`12:00:01.234 INFO  app.server.app  message  key=value ...` for humans at a terminal."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)-7s %(name)s  %(message)s")

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, tz=UTC).strftime("%H:%M:%S.%f")[:-3]

    def format(self, record: logging.LogRecord) -> str:
        text = super().format(record)
        extras = extra_fields(record)
        if extras:
            fields = " ".join(f"{k}={v}" for k, v in extras.items())
            first, sep, rest = text.partition("\n")
            text = f"{first}  {fields}{sep}{rest}"
        return redact(text)


def configure_logging(level: str, fmt: str) -> None:
    """Replace the root logger's handlers with one stderr handler in `fmt` (json|text)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    handler.addFilter(RedactSecrets())
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # aiohttp's access log repeats what our own lines say, with query strings we do not vet.
    logging.getLogger("aiohttp.access").setLevel(logging.WARNING)
    # Bad requests come in floods: each kind of complaint once a minute, with a count.
    for name in ("aiohttp.server", "aiohttp.web", "aiohttp.access", "app.server.webhooks"):
        logger = logging.getLogger(name)
        for old_filter in [f for f in logger.filters if isinstance(f, RepeatedErrors)]:
            logger.removeFilter(old_filter)
        logger.addFilter(RepeatedErrors())


class EventLogger(logging.LoggerAdapter[logging.Logger]):
    """A LoggerAdapter whose fixed fields merge with (not replace) each call's `extra=`."""

    def process(
        self, msg: Any, kwargs: MutableMapping[str, Any]
    ) -> tuple[Any, MutableMapping[str, Any]]:
        kwargs["extra"] = {**(self.extra or {}), **(kwargs.get("extra") or {})}
        return msg, kwargs


def event_logger(
    delivery_id: str, event: str, action: str | None, repo: str, *, name: str = "app.events"
) -> logging.LoggerAdapter[logging.Logger]:
    return EventLogger(
        logging.getLogger(name),
        {"delivery_id": delivery_id, "event": event, "action": action, "repo": repo},
    )
