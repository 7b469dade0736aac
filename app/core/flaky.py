"""Flaky checks: a check that failed and then passed on a re-run of the same commit.

Pure. With `confirm: rerun`, a red head is re-run before anyone is alarmed; when the re-run
passes, the failure was a false alarm. Each one is logged in one issue per repository (the
flaky report), so a team sees which checks cost it false alarms, counted over the last
`flaky_window_days`. The log lives in the report's hidden marker, like an incident's state.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from app.core.builds import from_check_run

FLAKY_LABEL = "buildsheriff:flaky"
FLAKY_LABEL_STYLE = ("fef2c0", "Build Sheriff: checks that failed, then passed on a re-run")
REPORT_TITLE = "🌀 Flaky checks"
DAY = 86400.0
_MARKER_RE = re.compile(r"<!-- buildsheriff-flaky: (\{.*?\}) -->", re.DOTALL)


@dataclass(frozen=True)
class Flake:
    check: str
    sha: str
    at: float  # when the failure was seen to be a false alarm
    run_id: int  # the failed check run: one flake is logged once
    url: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "check": self.check,
            "sha": self.sha,
            "at": self.at,
            "run": self.run_id,
        }
        if self.url:
            data["url"] = self.url
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Flake:
        return cls(
            str(data["check"]),
            str(data["sha"]),
            float(data["at"]),
            int(data["run"]),
            data.get("url"),
        )


@dataclass(frozen=True)
class FlakyLog:
    flakes: tuple[Flake, ...] = ()

    def add(self, seen: Iterable[Flake], now: float, window_days: int) -> FlakyLog:
        """The log with `seen` in it (each failed run once) and nothing older than the window."""
        known = {f.run_id for f in self.flakes}
        fresh = [f for f in seen if f.run_id not in known]
        horizon = now - window_days * DAY
        kept = tuple(f for f in (*self.flakes, *fresh) if f.at >= horizon)
        return replace(self, flakes=kept)

    def counts(self, now: float, window_days: int) -> list[tuple[str, int, Flake]]:
        """(check, failures in the window, the latest one), most false alarms first."""
        horizon = now - window_days * DAY
        by_check: dict[str, list[Flake]] = {}
        for flake in self.flakes:
            if flake.at >= horizon:
                by_check.setdefault(flake.check, []).append(flake)
        rows = [
            (check, len(found), max(found, key=lambda f: (f.at, f.run_id)))
            for check, found in by_check.items()
        ]
        return sorted(rows, key=lambda row: (-row[1], row[0].casefold()))

    def to_json(self) -> dict[str, Any]:
        return {"v": 1, "flakes": [f.to_json() for f in self.flakes]}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> FlakyLog:
        return cls(tuple(Flake.from_json(f) for f in data.get("flakes", [])))


def flakes_on(sha: str, check_runs: Iterable[Mapping[str, Any]], now: float) -> list[Flake]:
    """Every check that failed on `sha` and passed when it ran again (`filter=all` lists
    every attempt); only the latest run of a name says where it stands."""
    by_name: dict[str, list[Mapping[str, Any]]] = {}
    for run in check_runs:
        by_name.setdefault(str(run.get("name")), []).append(run)
    found: list[Flake] = []
    for name, runs in by_name.items():
        ordered = sorted(runs, key=lambda r: int(r.get("id") or 0))
        if not from_check_run(ordered[-1]).is_green:
            continue
        for run in ordered[:-1]:
            result = from_check_run(run)
            if result.is_red:
                found.append(Flake(name, sha, now, int(run.get("id") or 0), result.url))
    return found


def parse_report(body: str | None) -> FlakyLog | None:
    match = _MARKER_RE.search(body or "")
    if match is None:
        return None
    try:
        data = json.loads(match.group(1))
    except json.JSONDecodeError:
        return None
    return FlakyLog.from_json(data) if isinstance(data, dict) else None


def report_body(log: FlakyLog, now: float, window_days: int) -> str:
    rows = log.counts(now, window_days)
    lines = [
        f"Checks that failed on the default branch and then passed when Build Sheriff re-ran "
        f"them (`confirm: rerun`), over the last {window_days} days. Each one was a false "
        "alarm that the re-run caught; fixing the check saves the next one.",
        "",
    ]
    if rows:
        lines += ["| Check | False alarms | Last seen |", "|---|---|---|"]
        for check, count, last in rows:
            when = datetime.fromtimestamp(last.at, UTC).strftime("%Y-%m-%d %H:%M UTC")
            seen = f"[{when}]({last.url})" if last.url else when
            lines.append(f"| `{check}` | {count} | {seen} on `{last.sha[:7]}` |")
    else:
        lines.append(f"No flaky check in the last {window_days} days.")
    lines += [
        "",
        "Build Sheriff updates this issue in place; `flaky_window_days` sets the window.",
        "",
        f"<!-- buildsheriff-flaky: {json.dumps(log.to_json(), separators=(',', ':'))} -->",
    ]
    return "\n".join(lines)
