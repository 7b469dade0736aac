"""The container recipe: checked statically everywhere, built and run where Docker answers.

The static test reads the Dockerfile with dockerfile-parse (Docker's own instruction
grammar); the build test needs a Docker engine and says why it skips without one.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.process import free_port

ROOT = Path(__file__).resolve().parents[1]
IMAGE = "buildsheriff-test:latest"


def instructions() -> list[dict[str, str]]:
    parser = DockerfileParser(path=str(ROOT / "Dockerfile"))
    return [{"op": i["instruction"], "value": i["value"]} for i in parser.structure]


def values(op: str) -> list[str]:
    return [i["value"] for i in instructions() if i["op"] == op]


def test_dockerfile_slim_python_git_non_root_healthcheck_serve() -> None:
    [base] = values("FROM")
    # A slim Python on Debian bookworm or later (git 2.39+, merge-tree --write-tree).
    assert base.startswith("python:3.11-slim-") and base.split("-")[-1] in ("bookworm", "trixie")
    assert any("apt-get install" in run and " git" in run for run in values("RUN"))
    [user] = values("USER")
    assert user.split(":")[0] not in ("root", "0")
    [healthcheck] = values("HEALTHCHECK")
    assert "/healthz" in healthcheck and "CMD" in healthcheck
    [cmd] = values("CMD")
    assert json.loads(cmd) == ["python", "-m", "app", "serve"]
    # USER comes after every RUN: nothing runs as root once the user is set.
    ops = [i["op"] for i in instructions()]
    assert max(i for i, op in enumerate(ops) if op == "RUN") < ops.index("USER")


def test_dockerignore_keeps_secrets_and_the_checkout_out_of_the_image() -> None:
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "**"  # everything is excluded but what the image needs
    assert {line.removeprefix("!") for line in lines if line.startswith("!")} == {
        "pyproject.toml", "README.md", "app/", "app.yml"
    }
    copied = {v.split()[0] for v in [*values("COPY")]}
    assert copied <= {"pyproject.toml", "app", "app.yml"}


def _docker_engine() -> str | None:
    """None when an engine answers, else why not."""
    if shutil.which("docker") is None:
        return "no docker command on this machine"
    answer = subprocess.run(["docker", "info", "--format", "{{.ServerVersion}}"],
                            capture_output=True, text=True, timeout=30, check=False)
    if answer.returncode != 0:
        lines = (answer.stderr or answer.stdout).strip().splitlines()
        return f"no Docker engine answers: {lines[-1] if lines else 'docker info failed'}"
    return None


def test_the_image_builds_and_answers_healthz(tmp_path: Path) -> None:
    why = _docker_engine()
    if why is not None:
        pytest.skip(why)
    build = subprocess.run(["docker", "build", "-q", "-t", IMAGE, str(ROOT)],
                           capture_output=True, text=True, timeout=900, check=False)
    assert build.returncode == 0, build.stderr
    port = free_port()
    name = f"buildsheriff-test-{secrets.token_hex(4)}"
    run = subprocess.run(
        ["docker", "run", "-d", "--rm", "--name", name, "-p", f"127.0.0.1:{port}:3000",
         "-e", f"WEBHOOK_SECRET={secrets.token_hex(16)}", "-e", f"GITHUB_TOKEN={'t' * 40}",
         "-e", "RECONCILE_INTERVAL=3600", IMAGE],
        capture_output=True, text=True, timeout=120, check=False,
    )
    assert run.returncode == 0, run.stderr
    try:
        user = subprocess.run(["docker", "exec", name, "id", "-u"], capture_output=True,
                              text=True, timeout=30, check=False).stdout.strip()
        assert user == "10001"
        deadline = time.monotonic() + 60
        while True:  # a container starting: nothing to inject a clock into
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as r:
                    assert r.status == 200
                    assert json.load(r)["status"] == "ok"
                    break
            except OSError:
                assert time.monotonic() < deadline, "the container never answered /healthz"
                time.sleep(0.5)
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True, timeout=60,
                       check=False)
