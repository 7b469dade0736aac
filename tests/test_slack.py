"""SlackNotifier against the Slack simulator: what lands in the channel, in what order."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest

from app.clock import ManualClock
from app.notify.slack import SlackMessage, SlackNotifier
from sim.slack import SlackSim

TOKEN = "xoxb-sim-token-SECRET-123"
CHANNEL = "#incidents"


@dataclass
class Recorder:
    started: list[tuple[str, str, str]] = field(default_factory=list)
    gave_up: list[tuple[str, str]] = field(default_factory=list)

    async def thread_started(self, key: str, channel: str, ts: str) -> None:
        self.started.append((key, channel, ts))

    async def on_gave_up(self, key: str, reason: str) -> None:
        self.gave_up.append((key, reason))


@pytest.fixture
async def sim() -> AsyncIterator[SlackSim]:
    async with SlackSim(token=TOKEN) as s:
        yield s


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def make(
    sim: SlackSim, clock: ManualClock
) -> AsyncIterator[Callable[..., tuple[SlackNotifier, Recorder]]]:
    made: list[SlackNotifier] = []

    def factory(**kwargs: Any) -> tuple[SlackNotifier, Recorder]:
        recorder = Recorder()
        options: dict[str, Any] = {
            "token": TOKEN,
            "api_url": sim.url,
            "clock": clock,
            "on_thread_started": recorder.thread_started,
            "on_gave_up": recorder.on_gave_up,
        }
        options.update(kwargs)
        notifier = SlackNotifier(**options)
        made.append(notifier)
        return notifier, recorder

    yield factory
    for notifier in made:
        await notifier.close()


@asynccontextmanager
async def raw_slack(sim: SlackSim) -> AsyncIterator[Callable[..., Awaitable[dict[str, Any]]]]:
    """Slack's Web API as a bot calls it, without the SDK: `await call(method, **args)`."""
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bearer {TOKEN}"}

        async def call(method: str, **args: Any) -> dict[str, Any]:
            async with session.post(sim.url + method, json=args, headers=headers) as response:
                data: dict[str, Any] = await response.json()
                return data

        yield call


RED_SECTION = {"type": "section", "text": {"type": "mrkdwn", "text": "red"}}


def texts(messages: list[dict[str, Any]]) -> list[str]:
    return [m["text"] for m in messages]


async def test_thread_has_one_top_message_its_replies_in_order_and_the_last_update(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    slack, rec = make()
    slack.start_thread("inc-1", CHANNEL, SlackMessage("main is red"))
    for n in (1, 2, 3):
        slack.reply("inc-1", SlackMessage(f"step {n}"))
    slack.update_top("inc-1", SlackMessage("main is red: triage"))
    slack.update_top(
        "inc-1",
        SlackMessage("main is red: reverting", blocks=[RED_SECTION]),
    )
    await slack.flush()

    [top] = sim.top_level(CHANNEL)
    assert top["text"] == "main is red: reverting"
    assert top["blocks"] == [RED_SECTION]
    assert texts(sim.thread(top["ts"])) == ["step 1", "step 2", "step 3"]
    assert sim.calls["chat.update"] <= 1
    assert rec.started == [("inc-1", top["channel"], top["ts"])]
    assert slack.thread_ts("inc-1") == top["ts"]
    assert slack.pending() == 0


async def test_updates_waiting_behind_each_other_are_sent_once(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    slack, _ = make()
    slack.start_thread("inc-1", CHANNEL, SlackMessage("opened"))
    await slack.flush()
    for state in ("triage", "acknowledged", "mitigated"):
        slack.update_top("inc-1", SlackMessage(state))
    slack.react("inc-1", "white_check_mark")
    await slack.flush()

    [top] = sim.top_level(CHANNEL)
    assert top["text"] == "mitigated"
    assert [edit["text"] for edit in top["edits"]] == ["mitigated"]
    assert sim.reactions_on(top["ts"]) == ["white_check_mark"]


async def test_outage_and_rate_limit_delay_slack_but_lose_nothing(
    sim: SlackSim,
    clock: ManualClock,
    make: Callable[..., tuple[SlackNotifier, Recorder]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    slack, rec = make()
    sim.fail("chat.postMessage", status=500, times=2)
    sim.fail("chat.postMessage", status=429, times=1, retry_after=30)
    started_at = clock.now()

    # plain functions, not coroutines: they cannot await, so they cannot wait for Slack
    for name in ("start_thread", "reply", "update_top", "react", "remember_thread"):
        assert not inspect.iscoroutinefunction(getattr(SlackNotifier, name))
    slack.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    slack.reply("inc-1", SlackMessage("culprit found"))
    slack.reply("inc-1", SlackMessage("revert opened"))
    slack.update_top("inc-1", SlackMessage("red: reverting"))
    assert sum(sim.calls.values()) == 0  # nothing was sent while we were in those calls
    assert slack.pending("inc-1") == 3

    await slack.flush()

    [top] = sim.top_level(CHANNEL)
    assert top["text"] == "red: reverting"
    assert texts(sim.thread(top["ts"])) == ["culprit found", "revert opened"]
    assert sim.calls["chat.postMessage"] == 3 + 3
    assert max(clock.slept) >= 30
    assert clock.now() - started_at >= 30
    assert rec.gave_up == []
    assert TOKEN not in caplog.text
    assert "rate limited" in caplog.text


async def test_rate_limit_pauses_every_thread(
    sim: SlackSim, clock: ManualClock, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    slack, _ = make()
    sim.fail("chat.postMessage", status=429, times=1, retry_after=30)
    started_at = clock.now()
    slack.start_thread("inc-1", CHANNEL, SlackMessage("one"))
    slack.start_thread("inc-2", CHANNEL, SlackMessage("two"))
    await slack.flush()

    assert sorted(texts(sim.top_level(CHANNEL))) == ["one", "two"]
    assert clock.now() - started_at >= 30
    assert sim.calls["chat.postMessage"] == 3


async def test_gives_up_after_max_attempts_once_and_delivers_later(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    slack, rec = make(max_attempts=2, max_backoff=5.0)
    sim.fail("chat.postMessage", status=503, times=5)
    slack.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    slack.reply("inc-1", SlackMessage("first"))
    await slack.flush()

    assert sim.messages == []
    assert slack.pending("inc-1") == 2
    assert [key for key, _ in rec.gave_up] == ["inc-1"]
    assert "chat.postMessage" in rec.gave_up[0][1]

    slack.reply("inc-1", SlackMessage("second"))  # an enqueue retries: 2 more failures
    await slack.flush()
    assert sim.messages == [] and slack.pending("inc-1") == 3
    await slack.flush()  # so does a flush: 1 failure left, then Slack is back
    [top] = sim.top_level(CHANNEL)
    assert top["text"] == "red"
    assert texts(sim.thread(top["ts"])) == ["first", "second"]
    assert len(rec.gave_up) == 1
    assert slack.pending() == 0


async def test_connection_errors_are_retried(
    clock: ManualClock, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    # nothing listens there: every attempt is a connection error
    slack, rec = make(api_url="http://127.0.0.1:9/api/", max_attempts=3)
    slack.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    await slack.flush()
    assert slack.pending("inc-1") == 1
    assert len(clock.slept) == 2
    assert len(rec.gave_up) == 1
    assert "ClientConnectorError" in rec.gave_up[0][1]


async def test_invalid_token_gives_up_once_and_posts_nothing(
    sim: SlackSim,
    make: Callable[..., tuple[SlackNotifier, Recorder]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    wrong = "xoxb-wrong-SECRET-987"
    slack, rec = make(token=wrong)
    slack.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    slack.reply("inc-1", SlackMessage("more"))
    await slack.flush()
    slack.reply("inc-1", SlackMessage("even more"))
    await slack.flush()

    assert sim.messages == []
    assert len(rec.gave_up) == 1
    key, reason = rec.gave_up[0]
    assert key == "inc-1" and "invalid_auth" in reason
    assert slack.pending("inc-1") == 3  # kept, in case the token is fixed
    assert sim.calls["chat.postMessage"] == 2  # one try per round: no retrying a bad token
    assert "invalid_auth" in caplog.text
    assert wrong not in caplog.text
    assert TOKEN not in caplog.text
    assert wrong not in repr(slack)


async def test_unknown_channel_gives_up_once(
    make: Callable[..., tuple[SlackNotifier, Recorder]],
) -> None:
    slack, rec = make()
    slack.start_thread("inc-1", "nowhere", SlackMessage("red"))
    await slack.flush()
    await slack.flush()
    assert [(k, "channel_not_found" in r) for k, r in rec.gave_up] == [("inc-1", True)]


async def test_without_a_token_nothing_is_sent(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    slack, rec = make(token=None)
    assert not slack.enabled
    slack.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    slack.reply("inc-1", SlackMessage("more"))
    slack.update_top("inc-1", SlackMessage("red!"))
    slack.react("inc-1", "eyes")
    slack.remember_thread("inc-2", "C1", "1.2")
    await slack.flush()
    assert sum(sim.calls.values()) == 0
    assert slack.pending() == 0
    assert slack.thread_ts("inc-2") is None
    assert rec.gave_up == []


async def test_after_a_restart_replies_go_to_the_existing_thread(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    before, rec = make()
    before.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    await before.flush()
    [(_, channel, ts)] = rec.started

    after, rec_after = make()
    after.reply("inc-1", SlackMessage("still red"))  # the thread is not known yet: waits
    await after.flush()
    assert sim.thread(ts) == []
    after.remember_thread("inc-1", channel, ts)
    after.start_thread("inc-1", CHANNEL, SlackMessage("red (again?)"))  # known: no-op
    after.react("inc-1", "eyes")
    await after.flush()

    assert texts(sim.top_level(CHANNEL)) == ["red"]
    assert texts(sim.thread(ts)) == ["still red"]
    assert sim.reactions_on(ts) == ["eyes"]
    assert rec_after.started == []


async def test_reply_asked_for_before_the_thread_follows_it(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    slack, _ = make()
    slack.reply("inc-1", SlackMessage("early reply"))
    slack.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    await slack.flush()
    [top] = sim.top_level(CHANNEL)
    assert texts(sim.thread(top["ts"])) == ["early reply"]


async def test_refused_blocks_fall_back_to_text_and_repeated_reaction_is_fine(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    slack, rec = make()
    slack.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    slack.reply("inc-1", SlackMessage("with bad blocks", blocks=[{"no": "type"}]))
    slack.react("inc-1", "eyes")
    await slack.flush()
    slack.react("inc-1", "eyes")  # Slack answers already_reacted
    slack.reply("inc-1", SlackMessage("after"))
    await slack.flush()

    [top] = sim.top_level(CHANNEL)
    replies = sim.thread(top["ts"])
    assert [(m["text"], m["blocks"]) for m in replies] == [
        ("with bad blocks", None),
        ("after", None),
    ]
    assert sim.reactions_on(top["ts"]) == ["eyes"]
    assert rec.gave_up == []


async def test_simulator_speaks_form_query_and_token_argument(sim: SlackSim) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(sim.url + "chat.postMessage", data={"channel": "#x"}) as r:
            assert (await r.json()) == {"ok": False, "error": "not_authed"}
        form = {"token": TOKEN, "channel": "#x", "text": "hi", "blocks": '[{"type": "divider"}]'}
        async with http.post(sim.url + "chat.postMessage", data=form) as r:
            posted = await r.json()
        assert posted["ok"] and posted["channel"].startswith("C")
        headers = {"Authorization": f"Bearer {TOKEN}"}
        by_name = {"channel": "#x", "ts": posted["ts"], "text": "edited"}
        async with http.post(sim.url + "chat.update", json=by_name, headers=headers) as r:
            assert (await r.json())["error"] == "channel_not_found"  # needs the id
        query = {"channel": posted["channel"], "timestamp": posted["ts"], "name": "eyes"}
        async with http.post(sim.url + "reactions.add", params=query, headers=headers) as r:
            assert (await r.json()) == {"ok": True}
        async with http.post(sim.url + "auth.test", headers=headers) as r:
            assert (await r.json())["ok"]
        async with http.post(
            sim.url + "conversations.info", data={"channel": "#x"}, headers=headers
        ) as r:
            assert (await r.json())["channel"]["id"] == posted["channel"]
    assert sim.top_level("#x")[0]["blocks"] == [{"type": "divider"}]
    assert sim.calls["chat.postMessage"] == 2


async def test_a_mention_pings_the_member_slack_finds_by_the_commit_email(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    mona = sim.add_member("mona@acme.test", "Mona Lisa")
    sim.add_member("gone@acme.test", "Gone", deleted=True)
    slack, _ = make()
    people = {
        "mona": "mona@acme.test",
        "hubot": None,  # a noreply address: nobody to ask about
        "gone": "gone@acme.test",
        "ghost": "ghost@acme.test",
    }
    slack.start_thread("inc-1", CHANNEL, SlackMessage("top"))
    slack.reply("inc-1", SlackMessage("@Mona is on it", people=people))
    header = {"type": "header", "text": {"type": "plain_text", "text": "by @mona"}}
    blocks = [header, {"type": "section", "text": {"type": "mrkdwn", "text": "owner @mona"}}]
    slack.reply("inc-1", SlackMessage("@hubot, @gone, @ghost", blocks, people=people))
    await slack.flush()
    [top] = sim.top_level(CHANNEL)
    first, second = sim.thread(top["ts"])
    assert first["text"] == f"<@{mona}> is on it"
    assert second["text"] == "hubot, gone, ghost"  # no mapping, no ping, just the name
    assert second["blocks"][0]["text"]["text"] == "by mona"  # plain_text cannot ping
    assert second["blocks"][1]["text"]["text"] == f"owner <@{mona}>"
    # one look-up per address, remembered: Mona was asked about once
    assert sim.calls["users.lookupByEmail"] == 3


async def test_without_the_email_scope_mentions_are_names_and_slack_is_asked_once(
    make: Callable[..., tuple[SlackNotifier, Recorder]], caplog: pytest.LogCaptureFixture
) -> None:
    async with SlackSim(token=TOKEN, scopes={"chat:write", "reactions:write"}) as narrow:
        narrow.add_member("mona@acme.test", "Mona Lisa")
        slack, rec = make(api_url=narrow.url)
        people = {"mona": "mona@acme.test", "olive": "olive@acme.test"}
        slack.start_thread("inc-1", CHANNEL, SlackMessage("top"))
        with caplog.at_level(logging.ERROR, logger="app.notify.slack"):
            slack.reply("inc-1", SlackMessage("@mona and @olive", people=people))
            slack.reply("inc-1", SlackMessage("@mona again", people=people))
            await slack.flush()
        [top] = narrow.top_level(CHANNEL)
        assert texts(narrow.thread(top["ts"])) == ["mona and olive", "mona again"]
        assert narrow.calls["users.lookupByEmail"] == 1
        assert "users:read.email" in caplog.text
        assert rec.gave_up == []  # the messages themselves went out


async def test_simulator_lookup_by_email_is_as_strict_as_slack(sim: SlackSim) -> None:
    member = sim.add_member("Mona@Acme.test", "Mona Lisa")
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with aiohttp.ClientSession() as http:
        async def ask(**params: str) -> dict[str, Any]:
            url = sim.url + "users.lookupByEmail"
            async with http.get(url, params=params, headers=headers) as response:
                data: dict[str, Any] = await response.json()
                return data

        found = await ask(email="mona@acme.test")
        assert found["ok"] and found["user"]["id"] == member
        assert (await ask(email="1+mona@users.noreply.github.com"))["error"] == "users_not_found"
        assert (await ask())["error"] == "invalid_arguments"
        sim.scopes.discard("users:read.email")
        refused = await ask(email="mona@acme.test")
        assert refused["error"] == "missing_scope" and refused["needed"] == "users:read.email"
        assert "users:read.email" not in refused["provided"].split(",")


async def test_simulator_refuses_blocks_beyond_block_kits_limits(sim: SlackSim) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"}
    long_header = [{"type": "header", "text": {"type": "plain_text", "text": "x" * 151}}]
    heading_md = [{"type": "header", "text": {"type": "mrkdwn", "text": "*x*"}}]
    long_section = [{"type": "section", "text": {"type": "mrkdwn", "text": "x" * 3001}}]
    too_many = [RED_SECTION] * 51
    async with aiohttp.ClientSession() as http:
        for blocks in (long_header, heading_md, long_section, too_many, [RED_SECTION]):
            body = {"channel": CHANNEL, "text": "t", "blocks": blocks}
            async with http.post(
                sim.url + "chat.postMessage", json=body, headers=headers
            ) as response:
                data = await response.json()
            assert data.get("error") == (None if blocks == [RED_SECTION] else "invalid_blocks")


async def test_a_thread_posted_before_a_crash_is_found_again_not_posted_twice(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    """The process that posted the top message died before saving its ts: the next one,
    told to look first, finds it by the key in its metadata (another incident's thread and
    a thread with no metadata are not taken for it) and reports it as started."""
    before, _ = make()
    before.start_thread("octo/widgets#1", CHANNEL, SlackMessage("red"))
    before.start_thread("octo/widgets#2", CHANNEL, SlackMessage("another incident"))
    await before.flush()
    [first, _second] = sim.top_level(CHANNEL)
    assert first["metadata"] == {"event_type": "buildsheriff_incident",
                                 "event_payload": {"key": "octo/widgets#1"}}

    after, rec = make()
    after.start_thread("octo/widgets#1", CHANNEL, SlackMessage("red (again?)"), look_first=True)
    after.reply("octo/widgets#1", SlackMessage("still red"))
    await after.flush()

    assert texts(sim.top_level(CHANNEL)) == ["red", "another incident"]
    assert texts(sim.thread(first["ts"])) == ["still red"]
    assert rec.started == [("octo/widgets#1", first["channel"], first["ts"])]
    assert sim.calls["conversations.history"] == 1


async def test_without_the_history_scope_looking_first_posts_the_thread(
    make: Callable[..., tuple[SlackNotifier, Recorder]], caplog: pytest.LogCaptureFixture
) -> None:
    """Without channels:history Slack cannot say: the thread is posted, as before (a crash
    between the post and saving its ts may then leave two)."""
    async with SlackSim(token=TOKEN, scopes={"chat:write", "channels:read"}) as narrow:
        slack, rec = make(api_url=narrow.url)
        slack.start_thread("inc-0", CHANNEL, SlackMessage("an earlier incident"))
        await slack.flush()
        with caplog.at_level(logging.WARNING, logger="app.notify.slack"):
            slack.start_thread("inc-1", CHANNEL, SlackMessage("red"), look_first=True)
            await slack.flush()
        assert texts(narrow.top_level(CHANNEL)) == ["an earlier incident", "red"]
        assert len(rec.started) == 2 and rec.gave_up == []
        assert "cannot look for the thread" in caplog.text


async def test_simulator_history_takes_channel_ids_and_shows_metadata_when_asked(
    sim: SlackSim,
) -> None:
    async with raw_slack(sim) as call:
        posted = await call("chat.postMessage", channel=CHANNEL, text="top",
                            metadata={"event_type": "x", "event_payload": {"k": 1}})
        assert (await call("chat.postMessage", channel=CHANNEL, text="bad",
                           metadata={"event_type": "x"}))["error"] == "invalid_metadata_format"
        assert (await call("conversations.history", channel=CHANNEL))["error"] == (
            "channel_not_found")  # a name is not an id
        plain = await call("conversations.history", channel=posted["channel"])
        assert [m["text"] for m in plain["messages"]] == ["top"]
        assert "metadata" not in plain["messages"][0]
        full = await call("conversations.history", channel=posted["channel"],
                          include_all_metadata=True)
        assert full["messages"][0]["metadata"]["event_payload"] == {"k": 1}
        listed = await call("conversations.list")
        assert [c["id"] for c in listed["channels"]] == [posted["channel"]]


async def test_catching_up_says_once_only_what_the_thread_lacks_in_order(
    sim: SlackSim, make: Callable[..., tuple[SlackNotifier, Recorder]]
) -> None:
    """A process that starts is owed the incident's news: the thread is read (each reply
    names its step in its metadata, over several pages) and only what it lacks is said."""
    before, rec = make()
    before.start_thread("inc-1", CHANNEL, SlackMessage("red"))
    for n in range(1, 251):  # more replies than one page of conversations.replies
        before.reply("inc-1", SlackMessage(f"news {n}", step=f"s{n}"))
    await before.flush()
    [(_, channel, ts)] = rec.started

    after, _ = make()
    after.remember_thread("inc-1", channel, ts)
    owed = [SlackMessage(f"news {n}", step=f"s{n}") for n in range(1, 254)]
    after.catch_up("inc-1", owed)
    after.catch_up("inc-1", owed)  # asked twice: the second finds nothing owed
    await after.flush()

    replies = sim.thread(ts)
    assert texts(replies)[-4:] == ["news 250", "news 251", "news 252", "news 253"]
    steps = [m["metadata"]["event_payload"]["step"] for m in replies]
    assert steps == [f"s{n}" for n in range(1, 254)]
    assert sim.calls["conversations.replies"] == 4  # two pages, twice


async def test_without_the_history_scope_catching_up_says_nothing(
    make: Callable[..., tuple[SlackNotifier, Recorder]], caplog: pytest.LogCaptureFixture
) -> None:
    """Slack cannot show the thread: nothing is said (missing is better than twice), and
    the outbox goes on with what comes next."""
    async with SlackSim(token=TOKEN, scopes={"chat:write", "channels:read"}) as narrow:
        slack, rec = make(api_url=narrow.url)
        slack.start_thread("inc-1", CHANNEL, SlackMessage("red"))
        slack.reply("inc-1", SlackMessage("news 1", step="s1"))
        with caplog.at_level(logging.WARNING, logger="app.notify.slack"):
            slack.catch_up("inc-1", [SlackMessage("news 1", step="s1"),
                                     SlackMessage("news 2", step="s2")])
            slack.reply("inc-1", SlackMessage("news 3", step="s3"))
            await slack.flush()
        [top] = narrow.top_level(CHANNEL)
        assert texts(narrow.thread(top["ts"])) == ["news 1", "news 3"]
        assert rec.gave_up == [] and "cannot read the thread" in caplog.text


async def test_simulator_replies_take_a_channel_id_and_a_parent_and_page_by_cursor(
    sim: SlackSim,
) -> None:
    async with raw_slack(sim) as call:
        top = await call("chat.postMessage", channel=CHANNEL, text="top")
        channel = top["channel"]
        for n in (1, 2, 3):
            await call("chat.postMessage", channel=channel, thread_ts=top["ts"], text=f"r{n}",
                       metadata={"event_type": "x", "event_payload": {"n": n}})
        assert (await call("conversations.replies", channel=CHANNEL, ts=top["ts"]))[
            "error"] == "channel_not_found"  # a name is not an id
        assert (await call("conversations.replies", channel=channel, ts="1.2"))[
            "error"] == "thread_not_found"
        first = await call("conversations.replies", channel=channel, ts=top["ts"], limit=2)
        assert [m["text"] for m in first["messages"]] == ["top", "r1"]
        assert first["has_more"] and "metadata" not in first["messages"][1]
        rest = await call("conversations.replies", channel=channel, ts=top["ts"], limit=2,
                          cursor=first["response_metadata"]["next_cursor"],
                          include_all_metadata=True)
        assert [m["text"] for m in rest["messages"]] == ["r2", "r3"]
        assert [m["metadata"]["event_payload"]["n"] for m in rest["messages"]] == [2, 3]
        assert not rest["has_more"] and rest["response_metadata"]["next_cursor"] == ""
        assert (await call("conversations.replies", channel=channel, ts=top["ts"],
                           cursor="nonsense"))["error"] == "invalid_cursor"
