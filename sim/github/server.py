"""A faithful fake of the slice of GitHub that Build Sheriff uses, on 127.0.0.1.

Every REST request is routed through GitHub's own OpenAPI description (unknown or malformed
requests are refused and recorded in `violations`), every GraphQL document is validated against
GitHub's schema, git state is real (one bare repository per simulated repository), and every
state change, including those the app makes through the API, sends GitHub's webhooks, signed,
in order, to `webhook_url`.

    sim = GitHubSim(tmp_path, clock=clock.now)
    await sim.start()
    repo = sim.create_repo("octo/widgets")
    sha = repo.commit({"src/app.py": "print(1)\\n"}, "Add app")
    ...
    await sim.drain()
    await sim.close()
"""

from __future__ import annotations

import asyncio
import collections
import http
import itertools
import json
import logging
import random
import secrets
import time
import uuid
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

from sim.github import (  # noqa: F401  (imported for their @route registrations)
    hook_deliveries,
    manifests,
    rest_checks,
    rest_git,
    rest_issues,
    rest_pulls,
    rest_repos,
)
from sim.github.api_faults import ApiFaults, Hold
from sim.github.auth import (
    KeyPair,
    Token,
    looks_like_jwt,
    new_token,
    parse_authorization,
    public_key_from,
    test_key_pair,
    verify_app_jwt,
)
from sim.github.delivery_faults import DeliveryFaults
from sim.github.git_store import TreeEntry
from sim.github.graphql import execute_graphql, is_mutation
from sim.github.hook_deliveries import Attempt, DeliveryLog
from sim.github.manifests import ManifestFlow, new_app_key
from sim.github.metering import Meter
from sim.github.permissions import ALL_WRITE, check_installation, check_person
from sim.github.rate_limits import SECONDARY_LIMIT_MESSAGE, SecondaryLimit
from sim.github.repo import SimRepo
from sim.github.routes import DOCS, ROUTES, ApiError, Ctx, Reply, call_handler
from sim.github.shapes import Shapes
from sim.github.state import User
from sim.github.webhooks import (
    Deliverer,
    build_payload,
    encode,
    new_delivery,
    payload_problems,
)
from sim.validators.graphql_schema import (
    MAX_NODES,
    pagination_problems,
    query_cost,
    validate_graphql,
)
from sim.validators.json_schema import dropped_fields
from sim.validators.openapi import OpenAPIIndex

log = logging.getLogger(__name__)

_ID_BASES = {
    "user": 1_000, "repo": 500_000, "issue": 2_000_000, "pull": 3_000_000, "label": 4_000_000,
    "comment": 5_000_000, "commit_comment": 5_500_000, "reaction": 6_000_000,
    "check_suite": 7_000_000, "check_run": 8_000_000, "status": 9_000_000,
    "workflow": 9_500_000, "workflow_run": 10_000_000, "deployment": 11_000_000,
    "deployment_status": 12_000_000, "review": 13_000_000, "ruleset": 14_000, "app": 900_000,
}
_ANON_RATE_LIMIT = 60

# GitHub sends these to every App, subscribed or not.
ALWAYS_DELIVERED = frozenset({"installation", "installation_repositories", "ping",
                              "github_app_authorization"})

DEFAULT_APP_EVENTS = [
    "check_run", "check_suite", "commit_comment", "deployment", "deployment_status",
    "issue_comment", "issues", "label", "pull_request", "push", "status", "workflow_run",
]


@dataclass
class Installation:
    id: int
    account: str
    created_at: float
    repos: list[str] = field(default_factory=list)


@dataclass
class _Injection:
    method: str
    template: str
    status: int
    times: int
    headers: dict[str, str] | None
    body: Any


@dataclass
class _Spend:
    reset_in: float
    when: Callable[[str], bool] | None
    times: int


@dataclass
class _Caller:
    actor: str | None
    installation_id: int | None
    key: str  # rate-limit bucket
    permissions: dict[str, str] | None = None  # an installation token's


class GitHubSim:
    def __init__(self, workdir: Path, *, webhook_secret: str = "sim-secret", app_id: int = 4242,
                 app_slug: str = "buildsheriff", app_public_key: str | bytes | None = None,
                 clock: Callable[[], float] | None = None, enterprise: bool = False) -> None:
        self.workdir = Path(workdir)
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.webhook_secret = webhook_secret
        self.app_id = app_id
        self.app_slug = app_slug
        self._clock = clock or time.time
        # Without a key the simulator makes one; tests sign their JWTs with `app_private_key`.
        self._keys: KeyPair | None = test_key_pair() if app_public_key is None else None
        self._public_key = self._keys.public_pem if self._keys else public_key_from(app_public_key
                                                                                    or b"")
        self.token_ttl = 3600.0
        # A re-run attempt completes after the caller got its 201; with a gate, only once a
        # test opens it (so "queued" can be observed without racing a timer).
        self.rerun_gate: asyncio.Event | None = None
        # Requests per hour per token (GitHub's installation tokens get 5,000).
        self.rate_limit = 5000
        # A recursive tree listing stops here and says `truncated` (GitHub: 100,000 entries).
        self.recursive_tree_limit = 100_000  # entries, and
        self.recursive_tree_bytes = 7 * 1024 * 1024  # bytes of entries (GitHub's "7 MB")
        self.html_url = "https://github.com"
        self.url = "http://127.0.0.1"
        # GitHub Enterprise Server: REST under /api/v3, GraphQL at /api/graphql, the web at /.
        self.enterprise = enterprise
        self.webhook_url: str | None = None
        # What the App was granted; installation tokens carry these (see gh_permissions).
        self.app_permissions = dict(ALL_WRITE)
        # Only these events are delivered (plus installation events, which every App gets);
        # the demo stack sets them from app.yml's default_events.
        self.app_events = list(DEFAULT_APP_EVENTS)
        # Off by default; tests switch them on (all on the injectable clock):
        self.secondary_limit: SecondaryLimit | None = None  # content-creating requests
        self.delivery_faults: DeliveryFaults | None = None  # drop/duplicate/reorder/delay
        self.api_faults: ApiFaults | None = None  # 5xx, secondary limits, resets, applied+502
        self._holds: list[Hold] = []
        self.read_lag = 0.0  # seconds REST reads keep answering what they saw before a change
        self._read_cache: dict[str, tuple[int, Reply]] = {}
        self.app_owner = "octo-apps"

        self.users: dict[str, User] = {}
        self._emails: dict[str, str] = {}
        self.repos: dict[str, SimRepo] = {}
        self.installations: dict[int, Installation] = {}
        self._tokens: dict[str, Token] = {}
        self.issued_tokens: list[str] = []
        self._apps: dict[str, tuple[int, str]] = {
            "github-actions": (15368, "GitHub Actions"),
            app_slug: (app_id, app_slug.replace("-", " ").title()),
        }
        self._counters: dict[str, itertools.count[int]] = {}

        self.calls: collections.Counter[str] = collections.Counter()
        # Blob contents served, by sha (REST `git/blobs` or GraphQL `Blob.text`), and blobs
        # written (REST `git/blobs` or a create-tree entry's `content`).
        self.blobs_read: collections.Counter[str] = collections.Counter()
        self.blobs_written: collections.Counter[str] = collections.Counter()
        self.call_log: list[tuple[str, str, int]] = []
        # GraphQL mutations refused FORBIDDEN (outside the token's permissions): GitHub answers
        # those with HTTP 200, so call_log cannot show them.
        self.graphql_forbidden: list[str] = []
        self._violations: list[str] = []
        # Deliveries whose payload is not yet checked against GitHub's schema; checking takes
        # milliseconds, so it happens when violations are read or the simulator drains.
        self._unchecked: list[dict[str, Any]] = []
        self.deliveries: list[dict[str, Any]] = []
        # Every attempt to deliver them, as GitHub's App delivery log shows it.
        self.hook_log = DeliveryLog(self)
        self._injections: list[_Injection] = []
        self._outage_until = 0.0
        self._outage_draw = random.Random(0)
        self.outage_answers: list[str] = []  # what each request during an outage met
        self._latency: dict[str, float] = {}
        # Injected latency on every call, and calls / round trips / bytes per phase.
        self.meter = Meter(self._operation_name)
        self._rate: dict[str, tuple[float, int]] = {}
        self._graphql_spends: list[_Spend] = []  # spend_graphql_budget()
        self._tasks: set[asyncio.Task[Any]] = set()

        self.shapes = Shapes(self)
        self.manifests = ManifestFlow(self)
        self.openapi = OpenAPIIndex.load()
        self._deliverer: Deliverer | None = None
        self._runner: web.AppRunner | None = None

        self.add_user("web-flow", name="GitHub", email="noreply@github.com")
        self.add_user("github", type="Organization")
        self.add_user(self.app_owner, type="Organization")
        self.add_user(self.app_bot_login, type="Bot")
        self.users["github-actions[bot]"] = User("github-actions[bot]", 41898282, None,
                                                 "41898282+github-actions[bot]@users.noreply"
                                                 ".github.com", "Bot")

    def __repr__(self) -> str:
        return f"GitHubSim({self.url}, repos={len(self.repos)})"

    # --- time and ids ------------------------------------------------------------------------

    def now(self) -> float:
        return float(self._clock())

    def next_id(self, kind: str) -> int:
        if kind not in self._counters:
            self._counters[kind] = itertools.count(_ID_BASES.get(kind, 20_000_000) + 1)
        return next(self._counters[kind])

    # --- users and apps ----------------------------------------------------------------------

    def add_user(self, login: str, *, name: str | None = None, email: str | None = None,
                 type: str = "User") -> dict[str, Any]:
        existing = self.users.get(login)
        if existing is None:
            user_id = self.next_id("user")
            existing = User(login, user_id, name,
                            email or f"{user_id}+{login}@users.noreply.github.com", type)
            self.users[login] = existing
        else:
            existing.name = name or existing.name
            existing.email = email or existing.email
            existing.type = type
        self._emails[existing.email.lower()] = login
        return self.shapes.user_required(login)

    def user(self, login: str) -> User:
        """The user called `login`, created on first mention (bots end in "[bot]")."""
        if login not in self.users:
            self.add_user(login, type="Bot" if login.endswith("[bot]") else "User")
        return self.users[login]

    def user_by_email(self, email: str) -> User | None:
        login = self._emails.get(email.lower())
        return self.users.get(login) if login else None

    @property
    def app_bot_login(self) -> str:
        return f"{self.app_slug}[bot]"

    @property
    def app_private_key(self) -> bytes:
        """The private key matching the app public key the simulator generated (tests only)."""
        if self._keys is None:
            raise RuntimeError("the simulator was given an app public key; sign with its pair")
        return self._keys.private_pem

    def app_identity(self, slug: str) -> tuple[int, str]:
        if slug not in self._apps:
            self._apps[slug] = (self.next_id("app"), slug.replace("-", " ").title())
        return self._apps[slug]

    def register_app_from_manifest(self, manifest: dict[str, Any], name: str, owner: str, *,
                                   with_webhook_secret: bool = True) -> dict[str, Any]:
        """Register the App a manifest describes; it becomes the App this simulator serves.
        Answers the conversion's body (the App, its pem, webhook secret, client secret)."""
        slug = "-".join("".join(c if c.isalnum() else " " for c in name.lower()).split())
        if not slug or slug in self._apps:
            raise ApiError(422, "Validation Failed", errors=[
                {"resource": "Integration", "code": "custom", "field": "name",
                 "message": "Name is already in use"}])
        pem, public = new_app_key()
        self.app_id = self.next_id("app")
        self.app_slug = slug
        self._apps[slug] = (self.app_id, name)
        self._keys = None
        self._public_key = public
        self.app_owner = owner
        self.add_user(owner, type="Organization")
        self.add_user(self.app_bot_login, type="Bot")
        hook = manifest.get("hook_attributes") or {}
        self.webhook_url = hook.get("url") if hook.get("active", True) else None
        self.webhook_secret = secrets.token_hex(20) if with_webhook_secret else ""
        self.app_permissions = {"metadata": "read",
                                **{str(k): str(v) for k, v in
                                   (manifest.get("default_permissions") or {}).items()}}
        self.app_events = [str(e) for e in manifest.get("default_events") or []]
        shaped = self.shapes.app(slug)
        shaped["events"] = list(self.app_events)
        shaped["description"] = str(manifest.get("description") or "")
        shaped["external_url"] = str(manifest.get("url") or shaped["external_url"])
        return {
            **shaped,
            "client_id": f"Iv1.{secrets.token_hex(8)}",
            "client_secret": secrets.token_hex(20),
            "webhook_secret": self.webhook_secret or None,
            "pem": pem,
        }

    def bot_login_for(self, app_slug: str) -> str:
        login = f"{app_slug}[bot]"
        self.user(login)
        return login

    # --- repositories ------------------------------------------------------------------------

    def create_repo(self, full_name: str, *, default_branch: str = "main",
                    installation_id: int | None = 1, allow_auto_merge: bool = True,
                    private: bool = False, **settings: bool) -> SimRepo:
        """A repository with a README on `default_branch`; `settings` as SimRepo.configure."""
        owner, _, name = full_name.partition("/")
        if not owner or not name or "/" in name:
            raise ValueError(f"expected owner/name, got {full_name!r}")
        if full_name.lower() in self.repos:
            raise ValueError(f"{full_name} exists already")
        self.user(owner)
        repo = SimRepo(self, owner, name, repo_id=self.next_id("repo"),
                       default_branch=default_branch, installation_id=installation_id,
                       allow_auto_merge=allow_auto_merge, private=private,
                       git_dir=self.workdir / "git" / owner / f"{name}.git")
        repo.configure(**settings)
        self.repos[full_name.lower()] = repo
        readme = f"# {name}\n".encode()
        ident = repo.ident(owner)
        blob = repo.store.write_blob(readme)
        tree = repo.store.write_tree([TreeEntry("100644", "blob", blob, "README.md")])
        sha = repo.store.write_commit(tree, [], "Initial commit\n", ident, ident)
        repo.move_ref(f"refs/heads/{default_branch}", sha, owner, notify=False)
        if installation_id is not None:
            fresh = installation_id not in self.installations
            inst = self.installations.setdefault(
                installation_id, Installation(installation_id, owner, self.now()))
            inst.repos.append(full_name.lower())
            if fresh:
                self.emit("installation", "created", None, owner,
                          installation=self.shapes.installation(installation_id),
                          repositories=[{"id": repo.id, "node_id": repo.node_id, "name": name,
                                         "full_name": full_name, "private": private}])
        return repo

    def repo(self, full_name: str) -> SimRepo:
        return self.repos[full_name.lower()]

    def can_see(self, ctx: Ctx, repo: SimRepo) -> bool:
        if ctx.installation_id is not None:
            inst = self.installations.get(ctx.installation_id)
            return inst is not None and repo.full_name.lower() in inst.repos
        if ctx.actor is None:
            return not repo.private
        return not repo.private or repo.permission_of(ctx.actor) != "none"

    # --- tokens ------------------------------------------------------------------------------

    def create_token(self, login: str) -> str:
        """A personal access token acting as `login` (for CLI use and tests); never expires."""
        self.user(login)
        token = new_token("ghp_")
        self._tokens[token] = Token("user", login, None)
        return token

    def issue_installation_token(self, installation_id: int,
                                 permissions: dict[str, str] | None = None) -> tuple[str, Token]:
        token = new_token("ghs_")
        record = Token("installation", self.app_bot_login, self.now() + self.token_ttl,
                       installation_id, permissions or dict(self.app_permissions))
        self._tokens[token] = record
        self.issued_tokens.append(token)
        return token, record

    def installation_token(self, installation_id: int = 1) -> str:
        """A fresh installation token without the JWT dance (tests of other parts)."""
        return self.issue_installation_token(installation_id)[0]

    # --- test controls -----------------------------------------------------------------------

    @property
    def violations(self) -> list[str]:
        """Everything GitHub would have refused or that does not match its published schemas."""
        while self._unchecked:
            self._violations += payload_problems(self._unchecked.pop(0))
        return self._violations

    def reset_calls(self) -> None:
        self.calls.clear()
        self.blobs_read.clear()
        self.blobs_written.clear()
        self.call_log.clear()
        self.graphql_forbidden.clear()

    def inject(self, method: str, template: str, *, status: int, times: int = 1,
               headers: dict[str, str] | None = None, body: Any = None) -> None:
        """The next `times` requests to (method, template) get this answer instead."""
        self._injections.append(_Injection(method.upper(), template, status, times, headers,
                                           body))

    def outage(self, seconds: float, *, seed: int = 0) -> None:
        """GitHub unreachable for `seconds` of the simulator's clock: every API request
        (REST and GraphQL) meets what an outage looks like from outside, chosen by a seeded
        draw: 502, 503 or 504 from the edge, or the connection cut before any answer. The
        request is not applied. Webhooks still go out (GitHub queues them on its side)."""
        self._outage_until = self.now() + seconds
        self._outage_draw = random.Random(seed)

    def hold(self, method: str, template: str, *, when: Callable[[Any], bool] | None = None,
             times: int = 1) -> Hold:
        """The next `times` requests to (method, template) whose body passes `when` wait, not
        done, until `release_holds()`; `hold.reached` is set when the first one arrives.
        GraphQL: template "/graphql", `when` sees the request body (query and variables)."""
        held = Hold(method.upper(), template, when, times)
        self._holds.append(held)
        return held

    def release_holds(self) -> None:
        """Held requests are answered 502, not done (their sender is usually gone)."""
        for held in self._holds:
            held.released.set()
        self._holds.clear()

    async def _held(self, method: str, template: str, body: Any) -> bool:
        for held in self._holds:
            if held.matches(method, template, body):
                held.held += 1
                held.reached.set()
                await held.released.wait()
                return True
        return False

    def _fault_reply(self, kind: str) -> Reply:
        if kind == "500":
            return Reply(500, {"message": "Server Error", "documentation_url": DOCS})
        if kind in ("429", "403"):
            assert self.api_faults is not None
            return Reply(int(kind), {"message": SECONDARY_LIMIT_MESSAGE, "documentation_url": DOCS},
                         {"retry-after": str(self.api_faults.retry_after)})
        raise ValueError(kind)

    def _bad_gateway(self, method: str, path: str) -> web.Response:
        """GitHub's front end answering for a backend that did not: HTML, not JSON."""
        self.call_log.append((method, path, 502))
        return web.Response(status=502, text="<html><body><h1>502 Bad Gateway</h1></body></html>",
                            content_type="text/html")

    def _faulted(self, request: web.Request, method: str, path: str, kind: str,
                 rate: dict[str, str]) -> web.StreamResponse:
        if kind.endswith("reset"):
            self.call_log.append((method, path, 0))
            if request.transport is not None:
                request.transport.abort()  # the connection drops: no answer at all
            return web.Response(status=502)
        if kind.endswith("502"):
            return self._bad_gateway(method, path)
        return self._respond(method, path, self._fault_reply(kind), rate)

    def spend_graphql_budget(self, *, reset_in: float, times: int = 1,
                             when: Callable[[str], bool] | None = None) -> _Spend:
        """The next `times` GraphQL requests whose query passes `when` find their caller's
        hourly GraphQL budget spent, its window resetting `reset_in` seconds later: GitHub's
        answer (HTTP 200, errors[].type RATE_LIMITED, nothing done) comes from the rate
        limiter itself; after the reset a new window starts, as on GitHub. `.times` counts
        down to 0 as they are met."""
        spend = _Spend(reset_in, when, times)
        self._graphql_spends.append(spend)
        return spend

    def _spend_if_asked(self, key: str, body: Any) -> None:
        query = body.get("query") if isinstance(body, dict) else None
        for spend in self._graphql_spends:
            if spend.when is None or (isinstance(query, str) and spend.when(query)):
                self._rate[key] = (self.now() + spend.reset_in - 3600, self.rate_limit)
                spend.times -= 1
                if spend.times <= 0:
                    self._graphql_spends.remove(spend)
                return

    def clear_injections(self) -> None:
        """GitHub works again: no injected answer is left."""
        self._injections.clear()

    def set_latency(self, template: str, seconds: float) -> None:
        self._latency[template] = seconds

    def _operation_name(self, method: str, path: str) -> str:
        match = self.openapi.match(method, path)
        return f"{method} {match.template if match else path}"

    # --- webhooks ----------------------------------------------------------------------------

    def build_payload(self, event: str, action: str | None, repo: SimRepo | None,
                      **objects: Any) -> dict[str, Any]:
        return build_payload(self, event, action, repo, **objects)

    def emit(self, event: str, action: str | None, repo: Any, actor: str,
             **objects: Any) -> dict[str, Any]:
        payload = build_payload(self, event, action, repo, sender=actor, **objects)
        record = new_delivery(event, payload)
        if repo is not None:
            repo.changes += 1
            repo.changed_at = self.now()
        if event not in self.app_events and event not in ALWAYS_DELIVERED:
            record["status"] = None
            record["unsubscribed"] = True
            return record  # the App did not subscribe: GitHub sends nothing
        self.deliveries.append(record)
        self._unchecked.append(record)
        if self.webhook_url is not None and self._deliverer is not None:
            self._deliverer.enqueue(record, encode(payload))
        return record

    async def send_webhook(self, event: str, payload: dict[str, Any]) -> int:
        """Sign and POST an arbitrary payload now; the app's HTTP status."""
        if self._deliverer is None:
            raise RuntimeError("start the simulator first")
        record = new_delivery(event, payload)
        self.deliveries.append(record)
        status = await self._deliverer.attempt(record, encode(payload))
        if status is None:
            raise aiohttp.ClientConnectionError(record.get("error", "no answer"))
        return status

    def redeliver(self, attempt: Attempt) -> None:
        """Send a logged delivery again (same guid, same body), after what is queued."""
        if self._deliverer is not None:
            self._deliverer.enqueue(attempt.record, attempt.body, redelivery=True)

    def spawn(self, coro: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._task_done)

    def _task_done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            error = task.exception()
            self._violations.append(f"simulator task failed: {type(error).__name__}: {error}")
            log.error("simulator task failed", exc_info=error)

    async def drain(self) -> None:
        """Wait until background work is done and every queued delivery was answered."""
        while True:
            if self._tasks:
                await asyncio.gather(*list(self._tasks), return_exceptions=True)
                continue
            if self._deliverer is not None and self._deliverer.release_held():
                continue
            if self._deliverer is not None and not self._deliverer.idle:
                await self._deliverer.wait_idle()
                continue
            await asyncio.sleep(0)
            if not self._tasks and (self._deliverer is None or self._deliverer.idle):
                self.violations  # noqa: B018  (checks the payloads of what was delivered)
                return

    # --- server ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application(client_max_size=50 * 1024 * 1024,
                              middlewares=[self.meter.middleware])
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = int(self._runner.addresses[0][1])
        self.url = f"http://127.0.0.1:{port}"
        if self.enterprise:
            self.html_url = self.url
            self.url += "/api/v3"
        self._deliverer = Deliverer(self)
        self._deliverer.start()

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)
        if self._deliverer is not None:
            await self._deliverer.close()
            self._deliverer = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        for repo in self.repos.values():
            repo.store.close()

    async def __aenter__(self) -> GitHubSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # --- request handling --------------------------------------------------------------------

    def _spend_points(self, key: str, points: int) -> None:
        """GraphQL's budget is in points: a query costing more than one spends the rest."""
        if points > 0 and key in self._rate:
            start, used = self._rate[key]
            self._rate[key] = (start, used + points)

    def _rate_headers(self, key: str, limit: int, resource: str = "core") -> dict[str, str]:
        """Count one request against the caller's hourly budget; 403 once it is spent."""
        now = self.now()
        start, used = self._rate.get(key, (now, 0))
        if now - start >= 3600:
            start, used = now, 0
        used += 1
        self._rate[key] = (start, used)
        headers = {
            "x-ratelimit-limit": str(limit),
            "x-ratelimit-remaining": str(max(limit - used, 0)),
            "x-ratelimit-reset": str(int(start + 3600)),
            "x-ratelimit-used": str(min(used, limit)),
            "x-ratelimit-resource": resource,
        }
        if used > limit:
            kind, _, ident = key.rpartition(":")
            who = {"token": "installation ID", "graphql:token": "installation ID"}.get(kind, kind)
            raise ApiError(403, f"API rate limit exceeded for {who} {ident}.", headers=headers)
        return headers

    def _caller(self, request: web.Request, template: str) -> _Caller:
        auth = parse_authorization(request.headers.get("Authorization"))
        app_endpoint = template == "/app" or template.startswith("/app/")
        if app_endpoint:
            if auth is None or auth[0] != "bearer" or not looks_like_jwt(auth[1]):
                raise ApiError(401, "A JSON web token could not be decoded")
            verify_app_jwt(auth[1], public_key=self._public_key, app_id=self.app_id,
                           now=self.now())
            return _Caller(None, None, f"app:{self.app_id}")
        if auth is None:
            if template == "/app-manifests/{code}/conversions":
                return _Caller(None, None, f"anon:{request.remote}")  # the code is the secret
            if request.method != "GET":
                raise ApiError(401, "Requires authentication")
            return _Caller(None, None, f"anon:{request.remote}")
        token = self._tokens.get(auth[1])
        if token is None or (token.expires_at is not None and token.expires_at <= self.now()):
            raise ApiError(401, "Bad credentials")
        # GitHub counts an installation's requests together, whichever of its tokens is used.
        bucket = (f"token:{token.installation_id}" if token.installation_id is not None
                  else f"user:{token.login}")
        return _Caller(token.login, token.installation_id, bucket,
                       permissions=token.permissions)

    def _authorize(self, ctx: Ctx, caller: _Caller) -> None:
        """GitHub's permission checks: the App's grants for tokens, the role for people."""
        repo = self.repos.get(f"{ctx.params.get('owner')}/{ctx.params.get('repo')}".lower())
        if repo is None or not self.can_see(ctx, repo):
            return  # the handler answers 404
        if caller.installation_id is not None:
            check_installation(ctx.template, ctx.method, caller.permissions or {})
        elif caller.actor is not None:
            check_person(repo.permission_of(caller.actor), ctx.template, ctx.method)

    async def _unreachable(
        self, request: web.Request, method: str, path: str
    ) -> web.StreamResponse:
        kind = self._outage_draw.choice(["502", "503", "504", "reset"])
        self.outage_answers.append(kind)
        if kind == "reset":
            self.call_log.append((method, path, 0))
            if request.transport is not None:
                request.transport.close()  # the client sees the connection dropped
            return web.Response(status=502)  # never reaches the client
        status = int(kind)
        self.call_log.append((method, path, status))
        # An edge's HTML error page, as GitHub's front answers when the API is down.
        return web.Response(status=status, text=f"<html><body>{status}</body></html>",
                            content_type="text/html")

    def _injected(self, method: str, template: str) -> _Injection | None:
        for injection in self._injections:
            if injection.method == method and injection.template == template:
                injection.times -= 1
                if injection.times <= 0:
                    self._injections.remove(injection)
                return injection
        return None

    def _expire_queue_groups(self) -> None:
        """Merge queues whose group waited past the status check timeout give it up."""
        for repo in self.repos.values():
            if any(repo.queue_entries.values()):
                repo.expire_groups()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        method = request.method.upper()
        path = request.raw_path.split("?", 1)[0]
        if ManifestFlow.owner_of(path) is not None:  # the web: GitHub's new-app page
            return await self.manifests.handle(request, path)
        if self.now() < self._outage_until:
            return await self._unreachable(request, method, path)
        self._expire_queue_groups()
        raw = await request.read()
        body: Any = None
        if raw:
            try:
                body = json.loads(raw)
            except ValueError:
                return self._respond(method, path, Reply(400, {
                    "message": "Problems parsing JSON", "documentation_url": DOCS}), {})
        if self.enterprise:
            if path == "/api/graphql" and method == "POST":
                return await self._handle_graphql(request, path, body)
            if path != "/api/v3" and not path.startswith("/api/v3/"):
                # GHES answers the web (HTML) outside /api/v3: no API there.
                return web.Response(status=404, text="Not Found", content_type="text/html")
            path = path.removeprefix("/api/v3") or "/"
        elif path in ("/graphql", "/api/graphql") and method == "POST":
            return await self._handle_graphql(request, path, body)
        match, problems = self.openapi.check(method, path, body)
        if match is None:
            self._violations.append(f"unknown endpoint: {method} {path} (not in GitHub's API)")
            return self._respond(method, path, Reply(404, {
                "message": "Not Found", "documentation_url": DOCS, "status": "404"}), {})
        template = match.template
        self.calls[f"{method} {template}"] += 1
        delay = self._latency.get(template)
        if delay:
            await asyncio.sleep(delay)
        rate: dict[str, str] = {}
        try:
            caller = self._caller(request, template)
            rate = self._rate_headers(caller.key, self.rate_limit if caller.key[:5] != "anon:"
                                      else _ANON_RATE_LIMIT)
            self._secondary_limit(method, caller)
            injected = self._injected(method, template)
            if injected is not None:
                return self._respond(method, path, self._injection_reply(injected), rate)
            if await self._held(method, template, body):
                return self._bad_gateway(method, path)
            fault = self.api_faults.pick(method, path) if self.api_faults else None
            if fault is not None and not fault.startswith("applied-"):
                return self._faulted(request, method, path, fault, rate)
            refused, unknown = self.openapi.query_problems(method, template, request.query)
            for name in unknown:
                # GitHub ignores it: whatever the caller meant it to do, it does nothing.
                self._violations.append(f"unknown query parameter {method} {path}: {name!r} "
                                        f"(GitHub ignores it)")
            problems = problems + refused
            if problems:
                for problem in problems:
                    self._violations.append(f"invalid request {method} {path}: {problem}")
                raise ApiError(422, "Invalid request.\n\n" + "\n".join(problems))
            handler = ROUTES.get((method, template))
            if handler is None:
                self._violations.append(f"not simulated: {method} {template}")
                raise ApiError(501, f"not simulated: {method} {template}")
            ctx = Ctx(self, method, path, template, match.params, request.query, body,
                      caller.actor, caller.installation_id, str(request.url))
            self._authorize(ctx, caller)
            reply = self._as_documented(method, template, path, await call_handler(handler, ctx))
            if method == "GET" and self.read_lag > 0:
                reply = self._lagging(f"{caller.key} {request.path_qs}", match.params, reply)
            if fault is not None:  # done, and then the answer is lost
                return self._faulted(request, method, path, fault.removeprefix("applied-"), rate)
        except ApiError as error:
            reply = Reply(error.status, error.body(), error.headers)
        except Exception as error:  # a simulator bug must be loud, not a hang or a 200
            log.exception("simulator error on %s %s", method, path)
            self._violations.append(f"simulator error on {method} {path}: "
                                   f"{type(error).__name__}: {error}")
            reply = Reply(500, {"message": "Server Error", "documentation_url": DOCS})
        return self._respond(method, path, reply, rate)

    def _secondary_limit(self, method: str, caller: _Caller) -> None:
        """403/429 with retry-after once content-creating requests come too fast."""
        if self.secondary_limit is None or method in ("GET", "HEAD") or caller.key[:4] == "app:":
            return
        wait = self.secondary_limit.retry_after(caller.key, self.now())
        if wait is not None:
            raise ApiError(self.secondary_limit.status, SECONDARY_LIMIT_MESSAGE,
                           headers={"retry-after": str(wait)})

    def _lagging(self, key: str, params: dict[str, str], reply: Reply) -> Reply:
        """A read made within `read_lag` of a change answers what the same read answered
        before it (a lagging replica), so the webhook can arrive before the REST view."""
        repo = self.repos.get(f"{params.get('owner')}/{params.get('repo')}".lower())
        if repo is None or reply.status >= 300:
            return reply
        cached = self._read_cache.get(key)
        if (cached is not None and cached[0] < repo.changes
                and self.now() - repo.changed_at < self.read_lag):
            return cached[1]
        self._read_cache[key] = (repo.changes, reply)
        return reply

    def _as_documented(self, method: str, template: str, path: str, reply: Reply) -> Reply:
        """The handler's answer checked against GitHub's response schema and trimmed to it."""
        if reply.status >= 300:
            return reply  # GitHub answers errors on any route; their bodies are loosely documented
        declared, schema = self.openapi.answer_schema(method, template, reply.status)
        where = f"answer {reply.status} to {method} {path}"
        if not declared:
            self._violations.append(f"{where}: GitHub does not answer {method} {template} "
                                    f"with {reply.status}")
            return reply
        if schema is None or reply.body is None:
            return reply
        self._violations += [f"{where}: {p}" for p in schema.problems(reply.body)]
        trimmed = schema.trim(reply.body)
        if not reply.short_shape:
            self._violations += [f"{where}: field '{name}' is not in GitHub's schema"
                                 for name in dropped_fields(reply.body, trimmed)]
        reply.body = trimmed
        return reply

    def _injection_reply(self, injection: _Injection) -> Reply:
        body = injection.body
        if body is None and injection.status >= 400:
            body = {"message": http.HTTPStatus(injection.status).phrase,
                    "documentation_url": DOCS}
        return Reply(injection.status, body, dict(injection.headers or {}))

    def _respond(self, method: str, path: str, reply: Reply,
                 rate: dict[str, str]) -> web.Response:
        self.call_log.append((method, path, reply.status))
        headers = {
            **rate,
            "x-github-api-version-selected": "2022-11-28",
            "x-github-request-id": uuid.uuid4().hex[:16].upper(),
            **reply.headers,
        }
        if reply.status == 204 or reply.body is None:
            return web.Response(status=reply.status, headers=headers)
        return web.Response(status=reply.status, headers=headers,
                            body=json.dumps(reply.body).encode(),
                            content_type="application/json", charset="utf-8")

    async def _handle_graphql(self, request: web.Request, path: str,
                              body: Any) -> web.StreamResponse:
        self.calls["POST /graphql"] += 1
        delay = self._latency.get("/graphql")
        if delay:
            await asyncio.sleep(delay)
        rate: dict[str, str] = {}
        try:
            caller = self._caller(request, "/graphql")
            if caller.actor is None:
                raise ApiError(401, "This endpoint requires you to be authenticated.")
            self._spend_if_asked(f"graphql:{caller.key}", body)
            try:
                rate = self._rate_headers(f"graphql:{caller.key}", self.rate_limit, "graphql")
            except ApiError as spent:
                # GraphQL says so in its own shape: HTTP 200, errors[].type RATE_LIMITED.
                return self._respond("POST", path, Reply(200, {"errors": [
                    {"type": "RATE_LIMITED", "message": spent.message}]}, spent.headers),
                    spent.headers)
            injected = self._injected("POST", "/graphql")
            if injected is not None:
                return self._respond("POST", path, self._injection_reply(injected), rate)
            if await self._held("POST", "/graphql", body):
                return self._bad_gateway("POST", path)
            fault = self.api_faults.pick("POST", path) if self.api_faults else None
            if fault is not None and not fault.startswith("applied-"):
                return self._faulted(request, "POST", path, fault, rate)
        except ApiError as error:
            return self._respond("POST", path, Reply(error.status, error.body(), error.headers),
                                 rate)
        if not isinstance(body, dict) or not isinstance(body.get("query"), str):
            self._violations.append("graphql: request body has no query string")
            return self._respond("POST", path, Reply(200, {"errors": [
                {"message": "A query attribute must be specified and must be a string."}]}), rate)
        query: str = body["query"]
        variables = body.get("variables") or {}
        problems = validate_graphql(query, variables)
        if problems:
            for problem in problems:
                self._violations.append(f"graphql: {problem}")
            return self._respond("POST", path, Reply(200, {"errors": [
                {"message": p, "type": "INVALID"} for p in problems]}), rate)
        if is_mutation(query, body.get("operationName")):
            try:
                self._secondary_limit("POST", caller)
            except ApiError as error:
                return self._respond("POST", path, Reply(error.status, error.body(),
                                                         error.headers), rate)
        pages = pagination_problems(query, variables)
        if pages:
            self._violations += [f"graphql: {message}" for _, message in pages]
            return self._respond("POST", path, Reply(200, {"errors": [
                {"type": kind, "message": message} for kind, message in pages]}), rate)
        nodes, points = query_cost(query, variables)
        if nodes > MAX_NODES:
            message = (f"This query requests up to {nodes:,} possible nodes which exceeds the "
                       f"maximum limit of {MAX_NODES:,}.")
            self._violations.append(f"graphql: {message}")
            return self._respond("POST", path, Reply(200, {"errors": [
                {"type": "MAX_NODE_LIMIT_EXCEEDED", "message": message}]}), rate)
        # The call was counted as one point; a costlier query spends the rest of its cost.
        self._spend_points(f"graphql:{caller.key}", points - 1)
        answer = execute_graphql(self, caller.actor, caller.installation_id, query, variables,
                                 body.get("operationName"), caller.permissions)
        if fault is not None:  # done (a mutation applied), and then the answer is lost
            return self._faulted(request, "POST", path, fault.removeprefix("applied-"), rate)
        return self._respond("POST", path, Reply(200, answer), rate)
