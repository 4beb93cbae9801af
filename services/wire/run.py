"""Running a service process: settings from the environment, logging, signals, a clean stop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog
import uvicorn
from litestar import Litestar

from services.wire.logging import configure_logging
from services.wire.loop import freeze_startup_objects, hold_collections_for_startup, log_long_collections, run_on_uvloop
from services.wire.settings import Settings
from services.wire.worker import StreamWorker


def started(settings: Settings) -> None:
    """Once a service has started: its start-up objects frozen, and (with ``NEWSWIRE_GC_LOG_MS``)
    every long garbage collection from then on logged as a warning."""
    freeze_startup_objects()
    if settings.gc_log_ms > 0:
        log_long_collections(settings.gc_log_ms, structlog.get_logger().warning)


def serve_http(create_app: Callable[[Settings], Litestar], host_port: Callable[[Settings], tuple[str, int]]) -> None:
    hold_collections_for_startup()
    settings = Settings.from_env()
    configure_logging(settings)
    host, port = host_port(settings)
    structlog.get_logger().info("http.listening", host=host, port=port)
    app = create_app(settings)
    app.on_startup.append(lambda: started(settings))  # after the app's own start-up hooks
    uvicorn.run(app, host=host, port=port, log_config=None, access_log=False,
                timeout_graceful_shutdown=5, lifespan="on")


def run_worker(build: Callable[[Settings], StreamWorker]) -> None:
    hold_collections_for_startup()
    settings = Settings.from_env()
    configure_logging(settings)

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        worker = build(settings)
        await worker.start()
        started(settings)
        try:
            await stop.wait()
        finally:
            await worker.stop()

    run_on_uvloop(main())

