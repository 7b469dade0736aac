"""Mirror incidents to Slack without ever making GitHub wait for Slack.

Every call only enqueues. Each incident (its `key`) has one outbox worked by one
background task, so a thread's messages arrive in the order they were asked for; an
outage or a rate limit delays Slack and nothing else, and the outbox catches up later.

Failures, by kind:
- 429: wait Retry-After (every outbox pauses: Slack limits per workspace and method);
- 5xx, `internal_error`-like answers, connection errors: back off exponentially with jitter;
- `max_attempts` failures of one message: tell `on_gave_up` (once per key) and keep the
  outbox; the next enqueue, `flush()` or `resume()` (the reconciler, every pass) tries
  again, so nothing is lost silently;
- token or channel errors (`invalid_auth`, `channel_not_found`, ...): no retry, same give-up;
- errors of one message (`msg_too_long`, ...): that message is dropped and logged; a message
  whose blocks Slack refuses is re-sent once with its text alone.

Mentions: a message's `@login` becomes `<@U…>` when its `people` give the login's email and
`users.lookupByEmail` finds a member (the token needs `users:read.email`; answers are cached);
otherwise the plain login is written: no mapping, no ping. A failed look-up never holds a
message back.

Retries follow the app's one policy (app.retry, on tenacity); all waiting goes through the
injected Clock, so slack_sdk's own retry handlers (which sleep with asyncio.sleep) are
switched off. The token never reaches a log line.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import re
from collections import deque
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Protocol

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from app import retry
from app.clock import Clock
from app.core.render_slack import MENTION

log = logging.getLogger("app.notify.slack")

# Slack's own words for "try again later"
_TRANSIENT_ERRORS = frozenset(
    {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
)
# wrong with this one message: retrying cannot help, and it must not block the ones after it
_MESSAGE_ERRORS = frozenset(
    {
        "msg_too_long",
        "no_text",
        "message_not_found",
        "cant_update_message",
        "edit_window_closed",
        "too_many_reactions",
        "invalid_name",
        "thread_not_found",
    }
)
_BLOCKS_ERRORS = frozenset({"invalid_blocks", "invalid_blocks_format"})
_ALREADY_DONE = frozenset({"already_reacted"})
_DEFAULT_RETRY_AFTER = 1.0
_MAX_RETRY_AFTER = 3600.0  # a wild Retry-After must not park the outbox for days
_REQUEST_TIMEOUT = 30
_LOOKUP_TTL = 3600.0  # people join Slack or change their email; ask again hourly
# A thread's top message says whose it is in its metadata, so that a process that stopped
# before saving the thread's ts finds it among the channel's latest messages.
THREAD_EVENT = "buildsheriff_incident"
THREAD_LOOKBACK = 200
# A reply that says an incident's news names its step (app.core.resume) in its metadata, so
# a process that starts finds what a stopped one did not say (catch_up).
STEP_EVENT = "buildsheriff_step"
_REPLIES_PAGE = 200


@dataclass(frozen=True)
class SlackMessage:
    text: str  # fallback text / notification text (mrkdwn)
    blocks: list[dict[str, Any]] | None = None  # Block Kit
    # GitHub login -> the email Slack may know them by (None: write the name, no ping)
    people: Mapping[str, str | None] = field(default_factory=dict)
    step: str | None = None  # a reply saying an incident's news: its step id

    @property
    def metadata(self) -> dict[str, Any] | None:
        if self.step is None:
            return None
        return {"event_type": STEP_EVENT, "event_payload": {"step": self.step}}


ThreadStarted = Callable[[str, str, str], Awaitable[None]]  # (key, channel, ts)
GaveUp = Callable[[str, str], Awaitable[None]]  # (key, reason)


class SlackOutbox(Protocol):
    """What the app asks of Slack: one thread per incident `key`, every call only queues.

    `SlackNotifier` is the one implementation; a test may pass a recorder instead."""

    @property
    def enabled(self) -> bool: ...

    def set_callbacks(
        self, *, on_thread_started: ThreadStarted | None = None, on_gave_up: GaveUp | None = None
    ) -> None: ...

    def remember_thread(self, key: str, channel: str, ts: str) -> None: ...

    def thread_ts(self, key: str) -> str | None: ...

    def start_thread(
        self, key: str, channel: str, message: SlackMessage, *, look_first: bool = False
    ) -> None:
        """Post the thread's top message; `look_first`: unless the channel has it already
        (found by the incident's key in the message's metadata)."""
        ...

    def reply(self, key: str, message: SlackMessage) -> None: ...

    def catch_up(self, key: str, messages: Sequence[SlackMessage]) -> None:
        """After what is queued: each of `messages` (news, with a step) that the thread does
        not hold is replied, in order; the thread is read to know."""
        ...

    def update_top(self, key: str, message: SlackMessage) -> None: ...

    def pending(self, key: str | None = None) -> int: ...

    def resume(self) -> int: ...

    async def flush(self) -> None: ...

    async def close(self) -> None: ...


class _Kind(enum.Enum):
    START = enum.auto()
    REPLY = enum.auto()
    UPDATE = enum.auto()
    REACT = enum.auto()
    CATCH_UP = enum.auto()

    @property
    def method(self) -> str:
        return _METHODS[self]


_METHODS = {
    _Kind.START: "chat.postMessage",
    _Kind.REPLY: "chat.postMessage",
    _Kind.UPDATE: "chat.update",
    _Kind.REACT: "reactions.add",
    _Kind.CATCH_UP: "conversations.replies",
}


@dataclass
class _Op:
    kind: _Kind
    message: SlackMessage | None = None
    channel: str | None = None  # START only
    look_first: bool = False  # START only: the thread may exist (we stopped before its ts
    # was saved): look for it in the channel before posting one
    reaction: str | None = None  # REACT only
    owed: tuple[SlackMessage, ...] = ()  # CATCH_UP only: what the thread should hold


class _Outcome(enum.Enum):
    SENT = enum.auto()
    DROPPED = enum.auto()
    STALLED = enum.auto()


@dataclass
class _Outbox:
    ops: deque[_Op] = field(default_factory=deque)
    task: asyncio.Task[None] | None = None
    in_flight: _Op | None = None


class _Retry(Exception):
    """One attempt failed in a way worth retrying."""

    def __init__(
        self,
        reason: str,
        delay: float | None = None,
        *,
        rate_limited: bool = False,
        at_once: bool = False,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.delay = delay
        self.rate_limited = rate_limited
        self.at_once = at_once  # the message was changed: no reason to wait


class _GiveUp(Exception):
    def __init__(self, reason: str, *, drop: bool) -> None:
        super().__init__(reason)
        self.reason = reason
        self.drop = drop


class SlackNotifier:
    def __init__(
        self,
        *,
        token: str | None,
        api_url: str,
        clock: Clock,
        on_thread_started: ThreadStarted | None = None,
        on_gave_up: GaveUp | None = None,
        max_attempts: int = 8,
        max_backoff: float = 120.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        self._token = token or None
        self._api_url = api_url
        self._clock = clock
        self._on_thread_started = on_thread_started
        self._on_gave_up = on_gave_up
        self._max_attempts = max(1, max_attempts)
        self._max_backoff = max_backoff
        # the app's one retry policy, with Slack's bounds: this is background work, so a
        # Retry-After of up to an hour is waited out (the outbox never blocks GitHub)
        self._policy = retry.Policy(
            attempts=self._max_attempts, base=1.0, cap=max_backoff, max_wait=_MAX_RETRY_AFTER
        )
        self._session = session
        self._own_session: aiohttp.ClientSession | None = None
        self._client: AsyncWebClient | None = None
        self._threads: dict[str, tuple[str, str]] = {}  # key -> (channel id, top-level ts)
        # key -> the steps this process said in its thread: a reply and a catch-up that both
        # carry one (their order depends on retries) say it once
        self._said: dict[str, set[str]] = {}
        self._outboxes: dict[str, _Outbox] = {}
        self._gave_up: set[str] = set()
        self._paused_until = 0.0
        self._members: dict[str, tuple[str | None, float]] = {}  # email -> (id, until)
        self._lookup_off: str | None = None  # why look-ups stopped (missing scope)

    def __repr__(self) -> str:
        return f"SlackNotifier(enabled={self.enabled}, api_url={self._api_url!r})"

    @property
    def enabled(self) -> bool:
        return self._token is not None

    def set_callbacks(
        self,
        *,
        on_thread_started: ThreadStarted | None = None,
        on_gave_up: GaveUp | None = None,
    ) -> None:
        """Wire the callbacks after construction (they need the dispatcher, made later)."""
        self._on_thread_started = on_thread_started
        self._on_gave_up = on_gave_up

    # ---- the app's side: all synchronous, all instant ---------------------------------
    def remember_thread(self, key: str, channel: str, ts: str) -> None:
        if not self.enabled:
            return
        self._threads[key] = (channel, ts)
        box = self._outboxes.get(key)
        if box is not None:
            # the thread exists already: a queued start would post a second one
            box.ops = deque(
                op for op in box.ops if op.kind is not _Kind.START or op is box.in_flight
            )
        self._kick(key)

    def thread_ts(self, key: str) -> str | None:
        thread = self._threads.get(key)
        return thread[1] if thread else None

    def start_thread(
        self, key: str, channel: str, message: SlackMessage, *, look_first: bool = False
    ) -> None:
        if not self.enabled or key in self._threads:
            return
        box = self._box(key)
        if any(op.kind is _Kind.START for op in box.ops):
            return
        # first in line: replies asked for before the thread existed wait behind it
        op = _Op(_Kind.START, message=message, channel=channel, look_first=look_first)
        box.ops.appendleft(op)
        self._kick(key)

    def reply(self, key: str, message: SlackMessage) -> None:
        self._enqueue(key, _Op(_Kind.REPLY, message=message))

    def catch_up(self, key: str, messages: Sequence[SlackMessage]) -> None:
        owed = tuple(m for m in messages if m.step is not None)
        if owed:
            self._enqueue(key, _Op(_Kind.CATCH_UP, owed=owed))

    def update_top(self, key: str, message: SlackMessage) -> None:
        if not self.enabled:
            return
        box = self._box(key)
        for op in box.ops:
            if op is box.in_flight:
                continue
            # the top-level message is not posted yet, or an update waits: rewrite it
            if op.kind in (_Kind.START, _Kind.UPDATE):
                op.message = message
                return
        self._enqueue(key, _Op(_Kind.UPDATE, message=message))

    def react(self, key: str, name: str) -> None:
        if not self.enabled:
            return
        box = self._box(key)
        if any(op.kind is _Kind.REACT and op.reaction == name for op in box.ops):
            return
        self._enqueue(key, _Op(_Kind.REACT, reaction=name))

    def pending(self, key: str | None = None) -> int:
        if key is not None:
            box = self._outboxes.get(key)
            return len(box.ops) if box else 0
        return sum(len(box.ops) for box in self._outboxes.values())

    def resume(self) -> int:
        """Start again every outbox that has messages and no running worker (one that gave
        up, or waits for its thread): the reconciler calls this on each pass, so an outbox
        catches up once Slack is back even when no new event comes. The number resumed."""
        resumed = 0
        for key, box in list(self._outboxes.items()):
            if box.ops and (box.task is None or box.task.done()):
                self._kick(key)
                resumed += 1
        return resumed

    async def flush(self) -> None:
        """Work every outbox until it is empty, given up, or waiting for its thread."""
        for key in list(self._outboxes):
            self._kick(key)
        while True:
            running = [
                box.task
                for box in self._outboxes.values()
                if box.task is not None and not box.task.done()
            ]
            if not running:
                return
            await asyncio.gather(*running, return_exceptions=True)

    async def close(self) -> None:
        tasks = [box.task for box in self._outboxes.values() if box.task and not box.task.done()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        left = self.pending()
        if left:
            log.warning("slack: closing with %d message(s) not delivered", left)
        if self._own_session is not None:
            await self._own_session.close()
            self._own_session = None
        self._client = None

    # ---- outboxes ---------------------------------------------------------------------
    def _box(self, key: str) -> _Outbox:
        box = self._outboxes.get(key)
        if box is None:
            box = self._outboxes[key] = _Outbox()
        return box

    def _enqueue(self, key: str, op: _Op) -> None:
        if not self.enabled:
            return
        self._box(key).ops.append(op)
        self._kick(key)

    def _kick(self, key: str) -> None:
        box = self._outboxes.get(key)
        if box is None or not box.ops or (box.task is not None and not box.task.done()):
            return
        box.task = asyncio.get_running_loop().create_task(
            self._work(key, box), name=f"slack-outbox:{key}"
        )

    async def _work(self, key: str, box: _Outbox) -> None:
        try:
            while box.ops:
                op = box.ops[0]
                if op.kind is not _Kind.START and key not in self._threads:
                    log.info(
                        "slack: %d message(s) for %s wait for its thread to be known",
                        len(box.ops),
                        key,
                    )
                    return
                box.in_flight = op
                try:
                    outcome = await self._deliver(key, op)
                finally:
                    box.in_flight = None
                if outcome is _Outcome.STALLED:
                    return
                box.ops.popleft()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug here must not take the event loop's other work down
            log.error("slack: outbox %s stopped: %s", key, self._redact(repr(exc)))

    async def _deliver(self, key: str, op: _Op) -> _Outcome:
        """One message, through the app's retry policy (app.retry): Slack's Retry-After
        pauses every outbox, other transient failures back off with jitter; after
        `max_attempts` tries the outbox stalls until it is resumed."""

        async def attempt() -> None:
            await self._wait_while_paused()
            await self._send(key, op)

        def classify(exc: BaseException) -> retry.Retry | None:
            if not isinstance(exc, _Retry):
                return None
            if exc.rate_limited:
                delay = min(exc.delay or _DEFAULT_RETRY_AFTER, _MAX_RETRY_AFTER)
                # Slack limits per workspace and method: every outbox waits
                self._paused_until = max(self._paused_until, self._clock.now() + delay)
                log.warning("slack: rate limited on %s; waiting %.0fs", op.kind.method, delay)
                return retry.Retry(exc.reason, after=delay)
            if exc.at_once:
                return retry.Retry(exc.reason, after=0.0)
            return retry.Retry(exc.reason)

        try:
            await retry.call(
                attempt,
                policy=self._policy,
                clock=self._clock,
                classify=classify,
                what=f"slack: {op.kind.method} for {key}",
                log=log,
            )
        except _GiveUp as stop:
            await self._give_up(key, stop.reason)
            return _Outcome.DROPPED if stop.drop else _Outcome.STALLED
        except _Retry as failed:
            # the next round (an enqueue, a flush, the reconciler's resume) starts afresh
            await self._give_up(
                key, f"{op.kind.method}: {failed.reason} ({self._max_attempts} attempts)"
            )
            return _Outcome.STALLED
        return _Outcome.SENT

    async def _wait_while_paused(self) -> None:
        while (wait := self._paused_until - self._clock.now()) > 0:
            await self._clock.sleep(wait)

    async def _give_up(self, key: str, reason: str) -> None:
        log.error("slack: giving up on %s for now: %s", key, reason)
        if key in self._gave_up or self._on_gave_up is None:
            self._gave_up.add(key)
            return
        self._gave_up.add(key)
        try:
            await self._on_gave_up(key, reason)
        except Exception as exc:
            log.error("slack: on_gave_up(%s) failed: %s", key, self._redact(repr(exc)))

    # ---- one API call -----------------------------------------------------------------
    async def _send(self, key: str, op: _Op) -> None:
        client = self._api()
        if op.message is not None:
            op.message = await self._with_mentions(op.message)
        message = op.message
        try:
            if op.kind is _Kind.START:
                assert message is not None and op.channel is not None
                found = await self._find_thread(key, op.channel) if op.look_first else None
                if found is not None:
                    self._threads[key] = found
                    await self._thread_started(key, *found)
                    return
                answer = await client.chat_postMessage(
                    channel=op.channel,
                    text=message.text,
                    blocks=message.blocks,
                    metadata={"event_type": THREAD_EVENT, "event_payload": {"key": key}},
                )
                channel, ts = str(answer["channel"]), str(answer["ts"])
                self._threads[key] = (channel, ts)
                await self._thread_started(key, channel, ts)
                return
            channel, ts = self._threads[key]
            if op.kind is _Kind.REPLY:
                assert message is not None
                said = self._said.setdefault(key, set())
                if message.step is not None and message.step in said:
                    return
                await client.chat_postMessage(
                    channel=channel, thread_ts=ts, text=message.text, blocks=message.blocks,
                    metadata=message.metadata,
                )
                if message.step is not None:
                    said.add(message.step)
            elif op.kind is _Kind.CATCH_UP:
                await self._catch_up(key, channel, ts, op)
            elif op.kind is _Kind.UPDATE:
                assert message is not None
                await client.chat_update(
                    channel=channel, ts=ts, text=message.text, blocks=message.blocks
                )
            else:
                assert op.reaction is not None
                await client.reactions_add(channel=channel, timestamp=ts, name=op.reaction)
        except SlackApiError as exc:
            self._classify(key, op, exc)
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise _Retry(type(exc).__name__) from None

    def _classify(self, key: str, op: _Op, exc: SlackApiError) -> None:
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        data = response.data if isinstance(getattr(response, "data", None), dict) else {}
        error = str(data.get("error") or f"HTTP {status}")
        if status == 429 or error == "ratelimited":
            raise _Retry(error, _retry_after(response), rate_limited=True)
        if status >= 500 or error in _TRANSIENT_ERRORS:
            raise _Retry(error)
        if error in _ALREADY_DONE:
            return
        if error in _BLOCKS_ERRORS and op.message is not None and op.message.blocks:
            log.error(
                "slack: %s refused the blocks of a message for %s (%s); sending its text alone",
                op.kind.method,
                key,
                error,
            )
            op.message = replace(op.message, blocks=None)
            raise _Retry(error, at_once=True)
        if error in _MESSAGE_ERRORS or error in _BLOCKS_ERRORS:
            raise _GiveUp(f"{op.kind.method}: {error} (message dropped)", drop=True)
        # token, scope or channel trouble: every message of this outbox would fail alike
        raise _GiveUp(f"{op.kind.method}: {error}", drop=False)

    async def _catch_up(self, key: str, channel: str, ts: str, op: _Op) -> None:
        """Reply what the thread lacks of `op.owed`. A retry reads the thread again, so
        what a failed try already said is not said twice. When Slack cannot show the
        thread (no channels:history), nothing is said: better missing than twice."""
        client = self._api()
        said = self._said.setdefault(key, set())
        cursor: str | None = None
        try:
            while True:
                page = await client.conversations_replies(
                    channel=channel, ts=ts, limit=_REPLIES_PAGE, cursor=cursor,
                    include_all_metadata=True,
                )
                for message in page.get("messages") or ():
                    metadata = message.get("metadata") or {}
                    if metadata.get("event_type") == STEP_EVENT:
                        said.add(str((metadata.get("event_payload") or {}).get("step")))
                cursor = (page.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
        except SlackApiError as exc:
            status = int(getattr(exc.response, "status_code", 0) or 0)
            error = str((getattr(exc.response, "data", None) or {}).get("error") or status)
            if status == 429 or status >= 500 or error in _TRANSIENT_ERRORS | {"ratelimited"}:
                raise
            log.warning("slack: cannot read the thread of %s to catch up (%s): nothing said",
                        key, error)
            return
        missing = [m for m in op.owed if m.step not in said]
        if missing:
            log.info("slack: %d reply(ies) owed to %s's thread", len(missing), key)
        for message in missing:
            message = await self._with_mentions(message)
            await client.chat_postMessage(
                channel=channel, thread_ts=ts, text=message.text, blocks=message.blocks,
                metadata=message.metadata,
            )
            said.add(str(message.step))

    async def _find_thread(self, key: str, channel: str) -> tuple[str, str] | None:
        """(channel id, ts) of the thread the channel already has for `key`: a top message
        among its latest ones whose metadata names the key. None when there is none, or when
        Slack cannot say (the bot lacks channels:history / channels:read): then a thread is
        posted, as it would be without this look."""
        client = self._api()
        try:
            channel_id = channel if not channel.startswith("#") else None
            if channel_id is None:
                answer = await client.conversations_list(
                    exclude_archived=True, limit=1000, types="public_channel,private_channel"
                )
                name = channel.lstrip("#")
                channel_id = next(
                    (str(c["id"]) for c in answer.get("channels") or () if c.get("name") == name),
                    None,
                )
                if channel_id is None:
                    return None
            history = await client.conversations_history(
                channel=channel_id, limit=THREAD_LOOKBACK, include_all_metadata=True
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("slack: cannot look for the thread of %s: %s", key,
                        self._redact(repr(exc)))
            return None
        for message in history.get("messages") or ():
            metadata = message.get("metadata") or {}
            payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == THREAD_EVENT and payload.get("key") == key:
                return channel_id, str(message["ts"])
        return None

    async def _thread_started(self, key: str, channel: str, ts: str) -> None:
        if self._on_thread_started is None:
            return
        try:
            await self._on_thread_started(key, channel, ts)
        except Exception as exc:
            log.error("slack: on_thread_started(%s) failed: %s", key, self._redact(repr(exc)))

    # ---- mentions ---------------------------------------------------------------------
    async def _with_mentions(self, message: SlackMessage) -> SlackMessage:
        """Every `@login` as `<@U…>` where Slack knows the person, else as the plain login."""
        logins = {m.group(1) for m in MENTION.finditer(message.text)}
        for block in message.blocks or ():
            logins.update(m.group(1) for m in MENTION.finditer(_texts(block)))
        if not logins:
            return message
        emails = {login.casefold(): email for login, email in message.people.items()}
        ids: dict[str, str | None] = {}
        for login in logins:
            email = emails.get(login.casefold())
            ids[login] = await self.member_by_email(email) if email else None

        def named(match: re.Match[str]) -> str:
            found = ids.get(match.group(1))
            return f"<@{found}>" if found else match.group(1)

        def written(match: re.Match[str]) -> str:
            return match.group(1)

        return replace(
            message,
            text=MENTION.sub(named, message.text),
            blocks=[_rewrite(b, named, written) for b in message.blocks]
            if message.blocks else None,
            people={},
        )

    async def member_by_email(self, email: str) -> str | None:
        """The Slack member id of `email` (users.lookupByEmail), cached; None if nobody."""
        key = email.casefold()
        cached = self._members.get(key)
        if cached is not None and cached[1] > self._clock.now():
            return cached[0]
        if self._lookup_off is not None:
            return None
        try:
            answer = await self._api().users_lookupByEmail(email=email)
        except SlackApiError as exc:
            data = exc.response.data if isinstance(exc.response.data, dict) else {}
            error = str(data.get("error") or "")
            if error == "users_not_found":
                self._members[key] = (None, self._clock.now() + _LOOKUP_TTL)
            elif error in ("missing_scope", "not_allowed_token_type", "invalid_auth"):
                self._lookup_off = error
                log.error(
                    "slack: users.lookupByEmail refused (%s; needed: %s): mentions are written "
                    "as names. Add the users:read.email scope to the bot token to ping people.",
                    error,
                    data.get("needed") or "users:read.email",
                )
            else:
                log.warning("slack: users.lookupByEmail failed (%s): no ping this time", error)
            return None
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            log.warning("slack: users.lookupByEmail failed (%s): no ping", type(exc).__name__)
            return None
        user = answer.get("user") or {}
        found = user.get("id") if not (user.get("deleted") or user.get("is_bot")) else None
        self._members[key] = (str(found) if found else None, self._clock.now() + _LOOKUP_TTL)
        return self._members[key][0]

    def _api(self) -> AsyncWebClient:
        if self._client is None:
            session = self._session
            if session is None:
                self._own_session = aiohttp.ClientSession(
                    timeout=aiohttp.ClientTimeout(total=_REQUEST_TIMEOUT)
                )
                session = self._own_session
            self._client = AsyncWebClient(
                token=self._token,
                base_url=self._api_url,
                session=session,
                timeout=_REQUEST_TIMEOUT,
                retry_handlers=[],  # ours wait on the Clock; the SDK's would asyncio.sleep
                logger=logging.getLogger("app.notify.slack.sdk"),
            )
        return self._client

    def _redact(self, text: str) -> str:
        return text.replace(self._token, "[token]") if self._token else text


def _texts(block: Any) -> str:
    """Every string inside a block, joined (to find the mentions it holds)."""
    if isinstance(block, dict):
        return "\n".join(_texts(v) for v in block.values())
    if isinstance(block, list):
        return "\n".join(_texts(v) for v in block)
    return block if isinstance(block, str) else ""


Substitute = Callable[["re.Match[str]"], str]


def _rewrite(block: Any, mrkdwn: Substitute, plain_text: Substitute) -> Any:
    """The block with mentions replaced: pings in mrkdwn, plain names in plain_text."""
    if isinstance(block, list):
        return [_rewrite(v, mrkdwn, plain_text) for v in block]
    if not isinstance(block, dict):
        return block
    out = {k: _rewrite(v, mrkdwn, plain_text) for k, v in block.items()}
    if isinstance(block.get("text"), str) and block.get("type") in ("mrkdwn", "plain_text"):
        how = mrkdwn if block["type"] == "mrkdwn" else plain_text
        out["text"] = MENTION.sub(how, block["text"])
    return out


def _retry_after(response: Any) -> float | None:
    headers = getattr(response, "headers", None) or {}
    value = headers.get("Retry-After") or headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None
