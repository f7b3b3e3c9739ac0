"""AudioSocket framing (Asterisk's ``chan_audiosocket``/``app_audiosocket``):
1 byte type, 2 bytes big-endian length, payload. Types: 0x00 hang-up,
0x01 the stream's UUID (16 bytes, first), 0x10 signed linear 16-bit 8 kHz
mono audio (320 bytes per 20 ms), 0xff an error. Asterisk may also simply
close the socket at hang-up."""

from __future__ import annotations

import asyncio
import struct
import uuid

HANGUP, UUID, AUDIO, ERROR = 0x00, 0x01, 0x10, 0xFF
HEADER = struct.Struct("!BH")


def encode(kind: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, len(payload)) + payload


async def read_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One frame; ``(HANGUP, b"")`` when the socket closes."""
    try:
        header = await reader.readexactly(HEADER.size)
        kind, length = HEADER.unpack(header)
        payload = await reader.readexactly(length) if length else b""
    except (asyncio.IncompleteReadError, ConnectionError):
        return HANGUP, b""
    return kind, payload


def stream_id(payload: bytes) -> str:
    """The UUID frame's payload as the text form ARI was given."""
    return str(uuid.UUID(bytes=payload[:16])) if len(payload) >= 16 else payload.decode()
