"""The rails that stop automatic reverts: each rule, its boundary, its order, its words."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from app.core.config import RepoConfig
from app.core.culprit import CulpritFacts, is_revert_message, reverted_sha, reverted_shas
from app.core.safety import (
    OPT_OUT_MARKER,
    RULES,
    Refusal,
    RevertFacts,
    auto_revert_refusal,
    commits_to_vet,
    human_duration,
    revert_refusal,
    revert_target,
)

NOW = 1_790_000_000.0
SHA = "3f2a9c1d5e6b7a8f9e0d1c2b3a4f5e6d7c8b9a0f"
SHA7 = SHA[:7]
OLD = "a1b2c3d4e5f60718293a4b5c6d7e8f9012345678"

GIT_REVERT = f'Revert "Add the cache"\n\nThis reverts commit {OLD}.\n'
BUTTON_REVERT = 'Revert "Add the cache" (#12)\n\nReverts octo/repo#11'


def culprit(**changes: Any) -> CulpritFacts:
    facts = CulpritFacts(
        sha=SHA,
        message="Add the cache\n\nMakes reads faster.",
        author_login="octocat",
        author_type="User",
        committed_at=NOW - 3600,
        is_app_commit=False,
    )
    return replace(facts, **changes)


def refusal(
    facts: CulpritFacts | None = None,
    *,
    suspects: int = 1,
    config: RepoConfig | None = None,
    reverts_today: int = 0,
    already_reverted: bool = False,
    now: float = NOW,
) -> Refusal | None:
    return auto_revert_refusal(
        culprit() if facts is None else facts,
        suspects=suspects,
        config=config or RepoConfig(),
        reverts_today=reverts_today,
        already_reverted=already_reverted,
        now=now,
    )


DAY = 86400.0

# (case, arguments, expected rule or None)
CASES: list[tuple[str, dict[str, Any], str | None]] = [
    ("a plain recent culprit may be reverted", {}, None),
    ("auto_revert off", {"config": RepoConfig(auto_revert=False)}, "auto_revert_off"),
    ("two suspects", {"suspects": 2}, "several_suspects"),
    ("ten suspects", {"suspects": 10}, "several_suspects"),
    (
        "two suspects, ranges allowed",
        {"suspects": 2, "config": RepoConfig(revert_range=True)},
        None,
    ),
    ("zero suspects with a culprit", {"suspects": 0}, None),
    ("a git revert", {"facts": culprit(message=GIT_REVERT)}, "is_revert"),
    ("a Revert-button revert", {"facts": culprit(message=BUTTON_REVERT)}, "is_revert"),
    ("the app's own commit", {"facts": culprit(is_app_commit=True)}, "app_commit"),
    (
        "another bot's commit is fair game",
        {"facts": culprit(author_login="dependabot[bot]", author_type="Bot")},
        None,
    ),
    ("unknown author", {"facts": culprit(author_login=None, author_type=None)}, None),
    ("opt-out marker", {"facts": culprit(message=f"Risky\n\n{OPT_OUT_MARKER}")}, "opt_out"),
    ("opt-out marker in subject", {"facts": culprit(message=f"{OPT_OUT_MARKER}: x")}, "opt_out"),
    ("opt-out marker=true", {"facts": culprit(message="x\n\nNO_AUTO_REVERT=true")}, "opt_out"),
    ("opt-out marker lower case", {"facts": culprit(message="x\n\nno_auto_revert")}, "opt_out"),
    ("marker inside a longer word", {"facts": culprit(message="x NO_AUTO_REVERTS y")}, None),
    ("marker glued before", {"facts": culprit(message="x XNO_AUTO_REVERT y")}, None),
    ("already reverted", {"already_reverted": True}, "already_reverted"),
    ("one below the daily limit", {"reverts_today": 3}, None),
    ("exactly at the daily limit", {"reverts_today": 4}, "daily_limit"),
    ("over the daily limit", {"reverts_today": 9}, "daily_limit"),
    ("limit 0 forbids all", {"config": RepoConfig(max_reverts_per_day=0)}, "daily_limit"),
    ("exactly at the maximum age", {"facts": culprit(committed_at=NOW - DAY)}, None),
    ("one second too old", {"facts": culprit(committed_at=NOW - DAY - 1)}, "too_old"),
    ("much too old", {"facts": culprit(committed_at=NOW - 26 * 3600)}, "too_old"),
    ("committed 'in the future' (clock skew)", {"facts": culprit(committed_at=NOW + 60)}, None),
    (
        "age limit from config",
        {"facts": culprit(committed_at=NOW - 3601), "config": RepoConfig(max_culprit_age=3600)},
        "too_old",
    ),
    ("no culprit, one suspect", {"facts": None, "suspects": 1}, "no_culprit"),
    ("no culprit, no suspects", {"facts": None, "suspects": 0}, "no_culprit"),
    (
        "no culprit although ranges are allowed",
        {"facts": None, "suspects": 3, "config": RepoConfig(revert_range=True)},
        "several_suspects",
    ),
    # order: the first applicable rule wins
    (
        "auto_revert off beats everything",
        {
            "config": RepoConfig(auto_revert=False),
            "suspects": 3,
            "facts": culprit(message=GIT_REVERT, is_app_commit=True),
        },
        "auto_revert_off",
    ),
    (
        "several suspects beat facts about the commit",
        {"suspects": 2, "facts": culprit(message=GIT_REVERT)},
        "several_suspects",
    ),
    (
        "a revert beats the app-commit rule",
        {"facts": culprit(message=GIT_REVERT, is_app_commit=True)},
        "is_revert",
    ),
    (
        "app commit beats opt-out",
        {"facts": culprit(message=OPT_OUT_MARKER, is_app_commit=True)},
        "app_commit",
    ),
    (
        "opt-out beats already reverted",
        {"facts": culprit(message=OPT_OUT_MARKER), "already_reverted": True},
        "opt_out",
    ),
    (
        "already reverted beats the daily limit",
        {"already_reverted": True, "reverts_today": 99},
        "already_reverted",
    ),
    (
        "daily limit beats age",
        {"reverts_today": 99, "facts": culprit(committed_at=NOW - 9 * DAY)},
        "daily_limit",
    ),
]


@pytest.mark.parametrize(("case", "arguments", "rule"), CASES, ids=[c[0] for c in CASES])
def test_refusal_rules(case: str, arguments: dict[str, Any], rule: str | None) -> None:
    facts = arguments.pop("facts", culprit())
    if facts is None:
        result = auto_revert_refusal(
            None,
            suspects=arguments.get("suspects", 1),
            config=arguments.get("config", RepoConfig()),
            reverts_today=0,
            already_reverted=False,
            now=NOW,
        )
    else:
        result = refusal(facts, **arguments)
    assert (result.rule if result else None) == rule
    if result:
        assert result.rule in RULES


@pytest.mark.parametrize(
    ("arguments", "rule"),
    [
        ({"config": RepoConfig(auto_revert=False)}, "auto_revert_off"),
        ({"facts": culprit(message=GIT_REVERT)}, "is_revert"),
        ({"facts": culprit(is_app_commit=True)}, "app_commit"),
        ({"facts": culprit(message=OPT_OUT_MARKER)}, "opt_out"),
        ({"already_reverted": True}, "already_reverted"),
        ({"reverts_today": 4}, "daily_limit"),
        ({"facts": culprit(committed_at=NOW - 26 * 3600)}, "too_old"),
    ],
)
def test_reasons_name_the_commit_and_the_way_out(arguments: dict[str, Any], rule: str) -> None:
    result = refusal(arguments.pop("facts", None), **arguments)
    assert result is not None and result.rule == rule
    assert SHA7 in result.reason
    assert SHA not in result.reason  # short sha for people
    assert f"`/revert {SHA7}`" in result.reason
    assert result.reason.endswith(".")


@pytest.mark.parametrize(
    ("facts", "suspects", "config"),
    [
        (culprit(), 3, RepoConfig()),
        (None, 1, RepoConfig()),
        (None, 3, RepoConfig(revert_range=True)),
    ],
)
def test_reasons_without_a_single_culprit_still_point_to_revert(
    facts: CulpritFacts | None, suspects: int, config: RepoConfig
) -> None:
    result = auto_revert_refusal(
        facts, suspects=suspects, config=config, reverts_today=0, already_reverted=False, now=NOW
    )
    assert result is not None
    assert "`/revert <sha>`" in result.reason


def test_reason_texts_carry_the_numbers() -> None:
    too_old = refusal(culprit(committed_at=NOW - 26 * 3600))
    assert too_old is not None
    assert "26h ago" in too_old.reason and "24h allowed" in too_old.reason
    assert "`max_culprit_age`" in too_old.reason
    limit = refusal(reverts_today=4)
    assert limit is not None
    assert "4 automatic reverts today" in limit.reason and "limit of 4" in limit.reason
    several = refusal(suspects=3)
    assert several is not None
    assert "3 commits" in several.reason and "`revert_range: true`" in several.reason
    off = refusal(config=RepoConfig(auto_revert=False))
    assert off is not None and "`auto_revert: false`" in off.reason
    opt = refusal(culprit(message=OPT_OUT_MARKER))
    assert opt is not None and f"`{OPT_OUT_MARKER}`" in opt.reason


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (GIT_REVERT, True),
        (BUTTON_REVERT, True),
        ('Revert "Revert "Add the cache""', True),
        (f"Undo the cache\n\nThis reverts commit {OLD}.", True),
        (f"Undo\n\nthis reverts commit {OLD[:7]}.", True),
        ("Undo\n\nReverts octo/repo#11", True),
        ("Add revert button", False),
        ("Reverted the cache by hand", False),
        ('Fix "Revert" label colour', False),
        ('Reapply "Add the cache"', False),
        ("Mention: This reverts commit nothing", False),
        ("", False),
    ],
)
def test_is_revert_message(message: str, expected: bool) -> None:
    assert is_revert_message(message) is expected


@pytest.mark.parametrize(
    ("message", "sha", "all_shas"),
    [
        (GIT_REVERT, OLD, (OLD,)),
        (f"x\n\nThis reverts commit {OLD.upper()}.", OLD, (OLD,)),
        (f"x\n\nThis reverts commit {OLD[:7]}.", OLD[:7], (OLD[:7],)),
        (
            f"Revert range\n\nThis reverts commit {OLD}.\nThis reverts commit {SHA}.",
            OLD,
            (OLD, SHA),
        ),
        (BUTTON_REVERT, None, ()),
        ("Add the cache", None, ()),
    ],
)
def test_reverted_sha(message: str, sha: str | None, all_shas: tuple[str, ...]) -> None:
    assert reverted_sha(message) == sha
    assert reverted_shas(message) == all_shas


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (0, "0s"),
        (-5, "0s"),
        (0.4, "0s"),
        (45, "45s"),
        (59.6, "1m"),
        (60, "1m"),
        (90, "1m 30s"),
        (900, "15m"),
        (3599, "59m 59s"),
        (3600, "1h"),
        (7500, "2h 5m"),
        (7530, "2h 5m"),
        (24 * 3600, "24h"),
        (26 * 3600, "26h"),
        (48 * 3600 - 60, "47h 59m"),
        (48 * 3600, "2d"),
        (3 * 86400 + 4 * 3600, "3d 4h"),
        (3 * 86400 + 4 * 3600 + 59 * 60, "3d 4h"),
        (30 * 86400, "30d"),
    ],
)
def test_human_duration(seconds: float, text: str) -> None:
    assert human_duration(seconds) == text


# ---- the one decision over the facts the shell read: revert_refusal, revert_target

OTHER = "b" * 40
RANGE = RepoConfig(revert_range=True)


def facts_of(*commits: CulpritFacts, suspects: int | None = None, **kw: Any) -> RevertFacts:
    shas = tuple(c.sha for c in commits)
    if suspects is not None:
        shas = tuple(f"{i:040x}" for i in range(suspects))
    return RevertFacts(suspects=shas, commits=commits, **kw)


# (case, facts, config, expected rule or None, expected target)
DECISIONS: list[tuple[str, RevertFacts, RepoConfig, str | None, tuple[str, ...]]] = [
    ("one plain culprit is reverted", facts_of(culprit()), RepoConfig(), None, (SHA,)),
    (
        "one culprit a human reverted already",
        facts_of(culprit(), reverted=frozenset({SHA})),
        RepoConfig(),
        "already_reverted",
        (SHA,),
    ),
    (
        "the daily limit counts from the facts",
        facts_of(culprit(), reverts_today=4),
        RepoConfig(),
        "daily_limit",
        (SHA,),
    ),
    (
        "two suspects without revert_range",
        facts_of(culprit(), culprit(sha=OTHER)),
        RepoConfig(),
        "several_suspects",
        (),
    ),
    (
        "two clean suspects with revert_range: the range",
        facts_of(culprit(), culprit(sha=OTHER)),
        RANGE,
        None,
        (SHA, OTHER),
    ),
    (
        "a range is refused by any one of its commits",
        facts_of(culprit(), culprit(sha=OTHER, message=GIT_REVERT)),
        RANGE,
        "is_revert",
        (SHA, OTHER),
    ),
    (
        "a range whose commits were not all read is not reverted",
        RevertFacts(suspects=(SHA, OTHER, OLD), commits=(culprit(), culprit(sha=OTHER))),
        RANGE,
        "several_suspects",
        (SHA, OTHER, OLD),
    ),
    ("no suspect at all", RevertFacts(suspects=(), commits=()), RepoConfig(), "no_culprit", ()),
]


@pytest.mark.parametrize(
    ("facts", "config", "rule", "target"),
    [case[1:] for case in DECISIONS],
    ids=[case[0] for case in DECISIONS],
)
def test_should_we_revert_is_decided_from_the_facts(
    facts: RevertFacts, config: RepoConfig, rule: str | None, target: tuple[str, ...]
) -> None:
    found = revert_refusal(facts, config, NOW)
    assert (found.rule if found else None) == rule
    assert revert_target(facts.suspects, config) == target


def test_only_the_target_is_vetted_and_only_when_all_of_it_was_read() -> None:
    assert commits_to_vet((SHA,), 1, RepoConfig()) == (SHA,)
    assert commits_to_vet((SHA, OTHER), 2, RepoConfig()) == ()  # nothing to revert
    assert commits_to_vet((SHA, OTHER), 2, RANGE) == (SHA, OTHER)
    assert commits_to_vet((SHA, OTHER, OLD), 2, RANGE) == ()  # not all read: refused anyway
