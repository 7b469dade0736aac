"""The README's first command must keep working: the demo tells the whole story."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.story import Narrator, play

pytestmark = pytest.mark.asyncio


async def test_demo_story_ends_resolved_with_the_tree_restored(tmp_path: Path) -> None:
    summary = await play(tmp_path, Narrator(quiet=True))
    assert summary["state"] == "closed"
    assert summary["labels"] == "incident, incident:resolved"
    assert summary["revert_merged"] is True
    assert summary["tree_restored"] is True
    assert summary["slack_top_level"] == 1
    assert summary["slack_replies"] >= 6
    assert summary["violations"] == []
