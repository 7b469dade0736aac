"""The GitHub simulator: check runs and suites, statuses, Actions runs and re-runs, deployments."""

from __future__ import annotations

import asyncio

from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api, Receiver


async def test_check_runs_suites_and_their_webhooks(
    api: Api, sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sha = repo.commit({"a": "1"}, "One")
    first = repo.add_check_run(sha, "lint", status="in_progress", app_slug="ci-app")
    repo.add_check_run(sha, "test", conclusion="failure", app_slug="ci-app")
    await sim.drain()
    assert [(e.event, e.data.get("action")) for e in receiver.events[1:]] == [
        ("check_run", "created"),
        ("check_run", "created"),
        ("check_run", "completed"),
    ]
    repo.complete_check_run(first["id"], "success")
    await sim.drain()
    suite_events = [e for e in receiver.events if e.event == "check_suite"]
    assert [(e.data["action"], e.data["check_suite"]["conclusion"]) for e in suite_events] == [
        ("completed", "failure")
    ]

    runs = await api.get(f"/repos/octo/widgets/commits/{sha}/check-runs")
    assert {(r["name"], r["conclusion"]) for r in runs.body["check_runs"]} == {
        ("lint", "success"),
        ("test", "failure"),
    }
    failing = await api.get("/repos/octo/widgets/commits/main/check-runs?check_name=test")
    assert [r["id"] for r in failing.body["check_runs"]] == [
        r["id"] for r in runs.body["check_runs"] if r["name"] == "test"
    ]
    suites = await api.get(f"/repos/octo/widgets/commits/{sha}/check-suites")
    assert suites.body["total_count"] == 1
    assert suites.body["check_suites"][0]["app"]["slug"] == "ci-app"
    one = await api.get(f"/repos/octo/widgets/check-runs/{first['id']}")
    assert one.body["status"] == "completed"
    assert one.body["check_suite"] == {"id": suites.body["check_suites"][0]["id"]}  # only the id
    assert not sim.violations


async def test_app_check_runs_and_statuses(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    sha = repo.head()
    created = await api.post(
        "/repos/octo/widgets/check-runs",
        {"name": "buildsheriff", "head_sha": sha, "status": "in_progress"},
    )
    assert created.status == 201 and created.body["app"]["slug"] == "buildsheriff"
    done = await api.patch(
        f"/repos/octo/widgets/check-runs/{created.body['id']}",
        {"conclusion": "neutral", "output": {"title": "ok", "summary": "-"}},
    )
    assert (done.body["status"], done.body["output"]["title"]) == ("completed", "ok")

    assert (await api.get(f"/repos/octo/widgets/commits/{sha}/status")).body["state"] == "pending"
    await api.post(
        f"/repos/octo/widgets/statuses/{sha}", {"state": "pending", "context": "ci/build"}
    )
    await api.post(
        f"/repos/octo/widgets/statuses/{sha}",
        {"state": "success", "context": "ci/build", "target_url": "https://ci/1"},
    )
    repo.set_status(sha, "ci/lint", "failure")
    combined = await api.get(f"/repos/octo/widgets/commits/{sha}/status")
    assert combined.body["state"] == "failure"
    assert {(s["context"], s["state"]) for s in combined.body["statuses"]} == {
        ("ci/build", "success"),
        ("ci/lint", "failure"),
    }
    every = await api.get(f"/repos/octo/widgets/commits/{sha}/statuses")
    assert [s["state"] for s in every.body] == ["failure", "success", "pending"]
    await sim.drain()
    status_events = [d for d in sim.deliveries if d["event"] == "status"]
    assert [d["payload"]["state"] for d in status_events] == ["pending", "success", "failure"]
    assert status_events[0]["payload"]["branches"][0]["name"] == "main"
    assert not sim.violations


async def test_workflow_run_rerun_completes_later(
    api: Api, sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    sha = repo.commit({"a": "1"}, "One")
    run = repo.add_workflow_run(sha, "CI", "failure", jobs=("build", "test"), failed_jobs=("test",))
    repo.rerun_outcomes["CI"] = "success"
    sim.rerun_gate = asyncio.Event()
    listed = await api.get(f"/repos/octo/widgets/actions/runs?head_sha={sha}&status=failure")
    assert [r["id"] for r in listed.body["workflow_runs"]] == [run["id"]]
    assert (await api.get("/repos/octo/widgets/actions/runs?branch=other")).body["total_count"] == 0

    rerun = await api.post(f"/repos/octo/widgets/actions/runs/{run['id']}/rerun-failed-jobs")
    assert rerun.status == 201
    during = await api.get(f"/repos/octo/widgets/actions/runs/{run['id']}")
    assert (during.body["status"], during.body["run_attempt"]) == ("queued", 2)
    sim.rerun_gate.set()
    await sim.drain()
    after = await api.get(f"/repos/octo/widgets/actions/runs/{run['id']}")
    assert (after.body["status"], after.body["conclusion"]) == ("completed", "success")
    runs = await api.get(f"/repos/octo/widgets/commits/{sha}/check-runs")
    assert sorted((r["name"], r["conclusion"]) for r in runs.body["check_runs"]) == [
        ("build", "success"),
        ("test", "success"),
    ]
    every = await api.get(f"/repos/octo/widgets/commits/{sha}/check-runs?filter=all")
    assert every.body["total_count"] == 3
    completed = [e.data["workflow_run"] for e in receiver.events if e.event == "workflow_run"]
    assert [(w["conclusion"], w["run_attempt"]) for w in completed] == [
        ("failure", 1),
        ("success", 2),
    ]
    again = await api.post(f"/repos/octo/widgets/actions/runs/{run['id']}/rerun-failed-jobs")
    assert again.status == 403  # nothing failed any more
    assert not sim.violations


async def test_deployments_and_statuses(api: Api, sim: GitHubSim, repo: SimRepo) -> None:
    old = repo.head()
    repo.add_deployment(old, "production", "success")
    new = repo.commit({"a": "1"}, "One")
    created = await api.post(
        "/repos/octo/widgets/deployments",
        {"ref": new, "environment": "staging", "required_contexts": [], "payload": {"x": 1}},
    )
    assert created.status == 201
    status = await api.post(
        f"/repos/octo/widgets/deployments/{created.body['id']}/statuses",
        {"state": "failure", "log_url": "https://ci/log"},
    )
    assert status.status == 201
    production = await api.get("/repos/octo/widgets/deployments?environment=production")
    assert [d["sha"] for d in production.body] == [old]
    statuses = await api.get(f"/repos/octo/widgets/deployments/{created.body['id']}/statuses")
    assert [s["state"] for s in statuses.body] == ["failure"]
    repo.set_status(new, "ci", "failure")
    blocked = await api.post("/repos/octo/widgets/deployments", {"ref": new})
    assert blocked.status == 409  # GitHub checks every status unless told otherwise
    await sim.drain()
    assert [d["event"] for d in sim.deliveries if d["event"].startswith("deployment")] == [
        "deployment",
        "deployment_status",
        "deployment",
        "deployment_status",
    ]
    assert len(repo.deployments) == 2
    assert not sim.violations
