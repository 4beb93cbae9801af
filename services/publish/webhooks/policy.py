"""Webhook retry policy: the retry schedule and what each outcome of an attempt means. Pure.

| outcome of an attempt                                   | what happens                                  |
|---------------------------------------------------------|-----------------------------------------------|
| 2xx                                                     | delivered; the next item follows              |
| 410 Gone                                                | the endpoint is disabled; its queue waits     |
| 408, 429, 5xx, timeouts, connection errors, refused URL | retried on the schedule, then dead-lettered   |
| any other status (other 4xx, 1xx, 3xx: no redirects)    | given up at once: dead-lettered, not retried  |
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Sequence

DEFAULT_SCHEDULE = "5s,30s,2m,10m,30m,1h,2h,4h,8h,12h,12h,12h,12h"  # about 2.7 days in all

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_STEP = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")


class Outcome(enum.StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"
    DISABLE = "disable"
    GIVE_UP = "give-up"


def parse_schedule(text: str) -> tuple[float, ...]:
    """``"5s,30s,2m"`` -> delays in seconds before each retry; units ms, s, m, h, d."""
    steps: list[float] = []
    for part in text.split(","):
        match = _STEP.match(part)
        if match is None:
            raise ValueError(f"a retry step must look like 5s, 250ms, 2m, 1h or 1d; got {part.strip()!r} in {text!r}")
        steps.append(float(match[1]) * _UNITS[match[2]])
    return tuple(steps)


def classify(status: int | None) -> Outcome:
    """What an attempt's HTTP status (``None``: timeout, connection error or refused URL) means."""
    if status is None:
        return Outcome.RETRY
    if 200 <= status < 300:
        return Outcome.DELIVERED
    if status == 410:
        return Outcome.DISABLE
    if status in (408, 429) or status >= 500:
        return Outcome.RETRY
    return Outcome.GIVE_UP


def retry_delay(schedule: Sequence[float], attempts: int, jitter: float, rand: Callable[[], float]) -> float | None:
    """Seconds to wait after the ``attempts``-th failed attempt, or ``None`` when the schedule is spent.

    Each step is spread by +/- ``jitter`` (a fraction) using ``rand()`` in [0, 1), so that partners
    that failed together do not all come back at the same instant.
    """
    if attempts < 1 or attempts > len(schedule):
        return None
    base = schedule[attempts - 1]
    return max(0.0, base * (1.0 + jitter * (2.0 * rand() - 1.0)))
