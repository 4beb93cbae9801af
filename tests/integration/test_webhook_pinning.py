"""A webhook attempt connects to the address that was checked, not to whatever the name resolves to later."""

from __future__ import annotations

import asyncio
import ipaddress

from services.publish.webhooks.sender import Sender, tls_context
from services.publish.webhooks.settings import WebhookSettings


async def test_the_connection_goes_to_the_pinned_address_with_the_original_host_header() -> None:
    seen: list[bytes] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        seen.append(head)
        length = next(int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length"))
        await reader.readexactly(length)
        writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    sender = Sender(WebhookSettings(), tls_context())
    try:
        # ".invalid" never resolves (RFC 2606): reaching the receiver proves no lookup happened.
        result = await sender.post(f"http://hooks.example.invalid:{port}/in", {"webhook-id": "msg_1"}, b"{}",
                                   pin=ipaddress.ip_address("127.0.0.1"))
    finally:
        await sender.aclose()
        server.close()
        await server.wait_closed()
    assert result.status == 204, result.error
    assert len(seen) == 1
    assert f"host: hooks.example.invalid:{port}".encode() in seen[0].lower()
    assert seen[0].startswith(b"POST /in HTTP/1.1")
