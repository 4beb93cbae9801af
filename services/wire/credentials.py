"""Editor API keys and partner tokens: issued once, stored only as SHA-256 hashes.

Issuing or revoking a credential is an event on the registry stream, written in the same
transaction as the projection that authentication reads (one hash slot: ``{registry}``). The HTTP
services hold that projection in memory too (``CredentialDirectory``), in step with the stream.
"""

from __future__ import annotations

import asyncio
import enum
import hashlib
import secrets
import time
from datetime import UTC, datetime

import msgspec
import structlog
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import RedisError

from schemas.streams import registry_key
from services.wire.background import Background
from services.wire.eventlog import as_entries, as_text

REGISTRY_STREAM = registry_key("events")
CREDENTIALS = registry_key("credentials")  # hash of the secret -> Credential (JSON)
NAMES = registry_key("names")  # "<role>:<name>" -> hash of the secret


class Role(enum.StrEnum):
    EDITOR = "editor"
    ADMIN = "admin"
    PARTNER = "partner"


PREFIXES = {Role.EDITOR: "nwe_", Role.ADMIN: "nwa_", Role.PARTNER: "nwp_"}


class Credential(msgspec.Struct, frozen=True, kw_only=True, rename="camel"):
    name: str
    role: Role
    created_at: datetime
    key_hash: str


class CredentialIssued(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", tag="credential.issued.v1", tag_field="type"
):
    credential: Credential


class CredentialRevoked(
    msgspec.Struct, frozen=True, kw_only=True, rename="camel", tag="credential.revoked.v1", tag_field="type"
):
    name: str
    role: Role
    key_hash: str
    revoked_at: datetime


class CredentialError(ValueError):
    """A credential cannot be issued or revoked as asked."""


_decoder = msgspec.json.Decoder(Credential)
log = structlog.get_logger()
MAX_SECRET = 200  # longer bearer values are not looked up


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret(role: Role) -> str:
    return PREFIXES[role] + secrets.token_urlsafe(32)


def valid_name(name: str) -> bool:
    return 0 < len(name) <= 64 and all(c.isalnum() or c in "-_." for c in name)


async def issue(redis: Redis, role: Role, name: str, *, replace: bool = False) -> str:
    """Create a credential and return its secret (the only time it is ever shown)."""
    if not valid_name(name):
        raise CredentialError("a name is 1-64 letters, digits, '-', '_' or '.'")
    existing = await redis.hget(NAMES, f"{role.value}:{name}")  # type: ignore[misc]
    if existing and not replace:
        raise CredentialError(f"a {role.value} named {name!r} exists; revoke it first or pass replace")
    secret = new_secret(role)
    credential = Credential(name=name, role=role, created_at=datetime.now(UTC), key_hash=hash_secret(secret))
    async with redis.pipeline(transaction=True) as tx:
        if existing:
            tx.hdel(CREDENTIALS, existing)
        issued = msgspec.json.encode(CredentialIssued(credential=credential))
        tx.xadd(REGISTRY_STREAM, {"type": "credential.issued.v1", "data": issued})
        tx.hset(CREDENTIALS, credential.key_hash, msgspec.json.encode(credential))
        tx.hset(NAMES, f"{role.value}:{name}", credential.key_hash)
        await tx.execute()
    return secret


async def revoke(redis: Redis, role: Role, name: str) -> bool:
    key_hash = await redis.hget(NAMES, f"{role.value}:{name}")  # type: ignore[misc]
    if not key_hash:
        return False
    event = CredentialRevoked(name=name, role=role, key_hash=as_text(key_hash), revoked_at=datetime.now(UTC))
    async with redis.pipeline(transaction=True) as tx:
        tx.xadd(REGISTRY_STREAM, {"type": "credential.revoked.v1", "data": msgspec.json.encode(event)})
        tx.hdel(CREDENTIALS, key_hash)
        tx.hdel(NAMES, f"{role.value}:{name}")
        await tx.execute()
    return True


async def authenticate(redis: Redis, secret: str, roles: frozenset[Role]) -> Credential | None:
    """The credential a bearer secret belongs to, if it has one of ``roles``."""
    if not secret or len(secret) > MAX_SECRET:
        return None
    raw = await redis.hget(CREDENTIALS, hash_secret(secret))  # type: ignore[misc]
    if raw is None:
        return None
    credential = _decoder.decode(raw)
    return credential if credential.role in roles else None


class CredentialDirectory:
    """The credentials projection held in this process, so that a request is authenticated without
    a round trip to Redis.

    A reader blocks on the registry stream and loads the projection again (one transaction with the
    stream's last entry id) whenever an entry is added, and every ``RELOAD_S`` in any case, which
    also covers a hash changed by hand without its event. A revoked credential therefore stops
    working as soon as the revocation is read, within milliseconds.

    The directory answers only while it is in step: loaded, and its reader heard from in the last
    ``BLOCK_S + GRACE_S`` (an empty blocking read returns every ``BLOCK_S``). Its connection does
    not retry, so a server restarted, empty or not, shows as an error and a new load. Otherwise,
    and for a secret it does not hold (issued a moment ago, or not a credential at all),
    ``authenticate`` asks Redis, as without a directory.
    """

    BLOCK_S = 1.0
    GRACE_S = 1.0
    RELOAD_S = 30.0
    RETRY_S = 0.5

    def __init__(self, redis: Redis, redis_url: str) -> None:
        self.redis = redis
        self._url = redis_url
        self._held: dict[str, Credential] = {}
        self._in_step_until = 0.0
        self._background = Background()
        self.loads = 0

    def in_step(self) -> bool:
        return time.monotonic() < self._in_step_until

    def holds(self, secret: str) -> bool:
        """Whether this secret's credential is in the directory (it may not be in step)."""
        return hash_secret(secret) in self._held

    async def authenticate(self, secret: str, roles: frozenset[Role]) -> Credential | None:
        """The credential a bearer secret belongs to, if it has one of ``roles``."""
        if self.in_step() and secret and len(secret) <= MAX_SECRET:
            credential = self._held.get(hash_secret(secret))
            if credential is not None:
                return credential if credential.role in roles else None
        return await authenticate(self.redis, secret, roles)

    def start(self) -> None:
        self._background.start(self._follow())

    async def stop(self) -> None:
        await self._background.stop()
        self._in_step_until = 0.0

    async def _follow(self) -> None:
        while True:
            reader = Redis.from_url(self._url, retry=Retry(NoBackoff(), 0), single_connection_client=True,
                                    socket_timeout=self.BLOCK_S + 5, socket_connect_timeout=5, socket_keepalive=True)
            try:
                while True:
                    await self._load_and_read(reader)
            except (RedisError, OSError, msgspec.MsgspecError) as exc:  # Redis away, or a stored value unreadable
                if self.in_step():
                    log.warning("credentials.directory_out_of_step", error=str(exc))
                self._in_step_until = 0.0
                self._held = {}
            finally:
                await reader.aclose()
            await asyncio.sleep(self.RETRY_S)

    async def _load_and_read(self, reader: Redis) -> None:
        """Load, then block on the stream until it moves or ``RELOAD_S`` has passed."""
        async with reader.pipeline(transaction=True) as tx:
            tx.xrevrange(REGISTRY_STREAM, count=1)
            tx.hgetall(CREDENTIALS)
            last, rows = await tx.execute()
        self._held = {as_text(h): _decoder.decode(raw) for h, raw in rows.items()}
        self.loads += 1
        position = entries[0][0] if (entries := as_entries(last)) else "0-0"
        loaded_at = time.monotonic()
        while time.monotonic() - loaded_at < self.RELOAD_S:
            self._in_step_until = time.monotonic() + self.BLOCK_S + self.GRACE_S
            if await reader.xread({REGISTRY_STREAM: position}, count=1, block=int(self.BLOCK_S * 1000)):
                self._in_step_until = 0.0  # Redis answers for the moment between a change and the new load
                return


async def list_credentials(redis: Redis, role: Role | None = None) -> list[Credential]:
    rows = await redis.hvals(CREDENTIALS)  # type: ignore[misc]
    found = [_decoder.decode(r) for r in rows]
    return sorted((c for c in found if role is None or c.role is role), key=lambda c: (c.role, c.name))


def bearer(header: str | None) -> str:
    """The secret in an ``Authorization: Bearer …`` header, or ''."""
    if not header:
        return ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
