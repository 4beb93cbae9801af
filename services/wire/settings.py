"""One frozen settings object, built from ``NEWSWIRE_*`` environment variables in ``__main__``."""

from __future__ import annotations

import enum
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TypeVar

N = TypeVar("N", int, float)


class Durability(enum.StrEnum):
    """What a ``202`` from ingest promises about the filed event.

    - ``fsync-always``: the server's AOF is fsynced before it replies (``appendfsync always``);
      a crash of the machine right after the reply loses nothing. The default.
    - ``fsync-everysec``: the reply follows the write to the OS; up to a second may be lost
      if the machine (not just the process) dies.
    - ``none``: whatever the server is configured with; nothing is checked.
    """

    ALWAYS = "fsync-always"
    EVERYSEC = "fsync-everysec"
    NONE = "none"


class SettingsError(ValueError):
    """A setting has a value the wire cannot use."""


def read_number(env: Mapping[str, str], name: str, default: N, minimum: N, kind: type[N]) -> N:
    """``env[name]`` as an ``int`` or ``float`` of at least ``minimum``; ``default`` when unset."""
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = kind(raw)
    except ValueError:
        what = "an integer" if kind is int else "a number"
        raise SettingsError(f"{name} must be {what}, got {raw!r}") from None
    if value < minimum:
        raise SettingsError(f"{name} must be at least {minimum:g}, got {raw}")
    return value


def _int(env: Mapping[str, str], name: str, default: int, minimum: int = 0) -> int:
    return read_number(env, name, default, minimum, int)


@dataclass(frozen=True, kw_only=True)
class Settings:
    redis_url: str = "redis://127.0.0.1:6379/0"
    partitions: int = 1
    durability: Durability = Durability.ALWAYS
    log_format: str = "console"  # or "json"
    log_level: str = "INFO"
    ingest_host: str = "127.0.0.1"
    ingest_port: int = 8000
    publish_host: str = "127.0.0.1"
    publish_port: int = 8001
    max_body_bytes: int = 512 * 1024  # size limit of a filed story's body HTML
    consumer_name: str = field(default_factory=lambda: f"{os.uname().nodename}-{os.getpid()}")
    batch_size: int = 50  # XREADGROUP COUNT
    claim_idle_ms: int = 30_000  # pending this long with a silent consumer: claim it
    claim_interval_ms: int = 5_000
    max_deliveries: int = 5  # then the entry goes to the dead-letter stream
    heartbeat_s: float = 15.0  # SSE comment lines, so proxies keep the connection
    gc_log_ms: int = 0  # log every garbage collection that pauses the process this long (0: none)
    tail_keep: int = 10_000  # recent items per partition the partner API serves from memory (up to twice this)

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if env is None else env
        defaults = cls()
        durability = env.get("NEWSWIRE_DURABILITY", defaults.durability.value)
        try:
            durability_value = Durability(durability)
        except ValueError:
            choices = ", ".join(d.value for d in Durability)
            raise SettingsError(f"NEWSWIRE_DURABILITY must be one of {choices}, got {durability!r}") from None
        log_format = env.get("NEWSWIRE_LOG_FORMAT", defaults.log_format)
        if log_format not in ("console", "json"):
            raise SettingsError(f"NEWSWIRE_LOG_FORMAT must be console or json, got {log_format!r}")
        return cls(
            redis_url=env.get("REDIS_URL") or env.get("NEWSWIRE_REDIS_URL") or defaults.redis_url,
            partitions=_int(env, "NEWSWIRE_PARTITIONS", defaults.partitions, minimum=1),
            durability=durability_value,
            log_format=log_format,
            log_level=env.get("NEWSWIRE_LOG_LEVEL", defaults.log_level).upper(),
            ingest_host=env.get("NEWSWIRE_INGEST_HOST", defaults.ingest_host),
            ingest_port=_int(env, "NEWSWIRE_INGEST_PORT", defaults.ingest_port),
            publish_host=env.get("NEWSWIRE_PUBLISH_HOST", defaults.publish_host),
            publish_port=_int(env, "NEWSWIRE_PUBLISH_PORT", defaults.publish_port),
            max_body_bytes=_int(env, "NEWSWIRE_MAX_BODY_BYTES", defaults.max_body_bytes, minimum=1024),
            consumer_name=env.get("NEWSWIRE_CONSUMER_NAME") or defaults.consumer_name,
            batch_size=_int(env, "NEWSWIRE_BATCH_SIZE", defaults.batch_size, minimum=1),
            claim_idle_ms=_int(env, "NEWSWIRE_CLAIM_IDLE_MS", defaults.claim_idle_ms, minimum=100),
            claim_interval_ms=_int(env, "NEWSWIRE_CLAIM_INTERVAL_MS", defaults.claim_interval_ms, minimum=50),
            max_deliveries=_int(env, "NEWSWIRE_MAX_DELIVERIES", defaults.max_deliveries, minimum=1),
            heartbeat_s=_int(env, "NEWSWIRE_HEARTBEAT_MS", int(defaults.heartbeat_s * 1000), minimum=100) / 1000,
            gc_log_ms=_int(env, "NEWSWIRE_GC_LOG_MS", defaults.gc_log_ms),
            tail_keep=_int(env, "NEWSWIRE_TAIL_KEEP", defaults.tail_keep, minimum=100),
        )
