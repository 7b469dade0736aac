"""The end-to-end harness: demo.stack's stack, plus helpers only tests need."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
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
    "metric",
    "metric_samples",
    "public_key_of",
    "record_text",
    "secrets_in_records",
    "sign",
    "stack",
    "stack_secrets",
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


def metric_samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """A /metrics page read by prometheus_client's own parser: (sample name, labels) -> value."""
    from prometheus_client.parser import text_string_to_metric_families

    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def metric(
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str
) -> float:
    """One sample's value (0 when absent: a labelled counter appears once it moved)."""
    return samples.get((name, frozenset(labels.items())), 0.0)


def stack_secrets(s: Stack) -> dict[str, str]:
    """Every credential a stack runs on: the webhook secret, the App's private key (and runs
    of its base64 body), each installation token GitHub issued, Slack's and the pagers'."""
    found: dict[str, str] = {
        "webhook secret": s.settings.webhook_secret or "",
        "private key": s.settings.private_key or "",
    }
    body = "".join(
        line for line in found["private key"].splitlines() if "-----" not in line
    )
    found.update({f"private key part {i}": body[i:i + 40] for i in range(0, 400, 40)})
    for i, token in enumerate(s.sim.issued_tokens):
        found[f"token {i}"] = token
    if s.slack is not None:
        found["Slack token"] = s.slack.token
    if s.pagerduty is not None:
        found["PagerDuty routing key"] = s.pagerduty.routing_key
        found["PagerDuty API token"] = s.pagerduty.api_token
    if s.opsgenie is not None:
        found["Opsgenie key"] = s.opsgenie.api_key
    if s.jsm is not None:
        found["JSM key"] = s.jsm.api_key
    return {name: value for name, value in found.items() if value}


def record_text(record: logging.LogRecord) -> str:
    """All a log record says: its message, every field and its exception."""
    try:
        text = record.getMessage()
    except Exception:
        text = str(record.msg)
    text += " " + " ".join(f"{k}={v}" for k, v in vars(record).items())
    if record.exc_info and record.exc_info[1] is not None:
        text += " " + repr(record.exc_info[1]) + " " + str(record.exc_info[1])
    return text


def secrets_in_records(
    secrets: dict[str, str], records: Iterable[logging.LogRecord]
) -> list[str]:
    """The names of the secrets found in any of the records."""
    texts = [record_text(r) for r in records]
    return [name for name, secret in secrets.items() if any(secret in t for t in texts)]
