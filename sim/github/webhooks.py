"""Webhook payloads built from GitHub's published examples, and their signed, FIFO delivery."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import hmac
import json
import time
import uuid
from collections import deque
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import aiohttp

from sim.github.hook_deliveries import status_of
from sim.paths import shared_github_dir
from sim.validators.webhook_schemas import validate_webhook

if TYPE_CHECKING:
    from sim.github.repo_base import RepoBase
    from sim.github.server import GitHubSim

HOOK_ID = 424242
USER_AGENT = "GitHub-Hookshot/5a1f2c3"
# Keys every payload gets from the simulator itself, never from an example.
_COMMON = ("action", "repository", "sender", "installation", "organization")


@cache
def _example(event: str, action: str | None) -> dict[str, Any]:
    """The closest published example: "<action>.with-installation", "<action>", any other."""
    folder = shared_github_dir() / "webhook-examples" / event
    names: list[str] = []
    if action:
        names += [f"{action}.with-installation.payload.json", f"{action}.payload.json"]
        names += sorted(p.name for p in folder.glob(f"{action}.*json"))
    names += ["with-installation.payload.json", "payload.json"]
    for name in names:
        path: Path = folder / name
        if path.is_file():
            loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
            return loaded
    for path in sorted(folder.glob("*.json")):
        fallback: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return fallback
    raise FileNotFoundError(f"no webhook example for {event}")


def build_payload(sim: GitHubSim, event: str, action: str | None, repo: RepoBase | None,
                  **objects: Any) -> dict[str, Any]:
    """GitHub's example for (event, action) filled with the simulator's objects.

    `sender` may be a login or a user object; every other keyword replaces the example's key
    of the same name. Example keys left unfilled are dropped rather than leaking sample data.
    """
    example = _example(event, action)
    sender = objects.pop("sender", None)
    if event == "push" and repo is not None and "ref" in objects and "commits" not in objects:
        # Given ref (and before/after), the rest of a push payload is derived from git.
        ref = objects.pop("ref")
        after = objects.pop("after", None) or repo.store.refs().get(ref) or "0" * 40
        before = objects.pop("before", None) or "0" * 40
        pusher = sender if isinstance(sender, str) else (sender or {}).get("login", repo.owner)
        objects = {**push_objects(sim, repo, ref, before, after, pusher), **objects}
    if isinstance(sender, str):
        sender = sim.shapes.user(sender)
    shared: dict[str, Any] = {}
    if action is not None or "action" in example:
        shared["action"] = action
    if repo is not None:
        shared["repository"] = sim.shapes.repository(repo)
        owner = sim.users.get(repo.owner)
        if owner is not None and owner.type == "Organization":
            shared["organization"] = sim.shapes.organization(repo.owner)
        if repo.installation_id is not None:
            shared["installation"] = sim.shapes.installation_lite(repo.installation_id)
    if sender is not None:
        shared["sender"] = sender
    payload: dict[str, Any] = {}
    for key in example:
        if key in objects:
            payload[key] = objects.pop(key)
        elif key in shared:
            payload[key] = shared.pop(key)
        elif example[key] is None:
            payload[key] = None
    for key in _COMMON:
        if key in shared:
            payload[key] = shared.pop(key)
    payload.update(objects)
    return copy.deepcopy(payload)


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class Deliverer:
    """Sends queued deliveries one at a time, in order, from one background task; with
    `sim.delivery_faults` set, some are dropped, duplicated, held back or delayed."""

    def __init__(self, sim: GitHubSim) -> None:
        self.sim = sim
        self._queue: deque[dict[str, Any]] = deque()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._task: asyncio.Task[None] | None = None
        self._session: aiohttp.ClientSession | None = None
        # A delivery held back to go out after the next one (reordering).
        self._held: dict[str, Any] | None = None

    def start(self) -> None:
        # GitHub gives up on a delivery after 10 seconds.
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        self._task = asyncio.get_running_loop().create_task(self._run())

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
            self._task = None
        if self._session is not None:
            await self._session.close()
            self._session = None

    def enqueue(self, record: dict[str, Any], body: bytes, *, redelivery: bool = False) -> None:
        item: dict[str, Any] = {"record": record, "body": body, "due": self.sim.now(),
                                "copies": 1, "redelivery": redelivery}
        faults = self.sim.delivery_faults
        # Faults shape GitHub's first attempt; a redelivery asked for is made as asked.
        if faults is not None and not redelivery and faults.applies(record["event"]):
            if faults.roll(faults.drop):
                record["dropped"] = True  # GitHub gave up on it; nobody will hear of it
                return
            item["due"] += faults.delay
            if faults.roll(faults.duplicate):
                record["duplicated"] = True
                item["copies"] = 2  # a redelivery: same X-GitHub-Delivery
            if self._held is None and faults.roll(faults.reorder):
                record["reordered"] = True
                self._held = item
                return
        self._queue.extend([item] * item["copies"])
        self.release_held()
        self._idle.clear()
        self._wake.set()

    def release_held(self) -> bool:
        """Queue the delivery held back for reordering; True if there was one."""
        held, self._held = self._held, None
        if held is None:
            return False
        self._queue.extend([held] * held["copies"])
        self._idle.clear()
        self._wake.set()
        return True

    def _has_due(self) -> bool:
        now = self.sim.now()
        return any(item["due"] <= now for item in self._queue)

    def _take_due(self) -> dict[str, Any] | None:
        now = self.sim.now()
        for index, item in enumerate(self._queue):
            if item["due"] <= now:
                del self._queue[index]
                return item
        return None

    @property
    def idle(self) -> bool:
        """Nothing to send now (delayed deliveries wait for the simulator's clock)."""
        return self._idle.is_set() and not self._has_due()

    async def wait_idle(self) -> None:
        if self._has_due():
            self._idle.clear()
            self._wake.set()
        await self._idle.wait()

    async def _run(self) -> None:
        while True:
            item = self._take_due()
            if item is None:
                self._idle.set()
                self._wake.clear()
                if self._queue:  # only delayed ones: look at the clock again soon
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._wake.wait(), 0.05)
                else:
                    await self._wake.wait()
                continue
            self._idle.clear()  # a delivery is on its way: not idle until it is answered
            await self.attempt(item["record"], item["body"], redelivery=item["redelivery"])

    async def attempt(self, record: dict[str, Any], body: bytes, *,
                      redelivery: bool = False) -> int | None:
        """POST one delivery now and log the attempt as GitHub does; the HTTP status, or
        None when nothing answered."""
        log = self.sim.hook_log
        attempt = log.new_attempt(record, body, redelivery=redelivery)
        started = time.monotonic()
        headers = self.headers(record["event"], record["delivery_id"], body)
        attempt.request_headers = {k: v for k, v in headers.items()
                                   if not k.startswith("X-Hub-Signature")}
        try:
            status, answer_headers, text = await self._send(headers, body)
        except TimeoutError as error:
            log.finish(attempt, status_code=0, status="timed out", started=started)
            record["error"] = f"{type(error).__name__}: {error}"
        except (aiohttp.ClientError, OSError) as error:
            log.finish(attempt, status_code=0, status="failed to connect", started=started)
            record["error"] = f"{type(error).__name__}: {error}"
        else:
            log.finish(attempt, status_code=status, status=status_of(status), started=started,
                       headers=answer_headers, body=text)
        status_code: int | None = record["status"]
        return status_code

    def headers(self, event: str, delivery_id: str, body: bytes) -> dict[str, str]:
        sim = self.sim
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "X-GitHub-Event": event,
            "X-GitHub-Delivery": delivery_id,
            "X-GitHub-Hook-ID": str(HOOK_ID),
            "X-GitHub-Hook-Installation-Target-ID": str(sim.app_id),
            "X-GitHub-Hook-Installation-Target-Type": "integration",
        }
        if sim.webhook_secret:  # a webhook without a secret is sent unsigned
            headers["X-Hub-Signature-256"] = sign(sim.webhook_secret, body)
            # GitHub still sends the legacy SHA-1 signature alongside.
            headers["X-Hub-Signature"] = "sha1=" + hmac.new(
                sim.webhook_secret.encode(), body, hashlib.sha1).hexdigest()
        return headers

    async def _send(self, headers: dict[str, str], body: bytes
                    ) -> tuple[int, dict[str, str], str]:
        url = self.sim.webhook_url
        if url is None:
            raise aiohttp.InvalidURL("webhook_url is not set")
        if self._session is None:
            raise RuntimeError("the simulator is not started")
        async with self._session.post(url, data=body, headers=headers) as resp:
            text = (await resp.read()).decode(errors="replace")
            return resp.status, dict(resp.headers), text


def encode(payload: dict[str, Any]) -> bytes:
    # GitHub sends compact JSON; the signature covers these exact bytes.
    return json.dumps(payload, separators=(",", ":")).encode()


def new_delivery(event: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "event": event,
        "action": payload.get("action"),
        "delivery_id": str(uuid.uuid4()),
        "status": None,
        "payload": payload,
    }


def payload_problems(record: dict[str, Any]) -> list[str]:
    """What GitHub's published schema says is wrong with a delivery's payload."""
    event, action = record["event"], record["action"]
    where = f"webhook {event}{'.' + action if action else ''}"
    return [f"{where}: {problem}" for problem in validate_webhook(event, record["payload"])]


def push_objects(sim: GitHubSim, repo: RepoBase, ref: str, before: str, after: str,
                 pusher: str) -> dict[str, Any]:
    """Everything of a push payload but repository/sender/installation."""
    zero = "0" * 40
    created, deleted = before == zero, after == zero
    store = repo.store
    shas: list[str] = []
    if not deleted:
        if created:
            others = [s for r, s in store.refs().items()
                      if r != ref and r.startswith("refs/heads/")]
            exclude = ["--not", *others] if others else []
            shas = store.rev_list("--reverse", "--topo-order", after, *exclude)
        else:
            shas = store.rev_list("--reverse", "--topo-order", f"{before}..{after}")
    forced = not created and not deleted and not store.is_ancestor(before, after)
    commits = []
    for sha in shas[-20:]:  # GitHub lists at most 20 commits in a push payload
        info = store.read_commit(sha)
        if info is not None:
            commits.append(sim.shapes.push_commit(repo, info))
    head_info = store.read_commit(after) if not deleted else None
    head_commit = sim.shapes.push_commit(repo, head_info) if head_info else None
    user = sim.user(pusher)
    web = f"{sim.html_url}/{repo.full_name}"
    compare = (
        f"{web}/compare/{ref.rsplit('/', 1)[-1]}" if created
        else f"{web}/compare/{before[:12]}...{after[:12]}"
    )
    return {
        "ref": ref,
        "before": before,
        "after": after,
        "created": created,
        "deleted": deleted,
        "forced": forced,
        "base_ref": None,
        "compare": compare,
        "commits": commits,
        "head_commit": head_commit,
        "pusher": {"name": user.login, "email": user.email},
    }
