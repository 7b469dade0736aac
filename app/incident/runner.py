"""Run the core's decision for one incident: apply its effects, then persist.

This is the only place where `decide` meets the outside world. Effects are
applied in order; GitHub writes come first and Slack messages are only queued
(the Slack outbox delivers them in the background), so Slack never blocks or
fails the GitHub side.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from app.core import incident as core
from app.core.config import RepoConfig
from app.core.incident import (
    AckPage,
    Announce,
    Assign,
    CloseIssue,
    Decision,
    Incident,
    OpenIssue,
    Page,
    PostMortem,
    Reply,
    RevertMerged,
    RevertNotNeeded,
    RevertOpened,
    StartRangeRevert,
    StartRevert,
    Unpage,
)
from app.core.render import announcement, durations, postmortem
from app.core.render_slack import incident_people, postmortem_slack, slack_top, to_mrkdwn
from app.core.resume import Due, PullState, Step, due, news_position, step_id, with_step
from app.core.revert_messages import parse_revert_marker
from app.incident.landing_news import advance
from app.incident.mitigate import GitHubMitigation, Mitigation, RevertOutcome
from app.incident.store import IncidentIssues, IncidentStore
from app.notify.oncall import PagerOutbox
from app.services import EventContext, Services

if TYPE_CHECKING:
    from app.notify.slack import SlackMessage

# News this young may still be on its way to Slack from the process that said it.
ECHO_GRACE = 60.0
PAGER_NAMES = {"pagerduty": "PagerDuty", "jsm": "Jira Service Management Ops",
               "opsgenie": "Opsgenie"}
PAGE_WAITING = (
    "📟 {provider} is not answering, so nobody has been paged yet. The page is sent, once, "
    "as soon as {provider} answers again; there is nothing to do meanwhile."
)

# timeline moment -> the phase it ends (the incident_phase_seconds histogram)
_PHASES = {"acknowledged": "acknowledge", "mitigated": "mitigate", "resolved": "resolve"}


def _milestones(before: Incident | None, after: Incident) -> list[str]:
    """The phases `after` reached for the first time since `before`."""
    return [
        kind
        for kind in _PHASES
        if after.first(kind) is not None and (before is None or before.first(kind) is None)
    ]


class NoIssue(Exception):
    """The revert started with the issue, but there is no issue of ours to link it to."""


@dataclass(frozen=True)
class _Mitigated:
    rollback: str | None  # what to say about the deploy, if the culprit is live
    outcome: RevertOutcome


def _revert_in(decision: Decision) -> StartRevert | StartRangeRevert | None:
    return next(
        (e for e in decision.effects if isinstance(e, StartRevert | StartRangeRevert)), None
    )


def _shas(effect: StartRevert | StartRangeRevert) -> tuple[str, ...]:
    return (effect.sha,) if isinstance(effect, StartRevert) else effect.shas


def slack_key(repo: str, number: int) -> str:
    return f"{repo}#{number}"


def active_repos(services: Services) -> dict[str, int]:
    """Repositories this process believes have an active incident, with their installation.

    A hint, never the truth: it lets a green or pending result on a repository without
    an incident cost no GitHub call, and tells the escalation watch where to look. The
    reconciler refills it from the issues on start-up.
    """
    return services.active_repos


class IncidentRunner:
    """Decides and applies for one repository, inside that repository's lock."""

    def __init__(
        self,
        ctx: EventContext,
        config: RepoConfig,
        store: IncidentIssues | None = None,
        mitigation: Mitigation | None = None,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.store: IncidentIssues = store or IncidentStore(ctx.gh, ctx.repo, config)
        self.mitigation: Mitigation = mitigation or GitHubMitigation(ctx, config)
        # Step ids of the comments on each incident issue, read once per runner (or known
        # to be none: an issue this runner created), so a retried step comments once.
        self._said: dict[int, set[str]] = {}

    @property
    def now(self) -> float:
        return self.ctx.services.clock.now()

    async def handle(self, incident: Incident | None, event: core.Event) -> Incident | None:
        decision = core.decide(incident, event, self.config, self.now)
        return await self.apply(incident, decision)

    async def apply(self, before: Incident | None, decision: Decision) -> Incident | None:
        incident = decision.incident
        if incident is None:
            return None
        reached = _milestones(before, incident)
        saved = before
        started: asyncio.Future[_Mitigated] | None = None  # the revert, begun with the issue
        # Where in the timeline this decision starts: with what each comment says, its step
        # id, the same when the same decision is retried from the same issue.
        position = len(before.timeline) if before is not None else 0
        try:
            for effect in decision.effects:
                if isinstance(effect, OpenIssue):
                    start = _revert_in(decision)
                    number: asyncio.Future[int] | None = None
                    if start is not None:
                        # The culprit is known: its revert starts now, together with the issue,
                        # which it needs only for its commit message and PR body, late on.
                        number = asyncio.get_running_loop().create_future()
                        started = asyncio.ensure_future(
                            self._mitigate(incident, _shas(start), number)
                        )
                    try:
                        incident = await self.store.create(incident)
                        saved = incident
                        twin = await self.store.earlier_twin(incident)
                    except BaseException:
                        if number is not None:
                            number.set_exception(NoIssue("the incident's issue was not opened"))
                        raise
                    if twin is not None:
                        # Another process opened the same incident between our look and our
                        # create: theirs stands (it runs the effects), ours closes as a duplicate.
                        if number is not None:
                            number.set_exception(NoIssue(f"a duplicate of #{twin.number}"))
                        await self.store.close_as_duplicate(incident, twin)
                        return twin
                    assert incident.number is not None
                    self._said[incident.number] = set()  # a new issue: nothing said there yet
                    if number is not None:
                        number.set_result(incident.number)
                    self.ctx.services.metrics.incidents.labels(transition="opened").inc()
                    self._start_slack_thread(incident)
                elif isinstance(effect, Announce):
                    step = step_id(news_position(before, effect.kind), effect.kind, effect.data)
                    await self.announce(incident, effect.kind, effect.data, step=step)
                elif isinstance(effect, Reply):
                    step = step_id(position, "reply", {"text": effect.text})
                    await self.comment(incident, effect.text, step=step)
                elif isinstance(effect, Assign):
                    await self._assign(incident, effect.login)
                elif isinstance(effect, StartRevert | StartRangeRevert):
                    if started is None:
                        if incident != saved:
                            await self.persist(incident, before=saved)  # the issue shows it first
                        started = asyncio.ensure_future(
                            self._mitigate(incident, _shas(effect), None)
                        )
                    mitigated, started = await started, None
                    if mitigated.rollback is not None:
                        text = mitigated.rollback
                        step = step_id(position, "rollback", {"shas": _shas(effect)})
                        await self.announce(incident, "note", {"text": text}, step=step)
                    outcome = mitigated.outcome
                    if outcome.note is not None and outcome.event is None:
                        # Nothing to revert: remembered, so no later look tries again.
                        skipped = RevertNotNeeded(outcome.note)
                        incident = await self.handle(incident, skipped) or incident
                    elif outcome.note is not None:
                        step = step_id(position, "note", {"text": outcome.note})
                        await self.announce(incident, "note", {"text": outcome.note}, step=step)
                    if outcome.event is not None:
                        opened = isinstance(outcome.event, RevertOpened)
                        self.ctx.services.metrics.reverts.labels(
                            outcome="opened" if opened else "conflict", reason="automatic"
                        ).inc()
                        incident = await self.handle(incident, outcome.event) or incident
                    saved = incident
                elif isinstance(effect, Page):
                    if await self._page(incident, effect.reason) is False:
                        # not taken: remembered in the marker, so a restart does not lose it
                        incident = replace(incident, page_waiting=effect.reason)
                    if incident != saved:
                        # Paged: remembered at once, so whatever fails next, an /ack or
                        # /resolve still reaches the page (re-paging is deduplicated).
                        await self.persist(incident, before=saved)
                        saved = incident
                elif isinstance(effect, Unpage):
                    await self._unpage(incident)
                elif isinstance(effect, AckPage):
                    if self.ctx.services.pager is not None:
                        await self.ctx.services.pager.acknowledge(self.page_key(incident))
                elif isinstance(effect, CloseIssue):
                    await self.store.close(incident)
                    saved = incident
                    self._update_slack_top(incident)
                elif isinstance(effect, PostMortem):
                    step = step_id(news_position(before, "postmortem"), "postmortem")
                    if await self._said_here(incident, postmortem(incident), step):
                        self._slack_post(
                            incident,
                            *postmortem_slack(
                                incident, self.ctx.repo, self.store.repo_url,
                                self.config.slack_user_ids,
                            ),
                            step=step,
                        )
        finally:
            if started is not None:  # an effect failed before the revert was waited for
                await asyncio.gather(started, return_exceptions=True)
        if incident != saved:
            await self.persist(incident, before=saved)
        self._track(incident, before)
        self._measure(reached, incident)
        return incident

    async def _mitigate(
        self, incident: Incident, shas: tuple[str, ...], number: asyncio.Future[int] | None
    ) -> _Mitigated:
        """Roll back the deploy if the culprit (the oldest) is live, and open the revert: both
        at once (neither waits for the other). `number`: the issue's, when it is being opened
        meanwhile."""
        rollback, outcome = await asyncio.gather(
            self.mitigation.roll_back_if_live(incident, shas[0]),
            self.mitigation.open_revert(incident, shas, number=number),
        )
        return _Mitigated(rollback, outcome)

    # ------------------------------------------------------------ resuming

    async def resume(
        self, incident: Incident, *, read_pr: bool = False, slack: bool = False
    ) -> Incident:
        """Take the steps due for `incident` (app.core.resume.due), each once.

        From an event, with what was read already (the marker): no read of its own. From
        the reconciler, `read_pr` (one GET of the revert PR while its merge is unrecorded)
        and `slack` (a thread that was never posted is posted)."""
        current = incident
        pr: dict[str, Any] | None = None
        slack = slack and self._slack_enabled()
        for item in due(current, self.config, self.now, slack=slack):
            current = await self._take(current, item, read_pr=read_pr) or current
            if item.step is Step.READ_PR and read_pr:
                pr = await self.ctx.gh.getitem(f"/repos/{self.ctx.repo}/pulls/{item.pr}")
                state = "merged" if pr.get("merged") else str(pr.get("state") or "open")
                for then in due(current, self.config, self.now, pr=PullState(
                    state, pr.get("merge_commit_sha")
                )):
                    if then.step in (Step.RECORD_MERGED, Step.LAND):
                        current = await self._take(current, then, pr=pr) or current
        return current

    async def _take(
        self,
        incident: Incident,
        item: Due,
        *,
        read_pr: bool = False,
        pr: dict[str, Any] | None = None,
    ) -> Incident | None:
        step = item.step
        self.ctx.log.info("incident step due", extra={"issue": incident.number, "step": step})
        if step is Step.START_THREAD:
            # The issue has no thread: none was posted, or one was and we stopped before its
            # ts was saved. Slack is asked first, so it is not posted twice.
            self._start_slack_thread(incident, look_first=True)
        elif step is Step.PAGE:
            return await self.handle(incident, core.Tick())
        elif step is Step.SEND_PAGE:
            return await self._send_waiting_page(incident)
        elif step is Step.OPEN_REVERT:
            effect = (
                StartRevert(item.shas[0]) if len(item.shas) == 1 else StartRangeRevert(item.shas)
            )
            return await self.apply(incident, Decision(incident, (effect,)))
        elif step is Step.RECORD_MERGED:
            assert item.pr is not None
            return await self.handle(incident, RevertMerged(item.pr, item.merge_sha))
        elif step is Step.LAND and pr is not None:
            marker = parse_revert_marker(pr.get("body"))
            if marker is not None:
                # What GitHub refuses is said here too, once: its events may have been lost.
                await advance(self.ctx, int(pr["number"]), str(pr["base"]["ref"]), marker,
                              may_enqueue=False)
        return None

    def _slack_enabled(self) -> bool:
        slack = self.ctx.services.slack
        return slack is not None and slack.enabled

    def _measure(self, reached: list[str], incident: Incident) -> None:
        """Count the transitions this decision made, and time them from detection."""
        metrics = self.ctx.services.metrics
        spans = durations(incident)
        for kind in reached:
            metrics.incidents.labels(transition=kind).inc()
            seconds = spans.get(_PHASES[kind])
            if seconds is not None:
                metrics.incident_phase(_PHASES[kind], seconds)

    # ------------------------------------------------------------ writing

    async def persist(self, incident: Incident, *, before: Incident | None = None) -> None:
        """Write the incident into its issue; its labels only when its state changed since
        `before` (what the issue showed)."""
        await self.store.save(incident, labels=before is None or before.state != incident.state)
        self._update_slack_top(incident)

    async def comment(
        self,
        incident: Incident,
        text: str,
        *,
        step: str | None = None,
        once: bool = True,
        echo: bool = False,
    ) -> bool:
        """Comment on the incident with a hidden step id, unless a comment with that id is
        there already (the step was taken, then the process stopped before it was recorded).
        True when it commented now. `once` False: the caller made sure it says this once
        (news from outside the incident's flow, said once on its PR): no look first."""
        number = incident.number
        assert number is not None, "a comment needs the incident's issue"
        if step is None:
            extra = {} if once else {"at": self.now}
            step = step_id(len(incident.timeline), "comment", {"text": text, **extra})
        if once:
            said = self._said.get(number)
            if said is None:
                said = self._said[number] = await self.store.comment_steps(number)
            if step in said:
                self.ctx.log.info("step already said", extra={"issue": number, "step": step})
                return False
            said.add(step)
        await self.store.comment(number, with_step(text, step, echo=echo))
        return True

    async def _said_here(
        self, incident: Incident, text: str, step: str, *, once: bool = True
    ) -> bool:
        """Comment (once); True when its Slack echo is to be sent now: the comment was posted
        now, or an earlier try in this process posted it and stopped before the echo (a write
        GitHub applied and then answered 502). A comment another process posted is its own
        business: its echo is not sent twice."""
        owed = self.ctx.services.echo_owed
        key = (self.ctx.repo, step)
        was_owed = key in owed
        owed.add(key)
        posted = await self.comment(incident, text, step=step, once=once, echo=True)
        owed.discard(key)
        return posted or was_owed

    async def announce(
        self,
        incident: Incident,
        kind: str,
        data: dict[str, Any],
        *,
        step: str | None = None,
        once: bool = True,
    ) -> None:
        """News: a comment on the issue and a reply in the Slack thread, each said once."""
        text = announcement(kind, data, incident, self.store.repo_url)
        if step is None:
            extra = {} if once else {"at": self.now}
            step = step_id(len(incident.timeline), kind, {**data, **extra})
        if not await self._said_here(incident, text, step, once=once):
            return
        if kind == "revert_merged":
            self.ctx.services.metrics.reverts.labels(outcome="merged", reason="").inc()
        elif kind == "revert_refused":
            rule = str(data.get("rule") or "unknown")
            self.ctx.services.metrics.reverts.labels(outcome="refused", reason=rule).inc()
        self._slack_reply(incident, text, step)
        self.ctx.log.info("incident news", extra={"issue": incident.number, "kind": kind})

    def _slack_reply(self, incident: Incident, markdown: str, step: str) -> None:
        """The issue's markdown, said in Slack's mrkdwn in the incident's thread."""
        self._slack_post(incident, to_mrkdwn(markdown, self.config.slack_user_ids), step=step)

    def _slack_post(
        self,
        incident: Incident,
        mrkdwn: str,
        blocks: list[dict[str, Any]] | None = None,
        *,
        step: str,
    ) -> None:
        slack = self.ctx.services.slack
        if slack is None or not slack.enabled or incident.number is None:
            return
        from app.notify.slack import SlackMessage

        message = SlackMessage(mrkdwn, blocks, people=incident_people(incident), step=step)
        slack.reply(slack_key(self.ctx.repo, incident.number), message)

    async def catch_up_slack(self, incident: Incident) -> None:
        """Once per process and incident: the news its issue says and its Slack thread does
        not (a process stopped with replies still in its outbox) is said there, once; each
        reply names its step in its metadata, so the thread is read to know. With replicas,
        news younger than ECHO_GRACE may still be on its way from another one: a later
        pass."""
        slack = self.ctx.services.slack
        if slack is None or not slack.enabled or incident.number is None:
            return
        key = slack_key(self.ctx.repo, incident.number)
        if not incident.slack_ts or key in self.ctx.services.slack_caught_up:
            return
        echoes = await self.store.echoes(incident.number)
        # One process alone (no REDIS_URL) has nobody else's outbox to wait for.
        grace = ECHO_GRACE if self.ctx.services.settings.redis_url else 0.0
        if any(self.now - echo.posted_at < grace for echo in echoes):
            return
        self.ctx.services.slack_caught_up.add(key)
        if not echoes:
            return
        from app.notify.slack import SlackMessage

        self.remember_slack(incident)
        people = incident_people(incident)
        slack.catch_up(key, [
            SlackMessage(to_mrkdwn(e.text, self.config.slack_user_ids), people=people,
                         step=e.step)
            for e in echoes
        ])

    def _start_slack_thread(self, incident: Incident, *, look_first: bool = False) -> None:
        slack = self.ctx.services.slack
        if slack is None or not slack.enabled or incident.number is None:
            return
        key = slack_key(self.ctx.repo, incident.number)
        self.ctx.services.slack_threads[key] = self.ctx.installation_id
        top = self._slack_top(incident)
        if look_first:
            slack.start_thread(key, self._channel(incident), top, look_first=True)
        else:
            slack.start_thread(key, self._channel(incident), top)

    def remember_slack(self, incident: Incident) -> None:
        """After a restart, teach the notifier the thread the marker remembers."""
        slack = self.ctx.services.slack
        if slack is None or not slack.enabled or incident.number is None or not incident.slack_ts:
            return
        key = slack_key(self.ctx.repo, incident.number)
        if slack.thread_ts(key) is None:
            slack.remember_thread(key, self._channel(incident), incident.slack_ts)

    def _channel(self, incident: Incident) -> str:
        """The repository's `slack_channel`, else the process's SLACK_CHANNEL."""
        return incident.slack_channel or str(self.ctx.services.settings.slack_channel)

    def sync_slack(self, incident: Incident) -> None:
        """Slack catches up: the thread's top message shows the issue's state (a thread
        that was never posted is a step `resume` takes). The issue is the truth; this only
        makes Slack agree with it."""
        slack = self.ctx.services.slack
        if slack is None or not slack.enabled or incident.number is None:
            return
        if not incident.slack_ts:
            return
        self.remember_slack(incident)
        self._update_slack_top(incident)

    def _slack_top(self, incident: Incident) -> SlackMessage:
        """The thread's top message: the incident's current state, as Block Kit."""
        from app.notify.slack import SlackMessage

        text, blocks = slack_top(
            incident, self.ctx.repo, self.store.repo_url, self.config.slack_user_ids
        )
        return SlackMessage(text, blocks, people=incident_people(incident))

    def _update_slack_top(self, incident: Incident) -> None:
        slack = self.ctx.services.slack
        if slack is None or not slack.enabled or incident.number is None:
            return
        slack.update_top(slack_key(self.ctx.repo, incident.number), self._slack_top(incident))

    async def _assign(self, incident: Incident, login: str) -> None:
        assert incident.number is not None
        refused = await self.store.assign(incident.number, login)
        if refused is not None:  # not assignable (e.g. no access): the label still says who
            self.ctx.log.warning("could not assign", extra={"login": login, "status": refused})

    async def _page(self, incident: Incident, reason: str) -> bool | None:
        """Page; False when the provider did not take it (it waits in the outbox)."""
        pager = self.ctx.services.pager
        if pager is None:
            await self.comment(
                incident,
                "📟 No on-call provider is configured (PagerDuty or Opsgenie), "
                "so nobody was paged.",
            )
            return None
        self.ctx.services.metrics.pages.inc()
        sent = await pager.trigger(self.page_key(incident), **self._page_text(incident, reason))
        if sent is False:  # the provider is not answering: the page waits in its outbox
            await self.comment(incident, PAGE_WAITING.format(provider=PAGER_NAMES.get(
                pager.name, pager.name)))
        return sent

    def _page_text(self, incident: Incident, reason: str) -> dict[str, Any]:
        return {
            "summary": f"{self.ctx.repo}: {incident.branch} is broken ({reason})",
            "link": f"{self.store.repo_url}/issues/{incident.number}",
            "details": {"repository": self.ctx.repo, "issue": incident.number, "reason": reason},
        }

    async def _send_waiting_page(self, incident: Incident) -> Incident | None:
        """The page the marker says its provider has not taken: sent once, by whichever
        process looks (the one whose outbox holds it, or a new one after a restart), and
        then forgotten in the marker. Still not taken: nothing written, nothing said again."""
        pager = self.ctx.services.pager
        reason = incident.page_waiting
        if pager is None or reason is None:
            return None
        key = self.page_key(incident)
        sent: bool | None
        if isinstance(pager, PagerOutbox) and pager.knows(key):
            # asked in this process: its outbox sends it (and what followed, in order)
            sent = await pager.flush(key)
        else:  # asked before a restart: asked again, once
            sent = await pager.trigger(key, **self._page_text(incident, reason))
            if incident.state is not core.State.TRIAGE and incident.owner:
                # someone took it meanwhile (their ack waited in the lost outbox): it goes
                # after the trigger, so the pager stops escalating
                await pager.acknowledge(key)
        if sent is False:
            return None
        sent_now = replace(incident, page_waiting=None)
        await self.persist(sent_now, before=incident)
        return sent_now

    def page_key(self, incident: Incident) -> str:
        """The pager's dedup key (PagerDuty) or alias (Opsgenie): one page per incident."""
        return f"{self.ctx.repo}#{incident.first_red}"

    async def _unpage(self, incident: Incident) -> None:
        pager = self.ctx.services.pager
        if pager is not None:
            await pager.resolve(self.page_key(incident))

    def _track(self, incident: Incident, before: Incident | None = None) -> None:
        if before is None or before.state != incident.state:
            # A head judged before this change may mean something else now.
            self.ctx.services.judged_heads.pop(self.ctx.repo.lower(), None)
        if incident.state in core.OPEN_STATES:
            active_repos(self.ctx.services)[self.ctx.repo] = self.ctx.installation_id
