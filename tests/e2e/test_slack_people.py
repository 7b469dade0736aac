"""Slack that reads like Slack: Block Kit and mrkdwn only, and mentions that ping people."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.scenarios import break_it, incident_issues, new_repo

pytestmark = pytest.mark.asyncio

OLIVE_SLACK = "U0OLIVE01"
CONFIG = f"auto_revert: false\nslack_users:\n  olive: {OLIVE_SLACK}\n"


def everything_posted(s: Any) -> str:
    """Every text and block Slack holds, edits included."""
    parts: list[Any] = []
    for message in s.slack.messages:
        parts += [message["text"], message["blocks"], message["edits"]]
    return json.dumps(parts, ensure_ascii=False)


async def test_slack_post_mortem_has_no_markdown_and_people_are_pinged(stack_factory) -> None:
    async with stack_factory() as s:
        # mona's commits carry an address Slack knows; olive is mapped in the config;
        # rita commits with GitHub's noreply address, which matches nobody.
        s.sim.add_user("mona", name="Mona Lisa", email="mona@acme.test")
        mona_slack = s.slack.add_member("mona@acme.test", "Mona Lisa")
        repo = new_repo(s, config=CONFIG)
        bad = break_it(repo, author="mona")
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        (top,) = s.slack.top_level()
        culprit = top["blocks"][2]["fields"][1]["text"]
        assert culprit.endswith(f"— <@{mona_slack}>")

        repo.comment(issue["number"], "/ack", user="olive")
        await s.settle()
        repo.comment(issue["number"], "/status looking at @mona's change", user="olive")
        await s.settle()
        fix = repo.commit({"src/fast1.py": None}, "Fix it", author="olive")
        repo.add_check_run(fix, "build", conclusion="success")
        await s.settle()
        repo.comment(issue["number"], "/resolve", user="olive")
        await s.settle()

        thread = s.slack.thread(s.slack.top_level()[0]["ts"])
        said = [m["text"] for m in thread]
        assert f"🙋 <@{OLIVE_SLACK}> is on it." in said
        assert any(f"looking at <@{mona_slack}>'s change" in t for t in said)
        (post,) = [m for m in thread if m["blocks"] and m["blocks"][0]["type"] == "header"]
        assert post["blocks"][0]["text"]["text"].startswith("Post-mortem")
        body = json.dumps(post["blocks"], ensure_ascii=False)
        assert f"Acknowledged by <@{OLIVE_SLACK}>" in body
        assert body.count("☐ ") == 5
        owner_line = s.slack.top_level()[0]["blocks"][1]["text"]["text"]
        assert f"owner <@{OLIVE_SLACK}>" in owner_line

        shown = everything_posted(s)
        assert "##" not in shown, "GitHub headings in Slack"
        assert "- [ ]" not in shown and "**" not in shown
        assert "@olive" not in shown and "@mona" not in shown  # a ping or a plain name
        assert s.slack.calls["users.lookupByEmail"] >= 1


async def test_noreply_authors_are_named_without_asking_slack(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config="auto_revert: false\n")
        bad = break_it(repo, author="rita")  # rita's address is GitHub's noreply one
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        (top,) = s.slack.top_level()
        assert top["blocks"][2]["fields"][1]["text"].endswith("— rita")
        assert any(m["text"] == "🙋 mona is on it." for m in s.slack.thread(top["ts"]))
        assert s.slack.calls["users.lookupByEmail"] == 0
