"""The subprocess harness itself: a real `serve` acts on the simulators' webhooks, and a
replica killed with -9 fails the deliveries sent meanwhile, as GitHub would record them."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.scenarios import break_it, incident_issues, new_repo
from tests.serve_process import serve_cluster


async def test_a_serve_process_opens_the_incident_and_a_dead_one_fails_deliveries(
    tmp_path: Path, rsa_key: str
) -> None:
    async with serve_cluster(tmp_path, rsa_key) as c:
        repo = new_repo(c)
        await c.settle()
        (replica,) = c.replicas
        await replica.kill()
        bad = break_it(repo)
        await c.sim.drain()
        # Down: the push was answered 502 by the balancer, a failure in GitHub's log.
        assert [d["status"] for d in c.sim.deliveries][-1] == 502
        await replica.start()
        repo.add_check_run(bad, "build", conclusion="failure")
        await c.settle(until=lambda: len(incident_issues(repo)) == 1)
        (issue,) = incident_issues(repo)
        assert bad[:7] in issue["body"]
        assert await replica.stop() == 0
        assert any(line.get("msg") == "listening" for line in replica.log_lines())
