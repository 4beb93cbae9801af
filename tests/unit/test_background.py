"""Stopping a background task: the cancellation is repeated while the task runs on."""

from __future__ import annotations

import asyncio

import pytest

from services.wire import background
from services.wire.background import Background, finish


async def test_a_task_that_loses_one_cancellation_is_still_stopped() -> None:
    rounds: list[str] = []

    async def loses_the_first() -> None:
        try:
            await asyncio.sleep(60)
        except asyncio.CancelledError:
            rounds.append("lost")  # as redis-py does when a connection is being set up
        rounds.append("ran on")
        await asyncio.sleep(60)

    owner = Background()
    owner.start(loses_the_first())
    await asyncio.sleep(0)
    await asyncio.wait_for(owner.stop(), 2)
    assert rounds == ["lost", "ran on"]


async def test_a_task_that_ignores_every_cancellation_is_left_after_the_bound(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(background, "GIVE_UP_S", 0.3)
    cancellations = 0

    async def stubborn() -> None:
        nonlocal cancellations
        while cancellations < 100:
            try:
                await asyncio.sleep(60)
            except asyncio.CancelledError:
                cancellations += 1

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    await asyncio.wait_for(finish(task), 2)
    assert not task.done()
    assert 2 <= cancellations <= 5  # every RECANCEL_S until the bound
    cancellations = 100
    task.cancel()


async def test_a_failed_task_is_stopped_quietly() -> None:
    async def fails() -> None:
        raise RuntimeError("boom")

    owner = Background()
    owner.start(fails())
    await asyncio.sleep(0)
    await owner.stop()  # its error was its own to log; stopping does not raise it again
