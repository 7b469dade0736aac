"""The README's example incident (issue and Slack thread) is what the demo really posts.

Regenerate it with `make readme-example` when the demo or the texts change."""

from __future__ import annotations

from pathlib import Path

import pytest

from demo.readme_example import README, in_readme, normalise, render, with_example
from demo.story import Narrator, play


@pytest.mark.asyncio
async def test_the_readme_example_is_what_the_demo_posts(tmp_path: Path) -> None:
    summary = await play(tmp_path, Narrator(quiet=True))
    example = render(summary)
    assert "main is broken" in example and "Post-mortem" in example
    assert in_readme(README.read_text()) == example, (
        "README.md's example differs from what the demo posts: run `make readme-example`"
    )


def test_volatile_parts_are_normalised() -> None:
    full = "5c7e95251185181e7d58a2f17174bb6bf1f65b6e"
    text = (
        f"http://127.0.0.1:35331/acme/rocket/commit/{full} {full[:7]} green at 1b4586d, "
        "runs/8000003, refactored"
    )
    once = normalise(text)
    assert "127.0.0.1" not in once and "https://github.com/acme/rocket/commit/" in once
    assert full not in once and "1b4586d" not in once
    stand_in = once.split("/commit/")[1].split(" ")[0]
    assert once.split(" ")[1] == stand_in[:7]  # a short sha is its full sha's stand-in
    assert "runs/8000003" in once and "refactored" in once  # numbers and words stay
    assert normalise(text.replace(full, "f" * 40).replace(full[:7], "f" * 7)) == once


def test_the_example_sits_between_the_markers() -> None:
    text = "intro\n<!-- demo-example:start -->\nold\n<!-- demo-example:end -->\nrest\n"
    rewritten = with_example(text, "new\nlines")
    assert in_readme(rewritten) == "new\nlines"
    assert rewritten.startswith("intro\n") and rewritten.endswith("\nrest\n")
