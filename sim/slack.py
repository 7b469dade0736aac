"""A Slack Web API simulator on 127.0.0.1: the few methods Build Sheriff uses.

It behaves like Slack where the app could get it wrong: arguments arrive as JSON, as a
form or in the query string (slack_sdk sends `reactions.add` as query parameters); the
token comes as a Bearer header or a `token` argument; `chat.postMessage` accepts a
channel name or id, but `chat.update` and `reactions.add` need the channel *id* that
`chat.postMessage` answered with. Faults (`fail`) let tests play an outage or a rate limit.

Each method checks the token's scopes as Slack does (`missing_scope`, with `needed` and
`provided`): `users.lookupByEmail` needs `users:read.email`, and finds only members added
with `add_member` (a GitHub noreply address belongs to nobody). Block Kit is held to Slack's
limits (50 blocks, header text 150, section text 3,000, 10 fields of 2,000): beyond them the
whole message is refused with `invalid_blocks`, as Slack does.
"""

from __future__ import annotations

import json
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from aiohttp import web

_TS_BASE = 1_700_000_000
# What a bot token needs for each method (Slack's docs: the method's "Scopes")
METHOD_SCOPES = {
    "chat.postMessage": "chat:write",
    "chat.update": "chat:write",
    "reactions.add": "reactions:write",
    "conversations.info": "channels:read",
    "conversations.list": "channels:read",
    "conversations.history": "channels:history",
    "conversations.replies": "channels:history",
    "users.lookupByEmail": "users:read.email",
}
DEFAULT_SCOPES = frozenset(
    {"chat:write", "reactions:write", "channels:read", "channels:history", "users:read",
     "users:read.email"}
)
MAX_TEXT_CHARS = 40_000  # Slack truncates longer texts; the sim refuses them (msg_too_long)
MAX_BLOCKS = 50
MAX_HEADER_CHARS = 150
MAX_SECTION_CHARS = 3000
MAX_FIELDS = 10
MAX_FIELD_CHARS = 2000
MAX_CONTEXT_ELEMENTS = 10


@dataclass
class _Fault:
    status: int
    retry_after: float | None
    error: str | None


class SlackSim:
    def __init__(
        self,
        token: str = "xoxb-sim-token",
        *,
        channels: Iterable[str] | None = None,
        scopes: Iterable[str] = DEFAULT_SCOPES,
    ) -> None:
        self.token = token
        self.scopes = set(scopes)
        self.members: dict[str, dict[str, Any]] = {}  # id -> Slack's user object
        # None: any "#name" or "C..." id exists, which is what most tests want
        self.channels: set[str] | None = set(channels) if channels is not None else None
        self.messages: list[dict[str, Any]] = []
        self.reactions: list[dict[str, str]] = []
        self.calls: Counter[str] = Counter()
        self._faults: dict[str, deque[_Fault]] = {}
        self._ids: dict[str, str] = {}  # channel name -> id
        self._names: dict[str, str] = {}  # id -> name
        self._seq = 0
        self._runner: web.AppRunner | None = None
        self.url = ""

    # ---- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}/api/"

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> SlackSim:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # ---- test controls ---------------------------------------------------------------
    def fail(
        self,
        method: str,
        status: int = 500,
        times: int = 1,
        retry_after: float | None = None,
        *,
        error: str | None = None,
    ) -> None:
        """The next `times` calls of `method` fail. 429 carries Retry-After when given;
        `error` makes it an HTTP 200 `{"ok": false, "error": error}` instead."""
        queue = self._faults.setdefault(method, deque())
        for _ in range(times):
            queue.append(_Fault(status, retry_after, error))

    def clear_faults(self) -> None:
        """Slack is healthy again: forget every fault still queued."""
        self._faults.clear()

    def channel_id(self, channel: str) -> str:
        """The id Slack gives the channel (ids map to themselves)."""
        if channel.startswith("#"):
            if channel not in self._ids:
                new_id = f"C{len(self._ids) + 1:08d}"
                self._ids[channel] = new_id
                self._names[new_id] = channel
            return self._ids[channel]
        return channel

    def top_level(self, channel: str | None = None) -> list[dict[str, Any]]:
        wanted = None if channel is None else self.channel_id(channel)
        return [
            m
            for m in self.messages
            if m["thread_ts"] is None and (wanted is None or m["channel"] == wanted)
        ]

    def thread(self, ts: str) -> list[dict[str, Any]]:
        """Replies to the message `ts`, oldest first."""
        return [m for m in self.messages if m["thread_ts"] == ts]

    def add_member(
        self, email: str, name: str, *, deleted: bool = False, is_bot: bool = False
    ) -> str:
        """A member of the workspace, findable by `email`; returns their id (U…)."""
        user_id = f"U{len(self.members) + 1:08d}"
        self.members[user_id] = {
            "id": user_id,
            "team_id": "T00000001",
            "name": name.lower().replace(" ", "."),
            "real_name": name,
            "deleted": deleted,
            "is_bot": is_bot,
            "profile": {"email": email, "real_name": name, "display_name": name},
        }
        return user_id

    def reactions_on(self, ts: str) -> list[str]:
        return [r["name"] for r in self.reactions if r["timestamp"] == ts]

    # ---- HTTP ------------------------------------------------------------------------
    async def _handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        self.calls[method] += 1
        queue = self._faults.get(method)
        if queue:
            fault = queue.popleft()
            if fault.error is not None:
                return web.json_response({"ok": False, "error": fault.error})
            headers = {}
            if fault.retry_after is not None:
                headers["Retry-After"] = str(int(fault.retry_after))
            error = "ratelimited" if fault.status == 429 else "internal_error"
            return web.json_response(
                {"ok": False, "error": error}, status=fault.status, headers=headers
            )
        args = await _arguments(request)
        auth_error = self._check_token(request, args)
        if auth_error:
            return _error(auth_error)
        needed = METHOD_SCOPES.get(method)
        if needed is not None and needed not in self.scopes:
            return web.json_response(
                {
                    "ok": False,
                    "error": "missing_scope",
                    "needed": needed,
                    "provided": ",".join(sorted(self.scopes)),
                }
            )
        handler = {
            "chat.postMessage": self._post_message,
            "chat.update": self._update,
            "reactions.add": self._react,
            "auth.test": self._auth_test,
            "conversations.info": self._conversation_info,
            "conversations.list": self._conversation_list,
            "conversations.history": self._conversation_history,
            "conversations.replies": self._conversation_replies,
            "users.lookupByEmail": self._lookup_by_email,
        }.get(method)
        if handler is None:
            return _error("unknown_method", status=404)
        return handler(args)

    def _check_token(self, request: web.Request, args: dict[str, Any]) -> str | None:
        header = request.headers.get("Authorization", "")
        token = header[len("Bearer ") :] if header.startswith("Bearer ") else args.get("token")
        if not token:
            return "not_authed"
        return None if token == self.token else "invalid_auth"

    def _known(self, channel: str) -> bool:
        if self.channels is not None:
            return channel in self.channels or self._names.get(channel) in self.channels
        return channel.startswith(("#", "C"))

    def _next_ts(self) -> str:
        self._seq += 1
        return f"{_TS_BASE + self._seq}.{self._seq:06d}"

    def _find(self, channel: str, ts: str) -> dict[str, Any] | None:
        for message in self.messages:
            if message["channel"] == channel and message["ts"] == ts:
                return message
        return None

    def _post_message(self, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        if not channel:
            return _error("channel_not_found")
        if not self._known(channel):
            return _error("channel_not_found")
        text, blocks = args.get("text"), _blocks(args.get("blocks"))
        if blocks is False:
            return _error("invalid_blocks")
        if not text and not blocks:
            return _error("no_text")
        if text and len(str(text)) > MAX_TEXT_CHARS:
            return _error("msg_too_long")
        channel_id = self.channel_id(channel)
        thread_ts = args.get("thread_ts") or None
        if thread_ts is not None:
            parent = self._find(channel_id, str(thread_ts))
            if parent is None:
                return _error("thread_not_found")
            thread_ts = parent["thread_ts"] or parent["ts"]  # replies to a reply join its thread
        metadata = args.get("metadata")
        if isinstance(metadata, str):
            try:
                metadata = json.loads(metadata)
            except ValueError:
                return _error("invalid_metadata_format")
        if metadata is not None and not (
            isinstance(metadata, dict)
            and isinstance(metadata.get("event_type"), str)
            and isinstance(metadata.get("event_payload"), dict)
        ):
            return _error("invalid_metadata_format")
        message = {
            "channel": channel_id,
            "ts": self._next_ts(),
            "thread_ts": thread_ts,
            "text": text or "",
            "blocks": blocks or None,
            "edits": [],
            "metadata": metadata,
        }
        self.messages.append(message)
        return web.json_response(
            {
                "ok": True,
                "channel": channel_id,
                "ts": message["ts"],
                "message": {"type": "message", "text": message["text"], "ts": message["ts"]},
            }
        )

    def _update(self, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        # chat.update wants the id chat.postMessage returned, not "#name"
        if not channel.startswith("C") or not self._known(channel):
            return _error("channel_not_found")
        message = self._find(channel, str(args.get("ts") or ""))
        if message is None:
            return _error("message_not_found")
        blocks = _blocks(args.get("blocks"))
        if blocks is False:
            return _error("invalid_blocks")
        text = args.get("text")
        if not text and not blocks:
            return _error("no_text")
        if text and len(str(text)) > MAX_TEXT_CHARS:
            return _error("msg_too_long")
        message["text"] = text or ""
        if blocks is not None:  # omitted blocks are kept, as on Slack
            message["blocks"] = blocks or None
        message["edits"].append({"text": message["text"], "blocks": message["blocks"]})
        return web.json_response(
            {"ok": True, "channel": channel, "ts": message["ts"], "text": message["text"]}
        )

    def _react(self, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        if not channel.startswith("C") or not self._known(channel):
            return _error("channel_not_found")
        ts, name = str(args.get("timestamp") or ""), str(args.get("name") or "")
        if self._find(channel, ts) is None:
            return _error("message_not_found")
        if not name:
            return _error("invalid_name")
        reaction = {"channel": channel, "timestamp": ts, "name": name}
        if reaction in self.reactions:
            return _error("already_reacted")
        self.reactions.append(reaction)
        return web.json_response({"ok": True})

    def _auth_test(self, args: dict[str, Any]) -> web.Response:
        return web.json_response(
            {
                "ok": True,
                "url": "https://sim.slack.invalid/",
                "team": "Sim",
                "user": "buildsheriff",
                "team_id": "T00000001",
                "user_id": "U00000001",
                "bot_id": "B00000001",
            }
        )

    def _conversation_info(self, args: dict[str, Any]) -> web.Response:
        channel = str(args.get("channel") or "")
        if not self._known(channel):
            return _error("channel_not_found")
        channel_id = self.channel_id(channel)
        name = self._names.get(channel_id, channel_id).lstrip("#")
        return web.json_response(
            {"ok": True, "channel": {"id": channel_id, "name": name, "is_channel": True}}
        )


    def _conversation_list(self, args: dict[str, Any]) -> web.Response:
        """The channels the sim knows by name (those a message went to), one page."""
        channels = [
            {"id": channel_id, "name": name.lstrip("#"), "is_channel": True}
            for channel_id, name in self._names.items()
        ]
        return web.json_response(
            {"ok": True, "channels": channels, "response_metadata": {"next_cursor": ""}}
        )

    def _conversation_history(self, args: dict[str, Any]) -> web.Response:
        """A channel's top-level messages, newest first; their metadata only when asked for
        (include_all_metadata). Like Slack, it takes the channel's id, not "#name"."""
        channel = str(args.get("channel") or "")
        if not channel.startswith(("C", "G")) or not self._known(channel):
            return _error("channel_not_found")
        try:
            limit = max(1, min(int(args.get("limit") or 100), 999))
        except (TypeError, ValueError):
            return _error("invalid_limit")
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        top = [m for m in self.messages if m["channel"] == channel and m["thread_ts"] is None]
        page = list(reversed(top))[:limit]
        messages = []
        for m in page:
            item: dict[str, Any] = {"type": "message", "ts": m["ts"], "text": m["text"]}
            if with_metadata and m.get("metadata"):
                item["metadata"] = m["metadata"]
            messages.append(item)
        return web.json_response(
            {"ok": True, "messages": messages, "has_more": len(top) > len(page)}
        )

    def _conversation_replies(self, args: dict[str, Any]) -> web.Response:
        """A thread: its parent then its replies, oldest first, `limit` (at most 1,000) a
        page with a `cursor` for the next; metadata only when asked for
        (include_all_metadata). The ts of a reply answers that reply alone. Like Slack, it
        takes the channel's id, not "#name"."""
        channel = str(args.get("channel") or "")
        if not channel.startswith(("C", "G")) or not self._known(channel):
            return _error("channel_not_found")
        parent = self._find(channel, str(args.get("ts") or ""))
        if parent is None:
            return _error("thread_not_found")
        try:
            limit = max(1, min(int(args.get("limit") or 1000), 1000))
        except (TypeError, ValueError):
            return _error("invalid_limit")
        cursor = str(args.get("cursor") or "")
        if cursor and not (cursor.startswith("bmV4dF90czo") and cursor[11:].isdigit()):
            return _error("invalid_cursor")
        start = int(cursor[11:]) if cursor else 0
        whole = [parent] if parent["thread_ts"] else [parent, *self.thread(parent["ts"])]
        with_metadata = str(args.get("include_all_metadata")).lower() in ("1", "true")
        messages = []
        for m in whole[start : start + limit]:
            item: dict[str, Any] = {"type": "message", "ts": m["ts"], "text": m["text"],
                                    "thread_ts": m["thread_ts"] or m["ts"]}
            if with_metadata and m.get("metadata"):
                item["metadata"] = m["metadata"]
            messages.append(item)
        more = start + limit < len(whole)
        return web.json_response({
            "ok": True, "messages": messages, "has_more": more,
            "response_metadata": {"next_cursor": f"bmV4dF90czo{start + limit}" if more else ""},
        })

    def _lookup_by_email(self, args: dict[str, Any]) -> web.Response:
        email = str(args.get("email") or "").strip()
        if not email:
            return _error("invalid_arguments")
        for member in self.members.values():
            if member["profile"]["email"].casefold() == email.casefold():
                return web.json_response({"ok": True, "user": member})
        return _error("users_not_found")


def _error(code: str, status: int = 200) -> web.Response:
    return web.json_response({"ok": False, "error": code}, status=status)


async def _arguments(request: web.Request) -> dict[str, Any]:
    """Slack reads arguments from the query string, a form, or a JSON body."""
    args: dict[str, Any] = dict(request.query)
    if request.method != "POST" or not request.can_read_body:
        return args
    if request.content_type == "application/json":
        try:
            body = await request.json()
        except json.JSONDecodeError:
            return args
        if isinstance(body, dict):
            args.update(body)
    else:
        args.update(dict(await request.post()))
    return args


def _blocks(raw: Any) -> list[dict[str, Any]] | bool | None:
    """Blocks as a list; None when absent; False when malformed (invalid_blocks)."""
    if raw is None or raw == "":
        return None
    if isinstance(raw, str):  # form bodies carry blocks as a JSON string
        try:
            raw = json.loads(raw)
        except json.JSONDecodeError:
            return False
    if not isinstance(raw, list) or not all(isinstance(b, dict) and "type" in b for b in raw):
        return False
    if len(raw) > MAX_BLOCKS or not all(_block_ok(b) for b in raw):
        return False
    return raw


def _text_object(obj: Any, *, kinds: tuple[str, ...], limit: int) -> bool:
    return (
        isinstance(obj, dict)
        and obj.get("type") in kinds
        and isinstance(obj.get("text"), str)
        and 0 < len(obj["text"]) <= limit
    )


def _block_ok(block: dict[str, Any]) -> bool:
    """Slack's limits for the block types Build Sheriff sends (others pass unchecked)."""
    kind = block["type"]
    if kind == "header":
        return _text_object(block.get("text"), kinds=("plain_text",), limit=MAX_HEADER_CHARS)
    if kind == "section":
        text, fields = block.get("text"), block.get("fields")
        if text is None and not fields:
            return False
        if text is not None and not _text_object(
            text, kinds=("mrkdwn", "plain_text"), limit=MAX_SECTION_CHARS
        ):
            return False
        return fields is None or (
            isinstance(fields, list)
            and 0 < len(fields) <= MAX_FIELDS
            and all(
                _text_object(f, kinds=("mrkdwn", "plain_text"), limit=MAX_FIELD_CHARS)
                for f in fields
            )
        )
    if kind == "context":
        elements = block.get("elements")
        return (
            isinstance(elements, list)
            and 0 < len(elements) <= MAX_CONTEXT_ELEMENTS
            and all(isinstance(e, dict) and "type" in e for e in elements)
        )
    return True
