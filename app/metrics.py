"""What the app did, counted for /metrics (per process; Prometheus sums across them)."""

from __future__ import annotations

# name -> help text; only these are exported, so a typo cannot invent a metric
COUNTERS = {
    "incidents_opened": "Incident issues opened.",
    "reverts_opened": "Revert pull requests opened or continued for an incident.",
    "revert_conflicts": "Reverts that could not be computed cleanly.",
    "pages": "Pages sent to the on-call provider.",
    "flakes": "Red builds that passed on re-run (confirm: rerun): no incident.",
}


class Metrics:
    """The process's counters of COUNTERS."""

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}

    def count(self, name: str, by: int = 1) -> None:
        if name not in COUNTERS:
            raise KeyError(f"unknown metric {name!r}")
        self._counts[name] = self._counts.get(name, 0) + by

    def __getitem__(self, name: str) -> int:
        return self._counts.get(name, 0)

    def render(self) -> list[str]:
        """The Prometheus text lines of every counter, zeros included."""
        lines: list[str] = []
        for name, help_text in COUNTERS.items():
            metric = f"buildsheriff_{name}_total"
            lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter"]
            lines.append(f"{metric} {self[name]}")
        return lines
