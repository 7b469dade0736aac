"""The README's first command must keep working: the demo tells the whole story."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from prometheus_client import CONTENT_TYPE_LATEST

from demo.story import Narrator, play
from tests.harness import metric, metric_samples

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


async def test_metrics_after_the_demo_story_moved_as_the_story_did(tmp_path: Path) -> None:
    summary = await play(tmp_path, Narrator(quiet=True))
    assert summary["metrics_content_type"] == CONTENT_TYPE_LATEST
    samples = metric_samples(summary["metrics"])  # prometheus_client's own parser

    def value(name: str, **labels: str) -> float:
        return metric(samples, name, **labels)

    # every delivery the simulator made is counted by event and outcome; each queued one
    # was handled and timed
    for event, delivered in summary["deliveries_by_event"].items():
        outcomes = {o: value("buildsheriff_webhooks_total", event=event, outcome=o)
                    for o in ("queued", "merged", "judged", "ignored", "duplicate")}
        assert sum(outcomes.values()) == delivered, (event, outcomes)
        handled = value("buildsheriff_handler_seconds_count", event=event, outcome="ok")
        assert handled == outcomes["queued"], event
    assert value("buildsheriff_webhooks_total", event="issue_comment", outcome="queued") >= 3
    assert value("buildsheriff_queue_depth") == 0
    # GitHub calls by endpoint group and status, timed; the rate limit they left
    assert value("buildsheriff_github_requests_total", endpoint="issues", status="201") >= 1
    assert value("buildsheriff_github_requests_total", endpoint="pulls", status="201") >= 1
    counted: dict[str, float] = {}
    for (name, labels), count in samples.items():
        if name == "buildsheriff_github_requests_total":
            status = dict(labels)["status"]
            counted[status] = counted.get(status, 0) + count
    assert counted == summary["github_calls"]  # every call the simulator answered, by status
    assert value("buildsheriff_github_request_seconds_count", endpoint="graphql") >= 1
    remaining = value("buildsheriff_github_rate_limit_remaining", installation="1",
                      resource="core")
    assert 0 < remaining < 5000
    # the incident: opened, taken, mitigated by the revert, resolved; one revert, merged
    for transition in ("opened", "acknowledged", "mitigated", "resolved"):
        assert value("buildsheriff_incidents_total", transition=transition) == 1, transition
    assert value("buildsheriff_reverts_total", outcome="opened", reason="automatic") == 1
    assert value("buildsheriff_reverts_total", outcome="merged", reason="") == 1
    # the story's clock: ack 2m after detection, green 13m, resolved 43m
    phases = {"acknowledge": 120.0, "mitigate": 780.0, "resolve": 2580.0}
    for phase, seconds in phases.items():
        assert value("buildsheriff_incident_phase_seconds_count", phase=phase) == 1
        assert value("buildsheriff_incident_phase_seconds_sum", phase=phase) == seconds
    assert value("buildsheriff_incident_phase_seconds_bucket", phase="resolve", le="3600.0") == 1
    assert value("buildsheriff_incident_phase_seconds_bucket", phase="resolve", le="1800.0") == 0
    # process metrics
    assert value("process_resident_memory_bytes") > 0
    assert any(name == "python_info" for name, _labels in samples)


async def test_the_slack_thread_of_the_demo_has_no_github_markdown(tmp_path: Path) -> None:
    summary = await play(tmp_path, Narrator(quiet=True))
    posted = json.dumps(summary["slack_messages"], ensure_ascii=False)
    assert "##" not in posted and "- [ ]" not in posted
    assert "Post-mortem" in posted
