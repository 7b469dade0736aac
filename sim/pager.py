"""PagerDuty, Opsgenie and JSM Ops simulators on 127.0.0.1: the calls Build Sheriff makes.

PagerDutySim serves both PagerDuty hosts on one port: the Events API v2
(`POST /v2/enqueue`, deduplicated by `dedup_key`) and the REST `GET /oncalls`.
OpsgenieSim serves the Alert API (`/v2/alerts`, deduplicated by `alias` while open,
close/acknowledge by id or alias) and Who-is-on-call (`/v2/schedules/{id}/on-calls`).
JsmOpsSim serves Jira Service Management Ops' API integration: the same alert API under
`/jsm/ops/integration/v2/alerts` with the integration's `GenieKey`, and nothing else (an
integration key reaches no schedule).
Like the real services, the asynchronous endpoints answer 202 even when the alert they
name does not exist; the state dictionaries show what really happened.
"""

from __future__ import annotations

import uuid
from collections import Counter, deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_PD_SEVERITIES = frozenset({"critical", "error", "warning", "info"})
_PD_ACTIONS = frozenset({"trigger", "acknowledge", "resolve"})


@dataclass
class _Fault:
    status: int
    retry_after: float | None


class _Sim:
    """Lifecycle, call counting and fault injection shared by both simulators."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, deque[_Fault]] = {}
        self._runner: web.AppRunner | None = None
        self.url = ""

    def _routes(self, app: web.Application) -> None:
        raise NotImplementedError

    def clear_faults(self) -> None:
        """The provider answers again: every fault still queued is forgotten."""
        self._faults.clear()

    async def start(self) -> None:
        app = web.Application(middlewares=[self._count_and_fail])
        self._routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def fail(
        self, path: str, status: int = 500, times: int = 1, retry_after: float | None = None
    ) -> None:
        """The next `times` requests to `path` (e.g. "/v2/enqueue") answer `status`."""
        queue = self._faults.setdefault(path, deque())
        for _ in range(times):
            queue.append(_Fault(status, retry_after))

    @web.middleware
    async def _count_and_fail(self, request: web.Request, handler: Any) -> web.StreamResponse:
        self.calls[request.path] += 1
        queue = self._faults.get(request.path)
        if queue:
            fault = queue.popleft()
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(int(fault.retry_after))
            return web.json_response(
                {"message": "simulated failure"}, status=fault.status, headers=headers
            )
        response: web.StreamResponse = await handler(request)
        return response


async def _json_object(request: web.Request) -> dict[str, Any] | None:
    try:
        body = await request.json()
    except ValueError:
        return None
    return body if isinstance(body, dict) else None


class PagerDutySim(_Sim):
    # Keys as long as the real ones (a routing key is 32 characters, a REST token 20), so
    # that a test can look for them in logs: the app only redacts values of 8 or more.
    def __init__(
        self,
        routing_key: str = "R0UT1NGkey0f32charsR0UT1NGkey032",
        api_token: str = "pd-token-y_NbAkKc66",
    ) -> None:
        super().__init__()
        self.routing_key = routing_key
        self.api_token = api_token
        self.incidents: dict[str, dict[str, Any]] = {}
        self._oncall: dict[str, list[dict[str, Any]]] = {}

    async def __aenter__(self) -> PagerDutySim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def set_oncall(self, schedule_id: str, name: str, email: str, *, level: int = 1) -> None:
        """Put `name` on call for `schedule_id` at escalation `level` (replacing that level)."""
        entries = [e for e in self._oncall.get(schedule_id, []) if e["level"] != level]
        user_id = "P" + uuid.uuid5(uuid.NAMESPACE_URL, email).hex[:6].upper()
        entries.append({"level": level, "id": user_id, "name": name, "email": email})
        self._oncall[schedule_id] = sorted(entries, key=lambda e: e["level"])

    def _routes(self, app: web.Application) -> None:
        app.router.add_post("/v2/enqueue", self._enqueue)
        app.router.add_get("/oncalls", self._oncalls)

    async def _enqueue(self, request: web.Request) -> web.Response:
        event = await _json_object(request)
        errors = self._invalid(event)
        if event is None or errors:
            return web.json_response(
                {"status": "invalid event", "message": "Event object is invalid", "errors": errors},
                status=400,
            )
        action = event["event_action"]
        dedup_key = str(event.get("dedup_key") or uuid.uuid4().hex)
        incident = self.incidents.get(dedup_key)
        record = {"event_action": action, **{k: v for k, v in event.items() if k != "routing_key"}}
        if action == "trigger":
            payload = event["payload"]
            if incident is None or incident["status"] == "resolved":
                # a trigger after a resolve opens a new incident under the same key
                incident = self.incidents[dedup_key] = {"status": "triggered", "events": []}
            incident["summary"] = payload["summary"]
            incident["severity"] = payload["severity"]
            incident["source"] = payload["source"]
            incident["custom_details"] = payload.get("custom_details")
            incident["links"] = event.get("links", [])
        elif incident is not None and incident["status"] != "resolved":
            incident["status"] = "acknowledged" if action == "acknowledge" else "resolved"
        if incident is not None:
            incident["events"].append(record)
        return web.json_response(
            {"status": "success", "message": "Event processed", "dedup_key": dedup_key},
            status=202,
        )

    def _invalid(self, event: dict[str, Any] | None) -> list[str]:
        if event is None:
            return ["Body must be a JSON object"]
        errors = []
        if event.get("routing_key") != self.routing_key:
            errors.append("'routing_key' is invalid")
        action = event.get("event_action")
        if action not in _PD_ACTIONS:
            errors.append("'event_action' is missing or invalid")
        if action in ("acknowledge", "resolve") and not event.get("dedup_key"):
            errors.append("'dedup_key' is required for acknowledge and resolve")
        if action == "trigger":
            payload = event.get("payload")
            if not isinstance(payload, dict):
                return [*errors, "'payload' is missing or invalid"]
            for name in ("summary", "source"):
                if not isinstance(payload.get(name), str) or not payload[name]:
                    errors.append(f"'payload.{name}' is missing or blank")
            if len(str(payload.get("summary", ""))) > 1024:
                errors.append("'payload.summary' is longer than 1024 characters")
            if payload.get("severity") not in _PD_SEVERITIES:
                errors.append("'payload.severity' is invalid")
        if len(str(event.get("dedup_key") or "")) > 255:
            errors.append("'dedup_key' is longer than 255 characters")
        return errors

    async def _oncalls(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Token token={self.api_token}":
            return web.json_response(
                {"error": {"message": "Unauthorized", "code": 2006}}, status=401
            )
        wanted = request.query.getall("schedule_ids[]", [])
        with_users = "users" in request.query.getall("include[]", [])
        oncalls = []
        for schedule_id, entries in self._oncall.items():
            if wanted and schedule_id not in wanted:
                continue
            for entry in entries:
                oncalls.append(
                    {
                        "escalation_policy": {
                            "id": "PEP0001",
                            "type": "escalation_policy_reference",
                            "summary": "Default",
                        },
                        "escalation_level": entry["level"],
                        "schedule": {
                            "id": schedule_id,
                            "type": "schedule_reference",
                            "summary": schedule_id,
                        },
                        "user": _pd_user(entry, full=with_users),
                        "start": "2026-01-01T00:00:00Z",
                        "end": None,
                    }
                )
        return web.json_response(
            {"oncalls": oncalls, "limit": 25, "offset": 0, "more": False, "total": None}
        )


def _pd_user(entry: dict[str, Any], *, full: bool) -> dict[str, Any]:
    reference = {
        "id": entry["id"],
        "type": "user_reference",
        "summary": entry["name"],
        "self": f"https://api.pagerduty.com/users/{entry['id']}",
        "html_url": f"https://sim.pagerduty.invalid/users/{entry['id']}",
    }
    if not full:
        return reference
    return {**reference, "type": "user", "name": entry["name"], "email": entry["email"]}


class OpsgenieSim(_Sim):
    alerts_path = "/v2/alerts"

    def __init__(self, api_key: str = "og-key-4c5e6b7a-8d9e-4f01-a2b3") -> None:
        super().__init__()
        self.api_key = api_key
        self.alerts: dict[str, dict[str, Any]] = {}  # alias -> alert
        self._oncall: dict[str, list[str]] = {}  # schedule id -> usernames
        self._users: dict[str, str] = {}  # username (email) -> full name

    async def __aenter__(self) -> OpsgenieSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    def set_oncall(self, schedule_id: str, name: str, email: str) -> None:
        """`email` (an Opsgenie username) is the one on call for `schedule_id`."""
        self._oncall[schedule_id] = [email]
        self._users[email] = name

    def _routes(self, app: web.Application) -> None:
        self._alert_routes(app)
        app.router.add_get("/v2/schedules/{identifier}/on-calls", self._oncalls)
        app.router.add_get("/v2/users/{identifier}", self._user)

    def _alert_routes(self, app: web.Application) -> None:
        alerts = self.alerts_path
        app.router.add_post(alerts, self._create)
        app.router.add_post(alerts + "/{identifier}/close", self._close)
        app.router.add_post(alerts + "/{identifier}/acknowledge", self._acknowledge)

    def _authorised(self, request: web.Request) -> bool:
        return request.headers.get("Authorization") == f"GenieKey {self.api_key}"

    @staticmethod
    def _answer(status: int = 202, **extra: Any) -> web.Response:
        body = {"took": 0.01, "requestId": str(uuid.uuid4()), **extra}
        return web.json_response(body, status=status)

    def _unauthorised(self) -> web.Response:
        return self._answer(401, message="Could not authenticate")

    async def _create(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        body = await _json_object(request)
        if body is None:
            return self._answer(400, message="Request body is not a JSON object")
        message = body.get("message")
        if not isinstance(message, str) or not message.strip():
            return self._answer(
                422,
                message="Request has validation errors",
                errors={"message": "Message can not be empty."},
            )
        if len(message) > 130 or len(str(body.get("alias") or "")) > 512:
            return self._answer(
                422,
                message="Request has validation errors",
                errors={"message": "Message or alias is too long."},
            )
        details = body.get("details") or {}
        if not isinstance(details, dict) or not all(isinstance(v, str) for v in details.values()):
            return self._answer(
                422,
                message="Request has validation errors",
                errors={"details": "Details must map strings to strings."},
            )
        alias = str(body.get("alias") or uuid.uuid4())
        alert = self.alerts.get(alias)
        if alert is not None and alert["status"] == "open":
            alert["count"] += 1  # Opsgenie de-duplicates open alerts by alias
        else:
            self.alerts[alias] = {
                "id": str(uuid.uuid4()),
                "alias": alias,
                "message": message,
                "description": body.get("description"),
                "details": details,
                "source": body.get("source"),
                "status": "open",
                "acknowledged": False,
                "count": 1,
                "notes": [],
            }
        return self._answer(result="Request will be processed")

    def _find(self, request: web.Request) -> dict[str, Any] | None:
        identifier = request.match_info["identifier"]
        kind = request.query.get("identifierType", "id")
        for alert in self.alerts.values():
            if (kind == "alias" and alert["alias"] == identifier) or (
                kind == "id" and alert["id"] == identifier
            ):
                return alert
        return None

    async def _close(self, request: web.Request) -> web.Response:
        return await self._change(request, status="closed")

    async def _acknowledge(self, request: web.Request) -> web.Response:
        return await self._change(request, acknowledged=True)

    async def _change(self, request: web.Request, **changes: Any) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        if request.query.get("identifierType", "id") not in ("id", "alias", "tiny"):
            return self._answer(422, message="Invalid identifierType")
        body = await _json_object(request) if request.can_read_body else {}
        alert = self._find(request)
        if alert is not None:  # unknown alerts fail later, out of sight, as on Opsgenie
            alert.update(changes)
            if body and body.get("note"):
                alert["notes"].append(body["note"])
        return self._answer(result="Request will be processed")

    async def _oncalls(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        schedule_id = request.match_info["identifier"]
        if schedule_id not in self._oncall:
            return self._answer(404, message=f"Schedule with id [{schedule_id}] doesn't exist")
        usernames = self._oncall[schedule_id]
        data: dict[str, Any] = {
            "_parent": {"id": schedule_id, "name": schedule_id, "enabled": True}
        }
        if request.query.get("flat") == "true":
            data["onCallRecipients"] = list(usernames)
        else:
            data["onCallParticipants"] = [
                {"id": str(uuid.uuid5(uuid.NAMESPACE_URL, u)), "name": u, "type": "user"}
                for u in usernames
            ]
        return self._answer(200, data=data)

    async def _user(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._unauthorised()
        username = request.match_info["identifier"]
        if username not in self._users:
            return self._answer(404, message="User not found")
        return self._answer(
            200,
            data={
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, username)),
                "username": username,
                "fullName": self._users[username],
            },
        )


class JsmOpsSim(OpsgenieSim):
    """Jira Service Management Ops, API integration: alerts only (an integration's key
    reaches no schedule or user; those are behind JSM's REST API with a user's token)."""

    alerts_path = "/jsm/ops/integration/v2/alerts"

    def __init__(self, api_key: str = "jsm-integration-key") -> None:
        super().__init__(api_key)

    async def __aenter__(self) -> JsmOpsSim:
        await self.start()
        return self

    def _routes(self, app: web.Application) -> None:
        self._alert_routes(app)
