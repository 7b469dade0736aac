"""The README tells the truth: quick start, state diagram, config keys."""

from __future__ import annotations

import re
from pathlib import Path

from app.core import incident as core
from app.core.builds import Analysis, CheckResult
from app.core.config import RepoConfig, example_config
from app.core.incident import State

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()
MERMAID = re.compile(r"```mermaid\n(.*?)```", re.S)


def diagram_edges(text: str) -> set[tuple[str, str]]:
    (block,) = MERMAID.findall(text)
    edges = set()
    for a, b in re.findall(r"^\s*(\w+) --> (\w+)", block, re.M):
        edges.add((a, b))
    return edges


def decided_edges() -> set[tuple[str, str]]:
    """Every state change decide() makes, trying every kind of event in every state."""
    analysis = Analysis("h", "h", None, ("h",), 1, False)
    events: list[core.Event] = [
        core.HeadRed(
            "h2", "main", (CheckResult("b", "failure"),), analysis, head_is_app_revert=True
        ),
        core.HeadGreen("g"),
        *(
            core.CommandGiven(n, "x", "u", True)
            for n in ("ack", "status", "mitigated", "resolve", "page")
        ),
        *(core.LabelSet(s, "u") for s in State),
        core.IssueClosed("u"),
        core.IssueReopened("u"),
        core.Tick(),
    ]
    edges = set()
    for state in State:
        for owner in (None, "o"):
            before = core.Incident(state, "main", "h", "h", 0.0, number=1, owner=owner)
            for event in events:
                after = core.decide(before, event, RepoConfig(), 10_000.0).incident
                if after is not None and after.state is not state:
                    edges.add((state.value, after.state.value))
    return edges


def test_quick_start_is_two_commands() -> None:
    quick = README.split("## Quick start", 1)[1].split("##", 1)[0]
    (block,) = re.findall(r"```sh\n(.*?)```", quick, re.S)
    commands = [line.split("#")[0].strip() for line in block.strip().splitlines()]
    assert commands == ["make demo", "make test"]


def test_ci_runs_the_readme_test_command() -> None:
    assert "make test" in (ROOT / ".ci" / "run").read_text()


def test_readme_diagram_is_the_one_in_the_code() -> None:
    code = (ROOT / "app" / "core" / "incident.py").read_text()
    assert MERMAID.findall(README) == MERMAID.findall(code)


def test_diagram_matches_what_decide_does() -> None:
    drawn = {(a, b) for a, b in diagram_edges(README) if "[*]" not in (a, b) and a != "[*]"}
    assert drawn == decided_edges()


def test_every_config_key_is_documented() -> None:
    assert example_config().rstrip() in README
    for key in RepoConfig.__dataclass_fields__:
        if key in {"consecutive"}:  # documented under `confirm`
            continue
        assert f"\n{key}:" in example_config() or f"  {key}:" in example_config(), key


def test_the_action_runs_the_revert_command_with_its_inputs() -> None:
    import yaml

    action = yaml.safe_load((ROOT / "actions" / "revert" / "action.yml").read_text())
    assert set(action["inputs"]) == {"sha", "repository", "base", "token"}
    script = action["runs"]["steps"][-1]["run"]
    assert '"$VENV/bin/python" -m app revert "${args[@]}"' in script
    assert action["runs"]["steps"][-1]["env"]["GITHUB_TOKEN"] == "${{ inputs.token }}"


def test_the_manifest_subscribes_to_every_event_a_handler_wants() -> None:
    import yaml

    from app.handlers import router

    manifest = yaml.safe_load((ROOT / "app.yml").read_text())
    handled = set(router._shallow_routes) | set(router._deep_routes)
    assert {"check_run", "status", "issue_comment", "pull_request"} <= handled
    assert handled <= set(manifest["default_events"])


def readme_map() -> tuple[set[str], set[str]]:
    """(modules, folders) named in the README's map, as paths relative to the root."""
    built = README.split("## How it is built", 1)[1]
    block = re.findall(r"```\n(.*?)```", built, re.S)[0]
    modules: set[str] = set()
    folders: set[str] = set()
    stack: list[str] = []
    for line in block.splitlines():
        depth = (len(line) - len(line.lstrip(" "))) // 2
        name = line.split()[0]
        del stack[depth:]
        path = "/".join([*stack, name.rstrip("/")])
        if name.endswith("/"):
            folders.add(path)
            stack.append(name.rstrip("/"))
        else:
            modules.add(path)
    return modules, folders


def test_the_readme_map_is_the_tree() -> None:
    modules, folders = readme_map()
    tree = {
        str(p.relative_to(ROOT))
        for top in ("app", "sim", "demo")
        for p in (ROOT / top).rglob("*.py")
        if p.name != "__init__.py"
    }
    assert modules == tree
    tree_folders = {
        str(p.parent.relative_to(ROOT))
        for top in ("app", "sim", "demo")
        for p in (ROOT / top).rglob("__init__.py")
    }
    assert folders - {"tests", "bench"} == tree_folders
    assert all((ROOT / f).is_dir() for f in folders)


def test_every_folder_says_what_lives_there_in_three_lines_at_most() -> None:
    import ast

    for init in sorted(ROOT.glob("*/**/__init__.py")):
        if init.parts[len(ROOT.parts)] not in ("app", "sim", "demo"):
            continue
        doc = ast.get_docstring(ast.parse(init.read_text()))
        assert doc, f"{init.relative_to(ROOT)} has no docstring"
        assert len(doc.splitlines()) <= 3, f"{init.relative_to(ROOT)}: more than three lines"
