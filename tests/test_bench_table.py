"""The README's performance table is generated from the benchmarks' JSON (bench/table.py):
medians and ranges over runs, ratios to the same-run baseline, and whether targets are met."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench import Figure, Section
from bench.table import README, RESULTS, block, load, markdown, met, readme_table, with_table


def run_of(calls: float, seconds: float, rss: float) -> list[dict[str, object]]:
    p1 = Section("red → revert", key="P1")
    p1.add("calls", calls, "target", 25, "calls", "≤ 25")
    p1.add("time", seconds, "no latency", 0.5, "s")
    p5 = Section("memory", key="P5")
    p5.add("idle RSS", rss, "bare server", 36.0, "MB", "≤ 70 MB")
    return [p1.as_json(), p5.as_json()]


def test_three_runs_give_medians_ranges_ratios_and_verdicts(tmp_path: Path) -> None:
    path = tmp_path / "bench.json"
    runs = [run_of(45, 4.8, 55.0), run_of(47, 4.6, 56.0), run_of(45, 5.0, 75.0)]
    path.write_text(json.dumps({"machine": "test box", "quick": False, "runs": runs}))
    sections, _ = load(path)
    table = markdown(sections, runs=3).splitlines()
    assert table[0].startswith("| | measure | now (median of 3, range) |")
    assert table[2] == (
        "| P1 red → revert | calls | 45 calls (45 calls – 47 calls) |  |  | ≤ 25 | **no** |"
    )
    assert table[3] == "|  | time | 4.80 s (4.60 s – 5.00 s) | no latency: 0.50 s | 9.60× |  |  |"
    assert table[4] == (
        "| P5 memory | idle RSS | 56.0 MB (55.0 MB – 75.0 MB) | bare server: 36.0 MB"
        " | 1.56× | ≤ 70 MB | yes |"
    )


@pytest.mark.parametrize(
    ("value", "baseline", "unit", "target", "expected"),
    [
        (10, 0, "round trips", "≤ 10", True),
        (11, 0, "round trips", "≤ 10", False),
        (0.9, 1.0, "req/s", "≥ 0.85×", True),
        (0.8, 1.0, "req/s", "≥ 0.85×", False),
        (0, 0, "answers", "0", True),
        (5, 0, "answers", "0", False),
        (30, 27, "calls", "flat (1×)", False),
        (27, 27, "calls", "flat (1×)", True),
        (1.4, 1.0, "s", "≤ 1×", False),
        (99.0, 55.0, "MB", "≤ 100 MB", True),
        (4954, 59, "calls", "≤ 1,000", False),
        (1, 1, "rounds", "1", True),
        (2, 1, "rounds", "1", False),
        (1, 1, "calls", "", None),
        (3, 3, "rounds", "≤ ⌈log2 N⌉", None),
    ],
)
def test_targets_are_read_as_bounds_on_the_value_or_the_ratio(
    value: float, baseline: float, unit: str, target: str, expected: bool | None
) -> None:
    assert met(Figure("m", value, "b", baseline, unit, target)) is expected


def test_the_readme_table_is_what_bench_table_renders_from_the_committed_results() -> None:
    """`make bench-table` wrote it from a real run's JSON (bench/results.json), untouched."""
    assert readme_table(README.read_text()) == block(RESULTS)
    data = json.loads(RESULTS.read_text())
    assert not data["quick"]
    keys = {s["key"] for s in data["runs"][0]}
    assert {"P1", "P2", "P3", "P4", "P4'", "P5", "P6", "corpus"} <= keys


def test_regenerating_the_table_replaces_only_what_is_between_the_markers(
    tmp_path: Path,
) -> None:
    readme = README.read_text()
    again = with_table(readme, "| new |")
    assert readme_table(again) == "| new |"
    assert again.split("| new |")[0] == readme.split(readme_table(readme))[0]
    assert with_table(again, readme_table(readme)) == readme
