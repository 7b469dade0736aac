"""The end-to-end harness: demo.stack's stack, plus helpers only tests need."""

from __future__ import annotations

import json
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
    "sign",
    "stack",
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
