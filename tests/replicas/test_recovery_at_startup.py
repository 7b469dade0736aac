"""A real `serve` that was down while GitHub delivered asks for those deliveries at start-up."""

from __future__ import annotations

from pathlib import Path

from tests.e2e.scenarios import break_it, incident_issues, new_repo
from tests.serve_process import serve_cluster


async def test_serve_asks_at_start_up_for_what_failed_while_it_was_down(
    tmp_path: Path, rsa_key: str
) -> None:
    async with serve_cluster(tmp_path, rsa_key) as c:
        repo = new_repo(c)
        await c.settle()
        (replica,) = c.replicas
        await replica.kill()
        first = len(c.sim.deliveries)
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        await c.sim.drain()
        missed = [d["delivery_id"] for d in c.sim.deliveries[first:]]
        assert len(missed) >= 3
        assert all(a.status_code == 502 for g in missed for a in c.sim.hook_log.of_guid(g))

        await replica.start()

        def redelivered() -> bool:
            return all(any(a.redelivery and a.status == "OK" for a in c.sim.hook_log.of_guid(g))
                       for g in missed)

        await c.settle(until=lambda: redelivered() and len(incident_issues(repo)) == 1)
        (issue,) = incident_issues(repo)
        assert bad[:7] in issue["body"]
        asked = [line for line in replica.log_lines()
                 if line.get("msg") == "asked GitHub to redeliver a failed delivery"]
        assert sorted(line["delivery_id"] for line in asked) == sorted(missed)
