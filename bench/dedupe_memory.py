"""Memory of the delivery-id dedupe cache: the server's TTLCache holding 100,000 ids.

The cache is the very object the server's in-process dedupe holds
(`app.server.dedupe.MemoryDedupe.ids`, what `WebhookReceiver` uses by default), filled
the way `mark_done` fills it (`ids[id] = True`, each write stamped with the cache's
timer). Baseline: a plain `set` of the same 100,000 id strings.
The id strings are made before tracing starts and are shared by both, so the figure
is what the container itself costs; the strings' own size is printed beside it.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
import uuid
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, cast

from app.server.dedupe import MemoryDedupe
from bench import Figure, Section, human_bytes

IDS = 100_000


def _fresh_cache() -> Any:
    return MemoryDedupe().ids


def _traced(build: Callable[[], object]) -> tuple[int, object]:
    """Bytes still allocated once `build` returns (its result kept alive), and the result."""
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        made = build()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
    return after - before, made


def _fill_cache(ids: Sequence[str]) -> Callable[[], object]:
    def build() -> object:
        cache = _fresh_cache()
        for delivery_id in ids:
            cache[delivery_id] = True
        return cache

    return build


async def run(workdir: Path, quick: bool = False) -> list[Section]:
    del workdir  # nothing on disk
    section = Section("dedupe cache")
    # GitHub's X-GitHub-Delivery is a GUID.
    ids = [str(uuid.uuid4()) for _ in range(IDS)]
    cache_bytes, cache = _traced(_fill_cache(ids))
    set_bytes, plain = _traced(lambda: set(ids))
    held = len(cast(Any, cache))
    if held != IDS or len(cast(set[str], plain)) != IDS:
        raise RuntimeError(f"the cache holds {held} of {IDS:,} ids (maxsize too small?)")
    section.figures.append(
        Figure(f"TTLCache, {IDS:,} ids", cache_bytes, "set of the same ids", set_bytes, "B")
    )
    strings = sum(sys.getsizeof(i) for i in ids)
    cls = type(cache)
    section.notes.append(
        f"{cls.__module__}.{cls.__name__}(maxsize={cast(Any, cache).maxsize:,},"
        f" ttl={cast(Any, cache).ttl:g} s): {cache_bytes / IDS:.0f} B/id vs {set_bytes / IDS:.0f}"
        f" B/id; the shared id strings ({human_bytes(strings)}) counted in neither"
    )
    return [section]
