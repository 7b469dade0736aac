"""Benchmarks that print figures (`make bench`, i.e. `python -m bench`); never part of the tests.

House rule: every speed or memory figure is a ratio to a baseline measured in the
same run, so the table means the same thing on a laptop and on a 2-core CI box.
Each benchmark module exposes `async def run(workdir: Path, quick: bool) -> list[Section]`.
Counts (GitHub calls, round trips) are exact, not timed: they are printed next to the
issue's target instead (`baseline_label` "target").
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
    unit: str  # "ms", "s", "ev/s", "req/s", "B", "MB", or a count's noun ("calls")
    target: str = ""  # the goal for `value`, as the README's table states it ("≤ 10")
    # Over several runs: value and baseline are medians, these their ranges.
    low: float | None = None
    high: float | None = None
    baseline_low: float | None = None
    baseline_high: float | None = None

    @property
    def ratio(self) -> float:
        return self.value / self.baseline if self.baseline else math.inf

    def as_json(self) -> dict[str, object]:
        return {
            "measure": self.measure, "value": self.value, "unit": self.unit,
            "baseline_label": self.baseline_label, "baseline": self.baseline,
            "target": self.target, "low": self.low, "high": self.high,
            "baseline_low": self.baseline_low, "baseline_high": self.baseline_high,
        }


@dataclass
class Section:
    title: str
    key: str = ""  # the issue's name for it: "P1", "P4'", ...; the table is keyed on it
    figures: list[Figure] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    detail: list[str] = field(default_factory=list)  # printed with --detail (a call graph)

    def add(self, measure: str, value: float, baseline_label: str, baseline: float,
            unit: str, target: str = "") -> None:
        self.figures.append(Figure(measure, value, baseline_label, baseline, unit, target))

    def as_json(self) -> dict[str, object]:
        return {
            "key": self.key, "title": self.title, "seconds": self.seconds,
            "figures": [f.as_json() for f in self.figures], "notes": list(self.notes),
            "detail": list(self.detail),
        }


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
    if unit in ("ev/s", "req/s"):
        return f"{value:,.0f} {unit}"
    if unit == "MB":
        return f"{value:.1f} MB"
    if value == int(value):
        return f"{value:,.0f} {unit}"
    return f"{value:,.1f} {unit}"


def ratio_text(ratio: float) -> str:
    if math.isinf(ratio) or math.isnan(ratio):
        return "–"
    if ratio >= 10:
        return f"{ratio:.1f}×"
    return f"{ratio:.2f}×" if ratio >= 0.1 else f"{ratio:.3f}×"


def human_bytes(value: float) -> str:
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if abs(value) >= size:
            return f"{value / size:.1f} {unit}"
    return f"{value:.0f} B"


def combine(runs: Sequence[Sequence[Section]]) -> list[Section]:
    """Several runs of the same benchmarks -> one, each figure the median with its range."""
    first = runs[0]
    out: list[Section] = []
    for index, section in enumerate(first):
        same = [run[index] for run in runs]
        merged = Section(section.title, section.key, notes=list(section.notes),
                         seconds=median([s.seconds for s in same]), detail=section.detail)
        for f_index, fig in enumerate(section.figures):
            values = [s.figures[f_index].value for s in same]
            baselines = [s.figures[f_index].baseline for s in same]
            merged.figures.append(
                Figure(fig.measure, median(values), fig.baseline_label, median(baselines),
                       fig.unit, fig.target, low=min(values), high=max(values),
                       baseline_low=min(baselines), baseline_high=max(baselines))
            )
        out.append(merged)
    return out


def _cell(value: float, unit: str, low: float | None, high: float | None) -> str:
    text = human(value, unit)
    if low is None or high is None or low == high:
        return text
    return f"{text} [{human(low, unit)} – {human(high, unit)}]"


def render(sections: Sequence[Section], *, detail: bool = False) -> str:
    """Per section a title line, then one line per figure, then its notes."""
    header = ("measure", "value", "baseline (same run)", "value", "ratio", "target")
    out: list[str] = []
    for section in sections:
        rows = [
            (
                fig.measure,
                _cell(fig.value, fig.unit, fig.low, fig.high),
                fig.baseline_label,
                _cell(fig.baseline, fig.unit, fig.baseline_low, fig.baseline_high),
                ratio_text(fig.ratio),
                fig.target,
            )
            for fig in section.figures
        ]
        widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]

        def line(cells: Sequence[str], widths: list[int] = widths) -> str:
            aligned = [
                cells[c].rjust(widths[c]) if c in (1, 3, 4) else cells[c].ljust(widths[c])
                for c in range(len(cells))
            ]
            return "  ".join(["  ", *aligned]).rstrip()

        out.append(f"{section.key} {section.title}".strip() + f"  ({section.seconds:.1f} s)")
        out += [line(header), line(["-" * w for w in widths])]
        out += [line(row) for row in rows]
        out += [f"    · {note}" for note in section.notes]
        if detail:
            out += [f"      {row}" for row in section.detail]
        out.append("")
    return "\n".join(out)
