"""The event loop every process of the wire runs on (and the benchmarks' load side)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")


def run_on_uvloop(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop, as uvicorn runs the HTTP services (``uvicorn[standard]`` installs it
    where it builds): a worker's batch of one costs less CPU on it (``python -m bench.dispatch
    --loop asyncio`` against the default). The standard loop where uvloop is missing."""
    try:
        import uvloop
    except ImportError:
        return asyncio.run(main)
    return uvloop.run(main)
