"""PagerDuty and Opsgenie pagers against their simulators."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from types import SimpleNamespace

import aiohttp
import pytest

from app.clock import ManualClock
from app.notify.oncall import (
    JsmOpsPager,
    OnCall,
    OpsgeniePager,
    Pager,
    PagerDutyPager,
    PagerError,
    pager_from_settings,
)
from sim.pager import JsmOpsSim, OpsgenieSim, PagerDutySim

ROUTING_KEY = "R0UTING-SECRET-42"
PD_TOKEN = "pd-token-SECRET-7"
OG_KEY = "og-key-SECRET-9"
KEY = "octo/app#17"
LINK = "https://github.com/octo/app/issues/17"


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as s:
        yield s


@pytest.fixture
async def pd_sim() -> AsyncIterator[PagerDutySim]:
    async with PagerDutySim(routing_key=ROUTING_KEY, api_token=PD_TOKEN) as sim:
        yield sim


@pytest.fixture
async def og_sim() -> AsyncIterator[OpsgenieSim]:
    async with OpsgenieSim(api_key=OG_KEY) as sim:
        yield sim


@pytest.fixture
def pd(pd_sim: PagerDutySim, session: aiohttp.ClientSession, clock: ManualClock) -> PagerDutyPager:
    return PagerDutyPager(
        session,
        routing_key=ROUTING_KEY,
        api_token=PD_TOKEN,
        events_url=pd_sim.url,
        api_url=pd_sim.url,
        clock=clock,
    )


@pytest.fixture
def og(og_sim: OpsgenieSim, session: aiohttp.ClientSession, clock: ManualClock) -> OpsgeniePager:
    return OpsgeniePager(session, api_key=OG_KEY, api_url=og_sim.url, clock=clock)


# ---- PagerDuty ----------------------------------------------------------------------------


async def test_pagerduty_triggering_twice_opens_one_incident(
    pd: PagerDutyPager, pd_sim: PagerDutySim
) -> None:
    details = {"culprit": "abc123", "attempts": 2}
    await pd.trigger(KEY, "main is red in octo/app", link=LINK, details=details)
    await pd.trigger(KEY, "main is red in octo/app", link=LINK, details=details)

    assert list(pd_sim.incidents) == [KEY]
    incident = pd_sim.incidents[KEY]
    assert incident["status"] == "triggered"
    assert incident["summary"] == "main is red in octo/app"
    assert incident["custom_details"] == details
    assert incident["links"] == [{"href": LINK, "text": "Incident"}]
    assert [e["event_action"] for e in incident["events"]] == ["trigger", "trigger"]


async def test_pagerduty_acknowledge_then_resolve(pd: PagerDutyPager, pd_sim: PagerDutySim) -> None:
    await pd.trigger(KEY, "red", link=LINK, details={})
    await pd.acknowledge(KEY)
    assert pd_sim.incidents[KEY]["status"] == "acknowledged"
    await pd.resolve(KEY)
    assert pd_sim.incidents[KEY]["status"] == "resolved"
    await pd.trigger(KEY, "red again", link=LINK, details={})  # a new incident, same key
    assert pd_sim.incidents[KEY]["status"] == "triggered"


async def test_pagerduty_who_is_on_call(
    pd: PagerDutyPager,
    pd_sim: PagerDutySim,
    session: aiohttp.ClientSession,
    clock: ManualClock,
) -> None:
    pd_sim.set_oncall("PSCHED1", "Backup Bo", "bo@example.com", level=2)
    pd_sim.set_oncall("PSCHED1", "Ada Lovelace", "ada@example.com", level=1)
    pd_sim.set_oncall("PSCHED2", "Grace Hopper", "grace@example.com")

    assert await pd.who_is_on_call("PSCHED1") == OnCall(
        "Ada Lovelace", "ada@example.com", "pagerduty"
    )
    assert (await pd.who_is_on_call("PSCHED2")) == OnCall(
        "Grace Hopper", "grace@example.com", "pagerduty"
    )
    assert await pd.who_is_on_call("PNOBODY") is None

    no_token = PagerDutyPager(
        session, routing_key=ROUTING_KEY, events_url=pd_sim.url, api_url=pd_sim.url, clock=clock
    )
    calls_before = sum(pd_sim.calls.values())
    assert await no_token.who_is_on_call("PSCHED1") is None
    assert sum(pd_sim.calls.values()) == calls_before


async def test_pagerduty_retries_500_and_honours_retry_after(
    pd: PagerDutyPager, pd_sim: PagerDutySim, clock: ManualClock
) -> None:
    pd_sim.fail("/v2/enqueue", status=500, times=1)
    pd_sim.fail("/v2/enqueue", status=429, times=1, retry_after=7)
    await pd.trigger(KEY, "red", link=LINK, details={})
    assert pd_sim.incidents[KEY]["status"] == "triggered"
    assert pd_sim.calls["/v2/enqueue"] == 3
    assert len(clock.slept) == 2 and 7 <= clock.slept[1] <= 7.7  # Retry-After, 10 % jitter


async def test_pagerduty_gives_up_with_a_clear_error_and_no_secret(
    pd: PagerDutyPager,
    pd_sim: PagerDutySim,
    session: aiohttp.ClientSession,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    pd_sim.fail("/v2/enqueue", status=503, times=4)
    with pytest.raises(PagerError, match="failed after 4 attempts: HTTP 503") as failed:
        await pd.trigger(KEY, "red", link=LINK, details={})
    assert pd_sim.calls["/v2/enqueue"] == 4
    assert pd_sim.incidents == {}

    wrong = PagerDutyPager(
        session,
        routing_key="WRONG-SECRET",
        api_token="WRONG-TOKEN",
        events_url=pd_sim.url,
        api_url=pd_sim.url,
        clock=clock,
    )
    with pytest.raises(PagerError, match="refused: HTTP 400") as refused:
        await wrong.trigger(KEY, "red", link=LINK, details={})
    with pytest.raises(PagerError, match="refused: HTTP 401") as unauthorised:
        await wrong.who_is_on_call("PSCHED1")

    shown = " ".join(
        [str(failed.value), str(refused.value), str(unauthorised.value), repr(pd), caplog.text]
    )
    for secret in (ROUTING_KEY, PD_TOKEN, "WRONG-SECRET", "WRONG-TOKEN"):
        assert secret not in shown


# ---- Opsgenie -----------------------------------------------------------------------------


async def test_opsgenie_triggering_twice_opens_one_alert(
    og: OpsgeniePager, og_sim: OpsgenieSim
) -> None:
    await og.trigger(KEY, "main is red in octo/app", link=LINK, details={"culprit": "abc", "n": 2})
    await og.trigger(KEY, "main is red in octo/app", link=LINK, details={"culprit": "abc", "n": 2})

    assert list(og_sim.alerts) == [KEY]
    alert = og_sim.alerts[KEY]
    assert alert["status"] == "open" and alert["count"] == 2
    assert alert["message"] == "main is red in octo/app"
    assert alert["details"] == {"culprit": "abc", "n": "2", "link": LINK}
    assert LINK in alert["description"]


async def test_opsgenie_acknowledge_and_close_by_alias(
    og: OpsgeniePager, og_sim: OpsgenieSim
) -> None:
    await og.trigger(KEY, "x" * 200, link=LINK, details={})  # a long summary is cut to 130
    await og.acknowledge(KEY)
    assert og_sim.alerts[KEY]["acknowledged"] is True
    assert og_sim.alerts[KEY]["status"] == "open"
    await og.resolve(KEY)
    assert og_sim.alerts[KEY]["status"] == "closed"
    await og.resolve("never/opened#1")  # nothing to close is not an error


async def test_opsgenie_who_is_on_call(og: OpsgeniePager, og_sim: OpsgenieSim) -> None:
    og_sim.set_oncall("sched-1", "Ada Lovelace", "ada@example.com")
    assert await og.who_is_on_call("sched-1") == OnCall(
        "Ada Lovelace", "ada@example.com", "opsgenie"
    )
    assert await og.who_is_on_call(None) is None
    with pytest.raises(PagerError, match="refused: HTTP 404"):
        await og.who_is_on_call("no-such-schedule")


async def test_opsgenie_retries_500(
    og: OpsgeniePager, og_sim: OpsgenieSim, clock: ManualClock
) -> None:
    og_sim.fail("/v2/alerts", status=500, times=2)
    await og.trigger(KEY, "red", link=LINK, details={})
    assert og_sim.alerts[KEY]["status"] == "open"
    assert og_sim.calls["/v2/alerts"] == 3
    assert len(clock.slept) == 2


async def test_opsgenie_bad_key_is_refused_without_showing_it(
    og_sim: OpsgenieSim, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    wrong = OpsgeniePager(session, api_key="og-WRONG-SECRET", api_url=og_sim.url, clock=clock)
    with pytest.raises(PagerError, match="refused: HTTP 401") as refused:
        await wrong.trigger(KEY, "red", link=LINK, details={})
    assert "og-WRONG-SECRET" not in str(refused.value) + repr(wrong)
    assert og_sim.alerts == {}


# ---- Jira Service Management Ops (API integration) -----------------------------------------

JSM_KEY = "jsm-key-SECRET-3"


@pytest.fixture
async def jsm_sim() -> AsyncIterator[JsmOpsSim]:
    async with JsmOpsSim(api_key=JSM_KEY) as sim:
        yield sim


@pytest.fixture
def jsm(jsm_sim: JsmOpsSim, session: aiohttp.ClientSession, clock: ManualClock) -> JsmOpsPager:
    return JsmOpsPager(session, api_key=JSM_KEY, api_url=jsm_sim.url, clock=clock)


async def test_jsm_alert_is_created_once_acknowledged_and_closed_by_alias(
    jsm: JsmOpsPager, jsm_sim: JsmOpsSim
) -> None:
    assert isinstance(jsm, Pager) and jsm.name == "jsm"
    await jsm.trigger(KEY, "main is red in octo/app", link=LINK, details={"culprit": "abc"})
    await jsm.trigger(KEY, "main is red in octo/app", link=LINK, details={"culprit": "abc"})
    assert list(jsm_sim.alerts) == [KEY]
    alert = jsm_sim.alerts[KEY]
    assert (alert["status"], alert["count"], alert["source"]) == ("open", 2, "buildsheriff")
    assert alert["details"] == {"culprit": "abc", "link": LINK}
    await jsm.acknowledge(KEY)
    assert alert["acknowledged"] is True and alert["status"] == "open"
    await jsm.resolve(KEY)
    assert alert["status"] == "closed"
    assert set(jsm_sim.calls) == {
        "/jsm/ops/integration/v2/alerts",
        f"/jsm/ops/integration/v2/alerts/{KEY}/acknowledge",
        f"/jsm/ops/integration/v2/alerts/{KEY}/close",
    }


async def test_jsm_offers_no_on_call_lookup_to_an_integration_key(
    jsm: JsmOpsPager, jsm_sim: JsmOpsSim
) -> None:
    assert await jsm.who_is_on_call("sched-1") is None
    assert sum(jsm_sim.calls.values()) == 0  # nothing asked that the key could not answer


async def test_jsm_retries_and_refuses_a_wrong_key_without_showing_it(
    jsm: JsmOpsPager, jsm_sim: JsmOpsSim, session: aiohttp.ClientSession, clock: ManualClock
) -> None:
    jsm_sim.fail("/jsm/ops/integration/v2/alerts", status=503, times=1)
    await jsm.trigger(KEY, "red", link=LINK, details={})
    assert jsm_sim.alerts[KEY]["status"] == "open" and len(clock.slept) == 1
    wrong = JsmOpsPager(session, api_key="jsm-WRONG-SECRET", api_url=jsm_sim.url, clock=clock)
    with pytest.raises(PagerError, match=r"JSM Ops alert for .* refused: HTTP 401") as refused:
        await wrong.trigger("other#1", "red", link=LINK, details={})
    assert "jsm-WRONG-SECRET" not in str(refused.value) + repr(wrong)
    assert repr(wrong) == f"JsmOpsPager(api_url={jsm_sim.url!r})"


# ---- choosing a provider -------------------------------------------------------------------


async def test_jsm_is_chosen_over_opsgenie_which_warns_of_its_end(
    jsm_sim: JsmOpsSim,
    og_sim: OpsgenieSim,
    session: aiohttp.ClientSession,
    clock: ManualClock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    both = SimpleNamespace(jsm_api_key=JSM_KEY, jsm_api_url=jsm_sim.url,
                           opsgenie_api_key=OG_KEY, opsgenie_api_url=og_sim.url)
    pager = pager_from_settings(both, session, clock)
    assert pager is not None and pager.name == "jsm"
    await pager.trigger(KEY, "red", link=LINK, details={})
    assert KEY in jsm_sim.alerts and og_sim.alerts == {}
    assert repr(pager_from_settings(SimpleNamespace(jsm_api_key=JSM_KEY), session, clock)) == (
        "JsmOpsPager(api_url='https://api.atlassian.com')"
    )
    with caplog.at_level("WARNING", logger="app.notify.oncall"):
        pager_from_settings(SimpleNamespace(opsgenie_api_key=OG_KEY), session, clock)
    assert "Opsgenie support ends on 2027-04-05" in caplog.text
    assert "JSM_API_KEY" in caplog.text


async def test_pager_from_settings_prefers_pagerduty(
    pd_sim: PagerDutySim,
    og_sim: OpsgenieSim,
    session: aiohttp.ClientSession,
    clock: ManualClock,
) -> None:
    both = SimpleNamespace(
        pagerduty_routing_key=ROUTING_KEY,
        pagerduty_api_token=None,
        pagerduty_events_url=pd_sim.url,
        pagerduty_api_url=pd_sim.url,
        opsgenie_api_key=OG_KEY,
        opsgenie_api_url=og_sim.url,
    )
    pager = pager_from_settings(both, session, clock)
    assert pager is not None and pager.name == "pagerduty"
    assert isinstance(pager, Pager)
    await pager.trigger(KEY, "red", link=LINK, details={})
    assert KEY in pd_sim.incidents and og_sim.alerts == {}

    only_opsgenie = SimpleNamespace(opsgenie_api_key=OG_KEY, opsgenie_api_url=og_sim.url)
    pager = pager_from_settings(only_opsgenie, session, clock)
    assert pager is not None and pager.name == "opsgenie"
    await pager.trigger(KEY, "red", link=LINK, details={})
    assert KEY in og_sim.alerts

    defaults = pager_from_settings(SimpleNamespace(opsgenie_api_key=OG_KEY), session, clock)
    assert repr(defaults) == "OpsgeniePager(api_url='https://api.opsgenie.com')"
    assert pager_from_settings(SimpleNamespace(), session, clock) is None
    assert pager_from_settings(SimpleNamespace(pagerduty_routing_key=""), session, clock) is None
