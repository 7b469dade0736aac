"""Running the incident end to end: Slack thread, commands, labels, escalation, post-mortem."""

from __future__ import annotations

from typing import Any

import pytest

from app.core.render import parse_marker
from tests.e2e.scenarios import break_it, comments_of, incident_issues, labels_of, new_repo

pytestmark = pytest.mark.asyncio

QUIET = "auto_revert: false\n"  # these tests are about the incident, not the revert


async def open_incident(s: Any, *, config: str = QUIET) -> tuple[Any, dict[str, Any], str]:
    repo = new_repo(s, config=config)
    bad = break_it(repo)
    repo.add_check_run(bad, "build", conclusion="failure")
    await s.settle()
    (issue,) = incident_issues(repo)
    return repo, issue, bad


def top(s: Any) -> dict[str, Any]:
    (message,) = s.slack.top_level()
    return message


def thread_texts(s: Any) -> list[str]:
    return [m["text"] for m in s.slack.thread(top(s)["ts"])]


async def test_one_thread_and_the_top_message_follows_the_state(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _bad = await open_incident(s)
        message = top(s)
        assert message["channel"] == s.slack.channel_id("#incidents")
        assert "main is broken in octo/widgets" in message["text"]
        header = message["blocks"][0]["text"]["text"]
        assert header == "main is broken in octo/widgets"
        marker = parse_marker(repo.issue(issue["number"])["body"])
        assert marker is not None and marker["slack_ts"] == message["ts"]
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        repo.comment(issue["number"], "/status bisecting the parser change", user="mona")
        await s.settle()
        assert len(s.slack.top_level()) == 1
        texts = thread_texts(s)
        assert any("automatically: this repository sets `auto_revert: false`" in t for t in texts)
        assert any("🙋 mona is on it" in t for t in texts)
        assert any("bisecting the parser change" in t for t in texts)
        assert "Acknowledged" in top(s)["text"]
        assert "owner mona" in top(s)["blocks"][1]["text"]["text"]


async def test_ack_makes_the_commenter_owner_with_receipts(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _ = await open_incident(s)
        comment = repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        after = repo.issue(issue["number"])
        assert labels_of(after) == ["incident", "incident:acknowledged"]
        assert [a["login"] for a in after["assignees"]] == ["mona"]
        reactions = [
            r["content"] for r in repo.reactions if r["subject"].endswith(str(comment["id"]))
        ]
        assert reactions == ["eyes", "rocket"]


async def test_im_on_it_is_an_ack(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _ = await open_incident(s)
        repo.comment(issue["number"], "I'm on it!", user="olive")
        await s.settle()
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:acknowledged"]
        assert any("🙋 olive is on it" in t for t in thread_texts(s))


async def test_read_only_user_gets_a_polite_refusal_and_nothing_changes(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _ = await open_incident(s)
        before = repo.issue(issue["number"])
        slack_before = len(s.slack.messages)
        repo.comment(issue["number"], "/resolve", user="rita")
        await s.settle()
        after = repo.issue(issue["number"])
        assert after["state"] == "open"
        assert labels_of(after) == labels_of(before)
        assert after["body"] == before["body"]
        replies = comments_of(repo, issue["number"])
        assert "Sorry @rita, only people with write access" in replies[-1]
        assert len(s.slack.messages) == slack_before


async def test_resolve_closes_with_a_post_mortem_with_the_right_durations(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _ = await open_incident(s)
        s.clock.advance(120)
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        s.clock.advance(780)  # green 15m after detection
        fix = repo.commit({"src/fast1.py": None}, "Fix it", author="mona")
        repo.add_check_run(fix, "build", conclusion="success")
        await s.settle()
        s.clock.advance(2700)  # resolved 1h after detection
        repo.comment(issue["number"], "/resolve", user="mona")
        await s.settle()
        after = repo.issue(issue["number"])
        assert after["state"] == "closed"
        assert labels_of(after) == ["incident", "incident:resolved"]
        (post,) = [c for c in comments_of(repo, issue["number"]) if c.startswith("## Post-mortem")]
        assert "- Time to acknowledge: 2m" in post
        assert "- Time to mitigate: 15m" in post
        assert "- Time to resolve: 1h" in post
        assert "- [ ] Schedule a retrospective if it would be valuable" in post
        assert any("Post-mortem" in t for t in thread_texts(s))
        assert "Resolved" in top(s)["text"]


async def test_labels_set_by_hand_move_the_state_and_are_mirrored(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _ = await open_incident(s)
        repo.add_labels(issue["number"], ["incident:acknowledged"], user="olive")
        await s.settle()
        after = repo.issue(issue["number"])
        assert labels_of(after) == ["incident", "incident:acknowledged"]  # one state label
        assert any("🙋 olive is on it" in t for t in thread_texts(s))
        repo.add_labels(issue["number"], ["incident:mitigated"], user="olive")
        await s.settle()
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:mitigated"]
        assert "Mitigated" in top(s)["text"]


async def test_close_and_reopen_by_hand(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _ = await open_incident(s)
        repo.close_issue(issue["number"], user="olive")
        await s.settle()
        closed = repo.issue(issue["number"])
        assert labels_of(closed) == ["incident", "incident:resolved"]
        assert any(c.startswith("## Post-mortem") for c in comments_of(repo, issue["number"]))
        repo.reopen_issue(issue["number"], user="olive")
        await s.settle()
        reopened = repo.issue(issue["number"])
        assert reopened["state"] == "open"
        assert labels_of(reopened) == ["incident", "incident:triage"]
        assert any("Reopened by olive" in t for t in thread_texts(s))


async def test_the_apps_own_label_changes_do_not_echo(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _ = await open_incident(s)
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        acked = [c for c in comments_of(repo, issue["number"]) if "is on it" in c]
        assert len(acked) == 1  # the app's own labeled webhook did not ack again
        labeled = [
            d for d in s.sim.deliveries if d["event"] == "issues" and d["action"] == "labeled"
        ]
        assert labeled and all(d["status"] == 202 for d in labeled)


async def test_slack_failing_for_a_while_loses_nothing_and_blocks_nothing(stack_factory) -> None:
    async with stack_factory() as s:
        s.slack.fail("chat.postMessage", status=500, times=3)
        s.slack.fail("chat.update", status=429, times=2, retry_after=30)
        repo = new_repo(s)
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        assert repo.pulls(), "the revert was opened while Slack was failing"
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        texts = thread_texts(s)
        assert any("Revert opened" in t for t in texts)
        assert any("🙋 mona is on it" in t for t in texts)
        assert "Acknowledged" in top(s)["text"]
        assert len(s.slack.top_level()) == 1


async def test_without_slack_everything_else_works(stack_factory) -> None:
    async with stack_factory(slack=False) as s:
        repo, issue, _ = await open_incident(s)
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:acknowledged"]


async def test_no_ack_pages_once_and_resolving_resolves_the_page(stack_factory) -> None:
    async with stack_factory(pager="pagerduty") as s:
        repo, issue, _ = await open_incident(s, config=QUIET + "escalate_after: 10m\n")
        s.clock.advance(9 * 60)
        await s.reconcile()
        assert s.pagerduty.incidents == {}
        s.clock.advance(2 * 60)
        await s.reconcile()
        await s.reconcile()
        assert len(s.pagerduty.incidents) == 1
        (page,) = s.pagerduty.incidents.values()
        assert page["status"] == "triggered"
        assert any("paging the on-call engineer" in t for t in thread_texts(s))
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        assert page["status"] == "acknowledged"
        repo.comment(issue["number"], "/resolve", user="mona")
        await s.settle()
        assert page["status"] == "resolved"


async def test_restart_between_open_and_escalation_still_pages_exactly_once(stack_factory) -> None:
    async with stack_factory(pager="opsgenie") as s:
        repo, issue, _ = await open_incident(s)
        await s.restart()
        s.clock.advance(16 * 60)
        await s.reconcile()
        await s.restart()
        await s.reconcile()
        assert len(s.opsgenie.alerts) == 1
        (alert,) = s.opsgenie.alerts.values()
        assert alert["status"] == "open"
        assert [c for c in comments_of(repo, issue["number"]) if "paging" in c].__len__() == 1
        # after the restart, replies still go to the one thread
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        assert len(s.slack.top_level()) == 1
        assert any("🙋 mona is on it" in t for t in thread_texts(s))


async def test_acknowledged_incident_is_not_paged(stack_factory) -> None:
    async with stack_factory(pager="pagerduty") as s:
        repo, issue, _ = await open_incident(s)
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        s.clock.advance(3600)
        await s.reconcile()
        assert s.pagerduty.incidents == {}


async def test_page_command_pages_now(stack_factory) -> None:
    async with stack_factory(pager="pagerduty") as s:
        repo, issue, _ = await open_incident(s)
        repo.comment(issue["number"], "/page", user="mona")
        await s.settle()
        assert len(s.pagerduty.incidents) == 1
        assert any("📟 mona paged the on-call engineer" in t for t in thread_texts(s))


async def test_reconciler_opens_an_incident_a_lost_webhook_missed(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, config=QUIET)
        await s.settle()
        s.sim.webhook_url = None  # the webhook is lost
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        s.sim.webhook_url = s.webhook_url
        assert incident_issues(repo) == []
        await s.reconcile()
        assert len(incident_issues(repo)) == 1


async def test_resolution_owners_include_codeowners_and_oncall(stack_factory) -> None:
    async with stack_factory(pager="pagerduty") as s:
        s.sim.add_user("mona")
        config = QUIET + "oncall:\n  provider: pagerduty\n  schedule: PSCHED1\n"
        s.pagerduty.set_oncall("PSCHED1", "Olga Oncall", "olga@example.com")
        repo = new_repo(s, config=config)
        repo.commit(
            {".github/CODEOWNERS": "*.py @octo/python\n/docs/ @octo/docs\n"},
            "owners",
            author="olive",
        )
        repo.add_check_run(repo.head(), "build", conclusion="success")
        await s.settle()
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        body = issue["body"]
        owners = body.split("### Suggested resolution owners")[1].split("###")[0]
        lines = [line for line in owners.splitlines() if line.startswith("- ")]
        assert lines[0].startswith("- @mona (author of")
        assert lines[1].startswith("- @octo/python (CODEOWNERS of `src/fast1.py`)")
        assert lines[2] == "- Olga Oncall (on call)"


async def test_slack_refusing_for_good_is_noted_once_in_the_issue(stack_factory) -> None:
    async with stack_factory() as s:
        s.slack.fail("chat.postMessage", times=50, error="channel_not_found")
        repo, issue, _ = await open_incident(s)
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        repo.comment(issue["number"], "/status still digging", user="mona")
        await s.settle()
        notes = [c for c in comments_of(repo, issue["number"]) if "Slack could not be reached" in c]
        assert len(notes) == 1
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:acknowledged"]


async def test_reconciler_records_a_revert_merged_while_the_webhook_was_lost(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        repo.protect("main", required_checks=["build"])  # so GitHub auto-merges
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        (pr,) = repo.pulls()
        assert pr["auto_merge"] is not None
        s.sim.webhook_url = None  # the merge's webhooks are lost
        repo.add_check_run(pr["head"]["sha"], "build", conclusion="success")
        await s.sim.drain()
        assert repo.pull(pr["number"])["merged"]
        s.sim.webhook_url = s.webhook_url
        await s.reconcile()
        merged = [c for c in comments_of(repo, issue["number"]) if "merged" in c and "Revert" in c]
        assert len(merged) == 1


async def test_opsgenie_alert_closes_when_the_incident_resolves(stack_factory) -> None:
    async with stack_factory(pager="opsgenie") as s:
        repo, issue, _ = await open_incident(s, config=QUIET + "escalate_after: 1m\n")
        s.clock.advance(120)
        await s.reconcile()
        (alert,) = s.opsgenie.alerts.values()
        assert alert["status"] == "open"
        repo.close_issue(issue["number"], user="olive")
        await s.settle()
        assert alert["status"] == "closed"


async def test_our_own_revert_turning_red_reopens_the_same_incident(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s)
        repo.protect("main", required_checks=["build"])
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        repo.comment(issue["number"], "/mitigated", user="mona")  # too early, as people do
        await s.settle()
        (pr,) = repo.pulls()
        repo.add_check_run(pr["head"]["sha"], "build", conclusion="success")
        await s.settle()
        assert repo.pull(pr["number"])["merged"]
        repo.add_check_run(repo.head(), "build", conclusion="failure")  # the revert is red
        await s.settle()
        (same,) = incident_issues(repo)
        assert same["number"] == issue["number"]
        assert labels_of(same) == ["incident", "incident:triage"]
        assert any("red again" in c for c in comments_of(repo, issue["number"]))


async def test_the_escalation_watch_pages_on_time_without_a_full_reconcile(stack_factory) -> None:
    from app.jobs.escalation import escalate_due

    async with stack_factory(pager="pagerduty") as s:

        async def submit(repo: str, name: str, fn: Any) -> None:
            s.dispatcher.submit_job(repo, name, fn)

        await open_incident(s)
        s.clock.advance(14 * 60)
        assert await escalate_due(s.services, submit) == 1
        await s.settle()
        assert s.pagerduty.incidents == {}
        s.clock.advance(61)
        await escalate_due(s.services, submit)
        await s.settle()
        assert len(s.pagerduty.incidents) == 1
        s.sim.reset_calls()
        await escalate_due(s.services, submit)
        await s.settle()
        (page,) = s.pagerduty.incidents.values()
        assert [e["event_action"] for e in page["events"]] == ["trigger"]  # paged once
        assert sum(s.sim.calls.values()) <= 3  # a cheap look: the list of incidents


async def test_news_from_the_revert_reaches_the_slack_thread_too(stack_factory) -> None:
    async with stack_factory() as s:
        repo = new_repo(s, allow_auto_merge=False)
        repo.protect("main", required_checks=["build"], required_reviews=1)
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await s.settle()
        (issue,) = incident_issues(repo)
        (pr,) = repo.pulls()
        repo.add_check_run(pr["head"]["sha"], "build", conclusion="success")
        await s.settle()
        assert not repo.pull(pr["number"])["merged"]  # a review is required
        told = [
            c for c in comments_of(repo, issue["number"]) if c.startswith(f"Revert #{pr['number']}")
        ]
        assert len(told) == 1 and "approving review" in told[0]
        assert any(t.startswith(f"Revert #{pr['number']}") for t in thread_texts(s))


async def test_slack_catches_up_after_an_outage_and_a_restart(stack_factory) -> None:
    async with stack_factory() as s:
        s.slack.fail("chat.postMessage", times=200, error="channel_not_found")
        repo, issue, _ = await open_incident(s)
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        assert s.slack.top_level() == []  # Slack refused everything
        s.slack.clear_faults()  # Slack is back
        await s.restart()  # and the outbox of the old process is gone
        await s.reconcile()
        (message,) = s.slack.top_level()
        assert "Acknowledged" in message["text"]
        marker = parse_marker(repo.issue(issue["number"])["body"])
        assert marker is not None and marker["slack_ts"] == message["ts"]
        await s.reconcile()
        assert len(s.slack.top_level()) == 1


async def test_a_state_label_removed_by_hand_is_written_back(stack_factory) -> None:
    async with stack_factory() as s:
        repo, issue, _ = await open_incident(s)
        repo.remove_label(issue["number"], "incident:triage", user="olive")
        await s.settle()
        assert labels_of(repo.issue(issue["number"])) == ["incident", "incident:triage"]
