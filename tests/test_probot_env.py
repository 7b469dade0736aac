"""A Probot app's `.env` runs Build Sheriff unchanged; an unusable setting stops it in one line.

`python -m app serve` runs as a child process configured only by the `.env` file of its
working directory, against the GitHub simulator in Enterprise Server mode (REST under
/api/v3), as a Probot user moving over would run it.
"""

from __future__ import annotations

import asyncio
import base64
import secrets
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from demo.stack import manifest_permissions
from sim.github.server import GitHubSim
from tests.e2e.scenarios import break_it, incident_issues, new_repo
from tests.harness import APP_ID, public_key_of
from tests.process import bare_env, free_port, run_app, serving

pytestmark = pytest.mark.asyncio

ACT_TIMEOUT = 60.0


def probot_dotenv(*, key: str, secret: str, ghe_host: str, port: int) -> str:
    """What a Probot app's `.env` holds (Probot's names; the key base64-encoded)."""
    return "\n".join(
        [
            "# Probot app settings",
            f"APP_ID={APP_ID}",
            f"PRIVATE_KEY={base64.b64encode(key.encode()).decode()}",
            f"WEBHOOK_SECRET={secret}",
            "WEBHOOK_PATH=/api/github/webhooks",
            "WEBHOOK_PROXY_URL=",
            f"GHE_HOST={ghe_host}",
            "GHE_PROTOCOL=http",
            "LOG_LEVEL=warn",
            "NODE_ENV=production",
            "HOST=127.0.0.1",
            f"PORT={port}",
            "",
        ]
    )


async def test_probot_dotenv_starts_the_server_and_a_webhook_on_its_path_is_acted_on(
    tmp_path: Path, rsa_key: str
) -> None:
    secret = "whsec-" + secrets.token_hex(16)
    async with GitHubSim(
        tmp_path / "github",
        webhook_secret=secret,
        app_id=int(APP_ID),
        app_public_key=public_key_of(rsa_key),
        enterprise=True,
    ) as sim:
        sim.app_permissions = manifest_permissions()
        workdir = tmp_path / "app"
        workdir.mkdir()
        port = free_port()
        ghe_host = sim.html_url.removeprefix("http://")
        (workdir / ".env").write_text(
            probot_dotenv(key=rsa_key, secret=secret, ghe_host=ghe_host, port=port)
        )
        async with serving(workdir, port) as child:
            # Probot's path is served; ours is not (one webhook path, as in Probot).
            sim.webhook_url = child.url + "/webhooks"
            assert await sim.send_webhook("ping", {"zen": "Keep it logically awesome."}) == 404
            sim.webhook_url = child.url + "/api/github/webhooks"
            repo = new_repo(SimpleNamespace(sim=sim))
            bad = break_it(repo)
            repo.add_check_run(bad, "build", conclusion="failure")
            await _until(lambda: len(incident_issues(repo)) == 1)
            assert bad[:7] in incident_issues(repo)[0]["body"]
            code, err = await child.stop()
        assert code == 0
        # LOG_LEVEL=warn: the server said nothing at info level while it worked.
        assert '"level": "INFO"' not in err and "listening" not in err
        # Every REST call went to /api/v3 (the sim answers nothing else) and was one GitHub has.
        await sim.drain()
        assert sim.violations == []
        assert any(path.startswith("/repos/octo/widgets") for _, path, _ in sim.call_log)


async def _until(condition: object) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + ACT_TIMEOUT
    while not condition():  # type: ignore[operator]
        assert loop.time() < deadline, "the server did not act on the webhook in time"
        await asyncio.sleep(0.05)  # another process is working: poll, bounded


async def test_unusable_settings_stop_serve_with_one_line_each(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "APP_ID=12\nPRIVATE_KEY=not-a-key\nWEBHOOK_SECRET=s3cr3t-s3cr3t\n"
        "LOG_LEVEL=verbose\nGITHUB_API_URL=https://ghe.example.com\n"
    )
    code, out, err = await run_app("serve", cwd=tmp_path)
    assert code == 2 and out == ""
    assert err.splitlines() == [
        "buildsheriff: PRIVATE_KEY: is neither a PEM private key (-----BEGIN ...) "
        "nor a base64-encoded one",
        "buildsheriff: LOG_LEVEL: must be one of trace, debug, info, warn, error, fatal",
        "buildsheriff: GITHUB_API_URL: looks like GitHub Enterprise Server, whose REST API is "
        "under /api/v3: use https://ghe.example.com/api/v3 (or set GHE_HOST=ghe.example.com)",
    ]
    # The environment wins over .env: fixing one setting there leaves the other two.
    code, _, err = await run_app(
        "serve", cwd=tmp_path, env=bare_env(LOG_LEVEL="info")
    )
    assert code == 2 and len(err.splitlines()) == 2 and "LOG_LEVEL" not in err


async def test_serve_refuses_a_git_older_than_2_38(tmp_path: Path, rsa_key: str) -> None:
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    git = fake_bin / "git"
    git.write_text("#!/bin/sh\necho 'git version 2.34.1'\n")
    git.chmod(0o755)
    (tmp_path / ".env").write_text(
        f"APP_ID={APP_ID}\nWEBHOOK_SECRET=s3cr3t-s3cr3t\n"
        f"PRIVATE_KEY={base64.b64encode(rsa_key.encode()).decode()}\n"
    )
    env = bare_env()
    env["PATH"] = f"{fake_bin}:{env['PATH']}"
    code, _, err = await run_app("serve", cwd=tmp_path, env=env)
    assert code == 2
    assert err.splitlines() == [
        "buildsheriff: git 2.38 or newer is needed (for git merge-tree --write-tree), "
        "found git 2.34.1"
    ]


async def test_dotenv_is_read_by_replay_and_never_on_import(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=chatty\nAPP_ID=77\n")
    (tmp_path / "delivery.json").write_text('{"event": "ping", "payload": {"zen": "x"}}')
    code, _, err = await run_app("replay", "delivery.json", cwd=tmp_path)
    assert code == 2
    assert err.splitlines() == [
        "buildsheriff: PRIVATE_KEY: is required when APP_ID is set",
        "buildsheriff: LOG_LEVEL: must be one of trace, debug, info, warn, error, fatal",
    ]
    # Importing the app (as tests and library users do) reads no .env.
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c",
        "import os, app.server.main, app.server.register\n"
        "from app.settings import Settings\n"
        "print(os.environ.get('APP_ID'), Settings.from_env(os.environ).app_id)",
        cwd=tmp_path, env=bare_env(), stdout=asyncio.subprocess.PIPE,
    )
    out, _ = await process.communicate()
    assert out.decode().split() == ["None", "None"]
