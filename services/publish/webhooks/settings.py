"""Webhook delivery settings: one frozen object built from ``NEWSWIRE_WEBHOOK_*`` variables."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from services.publish.webhooks.policy import DEFAULT_SCHEDULE, parse_schedule
from services.publish.webhooks.ssrf import CATEGORIES
from services.wire.settings import SettingsError, read_number


def _number(env: Mapping[str, str], name: str, default: float, minimum: float) -> float:
    return read_number(env, name, float(default), float(minimum), float)


@dataclass(frozen=True, kw_only=True)
class WebhookSettings:
    """How webhooks are delivered.

    ``allow`` names address categories a webhook URL may resolve to although they are not public
    (``loopback``, ``private``, ``link-local``, ``metadata``, ``unspecified``, ``multicast``,
    ``reserved``); empty in production, ``loopback`` for tests and ``newswire dev``.
    """

    retry_schedule: tuple[float, ...] = parse_schedule(DEFAULT_SCHEDULE)  # seconds before each retry
    jitter: float = 0.2  # each retry delay is spread by +/- this fraction
    allow: frozenset[str] = frozenset()
    connect_timeout_s: float = 5.0
    read_timeout_s: float = 15.0
    max_response_bytes: int = 4096  # of a receiver's answer, kept for the delivery log
    lease_s: float = 60.0  # one process delivers for a partner at a time; a dead one's lease ends after this
    idle_poll_s: float = 1.0  # an idle partner looks at its outbox this often (the fan-out wakes it sooner)
    registry_poll_s: float = 1.0  # partners added or changed are picked up this often
    log_maxlen: int = 10_000  # delivery-log entries kept per partner (approximately)

    def __post_init__(self) -> None:
        longest = self.connect_timeout_s + 2 * self.read_timeout_s  # connect, send, wait for the answer
        if self.lease_s <= longest:
            raise SettingsError(f"the webhook lease ({self.lease_s:g}s) must outlast one attempt (up to {longest:g}s)")

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> WebhookSettings:
        env = os.environ if env is None else env
        d = cls()
        schedule = d.retry_schedule
        if env.get("NEWSWIRE_WEBHOOK_RETRY_SCHEDULE"):
            try:
                schedule = parse_schedule(env["NEWSWIRE_WEBHOOK_RETRY_SCHEDULE"])
            except ValueError as exc:
                raise SettingsError(f"NEWSWIRE_WEBHOOK_RETRY_SCHEDULE: {exc}") from None
        allow = frozenset(a.strip() for a in env.get("NEWSWIRE_WEBHOOK_ALLOW", "").split(",") if a.strip())
        if unknown := allow - CATEGORIES:
            raise SettingsError(
                f"NEWSWIRE_WEBHOOK_ALLOW: unknown {', '.join(sorted(unknown))}; choose from {', '.join(sorted(CATEGORIES))}"
            )
        jitter = _number(env, "NEWSWIRE_WEBHOOK_JITTER", d.jitter, 0.0)
        if jitter > 1:
            raise SettingsError(f"NEWSWIRE_WEBHOOK_JITTER must be between 0 and 1, got {jitter:g}")
        return cls(
            retry_schedule=schedule,
            jitter=jitter,
            allow=allow,
            connect_timeout_s=_number(env, "NEWSWIRE_WEBHOOK_CONNECT_TIMEOUT_MS", d.connect_timeout_s * 1000, 10) / 1000,
            read_timeout_s=_number(env, "NEWSWIRE_WEBHOOK_READ_TIMEOUT_MS", d.read_timeout_s * 1000, 10) / 1000,
            max_response_bytes=int(_number(env, "NEWSWIRE_WEBHOOK_MAX_RESPONSE_BYTES", d.max_response_bytes, 0)),
            lease_s=_number(env, "NEWSWIRE_WEBHOOK_LEASE_MS", d.lease_s * 1000, 300) / 1000,
            idle_poll_s=_number(env, "NEWSWIRE_WEBHOOK_IDLE_POLL_MS", d.idle_poll_s * 1000, 10) / 1000,
            registry_poll_s=_number(env, "NEWSWIRE_WEBHOOK_REGISTRY_POLL_MS", d.registry_poll_s * 1000, 10) / 1000,
            log_maxlen=int(_number(env, "NEWSWIRE_WEBHOOK_LOG_MAXLEN", d.log_maxlen, 100)),
        )
