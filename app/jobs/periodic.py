"""A background loop that runs one pass every `interval` seconds on the injectable clock."""

from __future__ import annotations

import logging
from typing import Any

from app.services import Services

log = logging.getLogger(__name__)


def periodic(
    services: Services,
    dispatcher: Any,
    interval: float,
    one_pass: Any,
    *,
    name: str,
    wait_first: bool,
) -> Any:
    """A background loop running `one_pass(services, submit)` every `interval` seconds;
    a failing pass is logged and the loop goes on."""

    async def submit(repo: str, job_name: str, fn: Any) -> None:
        dispatcher.submit_job(repo, job_name, fn)

    async def loop() -> None:
        while True:
            if wait_first:
                await services.clock.sleep(interval)
            try:
                await one_pass(services, submit)
            except Exception:
                log.exception("%s pass failed", name)
            if not wait_first:
                await services.clock.sleep(interval)

    return loop
