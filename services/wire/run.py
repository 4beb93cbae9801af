"""Running a service process: settings from the environment, logging, signals, a clean stop."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Callable

import structlog
import uvicorn
from litestar import Litestar

from services.wire.logging import configure_logging
from services.wire.loop import freeze_startup_objects, hold_collections_for_startup, run_on_uvloop
from services.wire.settings import Settings
from services.wire.worker import StreamWorker


def serve_http(create_app: Callable[[Settings], Litestar], host_port: Callable[[Settings], tuple[str, int]]) -> None:
    hold_collections_for_startup()
    settings = Settings.from_env()
    configure_logging(settings)
    host, port = host_port(settings)
    structlog.get_logger().info("http.listening", host=host, port=port)
    app = create_app(settings)
    app.on_startup.append(freeze_startup_objects)  # after the app's own start-up hooks
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
        freeze_startup_objects()
        try:
            await stop.wait()
        finally:
            await worker.stop()

    run_on_uvloop(main())

