"""Comment commands: only the first line counts, and only exact command words."""

from __future__ import annotations

import pytest

from app.core.commands import Command, explain_rejection, is_sha, parse_command

SHA40 = "0123456789abcdef0123456789abcdef01234567"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        # each command
        ("/ack", Command("ack", "")),
        ("/status", Command("status", "")),
        ("/status rolling back the deploy", Command("status", "rolling back the deploy")),
        ("/mitigated", Command("mitigated", "")),
        ("/resolve", Command("resolve", "")),
        ("/resolve fixed by #12", Command("resolve", "fixed by #12")),
        ("/page", Command("page", "")),
        ("/page nobody is answering", Command("page", "nobody is answering")),
        ("/revert", Command("revert", "")),
        ("/revert abc1234", Command("revert", "abc1234")),
        (f"/revert {SHA40}", Command("revert", SHA40)),
        ("/revert ABC1234", Command("revert", "abc1234")),
        ("/revert abc1234 it broke the build", Command("revert", "abc1234")),
        # case, whitespace, later lines
        ("/ACK", Command("ack", "")),
        ("/Revert", Command("revert", "")),
        ("   /ack", Command("ack", "")),
        ("\n\n  /ack\n", Command("ack", "")),
        ("/ack\nI'll look at the logs", Command("ack", "")),
        ("/status  spaced out  \nmore", Command("status", "spaced out")),
        ("/status\tTAB", Command("status", "TAB")),
        ("/ack\r\nwindows", Command("ack", "")),
        ("/ack!", Command("ack", "!")),
        # "I'm on it" means /ack
        ("I'm on it", Command("ack", "")),
        ("i'm on it!", Command("ack", "")),
        ("I’m on it.", Command("ack", "")),
        ("im on it", Command("ack", "")),
        ("IM ON IT", Command("ack", "")),
        ("  I'm on it  \n", Command("ack", "")),
        ("I am on it", Command("ack", "")),
        # not commands
        (None, None),
        ("", None),
        ("   \n  ", None),
        ("I'm on it, after lunch", None),
        ("I'm on it\nlooking at the logs", None),
        ("I'm on it!!", None),
        ("Is anyone on it?", None),
        ("/reverted", None),
        ("/revert-it", None),
        ("/revert_it", None),
        ("/acknowledge", None),
        ("/pager", None),
        ("/foo", None),
        ("/", None),
        ("> /revert", None),
        (">/revert", None),
        ("```\n/revert\n```", None),
        ("`/revert`", None),
        ("Please\n/revert", None),
        ("we should /revert this", None),
        ("revert", None),
        ("ack", None),
        ("//revert", None),
        # /revert with something that is not a sha: refuse rather than revert the culprit
        ("/revert please", None),
        ("/revert abc123", None),  # 6 hex digits: too short
        ("/revert abc123g", None),
        (f"/revert {SHA40}0", None),  # 41 digits
    ],
)
def test_parse_command(body: str | None, expected: Command | None) -> None:
    assert parse_command(body) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("abc1234", True),
        ("ABCDEF0", True),
        (SHA40, True),
        ("abc123", False),
        (SHA40 + "0", False),
        ("abc123g", False),
        ("", False),
        (" abc1234", False),
        ("abc1234\n", False),
    ],
)
def test_is_sha(text: str, expected: bool) -> None:
    assert is_sha(text) is expected


@pytest.mark.parametrize(
    ("body", "mentions"),
    [
        ("/revert please", "`please` is not a commit sha"),
        ("/revert abc12", "`abc12` is not a commit sha"),
    ],
)
def test_explain_rejection_for_a_bad_revert_argument(body: str, mentions: str) -> None:
    explanation = explain_rejection(body)
    assert explanation is not None
    assert mentions in explanation
    assert "/revert <sha>" in explanation


@pytest.mark.parametrize("body", ["/revert", "/revert abc1234", "/ack", "hello", "/foo", None])
def test_explain_rejection_is_silent_otherwise(body: str | None) -> None:
    assert explain_rejection(body) is None
