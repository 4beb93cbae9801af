"""The event loop every process of the wire runs on (and the benchmarks' load side), and how it
keeps its start-up objects out of the garbage collector's way."""

from __future__ import annotations

import asyncio
import gc
import time
from collections.abc import Callable, Coroutine
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


def hold_collections_for_startup() -> None:
    """No automatic collections until :func:`freeze_startup_objects`: start-up builds large
    structures that live as long as the process (the enricher's vocabulary and name rules), and the
    collector walked them again and again as they grew: the enrich worker was ready about half a
    second later for it (``python -m bench.startup``)."""
    gc.disable()


def freeze_startup_objects() -> None:
    """Keep what start-up loaded (the vocabulary, projections rebuilt from the log; a benchmark's
    prepared stories) out of the garbage collector's full passes, which would otherwise walk all of
    it again and again, pausing whatever story is in flight. Objects made later are collected as
    usual (automatic collections are on again if start-up held them)."""
    gc.collect()
    gc.freeze()
    gc.enable()


EV_GC_PAUSE = "gc.pause"


def log_long_collections(threshold_ms: float, log: Callable[..., Any]) -> Callable[[str, dict[str, int]], None]:
    """Call ``log(EV_GC_PAUSE, generation=…, ms=…, cpu_ms=…, collected=…)`` after every garbage
    collection of this process that took ``threshold_ms`` or more (each one paused whatever was in
    flight in it). ``ms`` is the wall time, ``cpu_ms`` the collecting thread's CPU time: on a busy
    machine the process may be descheduled mid-collection, so the first can be far larger than the
    collector's own work. Returns the callback it installed (``gc.callbacks.remove`` takes it out)."""
    began = [0.0, 0.0]

    def watch(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            began[0], began[1] = time.perf_counter(), time.thread_time()
            return
        ms = (time.perf_counter() - began[0]) * 1000
        if ms >= threshold_ms:
            cpu_ms = (time.thread_time() - began[1]) * 1000
            log(EV_GC_PAUSE, generation=info["generation"], ms=round(ms, 2), cpu_ms=round(cpu_ms, 2),
                collected=info["collected"])

    gc.callbacks.append(watch)
    return watch
