"""`make readme-example`: the README's example incident, from what the demo really posts.

Plays the demo story (demo.story), renders what people saw (the incident issue as it
opened, its comments, the Slack thread), replaces what is not the same from one run or
machine to the next (commit shas, the simulators' addresses), and writes the result
between the README's markers. `--check` only compares: exit 1 when the README differs.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import re
import sys
import tempfile
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path
from typing import Any

README = Path(__file__).resolve().parents[1] / "README.md"
START = "<!-- demo-example:start -->"
END = "<!-- demo-example:end -->"

_SIMULATOR = re.compile(r"http://127\.0\.0\.1:\d+")
_HEX = re.compile(r"(?<![0-9A-Za-z])[0-9a-f]{7,40}(?![0-9A-Za-z])")
_MARKER = re.compile(r"<!-- buildsheriff: \{.*?\} -->", re.S)
_STEP = re.compile(r"<!-- buildsheriff-step: [0-9a-f]+( echo)? -->")


def _stand_in(n: int) -> str:
    return hashlib.sha1(f"Build Sheriff's example commit {n}".encode()).hexdigest()


def normalise(text: str) -> str:
    """The simulators' addresses become github.com's; every commit sha (full or short)
    becomes a stand-in, numbered in order of first appearance, so the text is the same
    whatever shas a run made."""
    text = _SIMULATOR.sub("https://github.com", text)
    full = list(dict.fromkeys(m for m in _HEX.findall(text) if len(m) == 40))
    names: dict[str, str] = {}

    def name(sha: str) -> str:
        key = next((f for f in full if f.startswith(sha)), sha)
        if key not in names:
            names[key] = _stand_in(len(names) + 1)
        return names[key][: len(sha)]

    def swap(match: re.Match[str]) -> str:
        token = match.group(0)
        known = any(f.startswith(token) for f in full)
        # a short hex word that is no known sha's prefix is a sha only if it looks like one
        if known or (len(token) == 7 and re.search(r"\d", token) and re.search("[a-f]", token)):
            return name(token)
        return token

    return _HEX.sub(swap, text)


def _clock(stamp: str) -> str:
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).strftime("%H:%M")


def _fenced(kind: str, lines: Iterable[str]) -> list[str]:
    # four backticks: a comment may hold a ``` block of its own (the commands of a conflict)
    return [f"````{kind}", *lines, "````"]


def issue_part(opened: dict[str, Any], final: dict[str, Any]) -> list[str]:
    labels = ", ".join(f"`{label['name']}`" for label in opened["labels"])
    body = _MARKER.sub("<!-- buildsheriff: {...the incident's state, hidden...} -->",
                       opened["body"])
    comments: list[str] = []
    for comment in final["comments_list"]:
        if comments:
            comments.append("")
        comments.append(f"── {comment['user']['login']}, {_clock(comment['created_at'])} UTC ──")
        # each comment's hidden step id (app.core.resume): how a retried step knows it spoke
        comments += _STEP.sub(r"<!-- buildsheriff-step: {id, hidden}\1 -->",
                              comment["body"]).splitlines()
    return [
        f"**The incident issue**, as it opens: “{opened['title']}”, labelled {labels}. "
        "Its body, in GitHub Markdown:",
        "",
        *_fenced("markdown", body.splitlines()),
        "",
        "Then its comments, people's and Build Sheriff's, to the post-mortem that `/resolve` "
        "posts (the issue's labels follow the state, and the body is rewritten each time):",
        "",
        *_fenced("markdown", comments),
    ]


def _block_lines(block: dict[str, Any]) -> list[str]:
    texts: list[str] = []
    if block.get("text"):
        texts.append(block["text"]["text"])
    texts += [field["text"] for field in block.get("fields") or ()]
    texts += [element["text"] for element in block.get("elements") or ()]
    return [line for text in texts for line in text.splitlines()]


def _message_lines(message: dict[str, Any]) -> list[str]:
    if message.get("blocks"):
        return [line for block in message["blocks"] for line in _block_lines(block)]
    return message["text"].splitlines()


def slack_part(messages: list[dict[str, Any]]) -> list[str]:
    top = next(m for m in messages if m["thread_ts"] is None)
    states: list[str] = []
    for version in [*top.get("edits", ()), top]:
        state = version["text"].split(": ", 1)[-1]
        if not states or states[-1] != state:
            states.append(state)
    lines = _message_lines(top)
    for reply in (m for m in messages if m["thread_ts"] == top["ts"]):
        first, *rest = _message_lines(reply)
        lines += [f"  ↳ {first}", *(f"    {line}" for line in rest)]
    return [
        "**The Slack thread**, in Slack's mrkdwn and Block Kit as posted (a header block "
        "first; `<url|text>` is a link): one top-level message, edited as the state "
        f"changed ({' → '.join(states)}), and every event a reply in its thread:",
        "",
        *_fenced("text", lines),
    ]


def render(summary: dict[str, Any]) -> str:
    """The README's example, from the demo story's summary (demo.story.play)."""
    lines = [
        *issue_part(summary["issue_opened"], summary["issue_final"]),
        "",
        *slack_part(summary["slack_messages"]),
    ]
    return normalise("\n".join(lines))


def _parts(text: str) -> tuple[str, str, str]:
    head, rest = text.split(START, 1)
    body, tail = rest.split(END, 1)
    return head, body.strip("\n"), tail


def in_readme(text: str) -> str:
    """What the README holds between the markers."""
    return _parts(text)[1]


def with_example(text: str, example: str) -> str:
    head, _old, tail = _parts(text)
    return f"{head}{START}\n{example}\n{END}{tail}"


async def demo_summary() -> dict[str, Any]:
    from demo.story import Narrator, play

    with tempfile.TemporaryDirectory(prefix="buildsheriff-example-") as tmp:
        return await play(Path(tmp), Narrator(quiet=True))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m demo.readme_example",
        description="Write the demo's incident issue and Slack thread into README.md.",
    )
    parser.add_argument("--check", action="store_true",
                        help="only compare; exit 1 when the README's example differs")
    args = parser.parse_args(argv)
    from app.logs import configure_logging

    configure_logging("WARNING", "text")
    example = render(asyncio.run(demo_summary()))
    text = README.read_text()
    if in_readme(text) == example:
        print("README.md: the example is the demo's")
        return 0
    if args.check:
        print("README.md: the example differs from the demo's: run `make readme-example`",
              file=sys.stderr)
        return 1
    README.write_text(with_example(text, example))
    print("README.md: example rewritten from the demo")
    return 0


if __name__ == "__main__":
    sys.exit(main())
