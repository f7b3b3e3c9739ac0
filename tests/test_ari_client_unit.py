"""AriClient against a raw HTTP server that behaves like Asterisk's at the end
of a kept-alive connection: it answers the first request of a connection,
then closes the connection when the next one arrives on it (Asterisk's
session_keep_alive ran out as the request went out). A GET, PUT or DELETE
is sent once more on a new connection (aiohttp does it, RFC 9112 9.3.1); a
POST is not (it could be done twice) and is refused as 503, as when
Asterisk is away; the client closes idle connections long before Asterisk
would, which keeps POSTs out of that race."""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from control.telephony.ari import AriClient, AriError


class DroppingServer:
    def __init__(self) -> None:
        self.requests: list[str] = []  # "METHOD path" of each request answered
        self.dropped = 0
        self.server: asyncio.Server | None = None

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        answered = 0
        try:
            while head := await reader.readuntil(b"\r\n\r\n"):
                line = " ".join(head.split(b"\r\n")[0].decode().split()[:2])
                if "/ari/events" in line:  # the client's event websocket: not here
                    break
                if answered:  # a second request on this connection: closed under it
                    self.dropped += 1
                    break
                length = next((int(h.split(b":")[1]) for h in head.split(b"\r\n")
                               if h.lower().startswith(b"content-length:")), 0)
                if length:
                    await reader.readexactly(length)
                self.requests.append(line)
                writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n"
                             b"Content-Length: 2\r\n\r\n{}")
                await writer.drain()
                answered += 1
        except asyncio.IncompleteReadError:
            pass
        writer.close()


@contextlib.asynccontextmanager
async def dropping() -> AsyncIterator[tuple[DroppingServer, AriClient]]:
    fake = DroppingServer()
    fake.server = await asyncio.start_server(fake.handle, "127.0.0.1", 0)
    port = fake.server.sockets[0].getsockname()[1]
    client = AriClient(f"http://127.0.0.1:{port}", "aitcomms", "pw", "aitcomms")
    client.start()
    try:
        yield fake, client
    finally:
        await client.close()
        fake.server.close()


@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE"])
async def test_an_idempotent_request_is_sent_again_on_a_new_connection(method: str) -> None:
    async with dropping() as (fake, client):
        assert await client.request("GET", "/asterisk/info") == {}
        assert await client.request(method, "/channels/c-1") == {}  # kept alive: dropped once
        assert fake.dropped == 1
        assert fake.requests == ["GET /ari/asterisk/info", f"{method} /ari/channels/c-1"]


async def test_a_post_is_not_sent_twice() -> None:
    async with dropping() as (fake, client):
        assert await client.request("GET", "/asterisk/info") == {}
        with pytest.raises(AriError) as refused:
            await client.request("POST", "/channels", endpoint="PJSIP/agent-1001")
        assert refused.value.status == 503 and fake.dropped == 1
        assert fake.requests == ["GET /ari/asterisk/info"]


async def test_a_download_cut_short_leaves_no_file_and_is_a_503(tmp_path: Path) -> None:
    """The node (or its tunnel) goes away in the middle of a recording: the
    client says so as an AriError, which the ACD handles (it is logged, the
    recording stays on the node), and leaves nothing half-written."""
    async def half(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Type: audio/wav\r\n"
                     b"Content-Length: 100000\r\n\r\n" + b"RIFF" + b"\0" * 4000)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(half, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = AriClient(f"http://127.0.0.1:{port}", "aitcomms", "pw", "aitcomms")
    client.start()
    dst = tmp_path / "call-1.wav"
    try:
        with pytest.raises(AriError) as cut:
            await client.download("/recordings/stored/call-1/file", dst)
        assert cut.value.status == 503
        assert os.listdir(tmp_path) == []  # neither the file nor its .part
    finally:
        await client.close()
        server.close()
