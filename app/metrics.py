"""What the app did, counted for /metrics (per process; Prometheus sums across them)."""

from __future__ import annotations

from typing import Any

# name -> help text; only these are exported, so a typo cannot invent a metric
COUNTERS = {
    "incidents_opened": "Incident issues opened.",
    "reverts_opened": "Revert pull requests opened or continued for an incident.",
    "revert_conflicts": "Reverts that could not be computed cleanly.",
    "pages": "Pages sent to the on-call provider.",
    "flakes": "Red builds that passed on re-run (confirm: rerun): no incident.",
}


def count(extras: dict[str, Any], name: str, by: int = 1) -> None:
    if name not in COUNTERS:
        raise KeyError(f"unknown metric {name!r}")
    counters: dict[str, int] = extras.setdefault("metrics", {})
    counters[name] = counters.get(name, 0) + by


def render(extras: dict[str, Any]) -> list[str]:
    counters: dict[str, int] = extras.get("metrics", {})
    lines: list[str] = []
    for name, help_text in COUNTERS.items():
        metric = f"buildsheriff_{name}_total"
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
        lines.append(f"{metric} {counters.get(name, 0)}")
    return lines
