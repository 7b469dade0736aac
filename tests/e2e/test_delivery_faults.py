"""Issue 9, proof line 2: webhooks as GitHub delivers them on a bad day (duplicated 20%,
reordered) and the demo story still completes, saying everything exactly once.

The faults are seeded, so a failure names the seed that reproduces it. What is asserted is
what people see: one incident issue, one revert PR, no comment said twice on either, no
Slack message posted twice.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from demo.story import Narrator, play
from sim.github.delivery_faults import DeliveryFaults

pytestmark = pytest.mark.asyncio

SEEDS = (1, 7, 2026)


def _twice(texts: list[str]) -> list[str]:
    return [text for text, n in Counter(texts).items() if n > 1]


@pytest.mark.parametrize("seed", SEEDS)
async def test_the_demo_story_survives_duplicated_and_reordered_webhooks(
    tmp_path: Path, seed: int
) -> None:
    faults = DeliveryFaults(duplicate=0.2, reorder=0.2, seed=seed)
    summary = await play(tmp_path, Narrator(quiet=True), delivery_faults=faults)

    assert summary["state"] == "closed"
    assert summary["labels"] == "incident, incident:resolved"
    assert summary["revert_merged"] is True and summary["tree_restored"] is True
    assert summary["violations"] == []

    issues = [i for i in summary["issues"] if "pull_request" not in i]
    assert len(issues) == 1, [i["title"] for i in issues]
    assert len(summary["pulls"]) == 1, [p["title"] for p in summary["pulls"]]
    for item in summary["issues"]:  # the incident and the revert PR (an issue too)
        bodies = [c["body"] for c in item["comments_list"]]
        assert _twice(bodies) == [], (item["number"], _twice(bodies))

    assert summary["slack_top_level"] == 1
    posted = [(m.get("thread_ts"), m["text"]) for m in summary["slack_messages"]]
    assert _twice([f"{ts} {text}" for ts, text in posted]) == []

    # The faults did happen: some deliveries went twice, some out of order.
    assert summary["faults"]["duplicated"] > 0 and summary["faults"]["reordered"] > 0
