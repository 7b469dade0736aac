"""Log lines as an operator reads them: one JSON object each, extras as keys, secrets redacted."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from app.logs import (
    REDACTED,
    JsonFormatter,
    RedactSecrets,
    TextFormatter,
    configure_logging,
    event_logger,
    register_secret,
)


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, logging.Handler]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets())
    logger = logging.getLogger("test.logs")
    logger.handlers = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    yield logger, stream, handler
    logger.handlers = []
    logger.propagate = True


def lines(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_line_has_the_fixed_keys_and_every_extra(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = capture
    logger.info("opened %s", "incident", extra={"issue": 12, "repo": "octo/r"})
    (line,) = lines(stream)
    assert line["level"] == "INFO" and line["logger"] == "test.logs"
    assert line["msg"] == "opened incident"
    assert (line["issue"], line["repo"]) == (12, "octo/r")
    assert str(line["ts"]).endswith("+00:00")


def test_exception_becomes_a_traceback_field(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = capture
    try:
        raise ValueError("broken thing")
    except ValueError:
        logger.exception("it failed")
    (line,) = lines(stream)
    assert "Traceback" in str(line["traceback"]) and "broken thing" in str(line["traceback"])


def test_registered_secrets_are_redacted_everywhere(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    logger, stream, _ = capture
    token = "ghs_" + "A1b2C3d4" * 5
    register_secret(token)
    register_secret("short")  # too short to redact safely: ignored
    logger.warning("token %s leaked", token, extra={"headers": {"Authorization": f"token {token}"}})
    try:
        raise RuntimeError(f"bad credentials {token}")
    except RuntimeError:
        logger.exception("failed with %s", "short")
    text = stream.getvalue()
    assert token not in text
    first, second = lines(stream)
    assert first["msg"] == f"token {REDACTED} leaked"
    assert first["headers"] == {"Authorization": f"token {REDACTED}"}
    assert REDACTED in str(second["traceback"]) and "short" in str(second["msg"])


def test_event_logger_puts_the_event_on_every_line_and_keeps_call_extras(
    capture: tuple[logging.Logger, io.StringIO, logging.Handler],
) -> None:
    _, stream, _ = capture
    log = event_logger("d-1", "check_run", "completed", "octo/r", name="test.logs")
    log.info("handled", extra={"sha": "abc"})
    (line,) = lines(stream)
    assert {k: line[k] for k in ("delivery_id", "event", "action", "repo", "sha")} == {
        "delivery_id": "d-1",
        "event": "check_run",
        "action": "completed",
        "repo": "octo/r",
        "sha": "abc",
    }


def test_text_format_is_one_readable_line_with_fields() -> None:
    record = logging.LogRecord("app.x", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.repo = "octo/r"
    text = TextFormatter().format(record)
    assert "INFO" in text and "app.x" in text and "hello you" in text and "repo=octo/r" in text
    assert "\n" not in text


def test_configure_logging_installs_one_redacting_handler() -> None:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    try:
        configure_logging("debug", "json")
        assert root.level == logging.DEBUG and len(root.handlers) == 1
        (handler,) = root.handlers
        assert isinstance(handler.formatter, JsonFormatter)
        assert any(isinstance(f, RedactSecrets) for f in handler.filters)
        configure_logging("WARNING", "text")
        assert isinstance(root.handlers[0].formatter, TextFormatter)
    finally:
        root.handlers = saved[0]
        root.setLevel(saved[1])
