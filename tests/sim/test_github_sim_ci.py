"""The simulator's GitHub Actions CI: deterministic results, concurrency groups, re-runs and
probe refs, seen through the REST API and the webhooks, as the app sees them."""

from __future__ import annotations

from app.clock import ManualClock
from sim.github.ci import Workflow
from sim.github.repo import SimRepo
from sim.github.server import GitHubSim
from tests.sim.conftest import Api, Receiver

PROBE = "buildsheriff/probe/"


def _commits(repo: SimRepo, n: int) -> list[str]:
    return [repo.commit({f"src/f{i}.py": f"x = {i}\n"}, f"Change {i}") for i in range(1, n + 1)]


async def _run_of(api: Api, sha: str, branch: str = "main") -> dict:  # type: ignore[type-arg]
    listed = await api.get(f"/repos/octo/widgets/actions/runs?head_sha={sha}&branch={branch}")
    (run,) = listed.body["workflow_runs"]
    return run  # type: ignore[no-any-return]


async def test_cancel_in_progress_leaves_only_the_last_push_built(
    api: Api, sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    ci = repo.use_ci()
    shas = _commits(repo, 8)
    ci.red_from(shas[2])
    assert [r.head_sha for r in ci.running()] == [shas[7]]
    ci.finish_running()
    for sha in shas[:7]:
        run = await _run_of(api, sha)
        assert (run["status"], run["conclusion"]) == ("completed", "cancelled")
        checks = await api.get(f"/repos/octo/widgets/commits/{sha}/check-runs")
        assert [c["conclusion"] for c in checks.body["check_runs"]] == ["cancelled"]
    last = await _run_of(api, shas[7])
    assert (last["conclusion"], last["event"], last["head_branch"]) == ("failure", "push", "main")
    await sim.drain()
    actions = [e.data["action"] for e in receiver.events if e.event == "workflow_run"
               and e.data["workflow_run"]["head_sha"] == shas[7]]
    assert actions == ["requested", "in_progress", "completed"]
    assert not sim.violations


async def test_without_cancel_in_progress_one_runs_and_the_newest_waits(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    ci = repo.use_ci(Workflow(concurrency="deploy", cancel_in_progress=False))
    first, second, third = _commits(repo, 3)
    assert [r.head_sha for r in ci.running()] == [first]
    assert [r.head_sha for r in ci.pending()] == [third]  # the newer pending one replaced #2
    assert (await _run_of(api, second))["conclusion"] == "cancelled"
    assert (await _run_of(api, third))["status"] == "pending"
    ci.finish_running()
    assert (await _run_of(api, first))["conclusion"] == "success"
    assert [r.head_sha for r in ci.running()] == [third]
    ci.finish_running()
    assert (await _run_of(api, third))["conclusion"] == "success"
    assert not ci.running() and not ci.pending()
    assert not sim.violations


async def test_results_follow_the_test_red_from_red_while_and_scripts(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    ci = repo.use_ci(Workflow(jobs=("build", "test")))
    good = repo.commit({"a": "1"}, "Good")
    ci.finish_running()
    bad = repo.commit({"broken.py": "x"}, "Break it")
    ci.red_while("broken.py", jobs=("test",))
    ci.finish_running()
    fixed = repo.commit({"broken.py": None}, "Remove it")
    ci.finish_running()
    assert (await _run_of(api, good))["conclusion"] == "success"
    assert (await _run_of(api, bad))["conclusion"] == "failure"
    checks = await api.get(f"/repos/octo/widgets/commits/{bad}/check-runs")
    assert {(c["name"], c["conclusion"]) for c in checks.body["check_runs"]} == {
        ("build", "success"), ("test", "failure")}
    assert (await _run_of(api, fixed))["conclusion"] == "success"
    assert ci.results_for(good, ("build",)) == {"build": "success"}
    ci.script(good, "failure", "success")
    assert ci.results_for(good, ("build",)) == {"build": "failure"}
    assert ci.results_for(good, ("build",)) == {"build": "success"}
    assert ci.results_for(good, ("build",)) == {"build": "success"}  # the last one repeats
    assert not sim.violations


async def test_a_rerun_needs_a_completed_run_and_keeps_its_ref(
    api: Api, sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    ci = repo.use_ci()
    shas = _commits(repo, 3)
    ci.red_from(shas[1])
    running = await _run_of(api, shas[2])
    refused = await api.post(f"/repos/octo/widgets/actions/runs/{running['id']}/rerun")
    assert (refused.status, refused.body["message"]) == (403, "This workflow is already running")
    ci.finish_running()
    cancelled = await _run_of(api, shas[1])
    answer = await api.post(f"/repos/octo/widgets/actions/runs/{cancelled['id']}/rerun")
    assert answer.status == 201
    again = await _run_of(api, shas[1])
    assert (again["id"], again["status"], again["run_attempt"]) == (cancelled["id"],
                                                                    "in_progress", 2)
    assert again["head_branch"] == "main"
    ci.finish_running()
    done = await _run_of(api, shas[1])
    assert (done["status"], done["conclusion"], done["run_attempt"]) == ("completed",
                                                                         "failure", 2)
    assert done["check_suite_id"] == cancelled["check_suite_id"]
    jobs = await api.get(f"/repos/octo/widgets/actions/runs/{done['id']}/jobs")
    assert [(j["name"], j["conclusion"]) for j in jobs.body["jobs"]] == [("build", "failure")]
    await sim.drain()
    completed = [e.data["workflow_run"] for e in receiver.events
                 if e.event == "workflow_run" and e.data["action"] == "completed"
                 and e.data["workflow_run"]["id"] == done["id"]]
    assert [(w["conclusion"], w["run_attempt"]) for w in completed] == [("cancelled", 1),
                                                                        ("failure", 2)]
    assert not sim.violations


async def test_reruns_on_main_share_its_group_and_cancel_each_other(
    api: Api, sim: GitHubSim, repo: SimRepo
) -> None:
    ci = repo.use_ci()
    shas = _commits(repo, 4)
    ci.finish_running()
    one, two = await _run_of(api, shas[0]), await _run_of(api, shas[1])
    assert (await api.post(f"/repos/octo/widgets/actions/runs/{one['id']}/rerun")).status == 201
    assert (await api.post(f"/repos/octo/widgets/actions/runs/{two['id']}/rerun")).status == 201
    # The second re-run joined main's group and cancelled the first.
    first_again = await _run_of(api, shas[0])
    assert (first_again["conclusion"], first_again["run_attempt"]) == ("cancelled", 2)
    # A push to main cancels a re-run in progress too.
    repo.commit({"late.py": "1"}, "Late push")
    second_again = await _run_of(api, shas[1])
    assert (second_again["conclusion"], second_again["run_attempt"]) == ("cancelled", 2)
    assert not sim.violations


async def test_an_old_run_cannot_be_rerun(
    api: Api, sim: GitHubSim, repo: SimRepo, clock: ManualClock
) -> None:
    ci = repo.use_ci()
    (sha,) = _commits(repo, 1)
    ci.finish_running()
    run = await _run_of(api, sha)
    clock.advance(31 * 86400)
    fresh = sim.installation_token(repo.installation_id or 1)
    refused = await api.post(f"/repos/octo/widgets/actions/runs/{run['id']}/rerun", token=fresh)
    assert refused.status == 403 and "over a month ago" in refused.body["message"]


async def test_a_probe_ref_gets_its_own_run_and_check_suite(
    api: Api, sim: GitHubSim, repo: SimRepo, receiver: Receiver
) -> None:
    ci = repo.use_ci(Workflow(branches=("**",)))
    shas = _commits(repo, 3)
    ci.red_from(shas[0])
    ci.finish_running()
    created = await api.post("/repos/octo/widgets/git/refs",
                             {"ref": f"refs/heads/{PROBE}{shas[0]}", "sha": shas[0]})
    assert created.status == 201
    assert [(r.head_sha, r.head_branch) for r in ci.running()] == [(shas[0], PROBE + shas[0])]
    ci.finish_running()
    suites = await api.get(f"/repos/octo/widgets/commits/{shas[0]}/check-suites")
    by_branch = {s["head_branch"]: s for s in suites.body["check_suites"]}
    assert set(by_branch) == {"main", PROBE + shas[0]}
    assert by_branch["main"]["conclusion"] == "cancelled"
    probe = by_branch[PROBE + shas[0]]
    assert (probe["status"], probe["conclusion"]) == ("completed", "failure")
    runs = await api.get(f"/repos/octo/widgets/check-suites/{probe['id']}/check-runs")
    assert [r["conclusion"] for r in runs.body["check_runs"]] == ["failure"]
    await sim.drain()
    probe_suites = [e.data["check_suite"] for e in receiver.events if e.event == "check_suite"
                    and e.data["check_suite"]["head_branch"] == PROBE + shas[0]]
    assert [s["conclusion"] for s in probe_suites] == ["failure"]
    assert not sim.violations


async def test_a_workflow_only_builds_the_branches_it_listens_to(
    sim: GitHubSim, repo: SimRepo
) -> None:
    ci = repo.use_ci(Workflow(branches=("main", "release/*")))
    sha = repo.head()
    repo.create_branch("release/1.0", sha)
    repo.create_branch("release/2.0/hotfix", sha)
    repo.create_branch(f"{PROBE}{sha}", sha)
    assert [r.head_branch for r in ci.running()] == ["release/1.0"]
    repo.commit({"a": "1"}, "By the Actions token", author="github-actions[bot]")
    assert [r.head_branch for r in ci.running()] == ["release/1.0"]  # GITHUB_TOKEN: no run
