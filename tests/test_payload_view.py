"""Payload views (app.github.payload_view): the receiver answers an event that cannot matter
from the few fields its concerns read. The view must say what the whole payload says, and
the concerns' rules must read nothing they did not declare."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from itertools import product
from typing import Any

import pytest
from gidgethub.sansio import Event

from app.core.bisect import PROBE_PREFIX
from app.core.revert_messages import BRANCH_PREFIX
from app.github.payload_view import PayloadView
from app.handlers import router
from app.settings import Settings
from sim.paths import shared_github_dir

# --- the view itself ---------------------------------------------------------------------------

PATHS = ("action", "check_run.name", "check_run.check_suite.head_branch", "branches", "a-b.c")


@pytest.mark.parametrize(
    ("body", "view"),
    [
        # only the declared paths, the rest skipped
        (b'{"action": "completed", "zen": [1, {"x": 2}], "check_run": {"name": "ci", "id": 7}}',
         {"action": "completed", "check_run": {"name": "ci"}}),
        # absent stays absent; null stays None
        (b"{}", {}),
        (b'{"check_run": null, "action": null}', {"check_run": None, "action": None}),
        (b'{"check_run": {"check_suite": null}}', {"check_run": {"check_suite": None}}),
        # a leaf is read whole, whatever it holds
        (b'{"branches": [{"name": "main", "commit": {"sha": "1"}}]}',
         {"branches": [{"name": "main", "commit": {"sha": "1"}}]}),
        (b'{"check_run": {"check_suite": {"head_branch": 7}}}',
         {"check_run": {"check_suite": {"head_branch": 7}}}),
        # keys that are no Python names
        (b'{"a-b": {"c": true}}', {"a-b": {"c": True}}),
        # non-ASCII text is fine when it is UTF-8
        ('{"action": "créé", "zen": "日本"}'.encode(), {"action": "créé"}),
        # whatever the view cannot be sure of goes to the whole parse (None)
        (b'{"check_run": "not an object"}', None),
        (b'{"check_run": {"check_suite": []}}', None),
        (b"[]", None),
        (b'{"action": "completed"', None),
        (b'{"action": "completed"} trailing', None),
        (b'{"action": "x", "zen": [1, 2,]}', None),
        (b'{"action": "x", "zen": NaN}', None),
        (b'{"action": "x", "zen": "\x01"}', None),
        (b'{"action": "x", "zen": "\xff"}', None),
        (b'{"zen": ' + b"[" * 5000 + b"]" * 5000 + b"}", None),
        (b"", None),
    ],
)
def test_a_view_holds_the_declared_paths_or_leaves_it_to_the_whole_parse(
    body: bytes, view: dict[str, Any] | None
) -> None:
    assert PayloadView(PATHS).read(body) == view


def test_a_leaf_above_a_longer_path_reads_the_whole_subtree() -> None:
    payload_view = PayloadView(("check_run.check_suite.head_branch", "check_run"))
    body = b'{"check_run": {"name": "ci", "check_suite": {"id": 1}}}'
    assert payload_view.read(body) == {"check_run": {"name": "ci", "check_suite": {"id": 1}}}


# --- the concerns' rules against their views ---------------------------------------------------

SETTINGS = Settings(app_id="4242", app_slug="buildsheriff")


class _Reads(dict[str, Any]):
    """A payload that writes down every path read from it (lists are read through)."""

    def __init__(self, data: dict[str, Any], seen: set[str], at: str = "") -> None:
        super().__init__(data)
        self._seen, self._at = seen, at

    def _wrap(self, key: str, value: Any) -> Any:
        path = f"{self._at}{key}"
        self._seen.add(path)
        if isinstance(value, dict):
            return _Reads(value, self._seen, f"{path}.")
        if isinstance(value, list):
            return [_Reads(v, self._seen, f"{path}.") if isinstance(v, dict) else v
                    for v in value]
        return value

    def __getitem__(self, key: str) -> Any:
        return self._wrap(key, super().__getitem__(key))

    def get(self, key: str, default: Any = None) -> Any:
        if key in self:
            return self._wrap(key, super().__getitem__(key))
        self._seen.add(f"{self._at}{key}")
        return default


def _declared(paths: tuple[str, ...], read: str) -> bool:
    """`read` is a declared path, a step towards one, or inside a declared leaf."""
    return any(
        read == path or path.startswith(f"{read}.") or read.startswith(f"{path}.")
        for path in paths
    )


def _examples() -> Iterator[tuple[str, dict[str, Any]]]:
    folder = shared_github_dir() / "webhook-examples"
    for name in sorted(router._by_event):
        for path in sorted((folder / name).glob("*.json")) if (folder / name).is_dir() else ():
            yield name, json.loads(path.read_text())


def _variants(name: str, payload: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """The example, and the same event turned every way the rules look at."""
    yield payload
    default = (payload.get("repository") or {}).get("default_branch", "main")
    branches = (default, "feature", f"{BRANCH_PREFIX}abc1234", f"{PROBE_PREFIX}x",
                "gh-readonly-queue/main/pr-1-abc")
    outcomes = ("success", "failure", None, "cancelled")
    if name in ("check_run", "check_suite", "workflow_run"):
        key = name
        for branch, outcome, action in product(branches, outcomes, ("completed", "requested")):
            p = copy.deepcopy(payload)
            p["action"] = action
            run = p[key]
            target = run.setdefault("check_suite", {}) if key == "check_run" else run
            target["head_branch"] = branch
            run["conclusion"] = outcome
            run["pull_requests"] = [{"head": {"ref": branch}}]
            yield p
        for app in ({"id": 4242, "slug": "buildsheriff"}, {"id": 1, "slug": "other"}):
            p = copy.deepcopy(payload)
            if key == "check_suite":
                p["check_suite"]["app"] = app
                p["check_suite"]["head_branch"] = f"{PROBE_PREFIX}x"
                yield p
        if key == "check_run":
            p = copy.deepcopy(payload)
            p["check_run"]["name"] = "Build Sheriff config"
            yield p
    if name == "status":
        for state, listed in product(("pending", "failure", "success", "error"),
                                     ([], [default], ["feature"], [f"{BRANCH_PREFIX}abc"],
                                      ["gh-readonly-queue/main/pr-1-abc"], ["x"] * 10)):
            p = copy.deepcopy(payload)
            p["state"] = state
            p["branches"] = [{"name": b} for b in listed]
            yield p
    # odd shapes: the rules must say "may matter" (True) for the whole parse to judge
    for broken in ("check_run", "check_suite", "workflow_run", "repository", "branches"):
        if broken in payload:
            p = copy.deepcopy(payload)
            p[broken] = None
            yield p
            p = copy.deepcopy(payload)
            p.pop(broken)
            yield p


CASES = [(name, variant) for name, payload in _examples() for variant in _variants(name, payload)]


def test_every_subscribed_event_has_examples_to_judge_by() -> None:
    assert {name for name, _ in CASES} >= {"check_run", "check_suite", "status", "workflow_run",
                                           "pull_request", "push", "merge_group", "issues"}
    assert len(CASES) > 300


def test_the_view_says_what_the_whole_payload_says() -> None:
    differ = []
    for name, payload in CASES:
        payload_view = router.view(name)
        assert payload_view is not None
        view = payload_view.read(json.dumps(payload).encode())
        assert view is not None
        whole = router.may_matter(Event(payload, event=name, delivery_id="1"), SETTINGS)
        if router.may_matter(Event(view, event=name, delivery_id="1"), SETTINGS) != whole:
            differ.append((name, whole, view))
    assert differ == []


def test_the_rules_read_only_what_they_declare() -> None:
    unread = []
    for name, payload in CASES:
        seen: set[str] = set()
        router.may_matter(Event(_Reads(payload, seen), event=name, delivery_id="1"), SETTINGS)
        paths = router.view(name).paths  # type: ignore[union-attr]
        unread += [(name, read) for read in sorted(seen) if not _declared(paths, read)]
    assert unread == []


def test_a_rule_reading_an_undeclared_field_is_caught() -> None:
    """The check above can fail: a field the view leaves out is found."""
    payload = {"action": "completed", "check_run": {"output": {"title": "x"}}}
    seen: set[str] = set()
    _Reads(payload, seen)["check_run"]["output"].get("title")
    paths = router.view("check_run").paths  # type: ignore[union-attr]
    assert [read for read in sorted(seen) if not _declared(paths, read)] == [
        "check_run.output", "check_run.output.title"
    ]
