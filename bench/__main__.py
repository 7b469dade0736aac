"""`python -m bench`: run every benchmark and print one table (a few minutes; --quick: one).

    python -m bench                       all, once
    python -m bench --quick               smaller sizes, for a look while developing
    python -m bench --runs 3 --json FILE  three runs: medians and ranges; FILE for the table
    python -m bench P1 P6 --detail        some, with P1's call graph round trip by round trip

`python -m bench.table FILE` turns the JSON into the README's performance table.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import json
import logging
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path

from bench import Section, combine, render

Benchmark = Callable[[Path, bool], Awaitable[list[Section]]]

# module -> the sections (issue 12's names) it prints, in the table's order
BENCHMARKS: dict[str, tuple[str, ...]] = {
    "red_to_revert": ("P1",),
    "ingest": ("P2",),
    "storm": ("P3", "P5"),
    "revert_size": ("P4", "P4'", "P4 moved"),
    "revert_command": ("P6",),
    "revert_corpus": ("corpus",),
    "dedupe_memory": ("dedupe",),
    "bisect_cost": ("bisect",),
    "abuse": ("abuse",),
}


def _load(name: str) -> Benchmark:
    run: Benchmark = importlib.import_module(f"bench.{name}").run
    return run


def machine() -> str:
    git = shutil.which("git")
    version = "none"
    if git:
        version = subprocess.run(
            [git, "--version"], capture_output=True, text=True, check=False
        ).stdout.strip().removeprefix("git version ")
    return (
        f"{platform.system()} {platform.machine()}, os.cpu_count()={os.cpu_count()},"
        f" Python {platform.python_version()}, git {version}"
    )


def _scratch() -> Path:
    # Memory-backed when available: the git baselines and the simulator's object store
    # should measure git and HTTP, not a slow disk.
    shm = Path("/dev/shm")
    parent = shm if shm.is_dir() and os.access(shm, os.W_OK) else None
    return Path(tempfile.mkdtemp(prefix="buildsheriff-bench-", dir=parent))


def _selected(wanted: set[str]) -> list[str]:
    """Modules to run: all, or those named (by module or by section key, any case)."""
    if not wanted:
        return list(BENCHMARKS)
    lower = {w.lower() for w in wanted}
    return [m for m, keys in BENCHMARKS.items()
            if m in lower or lower & {k.lower() for k in keys}]


async def run_once(modules: list[str], quick: bool) -> list[Section]:
    sections: list[Section] = []
    for name in modules:
        workdir = _scratch()
        started = time.perf_counter()
        try:
            made = await _load(name)(workdir, quick)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        elapsed = time.perf_counter() - started
        for section in made:
            section.seconds = elapsed / len(made)
        sections += made
    return sections


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("only", nargs="*", help="modules or sections (P1, P4', storm, ...)")
    parser.add_argument("--quick", action="store_true", help="smaller sizes")
    parser.add_argument("--runs", type=int, default=1, help="runs; figures are medians")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--detail", action="store_true", help="print call graphs")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    modules = _selected(set(args.only))
    if not modules:
        print(f"nothing matches {args.only}; pick from {BENCHMARKS}")
        return 2
    print(f"Build Sheriff benchmarks: {machine()}")
    print("Each figure is next to a baseline measured in this same run, or to its target.\n",
          flush=True)
    started = time.perf_counter()
    runs: list[list[Section]] = []
    for index in range(max(1, args.runs)):
        runs.append(asyncio.run(run_once(modules, args.quick)))
        if args.runs > 1:
            print(f"run {index + 1} of {args.runs} done in {time.perf_counter() - started:.0f} s",
                  flush=True)
    sections = combine(runs) if len(runs) > 1 else runs[0]
    print(render(sections, detail=args.detail))
    print(f"total {time.perf_counter() - started:.1f} s")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({
            "machine": machine(), "quick": args.quick,
            "runs": [[s.as_json() for s in run] for run in runs],
        }, indent=1, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
