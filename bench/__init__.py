"""Benchmarks that print figures (`make bench`, i.e. `python -m bench`); never part of the tests.

House rule: every speed or memory figure is a ratio to a baseline measured in the
same run, so the table means the same thing on a laptop and on a 2-core CI box.
Each benchmark module exposes `async def run(workdir: Path) -> Section`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Figure:
    """One measured value next to its same-run baseline; ratio = value / baseline."""

    measure: str
    value: float
    baseline_label: str
    baseline: float
    unit: str  # "ms", "s", "ev/s", "B"

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else math.inf


@dataclass
class Section:
    title: str
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0


class Deadline:
    """Bounds a measuring loop in wall time as well as in count."""

    def __init__(self, seconds: float) -> None:
        self._end = time.perf_counter() + seconds

    @property
    def passed(self) -> bool:
        return time.perf_counter() >= self._end


def percentile(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile (q in 0..100) of a non-empty sample."""
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def median(values: Sequence[float]) -> float:
    return percentile(values, 50)


def human(value: float, unit: str) -> str:
    if unit == "B":
        return human_bytes(value)
    if unit == "ms":
        return f"{value:.2f} ms" if value < 10 else f"{value:.0f} ms"
    if unit == "s":
        return f"{value:.2f} s"
    if unit == "ev/s":
        return f"{value:,.0f} ev/s"
    return f"{value:g} {unit}"


def ratio_text(ratio: float) -> str:
    if ratio >= 10:
        return f"{ratio:.1f}×"
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.3f}×"


def human_bytes(value: float) -> str:
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(value) >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def render(sections: Sequence[Section]) -> str:
    """A compact table: one line per figure, its notes indented beneath its section."""
    header = ("benchmark", "measure", "value", "baseline (same run)", "value", "ratio")
    rows: list[tuple[str, ...]] = []
    notes: dict[int, list[str]] = {}
    for section in sections:
        for i, fig in enumerate(section.figures):
            rows.append(
                (
                    section.title if i == 0 else "",
                    fig.measure,
                    human(fig.value, fig.unit),
                    fig.baseline_label,
                    human(fig.baseline, fig.unit),
                    ratio_text(fig.ratio),
                )
            )
        extra = [*section.notes, f"({section.seconds:.1f} s)"]
        notes[len(rows) - 1] = extra
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        left = [cells[c].ljust(widths[c]) for c in (0, 1)]
        right = [cells[2].rjust(widths[2]), cells[3].ljust(widths[3]), cells[4].rjust(widths[4])]
        return "  ".join([*left, *right, cells[5].rjust(widths[5])]).rstrip()

    out = [line(header), "  ".join("-" * w for w in widths)]
    for index, row in enumerate(rows):
        out.append(line(row))
        for note in notes.get(index, []):
            out.append(" " * (widths[0] + 2) + "· " + note)
    return "\n".join(out)
