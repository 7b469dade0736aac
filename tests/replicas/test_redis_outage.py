"""Redis going away: at start `serve` stops with one line; later, webhooks are answered 503
with Retry-After and readiness fails while liveness stays 200, until Redis is back."""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from tests.harness import example_payload, webhook_headers
from tests.process import bare_env, free_port, run_app
from tests.serve_process import serve_cluster


class Cable:
    """A TCP proxy to Redis that can be unplugged (the shared Redis itself stays up)."""

    def __init__(self, target: str) -> None:
        parts = urlsplit(target)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 6379
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()
        self.listen_port = free_port()

    async def plug(self) -> None:
        self.server = await asyncio.start_server(self._pipe, "127.0.0.1", self.listen_port)

    async def unplug(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
            self.server = None
        for writer in list(self.pipes):
            writer.close()

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.host, self.port)
        self.pipes |= {writer, up_writer}

        async def copy(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            dst.close()

        await asyncio.gather(copy(reader, up_writer), copy(up_reader, writer))


async def test_serve_stops_with_one_line_when_redis_is_unreachable_at_start(
    tmp_path: Path, rsa_key: str
) -> None:
    env = bare_env(APP_ID="12", PRIVATE_KEY=rsa_key, WEBHOOK_SECRET="s3cr3t-s3cr3t-s3cr3t",
                   PORT=str(free_port()), HOST="127.0.0.1",
                   REDIS_URL=f"redis://:hunter2-password@127.0.0.1:{free_port()}/0")
    code, _, err = await run_app("serve", cwd=tmp_path, env=env)
    assert code == 2
    lines = [line for line in err.splitlines() if line.startswith("buildsheriff:")]
    assert len(lines) == 1 and "cannot reach Redis at 127.0.0.1:" in lines[0]
    assert "hunter2" not in err


async def test_losing_redis_answers_503_and_fails_readiness_but_not_liveness(
    tmp_path: Path, rsa_key: str, redis_url: str, redis_prefix: str
) -> None:
    cable = Cable(redis_url)
    await cable.plug()
    try:
        async with serve_cluster(tmp_path, rsa_key, redis_url=f"redis://127.0.0.1:"
                                 f"{cable.listen_port}/0", redis_prefix=redis_prefix,
                                 slack=False) as c, aiohttp.ClientSession() as http:
            (replica,) = c.replicas
            payload = example_payload("check_run", "completed")
            payload["repository"]["full_name"] = "octo/elsewhere"  # nothing to act on
            # Green on the default branch: it may matter, so it needs Redis (an event no
            # handler can act on is answered 202 without it: app.handlers.Concerns).
            default = payload["repository"]["default_branch"]
            payload["check_run"]["check_suite"]["head_branch"] = default
            body = json.dumps(payload).encode()

            async def webhook() -> tuple[int, str | None]:
                headers = webhook_headers("check_run", body, c.webhook_secret)
                async with http.post(replica.url + "/webhooks", data=body,
                                     headers=headers) as response:
                    return response.status, response.headers.get("Retry-After")

            async def status(path: str) -> int:
                async with http.get(replica.url + path) as response:
                    return response.status

            assert await status("/readyz") == 200
            await cable.unplug()
            assert await webhook() == (503, "10")
            assert await status("/readyz") == 503
            assert await status("/healthz") == 200
            await cable.plug()
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while await status("/readyz") != 200:  # redis-py reconnects on its own
                assert loop.time() < deadline, "not ready again after Redis came back"
                await asyncio.sleep(0.1)
            assert (await webhook())[0] == 202
    finally:
        await cable.unplug()
