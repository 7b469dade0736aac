"""`python -m app register --webhook-url URL`: create the GitHub App from app.yml.

GitHub's manifest flow, as Probot runs it: a page on 127.0.0.1 whose button posts the
manifest (app.yml with the webhook URL and our `redirect_url` filled in) to GitHub's
new-app page, with a random `state`; GitHub sends the browser back to our callback with a
one-hour `code`, which `POST /app-manifests/{code}/conversions` exchanges for the App's id,
private key and webhook secret. They go to `.env` (mode 0600), which `serve` reads; the
key is never printed. A callback whose `state` is not ours is refused and changes nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import os
import secrets
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import aiohttp
import yaml
from aiohttp import web

from app.github.auth import GitHubApp
from app.github.client import USER_AGENT
from app.settings import Settings, SettingsError, environment

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
# GitHub: "You must complete all three steps in the GitHub App Manifest flow within one hour."
FLOW_TIMEOUT = 3600.0
_API_HEADERS = {
    "Accept": "application/vnd.github+json",
    "X-GitHub-Api-Version": "2022-11-28",
    "User-Agent": USER_AGENT,
}


class RegistrationFailed(Exception):
    """One line for the terminal and the browser; never carries a secret."""


@dataclass(frozen=True)
class Registration:
    """What `.env` gets from the conversion."""

    app_id: str
    slug: str
    html_url: str
    pem: str = field(repr=False)
    webhook_secret: str = field(repr=False)
    secret_generated: bool = False


def default_manifest_path() -> Path:
    """app.yml in the working directory (Probot's place), else the one beside the package."""
    here = Path.cwd() / "app.yml"
    return here if here.is_file() else Path(__file__).resolve().parents[2] / "app.yml"


def load_manifest(path: Path) -> dict[str, Any]:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise RegistrationFailed(f"cannot read the App manifest {path}: {exc}") from None
    if not isinstance(data, dict):
        raise RegistrationFailed(f"the App manifest {path} is not a YAML mapping")
    return data


def manifest_for(base: Mapping[str, Any], *, webhook_url: str, redirect_url: str) -> dict[str, Any]:
    manifest = dict(base)
    manifest["hook_attributes"] = {**(base.get("hook_attributes") or {}), "url": webhook_url}
    manifest["redirect_url"] = redirect_url
    return manifest


def new_app_url(web_url: str, org: str | None, state: str) -> str:
    where = f"/organizations/{quote(org, safe='')}" if org else ""
    return f"{web_url.rstrip('/')}{where}/settings/apps/new?{urlencode({'state': state})}"


async def exchange_code(
    session: aiohttp.ClientSession, api_url: str, code: str
) -> dict[str, Any]:
    """POST /app-manifests/{code}/conversions: the new App with its pem and secrets."""
    url = f"{api_url.rstrip('/')}/app-manifests/{quote(code, safe='')}/conversions"
    try:
        async with session.post(url, headers=_API_HEADERS) as response:
            text = await response.text()
            status = response.status
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise RegistrationFailed(f"GitHub did not answer the code exchange ({exc})") from None
    if status == 404:
        raise RegistrationFailed(
            "GitHub refused the code: it expired (the flow must finish within an hour) or "
            "was used already; start again from the registration page"
        )
    if status != 201:
        raise RegistrationFailed(f"GitHub refused the code exchange: HTTP {status}")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if not isinstance(body, dict) or not body.get("id") or not body.get("pem"):
        raise RegistrationFailed("GitHub's answer to the code exchange has no App id or key")
    return body


async def set_webhook_secret(
    session: aiohttp.ClientSession, api_url: str, app_id: str, pem: str, secret: str
) -> None:
    """PATCH /app/hook/config as the new App (JWT): GitHub gave the webhook no secret."""
    client = GitHubApp(session, app_id=app_id, private_key=pem, api_url=api_url).app_client()
    try:
        await client.patch("/app/hook/config", data={"secret": secret})
    except Exception as exc:  # gidgethub raises several types; the line matters, not the type
        raise RegistrationFailed(
            f"the App was created but its webhook secret could not be set "
            f"({type(exc).__name__}): set it in the App's settings to WEBHOOK_SECRET from .env"
        ) from None


def registration_from(body: Mapping[str, Any], generated_secret: str | None) -> Registration:
    return Registration(
        app_id=str(body["id"]),
        slug=str(body.get("slug") or ""),
        html_url=str(body.get("html_url") or ""),
        pem=str(body["pem"]),
        webhook_secret=str(body.get("webhook_secret") or generated_secret or ""),
        secret_generated=not body.get("webhook_secret"),
    )


def env_lines(reg: Registration, extra: Mapping[str, str]) -> dict[str, str]:
    """The `.env` entries, each a single line (so `docker run --env-file` reads them too)."""
    values = {
        "APP_ID": reg.app_id,
        "APP_SLUG": reg.slug,
        "APP_HTML_URL": reg.html_url,
        # One line with literal \n: dotenv, Probot, compose and --env-file all read it.
        "PRIVATE_KEY": reg.pem.strip().replace("\n", "\\n"),
        "WEBHOOK_SECRET": reg.webhook_secret,
        **extra,
    }
    return {k: v for k, v in values.items() if v}


def write_env(path: Path, values: Mapping[str, str], *, force: bool) -> None:
    """Write `values` into `path` with mode 0600, keeping the file's other lines (--force)."""
    kept: list[str] = []
    if path.exists():
        if not force:
            raise RegistrationFailed(f"{path} exists: pass --force to replace its App settings")
        for line in path.read_text(encoding="utf-8").splitlines():
            name = line.split("=", 1)[0].strip().removeprefix("export ").strip()
            if name not in values:
                kept.append(line)
    body = "\n".join(
        [*kept, "# GitHub App registered by `python -m app register`",
         *(f"{k}={v}" for k, v in values.items()), ""]
    )
    tmp = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(body)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
    path.chmod(0o600)


class RegistrationPage:
    """The local page and callback; `done` resolves with the outcome."""

    def __init__(
        self,
        *,
        manifest: Mapping[str, Any],
        webhook_url: str,
        web_url: str,
        api_url: str,
        org: str | None,
        session: aiohttp.ClientSession,
        env_path: Path,
        env_extra: Mapping[str, str],
        force: bool,
    ) -> None:
        self.state = secrets.token_urlsafe(24)
        self.manifest = manifest
        self.webhook_url = webhook_url
        self.web_url = web_url
        self.api_url = api_url
        self.org = org
        self.session = session
        self.env_path = env_path
        self.env_extra = env_extra
        self.force = force
        self.base_url = ""
        self.done: asyncio.Future[Registration] = asyncio.get_running_loop().create_future()
        self._busy = asyncio.Lock()

    def application(self) -> web.Application:
        application = web.Application()
        application.router.add_get("/", self.index)
        application.router.add_get("/callback", self.callback)
        return application

    async def index(self, request: web.Request) -> web.Response:
        manifest = manifest_for(
            self.manifest, webhook_url=self.webhook_url, redirect_url=self.base_url + "/callback"
        )
        action = new_app_url(self.web_url, self.org, self.state)
        where = f"the organization {self.org}" if self.org else "your account"
        return _page(
            200,
            "Register Build Sheriff",
            f"<p>This creates the GitHub App <b>{html.escape(str(manifest.get('name')))}</b> "
            f"on {html.escape(where)}, sending webhooks to "
            f"<code>{html.escape(self.webhook_url)}</code>.</p>"
            f"<form method='post' action='{html.escape(action)}'>"
            f"<input type='hidden' name='manifest' value='{html.escape(json.dumps(manifest))}'>"
            "<button type='submit'>Register GitHub App</button></form>",
        )

    async def callback(self, request: web.Request) -> web.Response:
        state = request.query.get("state", "")
        code = request.query.get("code", "")
        if not secrets.compare_digest(state.encode(), self.state.encode()):
            # Not the answer to our form (CSRF, or a stale tab): change nothing, keep waiting.
            print("buildsheriff register: refused a callback whose state is not ours",
                  file=sys.stderr)
            return _page(400, "Refused", "<p>This answer does not belong to the registration "
                         "started here (its state does not match). Nothing was written.</p>")
        if not code:
            return _page(400, "Refused", "<p>GitHub sent no code. Nothing was written.</p>")
        if self.done.done():
            return _page(409, "Already registered", "<p>The App is registered already.</p>")
        async with self._busy:
            try:
                registration = await self._complete(code)
            except RegistrationFailed as exc:
                print(f"buildsheriff register: {exc}", file=sys.stderr)
                return _page(
                    502 if "webhook secret" not in str(exc) else 500,
                    "Registration failed",
                    f"<p>{html.escape(str(exc))}</p><p><a href='/'>Start again</a></p>",
                )
        install = f"{registration.html_url}/installations/new"
        return _page(
            200,
            "Registered",
            f"<p>The GitHub App <b>{html.escape(registration.slug)}</b> is registered and its "
            f"settings are in <code>{html.escape(str(self.env_path))}</code>.</p>"
            f"<p>Next: <a href='{html.escape(install)}'>install it on your repositories</a>, "
            "then run <code>python -m app serve</code>.</p>",
        )

    async def _complete(self, code: str) -> Registration:
        body = await exchange_code(self.session, self.api_url, code)
        generated = None if body.get("webhook_secret") else secrets.token_hex(32)
        registration = registration_from(body, generated)
        # The key exists only in this answer: write it before anything else can fail.
        write_env(self.env_path, env_lines(registration, self.env_extra), force=self.force)
        if generated is not None:
            try:
                await set_webhook_secret(
                    self.session, self.api_url, registration.app_id, registration.pem, generated
                )
            except RegistrationFailed as exc:
                self.done.set_exception(exc)
                raise
        self.done.set_result(registration)
        return registration


def _page(status: int, title: str, body: str) -> web.Response:
    text = (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"</head><body><h1>{html.escape(title)}</h1>{body}</body></html>"
    )
    return web.Response(status=status, text=text, content_type="text/html")


def _github_target(env: Mapping[str, str], ghe_host: str | None) -> tuple[Settings, dict[str, str]]:
    """Settings naming the GitHub to register on, and what `.env` must say to reach it."""
    source = dict(env)
    if ghe_host:
        source.pop("GITHUB_API_URL", None)
        source["GHE_HOST"] = ghe_host
    settings = Settings.from_env(source)
    extra: dict[str, str] = {}
    if source.get("GHE_HOST"):
        extra["GHE_HOST"] = source["GHE_HOST"]
        if source.get("GHE_PROTOCOL"):
            extra["GHE_PROTOCOL"] = source["GHE_PROTOCOL"]
    elif settings.github_api_url != Settings().github_api_url:
        extra["GITHUB_API_URL"] = settings.github_api_url
    return settings, extra


async def register(
    *,
    webhook_url: str,
    org: str | None = None,
    ghe_host: str | None = None,
    force: bool = False,
    port: int = 0,
    manifest_path: Path | None = None,
    env_path: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float = FLOW_TIMEOUT,  # noqa: ASYNC109  (the manifest flow's one hour, injectable)
) -> int:
    env_path = env_path or Path.cwd() / ".env"
    try:
        parts = urlsplit(webhook_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise RegistrationFailed("--webhook-url must be an http(s) URL GitHub can reach")
        if env_path.exists() and not force:
            raise RegistrationFailed(f"{env_path} exists: pass --force to replace its App settings")
        settings, env_extra = _github_target(environment() if env is None else env, ghe_host)
        manifest = load_manifest(manifest_path or default_manifest_path())
    except SettingsError as exc:
        for line in exc.lines:
            print(f"buildsheriff register: {line}", file=sys.stderr)
        return EXIT_USAGE
    except RegistrationFailed as exc:
        print(f"buildsheriff register: {exc}", file=sys.stderr)
        return EXIT_USAGE
    # serve must answer where GitHub will post: the webhook URL's path.
    if parts.path not in ("", "/", settings.webhook_path):
        env_extra["WEBHOOK_PATH"] = parts.path.rstrip("/")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
        page = RegistrationPage(
            manifest=manifest,
            webhook_url=webhook_url,
            web_url=settings.github_web_url,
            api_url=settings.github_api_url,
            org=org,
            session=session,
            env_path=env_path,
            env_extra=env_extra,
            force=force,
        )
        runner = web.AppRunner(page.application(), access_log=None)
        await runner.setup()
        try:
            # Loopback only: the page hands out the state that guards the callback.
            await web.TCPSite(runner, "127.0.0.1", port).start()
            host, bound = runner.addresses[0][:2]
            page.base_url = f"http://{host}:{bound}"
            print(f"Open {page.base_url}/ in your browser and press \"Register GitHub App\".",
                  flush=True)
            try:
                async with asyncio.timeout(timeout):
                    registration = await asyncio.shield(page.done)
            except TimeoutError:
                print("buildsheriff register: no registration came back within the time "
                      "allowed; nothing was written", file=sys.stderr)
                return EXIT_FAILED
            except RegistrationFailed:
                return EXIT_FAILED  # the callback printed why; .env holds the key already
            # Let the browser receive the page that says what to do next.
            await asyncio.sleep(0)
        finally:
            await runner.cleanup()
    secret_note = " (webhook secret generated and set on GitHub)" if (
        registration.secret_generated) else ""
    print(
        f"Registered the GitHub App {registration.slug} (id {registration.app_id}): "
        f"{registration.html_url}\n"
        f"Its settings are in {env_path} (mode 600){secret_note}.\n"
        f"Install it: {registration.html_url}/installations/new, "
        f"then run `python -m app serve`."
    )
    return EXIT_OK
