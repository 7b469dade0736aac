"""What people read: the issue, the comments, the Slack blocks, the post-mortem."""

from __future__ import annotations

import json
from dataclasses import replace

from app.core.incident import Check, CommitSummary, Incident, Moment, Owner, State
from app.core.render import (
    announcement,
    issue_body,
    issue_title,
    parse_marker,
    postmortem,
    render_marker,
)
from app.core.render_slack import (
    HEADER_MAX_CHARS,
    MAX_BLOCKS,
    SECTION_MAX_CHARS,
    incident_people,
    postmortem_slack,
    slack_top,
    to_mrkdwn,
)

REPO_URL = "https://github.com/octo/widgets"
T0 = 1_800_000_000.0
SHA = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

INCIDENT = Incident(
    state=State.TRIAGE,
    branch="main",
    first_red=SHA,
    head=SHA,
    opened_at=T0,
    failing=(Check("build", "https://ci/build/1"), Check("lint")),
    suspects=(SHA,),
    number=7,
    commits=(
        CommitSummary(
            SHA,
            "Make parser faster",
            "Mona",
            "mona",
            f"{REPO_URL}/commit/{SHA}",
            41,
            f"{REPO_URL}/pull/41",
        ),
    ),
    owners=(
        Owner("@mona", "author of a1b2c3d"),
        Owner("@octo/parsers", "CODEOWNERS of `src/parse.py`"),
    ),
    timeline=(Moment(T0, "detected", None, SHA),),
)


def test_title_names_branch_checks_and_sha() -> None:
    assert issue_title(INCIDENT) == "🔴 main is broken: build, lint since a1b2c3d"


def test_title_shortens_many_checks() -> None:
    many = replace(INCIDENT, failing=tuple(Check(f"c{i}") for i in range(5)))
    assert issue_title(many).endswith("c0, c1, c2 and 2 more since a1b2c3d")


def test_body_says_what_failed_who_and_what_next() -> None:
    body = issue_body(INCIDENT, REPO_URL)
    assert "- [build](https://ci/build/1)" in body
    assert "- lint" in body
    assert "### Culprit" in body and "Make parser faster — @mona (#41)" in body
    assert "- @mona (author of a1b2c3d)" in body
    assert "- @octo/parsers (CODEOWNERS of `src/parse.py`)" in body
    assert "Opening a revert of `a1b2c3d`" in body
    assert "`/ack`" in body


def test_body_lists_suspects_when_several() -> None:
    other = "f" * 40
    body = issue_body(replace(INCIDENT, suspects=(SHA, other)), REPO_URL)
    assert "### Suspects (2 commits, oldest first)" in body
    assert "`fffffff`" in body


def test_body_states_the_refusal() -> None:
    reason = "Not reverting abc1234 automatically: its message carries `NO_AUTO_REVERT`."
    body = issue_body(replace(INCIDENT, refusal=reason), REPO_URL)
    assert reason in body
    assert "Not reverting automatically: Not reverting" not in body  # said once


def test_refusal_news_says_its_reason_once() -> None:
    reason = "Not reverting automatically: 2 commits landed between green and red."
    text = announcement("revert_refused", {"rule": "several_suspects", "reason": reason},
                        INCIDENT, REPO_URL)
    assert text == f"✋ {reason}"


def test_marker_round_trips_through_the_body() -> None:
    body = issue_body(INCIDENT, REPO_URL)
    data = parse_marker(body)
    assert data is not None
    assert Incident.from_marker(data, state=State.TRIAGE, number=7) == INCIDENT


def test_marker_survives_double_dashes_in_text() -> None:
    marker = render_marker({"detail": "a -- b --> c"})
    assert "-->" not in marker[:-3]
    assert parse_marker("text\n" + marker) == {"detail": "a -- b --> c"}


def test_no_marker_is_none() -> None:
    assert parse_marker("just an issue") is None
    assert parse_marker("<!-- buildsheriff: {broken -->") is None


def test_slack_top_is_valid_block_kit_with_current_state() -> None:
    text, blocks = slack_top(
        replace(INCIDENT, state=State.ACKNOWLEDGED, owner="mona", revert_pr=12),
        "octo/widgets",
        REPO_URL,
    )
    assert "Acknowledged" in text
    json.dumps(blocks)  # serialisable
    assert blocks[0]["type"] == "header"
    assert blocks[0]["text"]["type"] == "plain_text"
    fields = blocks[2]["fields"]
    assert "<https://ci/build/1|build>" in fields[0]["text"]
    assert "Make parser faster" in fields[1]["text"]
    links = blocks[3]["elements"][0]["text"]
    assert (
        f"<{REPO_URL}/issues/7|Incident #7>" in links
        and f"<{REPO_URL}/pull/12|Revert #12>" in links
    )


def test_markdown_to_mrkdwn() -> None:
    assert (
        to_mrkdwn("**Revert** [#12](https://x/12) `code`") == "*Revert* <https://x/12|#12> `code`"
    )


def test_mrkdwn_has_no_headings_task_lists_or_dash_bullets() -> None:
    text = to_mrkdwn("## Post-mortem\n### Timeline\n- one\n  - two\n- [ ] todo\n- [x] done")
    assert text.splitlines() == ["*Post-mortem*", "*Timeline*", "• one", "  • two",
                                 "☐ todo", "☑ done"]


def test_mrkdwn_escapes_slacks_control_characters_but_keeps_code_blocks() -> None:
    text = to_mrkdwn("a <b> & c\n```\n- x <y>\n## not a heading\n```")
    assert text.startswith("a &lt;b&gt; &amp; c\n```\n- x &lt;y&gt;\n## not a heading\n```")


def test_mrkdwn_mentions_ping_mapped_logins_and_leave_the_others() -> None:
    users = {"Mona": "U012AB3CD", "hubot": "not-an-id"}
    text = to_mrkdwn("🙋 @mona is on it; @hubot and @octo/team too; mail mona@x.test", users)
    assert text == "🙋 <@U012AB3CD> is on it; @hubot and @octo/team too; mail mona@x.test"


def test_people_of_an_incident_skip_githubs_noreply_addresses() -> None:
    commits = (
        CommitSummary(SHA, "t", "Mona", "mona", email="mona@acme.test"),
        CommitSummary("b" * 40, "t", "Hubot", "hubot", email="9+hubot@users.noreply.github.com"),
        CommitSummary("c" * 40, "t", "Anon", None, email="anon@acme.test"),
    )
    assert incident_people(replace(INCIDENT, commits=commits)) == {
        "mona": "mona@acme.test",
        "hubot": None,
    }


def test_slack_post_mortem_is_block_kit_without_markdown_headings() -> None:
    done = replace(
        INCIDENT,
        state=State.RESOLVED,
        timeline=(
            Moment(T0, "detected", None, SHA),
            Moment(T0 + 120, "acknowledged", "mona"),
            Moment(T0 + 3600, "resolved", "mona"),
        ),
    )
    text, blocks = postmortem_slack(done, "octo/widgets", REPO_URL, {"mona": "U012AB3CD"})
    shown = text + json.dumps(blocks, ensure_ascii=False)
    assert "##" not in shown and "- [ ]" not in shown and "**" not in shown
    assert blocks[0] == {
        "type": "header",
        "text": {"type": "plain_text", "text": "Post-mortem: main in octo/widgets"},
    }
    body = "\n".join(b["text"]["text"] for b in blocks if b["type"] == "section")
    assert "*Timeline*" in body and "*Durations*" in body and "*Follow-ups*" in body
    assert "Acknowledged by <@U012AB3CD>" in body
    assert "• Time to acknowledge: 2m" in body
    assert body.count("☐ ") == 5


def test_a_long_post_mortem_stays_within_block_kits_limits() -> None:
    moments = tuple(Moment(T0 + i, "status", "mona", "x" * 400) for i in range(400))
    _text, blocks = postmortem_slack(
        replace(INCIDENT, timeline=moments), "o/" + "r" * 200, REPO_URL
    )
    assert len(blocks) == MAX_BLOCKS
    assert len(blocks[0]["text"]["text"]) == HEADER_MAX_CHARS
    assert all(len(b["text"]["text"]) <= SECTION_MAX_CHARS for b in blocks if "text" in b
               and b["type"] == "section")
    assert "the rest of the timeline is in" in json.dumps(blocks)


def test_conflict_announcement_has_the_manual_commands() -> None:
    text = announcement(
        "revert_conflict", {"sha": SHA, "files": ["a.py", "b/c.py"]}, INCIDENT, REPO_URL
    )
    assert "- `a.py`" in text and "- `b/c.py`" in text
    assert f"git revert {SHA}" in text


def test_green_announcement_says_how_long() -> None:
    text = announcement("green", {"sha": "f" * 40, "red_for": 3900}, INCIDENT, REPO_URL)
    assert "`fffffff`" in text and "1h 5m" in text


def test_postmortem_has_timeline_durations_and_checklist() -> None:
    done = replace(
        INCIDENT,
        state=State.RESOLVED,
        timeline=(
            Moment(T0, "detected", None, SHA),
            Moment(T0 + 120, "acknowledged", "mona"),
            Moment(T0 + 200, "revert_opened", None, "#12"),
            Moment(T0 + 900, "mitigated", None, "green at fff"),
            Moment(T0 + 3600, "resolved", "mona"),
        ),
    )
    text = postmortem(done)
    assert "Acknowledged by @mona" in text
    assert "Revert opened: #12" in text
    assert "- Time to acknowledge: 2m" in text
    assert "- Time to mitigate: 15m" in text
    assert "- Time to resolve: 1h" in text
    assert text.count("- [ ] ") == 5
    assert "retrospective" in text


def test_postmortem_without_ack_says_na() -> None:
    assert "- Time to acknowledge: n/a" in postmortem(INCIDENT)


def test_revert_opened_says_who_merges() -> None:
    auto = announcement(
        "revert_opened", {"pr": 12, "url": "u", "merging": "auto"}, INCIDENT, REPO_URL
    )
    ours = announcement(
        "revert_opened", {"pr": 12, "url": "u", "merging": "sheriff"}, INCIDENT, REPO_URL
    )
    assert "GitHub auto-merge is on" in auto
    assert "Build Sheriff merges it" in ours


def test_a_bisection_shows_its_rounds_in_the_body_and_the_slack_top() -> None:
    from app.core.bisect import Answer, Mode, Probe, begin_round, record_answer, start

    other, third = "b" * 40, "c" * 40
    bisection = start((other, third, SHA), Mode.RERUN, runs=[(other, 1), (third, 2)])
    assert bisection is not None
    bisection = begin_round(bisection, [Probe(third, run_id=2)], 0.0)
    bisection = record_answer(bisection, third, Answer.RED, "https://ci/2")
    bisection = begin_round(bisection, [Probe(other, run_id=1)], 0.0)
    incident = replace(INCIDENT, suspects=(other, third, SHA), bisection=bisection)
    body = issue_body(incident, REPO_URL)
    assert "### Bisection (re-running their cancelled or skipped GitHub Actions runs" in body
    assert f"- Round 1: `{third[:7]}` [🔴 failed](https://ci/2)" in body
    assert f"- Round 2: `{other[:7]}` ⏳ waiting for CI" in body
    assert f"Bisecting: waiting for CI on `{other[:7]}` (round 2)." in body
    _text, blocks = slack_top(incident, "octo/widgets", REPO_URL)
    assert "3 suspects, bisecting" in str(blocks)
