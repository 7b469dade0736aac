"""`python -m app register`: GitHub's manifest flow against the simulator, end to end.

A real HTTP client plays the browser: it loads the local registration page, posts its
form to the simulated GitHub's new-app page, presses "Create GitHub App", and follows the
redirect back to the command's callback. The `.env` written then starts `serve`.
"""

from __future__ import annotations

import asyncio
import json
import stat
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml

from app.clock import ManualClock
from app.server.register import register
from app.settings import read_dotenv
from sim.github.server import GitHubSim
from tests.browser import Browser
from tests.process import bare_env, free_port, serving

pytestmark = pytest.mark.asyncio

ROOT = Path(__file__).resolve().parents[1]
MANIFEST = yaml.safe_load((ROOT / "app.yml").read_text())


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with aiohttp.ClientSession() as session:
        yield Browser(session)


class Registering:
    """`register` running in this process as a task, its page on a known port."""

    def __init__(self, sim: GitHubSim, workdir: Path, webhook_url: str, *,
                 manifest: Path = ROOT / "app.yml", **kw: Any) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env_path = workdir / ".env"
        self.task = asyncio.create_task(
            register(
                webhook_url=webhook_url,
                port=self.port,
                env_path=self.env_path,
                env={"GITHUB_API_URL": sim.url},
                manifest_path=manifest,
                **kw,
            )
        )

    async def page(self, browser: Browser) -> Any:
        for _ in range(200):  # the task starts listening within a few loop turns
            if self.task.done():
                raise AssertionError(f"register ended early: {self.task.result()}")
            try:
                return await browser.get(self.url + "/")
            except aiohttp.ClientConnectionError:
                await asyncio.sleep(0.01)
        raise AssertionError("the registration page never answered")


async def create_app(browser: Browser, page: Any, *, follow: bool = True) -> Any:
    """Post the page's form to GitHub's new-app page, then press "Create GitHub App"."""
    new_app = await browser.submit(page.form())
    assert new_app.status == 200, new_app.text
    assert "Create GitHub App" in new_app.text
    return await browser.submit(new_app.form(), follow=follow)


async def test_register_then_serve_answers_a_signed_ping(
    tmp_path: Path, browser: Browser, capsys: pytest.CaptureFixture[str]
) -> None:
    workdir = tmp_path / "app"
    workdir.mkdir()
    serve_port = free_port()
    webhook_url = f"http://127.0.0.1:{serve_port}/webhooks"
    async with GitHubSim(tmp_path / "github") as sim:
        reg = Registering(sim, workdir, webhook_url)
        page = await reg.page(browser)
        form = page.form()
        assert form.action.startswith(f"{sim.url}/settings/apps/new?state=")
        manifest = json.loads(form.fields["manifest"])
        assert manifest["hook_attributes"]["url"] == webhook_url
        assert manifest["redirect_url"] == reg.url + "/callback"
        assert manifest["default_permissions"] == MANIFEST["default_permissions"]
        assert manifest["default_events"] == MANIFEST["default_events"]

        # A callback that does not carry our state (CSRF, a stale tab) changes nothing.
        forged = await browser.get(reg.url + "/callback?code=0123abcd&state=not-ours")
        assert forged.status == 400 and "state does not match" in forged.text
        assert not reg.env_path.exists() and not reg.task.done()

        done = await create_app(browser, page)
        assert done.status == 200, done.text
        assert done.url.startswith(reg.url + "/callback?code=")
        assert "is registered" in done.text and "/installations/new" in done.text
        assert await reg.task == 0

        env = read_dotenv(reg.env_path)
        assert stat.S_IMODE(reg.env_path.stat().st_mode) == 0o600
        assert env["APP_ID"] == str(sim.app_id)
        assert env["APP_SLUG"] == sim.app_slug == "build-sheriff"
        assert env["APP_HTML_URL"] == f"{sim.html_url}/apps/build-sheriff"
        assert env["WEBHOOK_SECRET"] == sim.webhook_secret
        assert env["GITHUB_API_URL"] == sim.url
        assert "BEGIN RSA PRIVATE KEY" in env["PRIVATE_KEY"]
        # GitHub took the manifest as it was: the App has exactly app.yml's permissions.
        assert sim.app_permissions == {"metadata": "read", **MANIFEST["default_permissions"]}
        assert sim.webhook_url == webhook_url
        printed = capsys.readouterr()
        key_body = env["PRIVATE_KEY"].split("\\n")[1]
        assert key_body not in printed.out + printed.err
        assert env["WEBHOOK_SECRET"] not in printed.out + printed.err
        assert "Registered the GitHub App build-sheriff" in printed.out

        # The .env as written starts serve, which answers GitHub's signed ping.
        async with serving(workdir, serve_port, bare_env(PORT=str(serve_port),
                                                         HOST="127.0.0.1")) as child:
            assert await sim.send_webhook("ping", {"zen": "Design for failure.",
                                                   "hook_id": 1}) == 200
            sim.webhook_secret = "not-the-secret-serve-knows"
            assert await sim.send_webhook("ping", {"zen": "Forged."}) == 401
            code, _ = await child.stop()
        assert code == 0
        await sim.drain()
        assert sim.violations == []


async def test_without_a_webhook_secret_one_is_generated_and_set_on_github(
    tmp_path: Path, browser: Browser
) -> None:
    (tmp_path / ".env").write_text("SLACK_CHANNEL=#build-cops\nAPP_ID=1\n")
    async with GitHubSim(tmp_path / "github") as sim:
        sim.manifests.omit_webhook_secret = True
        refused = Registering(sim, tmp_path, "https://sheriff.example.com/api/github/webhooks")
        assert await refused.task == 2  # .env exists, no --force: nothing happens
        reg = Registering(sim, tmp_path, "https://sheriff.example.com/api/github/webhooks",
                          force=True)
        done = await create_app(browser, await reg.page(browser))
        assert done.status == 200, done.text
        assert await reg.task == 0
        env = read_dotenv(reg.env_path)
        # PATCH /app/hook/config (as the new App) set the secret GitHub now signs with.
        assert len(env["WEBHOOK_SECRET"]) == 64 and env["WEBHOOK_SECRET"] == sim.webhook_secret
        assert sim.calls["PATCH /app/hook/config"] == 1
        # --force replaced the App's lines and kept the others; serve answers GitHub's path.
        assert env["SLACK_CHANNEL"] == "#build-cops" and env["APP_ID"] == str(sim.app_id)
        assert env["WEBHOOK_PATH"] == "/api/github/webhooks"
        await sim.drain()
        assert sim.violations == []


async def test_a_refused_or_expired_code_writes_nothing_and_the_flow_can_start_again(
    tmp_path: Path, browser: Browser
) -> None:
    clock = ManualClock(start=time.time())
    async with GitHubSim(tmp_path / "github", clock=clock.now) as sim:
        reg = Registering(sim, tmp_path, "https://sheriff.example.com/webhooks")
        page = await reg.page(browser)
        state = page.form().action.split("state=", 1)[1]

        # A code GitHub never issued: refused by POST /app-manifests/{code}/conversions.
        bogus = await browser.get(f"{reg.url}/callback?code=feedface&state={state}")
        assert bogus.status == 502 and "GitHub refused the code" in bogus.text
        assert not reg.env_path.exists() and not reg.task.done()

        # A real code, used after GitHub's one hour.
        redirect = await create_app(browser, page, follow=False)
        assert redirect.status == 302 and redirect.url.startswith(reg.url + "/callback")
        clock.advance(3601)
        expired = await browser.get(redirect.url)
        assert expired.status == 502 and "expired" in expired.text
        assert not reg.env_path.exists() and not reg.task.done()

        # Start again from the page: a fresh code completes the registration.
        done = await create_app(browser, await browser.get(reg.url + "/"))
        assert done.status == 200, done.text
        assert await reg.task == 0
        assert read_dotenv(reg.env_path)["APP_ID"] == str(sim.app_id)
        # A code works once: GitHub's side refuses to exchange it again.
        code = done.url.split("code=", 1)[1].split("&", 1)[0]
        async with browser.session.post(f"{sim.url}/app-manifests/{code}/conversions") as r:
            assert r.status == 404


async def test_github_refuses_a_manifest_whose_events_its_permissions_do_not_cover(
    tmp_path: Path, browser: Browser
) -> None:
    broken = dict(MANIFEST)
    broken["default_permissions"] = {
        k: v for k, v in MANIFEST["default_permissions"].items() if k != "checks"
    }
    (tmp_path / "app.yml").write_text(yaml.safe_dump(broken))
    async with GitHubSim(tmp_path / "github") as sim:
        reg = Registering(sim, tmp_path, "https://sheriff.example.com/webhooks",
                          manifest=tmp_path / "app.yml")
        new_app = await browser.submit((await reg.page(browser)).form())
        assert new_app.status == 422
        assert "check_run (needs checks)" in new_app.text
        reg.task.cancel()
        assert not reg.env_path.exists() and not sim.manifests.pending


async def test_register_command_line_refuses_bad_arguments_in_one_line(tmp_path: Path) -> None:
    from tests.process import run_app

    code, out, err = await run_app("register", "--webhook-url", "ftp://x", cwd=tmp_path)
    assert (code, out) == (2, "")
    assert err.splitlines() == [
        "buildsheriff register: --webhook-url must be an http(s) URL GitHub can reach"
    ]
    (tmp_path / ".env").write_text("APP_ID=1\n")
    code, _, err = await run_app(
        "register", "--webhook-url", "https://sheriff.example.com/webhooks", cwd=tmp_path
    )
    assert code == 2 and "exists: pass --force" in err


async def test_register_on_an_organization_and_enterprise_server(
    tmp_path: Path, browser: Browser
) -> None:
    async with GitHubSim(tmp_path / "github", enterprise=True) as sim:
        host = sim.html_url.removeprefix("http://")
        port = free_port()
        task = asyncio.create_task(register(
            webhook_url="https://sheriff.example.com/webhooks", org="octo-org", port=port,
            env_path=tmp_path / ".env", env={"GHE_PROTOCOL": "http"}, ghe_host=host,
            manifest_path=ROOT / "app.yml",
        ))
        reg = Registering.__new__(Registering)
        reg.port, reg.url, reg.env_path, reg.task = port, f"http://127.0.0.1:{port}", \
            tmp_path / ".env", task
        page = await reg.page(browser)
        # GHES: the new-app page is on the server's web root, the API under /api/v3.
        assert page.form().action.startswith(
            f"{sim.html_url}/organizations/octo-org/settings/apps/new?state="
        )
        done = await create_app(browser, page)
        assert done.status == 200, done.text
        assert await task == 0
        env = read_dotenv(tmp_path / ".env")
        assert (env["GHE_HOST"], env["GHE_PROTOCOL"]) == (host, "http")
        assert "GITHUB_API_URL" not in env
        assert sim.app_owner == "octo-org"
