"""Run the enrich worker: ``python -m services.enrich`` or ``newswire enrich``.

``NEWSWIRE_ENRICH_SEMANTIC=1`` turns on hybrid (BM25 + MiniLM) related links; it needs
``pip install newswire[semantic]`` and fails at start, naming that command, without it.
"""

import os
from collections.abc import Mapping

from services.enrich.app import EnrichHandler
from services.enrich.core import new_enricher
from services.wire.eventlog import EventLog, connect
from services.wire.run import run_worker
from services.wire.settings import Settings
from services.wire.worker import StreamWorker


def semantic_enabled(env: Mapping[str, str] | None = None) -> bool:
    value = (os.environ if env is None else env).get("NEWSWIRE_ENRICH_SEMANTIC", "")
    return value.strip().lower() in {"1", "true", "yes", "on"}


def build(settings: Settings) -> StreamWorker:
    embedder = None
    if semantic_enabled():
        from services.enrich.semantic import Embedder

        embedder = Embedder()  # before connecting: a missing extra fails fast with the install command
    eventlog = EventLog(connect(settings), settings)
    return StreamWorker(eventlog, EnrichHandler(eventlog, new_enricher(embedder)), settings)


def main() -> None:
    run_worker(build)


if __name__ == "__main__":
    main()
