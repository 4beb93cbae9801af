"""The loopback webhook receiver the benchmarks, drills and webhook tests use."""

from __future__ import annotations

import httpx

from bench.receiver import Receiver


async def test_the_receiver_answers_its_script_then_200_and_refuses_when_stopped() -> None:
    receiver = await Receiver(scripts={"/a": [503]}).start()
    try:
        async with httpx.AsyncClient() as client:
            first = await client.post(receiver.url("/a"), content=b"{}")
            second = await client.post(receiver.url("/a"), content=b"{}")
            assert (first.status_code, second.status_code) == (503, 200)
            assert [r.status for r in receiver.attempts("/a")] == [503, 200]
            await receiver.stop()
            try:
                await client.post(receiver.url("/a"), content=b"{}")
            except httpx.ConnectError:
                pass
            else:
                raise AssertionError("a stopped receiver must refuse connections")
    finally:
        await receiver.stop()
