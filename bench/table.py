"""`python -m bench.table FILE`: the README's performance table from `python -m bench --json`.

One row per figure: the value (the median over the runs, with their range when they
differ), its same-run baseline and the ratio, the target, and whether it is met.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path
from typing import Any

from bench import Figure, Section, combine, human, ratio_text

_BOUND = re.compile(r"^(≤|≥)\s*([\d.,]+)\s*(×|MB)?$")


def load(path: Path) -> tuple[list[Section], dict[str, Any]]:
    data = json.loads(path.read_text())
    runs = [[_section(s) for s in run] for run in data["runs"]]
    return (combine(runs) if len(runs) > 1 else runs[0]), data


def _section(raw: dict[str, Any]) -> Section:
    figures = [
        Figure(f["measure"], f["value"], f["baseline_label"], f["baseline"], f["unit"],
               f.get("target", ""))
        for f in raw["figures"]
    ]
    return Section(raw["title"], raw.get("key", ""), figures, list(raw.get("notes", [])),
                   raw.get("seconds", 0.0), list(raw.get("detail", [])))


def met(fig: Figure) -> bool | None:
    """Whether the median meets the target; None when the target is not a number."""
    target = fig.target.strip()
    if not target:
        return None
    if re.fullmatch(r"[\d.]+", target):
        return fig.value <= float(target)  # a bare number is a ceiling ("0", "1")
    if target.startswith("flat"):
        return fig.ratio <= 1.0
    found = _BOUND.match(target)
    if found is None:
        return None
    sign, number, unit = found.group(1), float(found.group(2).replace(",", "")), found.group(3)
    measured = fig.ratio if unit == "×" else fig.value
    return measured <= number if sign == "≤" else measured >= number


def _value(fig: Figure) -> str:
    text = human(fig.value, fig.unit)
    if fig.low is not None and fig.high is not None and fig.low != fig.high:
        text += f" ({human(fig.low, fig.unit)} – {human(fig.high, fig.unit)})"
    return text


def markdown(sections: list[Section], runs: int) -> str:
    now = "now" if runs == 1 else f"now (median of {runs}, range)"
    lines = [
        f"| | measure | {now} | same-run baseline | ratio | target | met |",
        "|---|---|---|---|---|---|---|",
    ]
    for section in sections:
        for index, fig in enumerate(section.figures):
            name = f"{section.key} {section.title}".strip() if index == 0 else ""
            if fig.baseline_label == "target":
                baseline, ratio = "", ""
            else:
                baseline = f"{fig.baseline_label}: {human(fig.baseline, fig.unit)}"
                ratio = ratio_text(fig.ratio)
            verdict = {True: "yes", False: "**no**", None: ""}[met(fig)]
            lines.append(f"| {name} | {fig.measure} | {_value(fig)} | {baseline} | {ratio}"
                         f" | {fig.target} | {verdict} |")
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.table FILE  (FILE from python -m bench --json FILE)",
              file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        print(f"{path}: no such file; run `make bench` first", file=sys.stderr)
        return 2
    sections, data = load(path)
    print(markdown(sections, len(data["runs"])))
    quick = " (quick mode)" if data.get("quick") else ""
    print(f"\n{len(data['runs'])} run(s){quick} on {data['machine']}.")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
