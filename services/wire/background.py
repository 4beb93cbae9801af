"""A task owned by an object: started once, and on stop cancelled and waited for."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any

import structlog

RECANCEL_S = 0.1
GIVE_UP_S = 10.0

log = structlog.get_logger()


class Background:
    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None

    def start(self, work: Coroutine[Any, Any, None]) -> None:
        self._task = asyncio.create_task(work)

    async def stop(self) -> None:
        if self._task is not None:
            await finish(self._task)
            self._task = None


async def finish(task: asyncio.Task[Any]) -> None:
    """Cancel ``task`` and wait for it to end.

    The cancellation is repeated every ``RECANCEL_S`` while the task runs on: redis-py can lose one
    that arrives while a connection is being set up (the command then completes as if nothing had
    happened). A task still running after ``GIVE_UP_S`` is left, with a warning, so that stopping a
    service always ends.
    """
    loop = asyncio.get_running_loop()
    deadline = loop.time() + GIVE_UP_S
    while not task.done():
        if loop.time() >= deadline:
            log.warning("background.task_left_running", task=task.get_name())
            return
        task.cancel()
        await asyncio.wait([task], timeout=RECANCEL_S)
    if not task.cancelled():
        with contextlib.suppress(Exception):
            task.result()  # retrieved, so that asyncio does not report it as never retrieved
