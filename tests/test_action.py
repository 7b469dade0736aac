"""The revert Action's step, run by bash as the runner runs it, against the GitHub simulator.

The composite action's last step is taken from actions/revert/action.yml and run with the
environment the runner would give it (its `env:` with the inputs substituted, GITHUB_OUTPUT,
GITHUB_API_URL); the virtual environment the previous step builds is this test's Python.
Each documented exit code is produced, and the step always prints what it did.
"""

from __future__ import annotations

import asyncio
import re
import sys
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from gidgethub.routing import Router

from app.revert.cli import Exit
from tests.harness import Stack
from tests.process import bare_env, free_port

ROOT = Path(__file__).resolve().parents[1]
ACTION = yaml.safe_load((ROOT / "actions" / "revert" / "action.yml").read_text())
REPO = "octo/widgets"
StackFactory = Callable[..., AbstractAsyncContextManager[Stack]]


@dataclass
class StepRun:
    code: int
    out: str
    err: str
    outputs: dict[str, str]


def _step() -> dict[str, Any]:
    [step] = [s for s in ACTION["runs"]["steps"] if s.get("id") == "revert"]
    return step


async def run_step(tmp: Path, inputs: dict[str, str], api_url: str) -> StepRun:
    step = _step()
    values = {name: spec.get("default", "") for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    venv, output_file = _prepare(tmp)

    def expand(text: str) -> str:
        text = re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: values[m.group(1)], text)
        return text.replace("${{ runner.temp }}/buildsheriff-venv", str(venv))

    env = bare_env(GITHUB_OUTPUT=str(output_file), GITHUB_API_URL=api_url,
                   GITHUB_STEP_SUMMARY=str(tmp / "summary.md"))
    env.update({k: expand(str(v)) for k, v in step["env"].items()})
    process = await asyncio.create_subprocess_exec(
        "bash", "--noprofile", "--norc", "-eo", "pipefail", "-c", step["run"],
        cwd=tmp, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 120)
    return StepRun(int(process.returncode or 0), out.decode(), err.decode(),
                   _outputs(output_file))


def _prepare(tmp: Path) -> tuple[Path, Path]:
    """The venv the install step would have made (this Python), and an empty GITHUB_OUTPUT."""
    venv = tmp / "venv"
    (venv / "bin").mkdir(parents=True, exist_ok=True)
    python = venv / "bin" / "python"
    python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    python.chmod(0o755)
    output_file = tmp / "github_output"
    output_file.write_text("")
    return venv, output_file


def _outputs(output_file: Path) -> dict[str, str]:
    lines = output_file.read_text().splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


@pytest.fixture
async def s(stack_factory: StackFactory) -> AsyncIterator[Stack]:
    async with stack_factory(slack=False, router=Router()) as stack:
        yield stack


def _repo(s: Stack) -> Any:
    repo = s.sim.create_repo(REPO)
    repo.set_permission("alice", "write")
    repo.set_permission("rita", "read")
    repo.commit({"src/util.py": "X = 1\n", "README.md": "# widgets\n"}, "Add the app")
    return repo


async def test_opened_prints_the_url_and_sets_the_outputs(s: Stack, tmp_path: Path) -> None:
    repo = _repo(s)
    culprit = repo.commit({"src/util.py": "X = 2\n"}, "Tweak X", author="alice")
    run = await run_step(
        tmp_path, {"sha": culprit, "repository": REPO, "token": s.sim.create_token("alice")},
        s.sim.url,
    )
    [pr] = repo.pulls()
    assert run.code == Exit.OPENED == 0
    assert run.out.strip() == pr["html_url"]
    assert run.outputs == {
        "result": "opened", "pr-url": pr["html_url"], "pr-number": str(pr["number"])
    }
    assert f"[#{pr['number']}]" in (tmp_path / "summary.md").read_text()


async def test_conflict_lists_the_files_and_the_manual_steps(s: Stack, tmp_path: Path) -> None:
    repo = _repo(s)
    culprit = repo.commit({"src/util.py": "X = 2\n"}, "Tweak X", author="alice")
    repo.commit({"src/util.py": "X = 3\n"}, "Tweak X again")
    run = await run_step(
        tmp_path,
        {"sha": culprit, "repository": REPO, "base": "main",
         "token": s.sim.create_token("alice")},
        s.sim.url,
    )
    assert run.code == Exit.CONFLICT == 3
    assert run.out.splitlines() == ["src/util.py"]
    assert f"git revert {culprit}" in run.err
    assert run.outputs == {"result": "conflict", "pr-url": "", "pr-number": ""}
    assert repo.pulls() == []


async def test_nothing_to_revert_says_why(s: Stack, tmp_path: Path) -> None:
    repo = _repo(s)
    culprit = repo.commit({"src/util.py": "X = 2\n"}, "Tweak X", author="alice")
    repo.commit({"src/util.py": "X = 1\n"}, "Undo the tweak by hand")
    run = await run_step(
        tmp_path, {"sha": culprit, "repository": REPO, "token": s.sim.create_token("alice")},
        s.sim.url,
    )
    assert run.code == Exit.NOTHING_TO_REVERT == 4
    assert culprit[:7] in run.out
    assert run.outputs["result"] == "nothing-to-revert"
    assert repo.pulls() == []


async def test_refused_by_github_prints_githubs_message(s: Stack, tmp_path: Path) -> None:
    repo = _repo(s)
    culprit = repo.commit({"src/util.py": "X = 2\n"}, "Tweak X", author="alice")
    run = await run_step(
        tmp_path, {"sha": culprit, "repository": REPO, "token": s.sim.create_token("rita")},
        s.sim.url,
    )
    assert run.code == Exit.REFUSED == 5
    assert "GitHub refused: HTTP 403" in run.err
    assert run.outputs["result"] == "refused"
    assert repo.pulls() == []


async def test_missing_credentials_usage_and_failure(s: Stack, tmp_path: Path) -> None:
    repo = _repo(s)
    culprit = repo.commit({"src/util.py": "X = 2\n"}, "Tweak X", author="alice")
    no_token = await run_step(tmp_path / "a", {"sha": culprit, "repository": REPO,
                                               "token": ""}, s.sim.url)
    assert no_token.code == Exit.NO_CREDENTIALS == 6
    assert "GITHUB_TOKEN is not set" in no_token.err
    assert no_token.outputs["result"] == "no-credentials"

    usage = await run_step(tmp_path / "b", {"sha": "", "repository": REPO,
                                            "token": "t"}, s.sim.url)
    assert usage.code == Exit.USAGE == 2
    assert "is not a commit sha" in usage.err
    assert usage.outputs == {"result": "usage"}

    closed = f"http://127.0.0.1:{free_port()}"
    failed = await run_step(tmp_path / "c", {"sha": culprit, "repository": REPO,
                                             "token": "t"}, closed)
    assert failed.code == Exit.FAILED == 1
    assert "GitHub did not answer" in failed.err
    assert failed.outputs["result"] == "failed"


def test_one_exit_code_table_in_action_yml_and_readme() -> None:
    """The table in action.yml and the README's are the code's (`Exit`), row for row."""
    rows = [(int(code), code.result, code.meaning) for code in Exit]
    action_text = (ROOT / "actions" / "revert" / "action.yml").read_text()
    readme = (ROOT / "README.md").read_text()
    for text in (action_text, readme):
        found = [
            (int(m.group(1)), m.group(2), m.group(3).strip())
            for m in re.finditer(r"^#? ?\| (\d) +\| `?([\w-]+)`? +\| (.+?) \|$", text, re.M)
        ]
        assert found == rows
    outputs = set(ACTION["outputs"])
    assert outputs == {"result", "pr-url", "pr-number"}
    # The caller's Python is left alone: setup-python does not touch PATH.
    [setup] = [s for s in ACTION["runs"]["steps"] if "setup-python" in str(s.get("uses"))]
    assert setup["with"]["update-environment"] is False
