"""Editor API keys and partner tokens: issued once, stored only as SHA-256 hashes.

Issuing or revoking a credential is an event on the registry stream, written in the same
transaction as the projection that authentication reads (one hash slot: ``{registry}``).
"""

from __future__ import annotations

import enum
import hashlib
import secrets
from datetime import UTC, datetime

import msgspec
from redis.asyncio import Redis

from schemas.streams import registry_key

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
    event = CredentialRevoked(name=name, role=role, key_hash=_text(key_hash), revoked_at=datetime.now(UTC))
    async with redis.pipeline(transaction=True) as tx:
        tx.xadd(REGISTRY_STREAM, {"type": "credential.revoked.v1", "data": msgspec.json.encode(event)})
        tx.hdel(CREDENTIALS, key_hash)
        tx.hdel(NAMES, f"{role.value}:{name}")
        await tx.execute()
    return True


async def authenticate(redis: Redis, secret: str, roles: frozenset[Role]) -> Credential | None:
    """The credential a bearer secret belongs to, if it has one of ``roles``."""
    if not secret or len(secret) > 200:
        return None
    raw = await redis.hget(CREDENTIALS, hash_secret(secret))  # type: ignore[misc]
    if raw is None:
        return None
    credential = _decoder.decode(raw)
    return credential if credential.role in roles else None


async def list_credentials(redis: Redis, role: Role | None = None) -> list[Credential]:
    rows = await redis.hvals(CREDENTIALS)  # type: ignore[misc]
    found = [_decoder.decode(r) for r in rows]
    return sorted((c for c in found if role is None or c.role is role), key=lambda c: (c.role, c.name))


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def bearer(header: str | None) -> str:
    """The secret in an ``Authorization: Bearer …`` header, or ''."""
    if not header:
        return ""
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""
