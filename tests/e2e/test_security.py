"""The README's Security section, claim by claim: each test below proves one of them.

Who may act is asked of GitHub at the time of the act; one rule (write access) for every
state change, whichever way it comes; edited comments, bots and the app itself command
nothing; names from payloads are checked before they reach a path; and no secret is ever
in a log line or an HTTP answer.
"""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from app.logs import JsonFormatter, RedactSecrets
from tests.e2e.scenarios import break_it, comments_of, incident_issues, labels_of, new_repo
from tests.harness import Stack, example_payload, record_text, stack_secrets, webhook_headers

pytestmark = pytest.mark.asyncio

QUIET = "auto_revert: false\n"
UNDONE = "only people with write access to this repository can change an incident's state"


async def open_incident(s: Stack, config: str = QUIET) -> tuple[Any, int]:
    repo = new_repo(s, config=config)
    bad = break_it(repo)
    repo.add_check_run(bad, "build", conclusion="failure")
    await s.settle()
    (issue,) = incident_issues(repo)
    return repo, int(issue["number"])


def reactions_on(repo: Any, comment: dict[str, Any]) -> list[str]:
    return [r["content"] for r in repo.reactions if r["subject"].endswith(str(comment["id"]))]


# --- one permission rule for every state change ----------------------------------------------


@pytest.mark.parametrize("level", ["triage", "read"])
async def test_a_state_change_below_write_is_undone_and_explained_once(
    stack_factory: Any, level: str
) -> None:
    """GitHub lets triage close and label (and a signed event may carry a read-only actor):
    the change is undone, the person is told once, and Slack hears nothing."""
    async with stack_factory() as s:
        repo, number = await open_incident(s)
        repo.set_permission("rita", level)
        slack_before = len(s.slack.messages)
        repo.close_issue(number, user="rita")
        await s.settle()
        after = repo.issue(number)
        assert after["state"] == "open"
        assert labels_of(after) == ["incident", "incident:triage"]
        assert not any(c.startswith("## Post-mortem") for c in comments_of(repo, number))
        repo.add_labels(number, ["incident:mitigated"], user="rita")
        await s.settle()
        assert labels_of(repo.issue(number)) == ["incident", "incident:triage"]
        told = [c for c in comments_of(repo, number) if UNDONE in c]
        assert len(told) == 1 and told[0].startswith("@rita")
        assert len(s.slack.messages) == slack_before
        # the same person with write access moves the state the same way
        repo.set_permission("rita", "write")
        repo.add_labels(number, ["incident:mitigated"], user="rita")
        await s.settle()
        assert labels_of(repo.issue(number)) == ["incident", "incident:mitigated"]


async def test_reopening_a_resolved_incident_below_write_is_undone(stack_factory: Any) -> None:
    async with stack_factory() as s:
        repo, number = await open_incident(s)
        repo.comment(number, "/resolve", user="mona")
        await s.settle()
        repo.set_permission("rita", "triage")
        repo.reopen_issue(number, user="rita")
        await s.settle()
        after = repo.issue(number)
        assert after["state"] == "closed"
        assert labels_of(after) == ["incident", "incident:resolved"]
        assert any(UNDONE in c for c in comments_of(repo, number))


# --- who commands: asked of GitHub at the time, never read from the payload -------------------


async def test_permission_is_asked_at_command_time_not_taken_from_the_payload(
    stack_factory: Any,
) -> None:
    async with stack_factory() as s:
        repo, number = await open_incident(s)
        # A signed payload that claims rita owns the repository: the API says read.
        comment = repo.comment(number, "/status all fine", user="mona")
        await s.settle()
        (delivery,) = [
            d for d in s.sim.deliveries
            if d["event"] == "issue_comment" and d["payload"]["comment"]["id"] == comment["id"]
        ]
        forged = json.loads(json.dumps(delivery["payload"]))
        forged["comment"]["body"] = "/resolve"
        forged["comment"]["user"] = forged["sender"] = {
            **forged["sender"], "login": "rita", "id": s.sim.users["rita"].id
        }
        forged["comment"]["author_association"] = "OWNER"
        assert await s.sim.send_webhook("issue_comment", forged) == 202
        await s.settle()
        assert repo.issue(number)["state"] == "open"
        assert "Sorry @rita, only people with write access" in comments_of(repo, number)[-1]
        # A permission taken away counts from the next command on.
        repo.set_permission("mona", "read")
        repo.comment(number, "/ack", user="mona")
        await s.settle()
        assert labels_of(repo.issue(number)) == ["incident", "incident:triage"]
        assert "Sorry @mona" in comments_of(repo, number)[-1]


async def test_an_edited_comment_is_not_a_new_command(stack_factory: Any) -> None:
    async with stack_factory() as s:
        repo, number = await open_incident(s)
        comment = repo.comment(number, "looking", user="mona")
        await s.settle()
        before = len(comments_of(repo, number))
        repo.edit_comment(comment["id"], "/resolve", "mona")
        await s.settle()
        assert [d for d in s.sim.deliveries if d["action"] == "edited"]
        after = repo.issue(number)
        assert after["state"] == "open"
        assert labels_of(after) == ["incident", "incident:triage"]
        assert len(comments_of(repo, number)) == before
        assert reactions_on(repo, comment) == []


async def test_bots_and_the_app_itself_command_nothing(stack_factory: Any) -> None:
    async with stack_factory() as s:
        repo, number = await open_incident(s)
        s.sim.add_user("helper[bot]", type="Bot")
        repo.set_permission("helper[bot]", "admin")
        calls = len(s.sim.call_log)
        by_bot = repo.comment(number, "/resolve", user="helper[bot]")
        by_us = repo.comment(number, "/ack", user=s.sim.app_bot_login)
        repo.close_issue(number, user="helper[bot]")
        await s.settle()
        after = repo.issue(number)
        assert after["state"] == "closed"  # the bot's close stands: nobody acts on it
        assert labels_of(after) == ["incident", "incident:triage"]
        assert reactions_on(repo, by_bot) == reactions_on(repo, by_us) == []
        # not even a permission lookup or a read of the issue
        assert s.sim.call_log[calls:] == []


# --- names from payloads ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("head_sha", "../../../app/installations"),
        ("head_sha", "abc123"),
        ("head_branch", "main/../../x"),
        ("head_branch", "feature?x=1"),
        ("sender", "../octocat"),
    ],
)
async def test_a_sha_branch_or_login_that_is_not_one_never_reaches_github(
    stack_factory: Any, field: str, value: str
) -> None:
    async with stack_factory(slack=False) as s:
        payload = _red_on_the_default_branch()
        if field == "sender":
            payload["sender"]["login"] = value
        else:
            payload["check_run"]["check_suite"][field] = value
            payload["check_run"][field] = value if field == "head_sha" else None
            if field == "head_branch":
                payload["repository"]["default_branch"] = value
        calls = len(s.sim.call_log)
        response = await s.post_webhook("check_run", payload)
        await s.settle()
        assert response.status == 400
        assert s.sim.call_log[calls:] == []


def _red_on_the_default_branch() -> dict[str, Any]:
    """GitHub's example check run, failed and about the default branch: one the app acts on."""
    payload = example_payload("check_run", "completed")
    payload["check_run"]["conclusion"] = "failure"
    payload["repository"]["default_branch"] = payload["check_run"]["check_suite"]["head_branch"]
    return payload


async def test_a_bad_name_in_an_event_nobody_acts_on_is_ignored_and_never_read(
    stack_factory: Any,
) -> None:
    """A check on another branch is answered from the few fields that say it cannot matter:
    the names in the rest of it are never read, so nothing reaches GitHub either."""
    async with stack_factory(slack=False) as s:
        payload = example_payload("check_run", "completed")
        assert payload["check_run"]["check_suite"]["head_branch"] != (
            payload["repository"]["default_branch"]
        )
        payload["check_run"]["head_sha"] = "../../../app/installations"
        calls = len(s.sim.call_log)
        response = await s.post_webhook("check_run", payload)
        await s.settle()
        assert (response.status, await response.json()) == (202, {"status": "ignored"})
        assert s.sim.call_log[calls:] == []


async def test_the_client_never_sends_a_path_with_a_dot_segment(stack_factory: Any) -> None:
    async with stack_factory(slack=False) as s:
        repo = new_repo(s)
        gh = await s.services.github_for_installation(repo.installation_id)
        calls = len(s.sim.call_log)
        for path in ("/repos/octo/widgets/commits/../../../app", "/repos/octo/%2E%2E/x"):
            with pytest.raises(ValueError, match="dot segment"):
                await gh.getitem(path)
        assert s.sim.call_log[calls:] == []


# --- no secret in a log line or an HTTP answer --------------------------------------------------


@contextmanager
def production_log() -> Iterator[tuple[io.StringIO, list[logging.LogRecord]]]:
    """Every log line as `serve` writes it (JSON, redaction filter), and the raw records."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactSecrets())
    records: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            records.append(record)

    keep = Keep(logging.DEBUG)
    root = logging.getLogger()
    level = root.level
    root.addHandler(keep)  # before the redacting handler rewrites the record
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield stream, records
    finally:
        root.removeHandler(handler)
        root.removeHandler(keep)
        root.setLevel(level)


@pytest.mark.sim_violations_expected
async def test_no_secret_in_any_log_line_or_http_answer(stack_factory: Any) -> None:
    """Representative flows, failures included, with every secret known: the webhook secret,
    the App's private key, the installation tokens, the Slack token and PagerDuty's keys."""
    answers: list[str] = []
    with production_log() as (stream, records):
        async with stack_factory(pager="pagerduty") as s:
            # GitHub, Slack and the pager failing now and then
            s.sim.inject("POST", "/repos/{owner}/{repo}/issues/{issue_number}/comments",
                         status=502, times=1)
            s.slack.fail("chat.postMessage", status=500, times=2)
            s.slack.fail("chat.update", error="invalid_auth", times=1)
            s.pagerduty.fail("/v2/enqueue", status=500, times=2)
            repo, number = await open_incident(s, config="escalate_after: 1m\n")
            repo.comment(number, "/page", user="mona")
            repo.comment(number, "/resolve", user="rita")
            repo.close_issue(number, user="rita")
            await s.settle()
            s.clock.advance(120)
            await s.reconcile()
            # refused requests: bad signature, malformed, a bad name, an unknown path
            body = json.dumps(example_payload("check_run", "completed")).encode()
            bad_sig = webhook_headers("check_run", body, "not-the-secret")
            secret = s.settings.webhook_secret or ""
            not_json = webhook_headers("check_run", b"{not json", secret)
            for data, headers in ((body, bad_sig), (b"{not json", not_json)):
                async with s.session.post(s.webhook_url, data=data, headers=headers) as r:
                    answers.append(f"{r.status} {await r.text()}")
            bad = example_payload("check_run", "completed")
            bad["repository"]["full_name"] = "a/.."
            response = await s.post_webhook("check_run", bad)
            answers.append(f"{response.status}")
            for path in ("/nope", "/metrics", "/healthz", "/readyz"):
                async with s.session.get(s.app_url + path) as r:
                    answers.append(f"{r.status} {await r.text()}")
            repo.comment(number, "/resolve", user="mona")
            await s.settle()
            secrets = stack_secrets(s)
            said = [c for c in comments_of(repo, number)]
            said += [str(m.get("text")) + json.dumps(m.get("blocks")) for m in s.slack.messages]
    assert {"webhook secret", "private key", "token 0", "Slack token", "PagerDuty routing key",
            "PagerDuty API token"} <= set(secrets)
    lines = stream.getvalue().splitlines()
    raw = [record_text(r) for r in records]
    assert len(lines) > 50 and len(answers) == 7
    for name, secret in secrets.items():
        assert secret and len(secret) >= 8, name
        assert not [line for line in lines if secret in line], f"{name} in a log line"
        assert not [text for text in raw if secret in text], f"{name} in a log record"
        assert not [a for a in answers if secret in a], f"{name} in an HTTP answer"
        assert not [t for t in said if secret in t], f"{name} said in GitHub or Slack"
