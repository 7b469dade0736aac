"""Paging through Jira Service Management Ops (Opsgenie's successor) end to end: an
unacknowledged incident pages once, /ack acknowledges the alert, resolving closes it."""

from __future__ import annotations

from typing import Any

from tests.e2e.scenarios import comments_of
from tests.e2e.test_incident import QUIET, open_incident


async def test_jsm_alert_pages_once_is_acknowledged_and_closes(stack_factory: Any) -> None:
    async with stack_factory(pager="jsm") as s:
        repo, issue, _ = await open_incident(s, config=QUIET + "escalate_after: 1m\n")
        s.clock.advance(120)
        await s.reconcile()
        await s.reconcile()
        (alert,) = s.jsm.alerts.values()
        assert (alert["status"], alert["acknowledged"], alert["count"]) == ("open", False, 1)
        assert alert["message"].startswith("octo/widgets: main is broken")
        assert str(issue["number"]) in alert["alias"]
        assert len([c for c in comments_of(repo, issue["number"]) if "paging" in c]) == 1
        repo.comment(issue["number"], "/ack", user="mona")
        await s.settle()
        assert alert["acknowledged"] is True
        repo.close_issue(issue["number"], user="olive")
        await s.settle()
        assert alert["status"] == "closed"
        # Only the integration API was used: JSM's on-call lookup needs another credential.
        assert set(s.jsm.calls) <= {
            "/jsm/ops/integration/v2/alerts",
            *(f"/jsm/ops/integration/v2/alerts/{alert['alias']}/{a}"
              for a in ("acknowledge", "close")),
        }
