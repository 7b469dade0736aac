"""`python -m app replay FILE` runs the real handlers on a recorded delivery."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from app.server.replay import main, replay
from app.settings import Settings
from tests.e2e.scenarios import break_it, incident_issues, new_repo


async def test_replaying_a_lost_red_check_run_opens_the_incident(
    stack_factory, tmp_path: Path
) -> None:
    async with stack_factory(slack=False) as s:
        repo = new_repo(s, config="auto_revert: false\n")
        await s.settle()
        s.sim.webhook_url = None  # the delivery never reached the app
        bad = break_it(repo)
        repo.add_check_run(bad, "build", conclusion="failure")
        lost = [d for d in s.sim.deliveries if d["event"] == "check_run"][-1]
        path = tmp_path / "delivery.json"
        path.write_text(json.dumps({"event": "check_run", "payload": lost["payload"]}))
        s.sim.add_user("ops")
        repo.set_permission("ops", "admin")
        settings = Settings.from_env(
            {"GITHUB_TOKEN": s.sim.create_token("ops"), "GITHUB_API_URL": s.sim.url}
        )
        from app.server.replay import load_delivery

        name, payload, delivery = load_delivery(path, None)
        assert await replay(settings, name, payload, delivery) == 0
        assert len(incident_issues(repo)) == 1


@pytest.mark.parametrize(
    ("content", "event"),
    [("[1, 2]", None), ('{"action": "completed"}', None), ("not json", "check_run")],
)
def test_bad_files_exit_2_and_say_why(
    tmp_path: Path,
    content: str,
    event: str | None,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    path = tmp_path / "d.json"
    path.write_text(content)
    assert main(str(path), event=event) == 2
    err = capsys.readouterr().err
    assert "cannot replay" in err
    assert "ghp_" not in err


def test_missing_file_exits_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GITHUB_TOKEN", "ghp_" + "x" * 36)
    assert main(str(tmp_path / "absent.json")) == 2
