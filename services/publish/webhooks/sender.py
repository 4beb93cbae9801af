"""One HTTP attempt of a webhook: POST with timeouts, no redirects, the answer read up to a limit."""

from __future__ import annotations

import ssl
import time
from dataclasses import dataclass

import httpx

from services.publish.webhooks.settings import WebhookSettings
from services.publish.webhooks.ssrf import IPAddress


@dataclass(frozen=True)
class AttemptResult:
    status: int | None  # None: no HTTP answer (timeout, connection error, refused URL)
    latency_ms: int
    error: str  # empty on a 2xx
    response: bytes  # the start of the receiver's answer, at most max_response_bytes


def tls_context() -> ssl.SSLContext:
    """One TLS context for all partners' clients (building one per client is slow and large)."""
    return ssl.create_default_context()


class Sender:
    """One partner's HTTP client: at most one request at a time, its connection kept alive between items.

    Each partner has its own client, so that no connection pool is shared: a slow endpoint cannot take
    connections another partner needs, and pools stay small (a pool shared by a thousand concurrent
    requests spends its time scanning its connections).
    """

    def __init__(self, settings: WebhookSettings, tls: ssl.SSLContext) -> None:
        self.settings = settings
        timeout = httpx.Timeout(connect=settings.connect_timeout_s, read=settings.read_timeout_s,
                                write=settings.read_timeout_s, pool=settings.connect_timeout_s)
        limits = httpx.Limits(max_connections=2, max_keepalive_connections=1, keepalive_expiry=30)
        self.client = httpx.AsyncClient(timeout=timeout, limits=limits, follow_redirects=False, trust_env=False,
                                        verify=tls, headers={"user-agent": "newswire-webhooks/1"})

    async def post(self, url: str, headers: dict[str, str], body: bytes, pin: IPAddress | None = None) -> AttemptResult:
        """POST ``body``; with ``pin``, connect to that checked address whatever the name resolves to now.

        The URL's host still goes in the ``Host`` header and, for https, in the TLS server name, so
        virtual hosts and certificate checks work as for the name.
        """
        started = time.perf_counter()
        extensions: dict[str, str] = {}
        if pin is not None:
            parts = httpx.URL(url)
            if parts.host != str(pin):
                headers = {**headers, "host": parts.netloc.decode("ascii")}
                if parts.scheme == "https":
                    extensions["sni_hostname"] = parts.host
                url = str(parts.copy_with(host=str(pin)))
        try:
            async with self.client.stream("POST", url, headers=headers, content=body, extensions=extensions) as response:
                kept = bytearray()
                async for chunk in response.aiter_raw():
                    kept += chunk[: self.settings.max_response_bytes - len(kept)]
                    if len(kept) >= self.settings.max_response_bytes:
                        break  # the rest is not read; the connection is closed rather than reused
                status = response.status_code
        except httpx.TimeoutException as exc:
            return AttemptResult(None, _ms(started), f"timeout: {type(exc).__name__}", b"")
        except httpx.HTTPError as exc:
            return AttemptResult(None, _ms(started), f"{type(exc).__name__}: {exc}"[:500], b"")
        error = "" if 200 <= status < 300 else f"HTTP {status}"
        return AttemptResult(status, _ms(started), error, bytes(kept))

    async def aclose(self) -> None:
        await self.client.aclose()


def _ms(started: float) -> int:
    return round((time.perf_counter() - started) * 1000)
