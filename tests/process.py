"""`python -m app ...` as a real child process, as an operator would start it.

The child gets a bare environment (PATH, HOME) so that only the `.env` file of its working
directory configures it; waiting for it to listen is a bounded poll of /healthz.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import aiohttp

START_TIMEOUT = 60.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_env(**extra: str) -> dict[str, str]:
    env = {k: os.environ[k] for k in ("PATH", "HOME", "LANG", "SYSTEMROOT") if k in os.environ}
    env.update(extra)
    return env


@dataclass
class Child:
    process: asyncio.subprocess.Process
    url: str

    async def stop(self) -> tuple[int, str]:
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
        _, err = await asyncio.wait_for(self.process.communicate(), START_TIMEOUT)
        return int(self.process.returncode or 0), err.decode()


async def run_app(
    *args: str, cwd: Path, env: Mapping[str, str] | None = None, stdin: bytes | None = None
) -> tuple[int, str, str]:
    """Run `python -m app ARGS` to completion: (exit code, stdout, stderr)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", *args,
        cwd=cwd,
        env=dict(env) if env is not None else bare_env(),
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(stdin), START_TIMEOUT)
    return int(process.returncode or 0), out.decode(), err.decode()


@asynccontextmanager
async def serving(cwd: Path, port: int, env: Mapping[str, str] | None = None
                  ) -> AsyncIterator[Child]:
    """`python -m app serve` in `cwd`, listening on 127.0.0.1:`port` (from its .env)."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "app", "serve",
        cwd=cwd,
        env=dict(env) if env is not None else bare_env(),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    child = Child(process, f"http://127.0.0.1:{port}")
    try:
        await _wait_listening(child)
        yield child
    finally:
        if process.returncode is None:
            await child.stop()


async def _wait_listening(child: Child) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + START_TIMEOUT
    async with aiohttp.ClientSession() as session:
        while loop.time() < deadline:
            if child.process.returncode is not None:
                err = (await child.process.stderr.read()).decode() if child.process.stderr else ""
                raise AssertionError(f"serve exited {child.process.returncode}: {err}")
            try:
                async with session.get(child.url + "/healthz") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)  # a child process starting: nothing to inject a clock into
    raise AssertionError("serve did not listen in time")
