"""structlog set-up: configured once at start-up, JSON lines in production."""

from __future__ import annotations

import logging
import sys
from typing import Any

import msgspec
import structlog

from services.wire.settings import Settings

# JSON lines are encoded by msgspec, not the stdlib encoder; a value it cannot encode is written as its
# repr, as structlog's own renderer does.
_encoder = msgspec.json.Encoder(enc_hook=repr)


def _json_line(event_dict: Any, **_: Any) -> bytes:
    return _encoder.encode(event_dict)


def configure_logging(settings: Settings) -> None:
    level = logging.getLevelNamesMapping().get(settings.log_level, logging.INFO)
    json_lines = settings.log_format == "json"
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_json_line) if json_lines else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(level),
        logger_factory=(structlog.BytesLoggerFactory(file=sys.stderr.buffer) if json_lines
                        else structlog.PrintLoggerFactory(file=sys.stderr)),
        cache_logger_on_first_use=True,
    )
    logging.basicConfig(level=max(level, logging.WARNING), stream=sys.stderr, format="%(name)s %(levelname)s %(message)s")
