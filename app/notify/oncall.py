"""Paging on-call: one small interface, PagerDuty, Jira Service Management Ops and Opsgenie
behind it.

Every method is idempotent by `key` (the incident's id): PagerDuty deduplicates by
`dedup_key`, JSM Ops and Opsgenie by `alias`, so triggering twice never pages twice.
Opsgenie's support ends on 2027-04-05; JSM Ops (its successor at Atlassian) takes the
same alert API under /jsm/ops/integration with an API integration's key.

Requests follow the app's one retry policy (app.retry, on tenacity, waiting on the
injected Clock): 429 waits Retry-After, 5xx and connection errors back off with jitter.
POSTs are repeated too, because each is guarded by the provider: an event or alert with
the same `dedup_key` / `alias` is the same page, and acknowledging or closing twice
changes nothing. After the last try a PagerError says what failed, without the key or
token that was used.

`PagerOutbox` (what the app uses) keeps what the provider did not take: a page asked
while PagerDuty is down is sent, once, when it answers again (the next call for that
incident, or the reconciler and the escalation watch resuming it), and the caller is
told at once that it is waiting, so a person who typed `/page` gets an answer.
"""

from __future__ import annotations

import asyncio
import json as jsonlib
import logging
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable
from urllib.parse import quote

import aiohttp

from app import retry
from app.clock import Clock

log = logging.getLogger("app.notify.oncall")

_TIMEOUT = aiohttp.ClientTimeout(total=15)
_MAX_RETRY_AFTER = 300.0


class PagerError(Exception):
    """A paging request failed. The message never carries a secret. `transient`: the
    provider did not answer (5xx, 429, no connection) rather than refuse the request."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


class _Unavailable(Exception):
    """One try failed in a way worth another (5xx, 429, no connection)."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.after = after


@dataclass(frozen=True)
class OnCall:
    name: str
    email: str | None = None
    provider: str = ""


@runtime_checkable
class Pager(Protocol):
    name: str

    # None (or True): done. False: the provider is not answering; the request is kept and
    # sent when it answers again (PagerOutbox).
    async def trigger(
        self, key: str, summary: str, *, link: str, details: dict[str, Any]
    ) -> bool | None: ...

    async def acknowledge(self, key: str) -> bool | None: ...

    async def resolve(self, key: str) -> bool | None: ...

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
        self.policy = retry.Policy(
            attempts=self.max_attempts, base=1.0, cap=max_backoff, max_wait=_MAX_RETRY_AFTER
        )

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

        async def attempt() -> Any:
            try:
                async with self.session.request(
                    method, url, headers=headers, params=params, json=json, timeout=_TIMEOUT
                ) as response:
                    text = await response.text()
                    status = response.status
                    retry_after = response.headers.get("Retry-After")
            except (aiohttp.ClientError, TimeoutError, OSError) as exc:
                raise _Unavailable(type(exc).__name__) from None
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
            raise _Unavailable(reason, _seconds(retry_after) if status == 429 else None)

        def classify(exc: BaseException) -> retry.Retry | None:
            if isinstance(exc, _Unavailable):
                return retry.Retry(exc.reason, after=exc.after)
            return None

        try:
            return await retry.call(
                attempt,
                policy=self.policy,
                clock=self.clock,
                classify=classify,
                what=f"{self.provider} {what}",
                log=log,
            )
        except _Unavailable as failed:
            raise PagerError(
                f"{self.provider} {what} failed after {self.max_attempts} attempts: "
                f"{failed.reason}",
                transient=True,
            ) from None

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


DELIVERED_KEPT = 10_000


class PagerOutbox:
    """A Pager that loses nothing while its provider is down.

    Each incident `key` has its requests in order (trigger, acknowledge, resolve). One the
    provider does not take (PagerError.transient, after the retry policy's tries) stays,
    with those after it, and the call answers False at once: "not sent yet". The next call
    for that key, or `resume()` (the reconciler's and the escalation watch's passes), sends
    them in order, each once: the provider deduplicates by key, so a page that did reach it
    before its answer was lost is still one page. A request the provider refuses (a bad key,
    a bad request) is dropped and raised: waiting cannot mend it. In memory: what survives a
    restart is the incident's marker (`page_waiting`): a new process asks for the page again,
    once (app.core.resume, Step.SEND_PAGE; `knows` tells it which process asked).
    """

    def __init__(self, pager: Pager) -> None:
        self.pager = pager
        self.name = pager.name
        self._pending: OrderedDict[str, list[tuple[str, dict[str, Any]]]] = OrderedDict()
        # one sender per key: the reconciler's resume and an incident's own call never
        # send the same request twice
        self._locks: dict[str, asyncio.Lock] = {}
        # keys whose trigger reached the provider (the newest DELIVERED_KEPT): a page that
        # waited and was sent by resume() is recorded by the incident, not triggered again
        self._delivered: OrderedDict[str, None] = OrderedDict()

    def __repr__(self) -> str:
        return repr(self.pager)

    def knows(self, key: str) -> bool:
        """Whether this outbox holds, or has sent, a trigger for `key` (this process was
        asked for the page; a new process after a restart was not)."""
        return key in self._pending or key in self._delivered

    async def flush(self, key: str) -> bool:
        """Send what waits for `key` now, in order; True when nothing is left waiting."""
        return await self._drain(key) if key in self._pending else True

    async def trigger(
        self, key: str, summary: str, *, link: str, details: dict[str, Any]
    ) -> bool:
        return await self._ask(key, "trigger", {"summary": summary, "link": link,
                                                "details": details})

    async def acknowledge(self, key: str) -> bool:
        return await self._ask(key, "acknowledge", {})

    async def resolve(self, key: str) -> bool:
        return await self._ask(key, "resolve", {})

    async def who_is_on_call(self, schedule_id: str | None) -> OnCall | None:
        return await self.pager.who_is_on_call(schedule_id)

    def pending(self) -> int:
        return sum(len(ops) for ops in self._pending.values())

    async def resume(self) -> int:
        """Send what is waiting, key by key, in order; the number of requests sent."""
        sent = 0
        for key in list(self._pending):
            before = len(self._pending.get(key, ()))
            try:
                await self._drain(key)
            except PagerError as refused:
                log.error("%s", refused)
            sent += before - len(self._pending.get(key, ()))
        return sent

    async def _ask(self, key: str, action: str, kwargs: dict[str, Any]) -> bool:
        self._pending.setdefault(key, []).append((action, kwargs))
        return await self._drain(key)

    async def _drain(self, key: str) -> bool:
        """True when nothing for `key` is left waiting."""
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            done = await self._send_waiting(key)
        if done and not lock.locked():
            self._locks.pop(key, None)
        return done

    async def _send_waiting(self, key: str) -> bool:
        ops = self._pending.get(key, [])
        while ops:
            action, kwargs = ops[0]
            try:
                if action == "trigger":
                    await self.pager.trigger(key, **kwargs)
                else:
                    await getattr(self.pager, action)(key)
            except PagerError as failed:
                if not failed.transient:
                    ops.pop(0)
                    if not ops:
                        self._pending.pop(key, None)
                    raise
                log.warning(
                    "%s; %d request(s) for %s wait until %s answers",
                    failed, len(ops), key, self.pager.name,
                )
                return False
            ops.pop(0)
            if action == "trigger":
                self._delivered[key] = None
                while len(self._delivered) > DELIVERED_KEPT:
                    self._delivered.popitem(last=False)
        self._pending.pop(key, None)
        return True


OPSGENIE_END_OF_SUPPORT = "2027-04-05"


def pager_from_settings(
    settings: Any, session: aiohttp.ClientSession, clock: Clock
) -> Pager | None:
    """PagerDuty when its routing key is set (it wins), else JSM Ops, else Opsgenie, else
    no paging."""
    pager = _provider_from_settings(settings, session, clock)
    return PagerOutbox(pager) if pager is not None else None


def _provider_from_settings(
    settings: Any, session: aiohttp.ClientSession, clock: Clock
) -> Pager | None:
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
