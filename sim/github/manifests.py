"""GitHub's side of the App manifest flow: the new-app page, the code, the conversion.

1. `POST /settings/apps/new?state=S` (or `/organizations/ORG/settings/apps/new`) with a
   form field `manifest` (JSON): GitHub checks the manifest and shows the "Create GitHub
   App" page (name editable). Errors are shown on the page (422), nothing is created.
2. The person submits it (`POST /settings/apps/new/create` here): the App is registered and
   the browser is sent to the manifest's `redirect_url?code=C&state=S`.
3. `POST /app-manifests/{code}/conversions` (no authentication) answers 201 with the App,
   its `pem`, `webhook_secret`, client id and secret; a code works once, for one hour.
   `PATCH /app/hook/config` (App JWT) changes the webhook's secret or URL.

The simulator models one App at a time: the registered App becomes the one whose JWTs it
verifies and whose webhook it delivers to, with the manifest's permissions and events.
"""

from __future__ import annotations

import html
import json
import secrets
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urlsplit

from aiohttp import web
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from sim.github.routes import ApiError, Ctx, Reply, not_found, route

if TYPE_CHECKING:
    from sim.github.server import GitHubSim

CODE_TTL = 3600.0  # "You must complete all three steps ... within one hour."
NEW_APP_PATHS = ("/settings/apps/new", "/settings/apps/new/create")

# An App may only subscribe to an event one of whose permissions it asks for
# (GitHub refuses the registration otherwise).
EVENT_PERMISSIONS: dict[str, tuple[str, ...]] = {
    "check_run": ("checks",),
    "check_suite": ("checks",),
    "commit_comment": ("contents",),
    "create": ("contents",),
    "delete": ("contents",),
    "deployment": ("deployments",),
    "deployment_status": ("deployments",),
    "issue_comment": ("issues", "pull_requests"),
    "issues": ("issues",),
    "label": ("metadata",),
    # "To subscribe to this event, a GitHub App must have at least read-level access for the
    # 'Merge queues' repository permission."
    "merge_group": ("merge_queues",),
    "pull_request": ("pull_requests",),
    "pull_request_review": ("pull_requests",),
    "pull_request_review_comment": ("pull_requests",),
    "push": ("contents",),
    "repository": ("metadata",),
    "status": ("statuses",),
    "workflow_job": ("actions",),
    "workflow_run": ("actions",),
}
PERMISSION_LEVELS: dict[str, tuple[str, ...]] = {
    "actions": ("read", "write"),
    "administration": ("read", "write"),
    "checks": ("read", "write"),
    "contents": ("read", "write"),
    "deployments": ("read", "write"),
    "issues": ("read", "write"),
    "members": ("read", "write"),
    "merge_queues": ("read", "write"),
    "metadata": ("read",),
    "pull_requests": ("read", "write"),
    "statuses": ("read", "write"),
}


@dataclass
class PendingApp:
    code: str
    expires_at: float
    manifest: dict[str, Any]
    name: str
    owner: str
    used: bool = False


def manifest_problems(manifest: Any) -> list[str]:
    """What GitHub's new-app page would refuse in a manifest (empty: acceptable)."""
    if not isinstance(manifest, dict):
        return ["manifest must be a JSON object"]
    problems = []
    if not _is_url(manifest.get("url")):
        problems.append("url is required and must be a URL")
    hook = manifest.get("hook_attributes")
    if hook is not None and (not isinstance(hook, dict) or not _is_url(hook.get("url"))):
        problems.append("hook_attributes.url is required and must be a URL")
    if manifest.get("redirect_url") is not None and not _is_url(manifest.get("redirect_url")):
        problems.append("redirect_url must be a URL")
    permissions = manifest.get("default_permissions") or {}
    if not isinstance(permissions, dict):
        return [*problems, "default_permissions must be an object"]
    for name, level in permissions.items():
        if level not in PERMISSION_LEVELS.get(name, ()):
            problems.append(f"default_permissions: {name}: {level} is not a permission level")
    events = manifest.get("default_events") or []
    if not isinstance(events, list):
        return [*problems, "default_events must be a list"]
    for event in events:
        needs = EVENT_PERMISSIONS.get(event)
        if needs is None:
            problems.append(f"Default events unsupported: {event}")
        elif event not in ("label", "repository") and not any(p in permissions for p in needs):
            problems.append(
                f"Default events are not supported by permissions: {event} "
                f"(needs {' or '.join(needs)})"
            )
    return problems


def _is_url(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


class ManifestFlow:
    """The web half (new-app page) of the flow, and the pending codes it hands out."""

    def __init__(self, sim: GitHubSim) -> None:
        self.sim = sim
        self.pending: dict[str, PendingApp] = {}
        # Like GitHub when a manifest has no webhook: the conversion's webhook_secret is null.
        self.omit_webhook_secret = False

    @staticmethod
    def owner_of(path: str) -> str | None:
        """`octo-org` for /organizations/octo-org/settings/apps/new[/create]; "" for a user."""
        for tail in NEW_APP_PATHS:
            if path == tail:
                return ""
            if path.startswith("/organizations/") and path.endswith(tail):
                org = path.removeprefix("/organizations/").removesuffix(tail)
                if org and "/" not in org:
                    return org
        return None

    async def handle(self, request: web.Request, path: str) -> web.Response:
        if request.method != "POST":
            return _page(405, "Method Not Allowed", "<p>Post the manifest form.</p>")
        owner = self.owner_of(path)
        assert owner is not None
        form = parse_qs((await request.read()).decode("utf-8", "replace"), keep_blank_values=True)
        raw = (form.get("manifest") or [""])[0]
        state = request.query.get("state") or (form.get("state") or [""])[0]
        try:
            manifest = json.loads(raw)
        except ValueError:
            manifest = None
        problems = ["manifest is not JSON"] if manifest is None else manifest_problems(manifest)
        if problems:
            items = "".join(f"<li>{html.escape(p)}</li>" for p in problems)
            return _page(422, "Invalid GitHub App manifest", f"<ul class='errors'>{items}</ul>")
        owner_login = owner or self.sim.app_owner
        if path.endswith("/create"):
            name = (form.get("name") or [""])[0].strip() or str(manifest.get("name") or "")
            return self._create(manifest, name, owner_login, state)
        return self._new_app_page(path, manifest, state, owner_login)

    def _new_app_page(self, path: str, manifest: dict[str, Any], state: str,
                      owner: str) -> web.Response:
        action = html.escape(path + "/create" + (f"?{urlencode({'state': state})}"
                                                if state else ""))
        body = (
            f"<h1>Create GitHub App for {html.escape(owner)}</h1>"
            f"<form method='post' action='{action}'>"
            f"<input type='text' name='name' value='{html.escape(str(manifest.get('name', '')))}'>"
            f"<input type='hidden' name='manifest' value='{html.escape(json.dumps(manifest))}'>"
            "<button type='submit'>Create GitHub App</button></form>"
        )
        return _page(200, "Create GitHub App", body)

    def _create(self, manifest: dict[str, Any], name: str, owner: str,
                state: str) -> web.Response:
        if not name:
            return _page(422, "Invalid GitHub App manifest", "<p>Name can't be blank</p>")
        redirect = manifest.get("redirect_url")
        if not redirect:
            return _page(200, "GitHub App created", "<p>No redirect_url: nothing to send.</p>")
        code = secrets.token_hex(20)
        self.pending[code] = PendingApp(code, self.sim.now() + CODE_TTL, manifest, name, owner)
        query = {"code": code, **({"state": state} if state else {})}
        separator = "&" if "?" in redirect else "?"
        raise web.HTTPFound(f"{redirect}{separator}{urlencode(query)}")

    def convert(self, code: str) -> dict[str, Any]:
        pending = self.pending.get(code)
        if pending is None or pending.used or pending.expires_at <= self.sim.now():
            raise not_found()
        pending.used = True
        return self.sim.register_app_from_manifest(
            pending.manifest, pending.name, pending.owner,
            with_webhook_secret=not self.omit_webhook_secret,
        )


def new_app_key() -> tuple[str, bytes]:
    """(private PEM as GitHub hands it out, public PEM)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(serialization.Encoding.PEM,
                                serialization.PrivateFormat.TraditionalOpenSSL,
                                serialization.NoEncryption()).decode()
    public = key.public_key().public_bytes(serialization.Encoding.PEM,
                                           serialization.PublicFormat.SubjectPublicKeyInfo)
    return private, public


def _page(status: int, title: str, body: str) -> web.Response:
    text = (f"<!DOCTYPE html><html><head><title>{html.escape(title)} · GitHub</title></head>"
            f"<body>{body}</body></html>")
    return web.Response(status=status, text=text, content_type="text/html")


@route("POST", "/app-manifests/{code}/conversions")
def create_from_manifest(ctx: Ctx) -> Reply:
    return Reply(201, ctx.sim.manifests.convert(ctx.params["code"]))


def _hook_config(sim: GitHubSim) -> dict[str, Any]:
    return {
        "content_type": "json",
        "insecure_ssl": "0",
        "url": sim.webhook_url or "",
        **({"secret": "********"} if sim.webhook_secret else {}),
    }


@route("GET", "/app/hook/config")
def get_hook_config(ctx: Ctx) -> Reply:
    return Reply(200, _hook_config(ctx.sim))


@route("PATCH", "/app/hook/config")
def update_hook_config(ctx: Ctx) -> Reply:
    body = ctx.body if isinstance(ctx.body, dict) else {}
    url = body.get("url")
    if url is not None and not _is_url(url):
        raise ApiError(422, "Validation Failed",
                       errors=[{"resource": "Hook", "code": "custom", "field": "url",
                                "message": "url is not a valid URL"}])
    if url is not None:
        ctx.sim.webhook_url = url
    if isinstance(body.get("secret"), str):
        ctx.sim.webhook_secret = body["secret"]
    return Reply(200, _hook_config(ctx.sim))
