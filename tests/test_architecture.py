"""The architecture is checked, not hoped for: import-linter's contracts in pyproject.toml.

`lint-imports` runs over the real tree; then over copies of it with one forbidden import
added, to show each kind of contract really fails when broken.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"], cwd=cwd, capture_output=True, text=True, timeout=120
    )


def test_the_tree_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("app/core/builds.py", "import aiohttp", "core is pure"),
        ("app/core/safety.py", "from app.github import client", "app/ is layered"),
        ("app/detect/evaluate.py", "from app.server import app", "app/ is layered"),
        ("app/incident/store.py", "import sim.slack", "never imports the simulators"),
        ("sim/slack.py", "import app.clock", "they never import the app"),
        ("app/handlers/config_push.py", "from app.handlers import detect", "no other handler"),
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, line: str, contract: str
) -> None:
    for part in ("app", "sim", "demo"):
        shutil.copytree(ROOT / part, tmp_path / part, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    with (tmp_path / module).open("a") as f:
        f.write(f"\n{line}  # noqa\n")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert module.removesuffix(".py").replace("/", ".") in broken
