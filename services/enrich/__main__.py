"""Run the enrich worker: ``python -m services.enrich`` or ``newswire enrich``."""

from services.enrich.app import EnrichHandler
from services.enrich.core import new_enricher
from services.wire.eventlog import EventLog, connect
from services.wire.run import run_worker
from services.wire.settings import Settings
from services.wire.worker import StreamWorker


def build(settings: Settings) -> StreamWorker:
    eventlog = EventLog(connect(settings), settings)
    return StreamWorker(eventlog, EnrichHandler(eventlog, new_enricher()), settings)


def main() -> None:
    run_worker(build)


if __name__ == "__main__":
    main()
