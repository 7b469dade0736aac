"""`python -m bench`: run every benchmark once and print one table (well under 2 minutes)."""

from __future__ import annotations

import asyncio
import importlib
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

from bench import Section, render

Benchmark = Callable[[Path], Awaitable[Section]]


BENCHMARKS = ("webhooks", "revert_noclone", "dedupe_memory")


def _load(name: str) -> Benchmark:
    run: Benchmark = importlib.import_module(f"bench.{name}").run
    return run


def _machine() -> str:
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


async def _run_all(only: set[str]) -> list[Section]:
    sections: list[Section] = []
    for name in BENCHMARKS:
        if only and name not in only:
            continue
        bench = _load(name)
        workdir = _scratch()
        started = time.perf_counter()
        try:
            section = await bench(workdir)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        section.seconds = time.perf_counter() - started
        sections.append(section)
    return sections


def main(argv: list[str]) -> int:
    """`python -m bench [webhooks|revert_noclone|dedupe_memory ...]`: all by default."""
    logging.basicConfig(level=logging.WARNING)
    print(f"Build Sheriff benchmarks: {_machine()}")
    print("Each figure is a ratio to a baseline measured in this same run.\n", flush=True)
    unknown = set(argv) - set(BENCHMARKS)
    if unknown:
        print(f"unknown benchmark(s): {', '.join(sorted(unknown))}; pick from {BENCHMARKS}")
        return 2
    started = time.perf_counter()
    sections = asyncio.run(_run_all(set(argv)))
    print(render(sections))
    print(f"\ntotal {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
