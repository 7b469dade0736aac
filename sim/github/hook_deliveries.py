"""The App webhook's delivery log: every attempt GitHub made, and redelivering one.

- `GET /app/hook/deliveries` (App JWT): attempts newest first, `per_page` (max 100) and an
  opaque `cursor` taken from the `Link: rel="next"` header; `status=success|failure` filters
  on `status_code` 200-399 / 400-599 only, so a delivery that never connected (status_code 0)
  is in neither: an app that asks only for `failure` misses it, as on GitHub.
- `GET /app/hook/deliveries/{delivery_id}`: one attempt, with its request and response.
- `POST /app/hook/deliveries/{delivery_id}/attempts`: redeliver (202); the integer `id`,
  never the `guid`; only attempts of the past 3 days, older ones are refused with 422.
  The redelivery is a new attempt with the same guid and `redelivery: true`, sent later by
  the deliverer (GitHub redelivers asynchronously).
The log keeps 30 days, as GitHub's API does.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from sim.github.routes import ApiError, Ctx, Reply, not_found, route

if TYPE_CHECKING:
    from sim.github.server import GitHubSim

REDELIVER_WINDOW = 3 * 86400.0
KEEP = 30 * 86400.0
_FIRST_ID = 90_000_000_001


@dataclass
class Attempt:
    """One delivery attempt, as GitHub's log shows it."""

    id: int
    guid: str
    event: str
    action: str | None
    delivered_at: float
    redelivery: bool
    record: dict[str, Any]  # the simulator's delivery record (payload, latest status)
    body: bytes
    status_code: int = 0
    status: str = "pending"
    duration: float = 0.0
    response_headers: dict[str, str] = field(default_factory=dict)
    response_body: str = ""
    request_headers: dict[str, str] = field(default_factory=dict)


class DeliveryLog:
    def __init__(self, sim: GitHubSim) -> None:
        self.sim = sim
        self.attempts: list[Attempt] = []
        self._next_id = _FIRST_ID

    def new_attempt(self, record: dict[str, Any], body: bytes, *,
                    redelivery: bool = False) -> Attempt:
        attempt = Attempt(self._next_id, record["delivery_id"], record["event"],
                          record.get("action"), self.sim.now(), redelivery, record, body)
        self._next_id += 1
        self.attempts.append(attempt)
        return attempt

    def finish(self, attempt: Attempt, *, status_code: int, status: str, started: float,
               headers: dict[str, str] | None = None, body: str = "") -> None:
        attempt.status_code = status_code
        attempt.status = status
        attempt.duration = round(time.monotonic() - started, 3)
        attempt.response_headers = dict(headers or {})
        attempt.response_body = body[:4096]
        attempt.record["status"] = status_code or None

    def of_guid(self, guid: str) -> list[Attempt]:
        return [a for a in self.attempts if a.guid == guid]

    def find(self, attempt_id: int) -> Attempt | None:
        cutoff = self.sim.now() - KEEP
        return next((a for a in self.attempts
                     if a.id == attempt_id and a.delivered_at >= cutoff), None)

    def item(self, attempt: Attempt) -> dict[str, Any]:
        payload = attempt.record.get("payload") or {}
        installation = payload.get("installation") if isinstance(payload, dict) else None
        repository = payload.get("repository") if isinstance(payload, dict) else None
        return {
            "id": attempt.id,
            "guid": attempt.guid,
            "delivered_at": _iso(attempt.delivered_at),
            "redelivery": attempt.redelivery,
            "duration": attempt.duration,
            "status": attempt.status,
            "status_code": attempt.status_code,
            "event": attempt.event,
            "action": attempt.action,
            "installation_id": installation.get("id") if isinstance(installation, dict)
            else None,
            "repository_id": repository.get("id") if isinstance(repository, dict) else None,
            "throttled_at": None,
        }


def status_of(code: int) -> str:
    """GitHub's words for an attempt's outcome."""
    return "OK" if 200 <= code < 300 else f"Invalid HTTP Response: {code}"


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _attempt_id(ctx: Ctx) -> int:
    raw = ctx.params["delivery_id"]
    if not raw.isdigit():  # the OpenAPI description says integer: a guid is not an id
        raise not_found()
    return int(raw)


@route("GET", "/app/hook/deliveries")
def list_deliveries(ctx: Ctx) -> Reply:
    log = ctx.sim.hook_log
    per_page = max(1, min(ctx.int_arg("per_page", 30), 100))
    status = ctx.arg("status")
    cutoff = ctx.sim.now() - KEEP
    items = [a for a in reversed(log.attempts) if a.delivered_at >= cutoff
             and a.status != "pending"]
    if status == "success":
        items = [a for a in items if 200 <= a.status_code <= 399]
    elif status == "failure":
        items = [a for a in items if 400 <= a.status_code <= 599]
    elif status is not None:
        raise ApiError(400, "Invalid value for status")
    cursor = ctx.arg("cursor")
    if cursor:
        try:
            version, _, raw = cursor.partition("_")
            start_id = int(raw)
            if version != "v1":
                raise ValueError(cursor)
        except ValueError:
            raise ApiError(400, "Invalid cursor") from None
        items = [a for a in items if a.id <= start_id]
    page, rest = items[:per_page], items[per_page:]
    headers = {}
    if rest:
        params = [(k, v) for k, v in ctx.query.items() if k != "cursor"]
        params.append(("cursor", f"v1_{rest[0].id}"))
        base = ctx.url.split("?", 1)[0]
        headers["Link"] = f'<{base}?{urlencode(params)}>; rel="next"'
    return Reply(200, [log.item(a) for a in page], headers)


@route("GET", "/app/hook/deliveries/{delivery_id}")
def get_delivery(ctx: Ctx) -> Reply:
    log = ctx.sim.hook_log
    attempt = log.find(_attempt_id(ctx))
    if attempt is None:
        raise not_found()
    return Reply(200, {
        **log.item(attempt),
        "url": ctx.sim.webhook_url or "",
        "request": {"headers": attempt.request_headers,
                    "payload": attempt.record.get("payload")},
        "response": {"headers": attempt.response_headers, "payload": attempt.response_body},
    })


@route("POST", "/app/hook/deliveries/{delivery_id}/attempts")
def redeliver(ctx: Ctx) -> Reply:
    sim = ctx.sim
    attempt = sim.hook_log.find(_attempt_id(ctx))
    if attempt is None:
        raise not_found()
    if attempt.delivered_at < sim.now() - REDELIVER_WINDOW:
        raise ApiError(422, "Validation Failed", errors=[{
            "resource": "HookDelivery", "code": "custom",
            "message": "Deliveries older than 3 days cannot be redelivered"}])
    sim.redeliver(attempt)
    return Reply(202, {})
