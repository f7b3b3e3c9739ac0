"""A test's own RTP endpoint: what a party hears, and a tone it says.

A SIPp scenario advertises this endpoint's port in its SDP, so Asterisk sends
the party's audio here. The endpoint counts packets, keeps the decoded audio
and, when told where to, sends its own tone (PCMU, 20 ms packets), so that
who hears whom can be measured by each tone's energy.
"""

from __future__ import annotations

import asyncio
import math
import random
import struct
import time


def _ulaw_decode(byte: int) -> int:
    byte = ~byte & 0xFF
    sign = byte & 0x80
    exponent = (byte >> 4) & 0x07
    mantissa = byte & 0x0F
    sample = ((mantissa << 3) + 0x84) << exponent
    sample -= 0x84
    return -sample if sign else sample


def _ulaw_encode(sample: int) -> int:
    bias, clip = 0x84, 32635
    sign = 0x80 if sample < 0 else 0
    sample = min(abs(sample), clip) + bias
    exponent = 7
    mask = 0x4000
    while exponent > 0 and not sample & mask:
        exponent -= 1
        mask >>= 1
    mantissa = (sample >> (exponent + 3)) & 0x0F
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


ULAW_TABLE = [_ulaw_decode(b) for b in range(256)]


def goertzel(samples: list[int], freq: float, rate: int = 8000) -> float:
    """Normalised energy of one frequency (0 = absent; a clear tone gives thousands)."""
    if not samples:
        return 0.0
    coeff = 2 * math.cos(2 * math.pi * freq / rate)
    s1 = s2 = 0.0
    for x in samples:
        s0 = x + coeff * s1 - s2
        s2, s1 = s1, s0
    power = s1 * s1 + s2 * s2 - coeff * s1 * s2
    return math.sqrt(max(power, 0.0)) / len(samples)


class RtpEndpoint(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.packets = 0
        self.samples: list[int] = []
        self.last_source: tuple[str, int] | None = None
        self.transport: asyncio.DatagramTransport | None = None
        self._sender: asyncio.Task[None] | None = None
        # one RTP stream for the endpoint's whole life, as a phone's on a call:
        # a tone, silence and speech follow on with the same SSRC and running
        # sequence and timestamp (a new random start for each could fall
        # behind the last one, and Asterisk drops what looks old)
        self._ssrc = random.getrandbits(32)
        self._seq = random.getrandbits(15)
        self._ts = random.getrandbits(31)

    @classmethod
    async def open(cls, host: str = "127.0.0.1") -> RtpEndpoint:
        loop = asyncio.get_running_loop()
        for _ in range(50):
            port = random.randrange(40000, 49998, 2)
            try:
                _t, proto = await loop.create_datagram_endpoint(cls, local_addr=(host, port))
                return proto
            except OSError:
                continue
        raise RuntimeError("no free RTP port")

    @property
    def port(self) -> int:
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def decode(self, data: bytes) -> bytes | None:
        """What arrived, as plain RTP (None: drop it). SRTP endpoints decrypt here."""
        return data

    def encode(self, packet: bytes) -> bytes:
        """A plain RTP packet as it goes on the wire."""
        return packet

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        if len(data) < 12 or data[0] >> 6 != 2:
            return
        plain = self.decode(data)
        if plain is None:
            return
        data = plain
        self.packets += 1
        self.last_source = addr
        if data[1] & 0x7F == 0:  # PCMU
            self.samples.extend(ULAW_TABLE[b] for b in data[12:])

    def reset(self) -> None:
        self.packets = 0
        self.samples = []

    def energy(self, freq: float) -> float:
        return goertzel(self.samples, freq)

    def rms(self) -> float:
        if not self.samples:
            return 0.0
        return math.sqrt(sum(s * s for s in self.samples) / len(self.samples))

    def send_tone(self, dest: tuple[str, int], freq: float, amplitude: int = 8000) -> None:
        self._sender = asyncio.create_task(self._send_tone(dest, freq, amplitude))

    async def _send_tone(self, dest: tuple[str, int], freq: float, amplitude: int) -> None:
        assert self.transport is not None
        n = 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        while True:
            payload = bytes(
                _ulaw_encode(int(amplitude * math.sin(2 * math.pi * freq * (n + i) / 8000)))
                for i in range(160)
            )
            self.transport.sendto(self.encode(self._header() + payload), dest)
            n += 160
            # keep the 20 ms cadence against the clock, not against drift
            await asyncio.sleep(max(0.0, start + n / 8000 - loop.time()))

    def send_audio(self, dest: tuple[str, int], samples: list[int]) -> None:
        """Say ``samples`` (signed 16-bit, 8 kHz) as PCMU in real time, then
        keep sending silence (the leg's RTP flows on); ``said_at`` is the wall
        time (time.time()) the last sample went out."""
        self.stop_tone()
        self.said_at: float | None = None
        self._sender = asyncio.create_task(self._send_audio(dest, samples))

    async def _send_audio(self, dest: tuple[str, int], samples: list[int]) -> None:
        assert self.transport is not None
        n = 0
        loop = asyncio.get_running_loop()
        start = loop.time()
        silence = bytes([_ulaw_encode(0)]) * 160
        while True:
            chunk = samples[n:n + 160]
            payload = bytes(_ulaw_encode(x) for x in chunk).ljust(160, silence[:1]) \
                if chunk else silence
            self.transport.sendto(self.encode(self._header() + payload), dest)
            n += 160
            if self.said_at is None and n >= len(samples):
                self.said_at = time.time()
            await asyncio.sleep(max(0.0, start + n / 8000 - loop.time()))

    def _header(self) -> bytes:
        """The next packet's RTP header (PCMU, 20 ms after the last one)."""
        header = struct.pack("!BBHII", 0x80, 0, self._seq & 0xFFFF, self._ts & 0xFFFFFFFF,
                             self._ssrc)
        self._seq, self._ts = self._seq + 1, self._ts + 160
        return header

    def stop_tone(self) -> None:
        if self._sender:
            self._sender.cancel()
            self._sender = None

    def close(self) -> None:
        self.stop_tone()
        if self.transport:
            self.transport.close()
