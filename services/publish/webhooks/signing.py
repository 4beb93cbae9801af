"""Standard Webhooks signatures: ``v1,<base64 HMAC-SHA256 of "id.timestamp.body">``. Pure."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Sequence
from datetime import datetime

from schemas.partners import WebhookSecret

SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def secret_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_<base64>`` secret."""
    return base64.b64decode(secret.removeprefix(SECRET_PREFIX))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    digest = hmac.new(secret_key(secret), f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signing_secrets(secrets: Sequence[WebhookSecret], now: datetime) -> list[str]:
    """The secrets that sign now: the current one and any rotated out but still within its overlap."""
    return [s.secret for s in secrets if s.expires_at is None or s.expires_at > now]


def headers(secrets: Sequence[WebhookSecret], msg_id: str, now: datetime, body: bytes) -> dict[str, str]:
    """The request headers of one attempt; one signature per live secret, space-separated."""
    timestamp = int(now.timestamp())
    signatures = " ".join(sign(s, msg_id, timestamp, body) for s in signing_secrets(secrets, now))
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signatures,
    }
