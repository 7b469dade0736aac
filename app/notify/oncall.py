"""Paging on-call: one small interface, PagerDuty, Jira Service Management Ops and Opsgenie
behind it.

Every method is idempotent by `key` (the incident's id): PagerDuty deduplicates by
`dedup_key`, JSM Ops and Opsgenie by `alias`, so triggering twice never pages twice.
Opsgenie's support ends on 2027-04-05; JSM Ops (its successor at Atlassian) takes the
same alert API under /jsm/ops/integration with an API integration's key. Requests are
retried a few times on 429 / 5xx / connection errors, waiting on the injected Clock;
after that a PagerError says what failed, without the key or token that was used.
"""

from __future__ import annotations

import json as jsonlib
import logging
import random
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import aiohttp

from app.clock import Clock

log = logging.getLogger("app.notify.oncall")

_TIMEOUT = aiohttp.ClientTimeout(total=15)
_MAX_RETRY_AFTER = 300.0


class PagerError(Exception):
    """A paging request failed for good. The message never carries a secret."""


@dataclass(frozen=True)
class OnCall:
    name: str
    email: str | None = None
    provider: str = ""


@runtime_checkable
class Pager(Protocol):
    name: str

    async def trigger(
        self, key: str, summary: str, *, link: str, details: dict[str, Any]
    ) -> None: ...

    async def acknowledge(self, key: str) -> None: ...

    async def resolve(self, key: str) -> None: ...

    async def who_is_on_call(self, schedule_id: str | None) -> OnCall | None: ...


class _Http:
    """Bounded retries around one aiohttp session; secrets are scrubbed from errors."""

    def __init__(
        self,
        session: aiohttp.ClientSession,
        clock: Clock,
        *,
        provider: str,
        secrets: tuple[str | None, ...],
        max_attempts: int,
        max_backoff: float,
    ) -> None:
        self.session = session
        self.clock = clock
        self.provider = provider
        self.secrets = tuple(s for s in secrets if s)
        self.max_attempts = max(1, max_attempts)
        self.max_backoff = max_backoff

    async def request(
        self,
        method: str,
        url: str,
        what: str,
        *,
        headers: dict[str, str] | None = None,
        params: Any = None,
        json: Any = None,
        missing_ok: bool = False,
    ) -> Any:
        """The decoded JSON answer (None when empty, or on 404 if `missing_ok`)."""
        reason = ""
        for attempt in range(1, self.max_attempts + 1):
            delay: float | None = None
            try:
                async with self.session.request(
                    method, url, headers=headers, params=params, json=json, timeout=_TIMEOUT
                ) as response:
                    text = await response.text()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                reason = type(exc).__name__
            else:
                if status < 300:
                    return _decode(text)
                if status == 404 and missing_ok:
                    return None
                reason = f"HTTP {status}"
                if status != 429 and status < 500:
                    detail = self._scrub(_error_detail(text))
                    raise PagerError(
                        f"{self.provider} {what} was refused: {reason}"
                        + (f": {detail}" if detail else "")
                    )
                delay = _seconds(retry_after) if status == 429 else None
            if attempt == self.max_attempts:
                break
            if delay is None:
                ceiling = min(self.max_backoff, 2.0 ** (attempt - 1))
                delay = random.uniform(ceiling / 2, ceiling)
            log.warning(
                "%s %s failed (%s), attempt %d/%d; retrying in %.1fs",
                self.provider,
                what,
                reason,
                attempt,
                self.max_attempts,
                delay,
            )
            await self.clock.sleep(delay)
        raise PagerError(
            f"{self.provider} {what} failed after {self.max_attempts} attempts: {reason}"
        )

    def _scrub(self, text: str) -> str:
        for secret in self.secrets:
            text = text.replace(secret, "[secret]")
        return text[:300]


def _decode(text: str) -> Any:
    if not text.strip():
        return None
    try:
        return jsonlib.loads(text)
    except ValueError:
        return None


def _error_detail(text: str) -> str:
    body = _decode(text)
    if isinstance(body, dict):
        parts = [body.get("message"), body.get("errors"), body.get("error")]
        return "; ".join(str(p) for p in parts if p)
    return ""


def _seconds(value: str | None) -> float | None:
    try:
        return min(max(0.0, float(value)), _MAX_RETRY_AFTER) if value else None
    except ValueError:
        return None


class PagerDutyPager:
    """Events API v2 for alerts; the REST API (optional token) for who is on call."""

    name = "pagerduty"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        routing_key: str,
        api_token: str | None = None,
        events_url: str = "https://events.pagerduty.com",
        api_url: str = "https://api.pagerduty.com",
        clock: Clock,
        source: str = "buildsheriff",
        severity: str = "error",
        max_attempts: int = 4,
        max_backoff: float = 30.0,
    ) -> None:
        self._routing_key = routing_key
        self._api_token = api_token or None
        self._events_url = events_url.rstrip("/")
        self._api_url = api_url.rstrip("/")
        self._source = source
        self._severity = severity
        self._http = _Http(
            session,
            clock,
            provider="PagerDuty",
            secrets=(routing_key, api_token),
            max_attempts=max_attempts,
            max_backoff=max_backoff,
        )

    def __repr__(self) -> str:
        return f"PagerDutyPager(events_url={self._events_url!r}, api_url={self._api_url!r})"

    async def trigger(self, key: str, summary: str, *, link: str, details: dict[str, Any]) -> None:
        payload = {
            "summary": summary[:1024],  # the Events API refuses longer summaries
            "source": self._source,
            "severity": self._severity,
            "custom_details": details,
        }
        event: dict[str, Any] = {"payload": payload}
        if link:
            event["links"] = [{"href": link, "text": "Incident"}]
            event["client"] = "Build Sheriff"
            event["client_url"] = link
        await self._event("trigger", key, event)

    async def acknowledge(self, key: str) -> None:
        await self._event("acknowledge", key, {})

    async def resolve(self, key: str) -> None:
        await self._event("resolve", key, {})

    async def _event(self, action: str, key: str, extra: dict[str, Any]) -> None:
        body = {
            "routing_key": self._routing_key,
            "event_action": action,
            "dedup_key": _dedup_key(key),
            **extra,
        }
        await self._http.request(
            "POST", f"{self._events_url}/v2/enqueue", f"{action} of {key}", json=body
        )

    async def who_is_on_call(self, schedule_id: str | None) -> OnCall | None:
        if self._api_token is None:
            return None
        params: list[tuple[str, str]] = [("include[]", "users")]
        if schedule_id:
            params.append(("schedule_ids[]", schedule_id))
        answer = await self._http.request(
            "GET",
            f"{self._api_url}/oncalls",
            "on-call lookup",
            headers={
                "Authorization": f"Token token={self._api_token}",
                "Accept": "application/vnd.pagerduty+json;version=2",
            },
            params=params,
        )
        entries = answer.get("oncalls") if isinstance(answer, dict) else None
        if not entries:
            return None
        # the first responder is the lowest escalation level
        first = min(entries, key=lambda e: int(e.get("escalation_level") or 1_000_000))
        user = first.get("user") or {}
        name = user.get("name") or user.get("summary")
        if not name:
            return None
        return OnCall(name=str(name), email=user.get("email"), provider=self.name)


def _dedup_key(key: str) -> str:
    return key[:255]


class OpsgeniePager:
    """Opsgenie Alert API (alias = our key) and Who-is-on-call."""

    name = "opsgenie"
    label = "Opsgenie"
    default_api_url = "https://api.opsgenie.com"
    alerts_path = "/v2/alerts"

    def __init__(
        self,
        session: aiohttp.ClientSession,
        *,
        api_key: str,
        api_url: str | None = None,
        clock: Clock,
        source: str = "buildsheriff",
        max_attempts: int = 4,
        max_backoff: float = 30.0,
    ) -> None:
        self._api_url = (api_url or self.default_api_url).rstrip("/")
        self._alerts = self._api_url + self.alerts_path
        self._headers = {"Authorization": f"GenieKey {api_key}"}
        self._source = source
        self._http = _Http(
            session,
            clock,
            provider=self.label,
            secrets=(api_key,),
            max_attempts=max_attempts,
            max_backoff=max_backoff,
        )

    def __repr__(self) -> str:
        return f"{type(self).__name__}(api_url={self._api_url!r})"

    async def trigger(self, key: str, summary: str, *, link: str, details: dict[str, Any]) -> None:
        description = f"{summary}\n\n{link}" if link else summary
        body = {
            "message": summary[:130],  # Opsgenie's limits: message 130, alias 512
            "alias": key[:512],
            "description": description[:15000],
            # details is a map of strings to strings on Opsgenie
            "details": {
                str(k): str(v)
                for k, v in {**details, "link": link}.items()
                if v is not None and v != ""
            },
            "source": self._source,
        }
        await self._http.request(
            "POST",
            self._alerts,
            f"alert for {key}",
            headers=self._headers,
            json=body,
        )

    async def acknowledge(self, key: str) -> None:
        await self._alert_action(key, "acknowledge")

    async def resolve(self, key: str) -> None:
        await self._alert_action(key, "close")

    async def _alert_action(self, key: str, action: str) -> None:
        await self._http.request(
            "POST",
            f"{self._alerts}/{quote(key[:512], safe='')}/{action}",
            f"{action} of {key}",
            headers=self._headers,
            params={"identifierType": "alias"},
            json={"source": self._source},
            missing_ok=True,  # closing what is not there is done already
        )

    async def who_is_on_call(self, schedule_id: str | None) -> OnCall | None:
        if not schedule_id:
            return None  # Opsgenie answers per schedule only
        answer = await self._http.request(
            "GET",
            f"{self._api_url}/v2/schedules/{quote(schedule_id, safe='')}/on-calls",
            "on-call lookup",
            headers=self._headers,
            params={"flat": "true"},
        )
        data = answer.get("data") if isinstance(answer, dict) else None
        recipients = (data or {}).get("onCallRecipients") or []
        if not recipients:
            return None
        username = str(recipients[0])
        return OnCall(name=await self._full_name(username), email=username, provider=self.name)

    async def _full_name(self, username: str) -> str:
        """The person's name for display; the username (an email) will do if unknown."""
        try:
            answer = await self._http.request(
                "GET",
                f"{self._api_url}/v2/users/{quote(username, safe='')}",
                "user lookup",
                headers=self._headers,
                missing_ok=True,
            )
        except PagerError as exc:  # e.g. a key without the user-read right
            log.info("Opsgenie user lookup failed, showing the username: %s", exc)
            return username
        data = answer.get("data") if isinstance(answer, dict) else None
        return str((data or {}).get("fullName") or username)


class JsmOpsPager(OpsgeniePager):
    """Jira Service Management Ops through an API integration: the alert API Opsgenie had
    (create, acknowledge and close by alias), under /jsm/ops/integration/v2/alerts.

    Who is on call is not offered to an integration key (JSM's schedules are behind its
    REST API with a user's API token), so the incident names no on-call person and JSM's
    own routing pages whoever its schedule says.
    """

    name = "jsm"
    label = "JSM Ops"
    default_api_url = "https://api.atlassian.com"
    alerts_path = "/jsm/ops/integration/v2/alerts"

    async def who_is_on_call(self, schedule_id: str | None) -> OnCall | None:
        return None


OPSGENIE_END_OF_SUPPORT = "2027-04-05"


def pager_from_settings(
    settings: Any, session: aiohttp.ClientSession, clock: Clock
) -> Pager | None:
    """PagerDuty when its routing key is set (it wins), else JSM Ops, else Opsgenie, else
    no paging."""
    routing_key = getattr(settings, "pagerduty_routing_key", None)
    if routing_key:
        return PagerDutyPager(
            session,
            routing_key=routing_key,
            api_token=getattr(settings, "pagerduty_api_token", None),
            events_url=getattr(settings, "pagerduty_events_url", None)
            or "https://events.pagerduty.com",
            api_url=getattr(settings, "pagerduty_api_url", None) or "https://api.pagerduty.com",
            clock=clock,
        )
    jsm_key = getattr(settings, "jsm_api_key", None)
    if jsm_key:
        return JsmOpsPager(
            session, api_key=jsm_key, api_url=getattr(settings, "jsm_api_url", None), clock=clock
        )
    api_key = getattr(settings, "opsgenie_api_key", None)
    if api_key:
        log.warning(
            "Opsgenie support ends on %s: move to Jira Service Management Ops "
            "(JSM_API_KEY, an API integration's key; see the README)",
            OPSGENIE_END_OF_SUPPORT,
        )
        return OpsgeniePager(
            session,
            api_key=api_key,
            api_url=getattr(settings, "opsgenie_api_url", None),
            clock=clock,
        )
    return None
