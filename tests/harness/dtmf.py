"""Key presses for SIPp's ``play_pcap_audio``: one pcap with several RFC 2833
digits at chosen moments, built from the one-digit pcaps sip-tester ships
(``/usr/share/sip-tester/dtmf_2833_N.pcap``). Sequence numbers and RTP
timestamps are renumbered so that every press is a new event for Asterisk
(the shipped files reuse theirs)."""

from __future__ import annotations

import asyncio
import struct
import tempfile
from pathlib import Path

PCAPS = Path("/usr/share/sip-tester")
NAMES = {"*": "star", "#": "pound"}
RTP_OFFSET = 14 + 20 + 8  # Ethernet, IPv4, UDP


def _packets(digit: str) -> tuple[bytes, list[tuple[float, bytes]]]:
    data = (PCAPS / f"dtmf_2833_{NAMES.get(digit, digit)}.pcap").read_bytes()
    header, off, out = data[:24], 24, []
    while off < len(data):
        sec, usec, incl, _orig = struct.unpack("<IIII", data[off:off + 16])
        out.append((sec + usec / 1e6, data[off + 16:off + 16 + incl]))
        off += 16 + incl
    return header, out


def _timeline(presses: list[tuple[float, str]], t: float = 1_000_000.0, seq: int = 1000
              ) -> tuple[bytes, list[tuple[float, bytes]], int]:
    """The pcap header, every packet (Ethernet frame) of these presses with the
    time to send it (from ``t``), and the last sequence number used."""
    header = b""
    out: list[tuple[float, bytes]] = []
    for delay, keys in presses:
        for key in keys:
            t += delay
            delay = 0.6  # several keys in one press string: 0.6 s apart
            header, packets = _packets(key)
            first = packets[0][0]
            last_seq = None
            for when, pkt in packets:
                pkt = bytearray(pkt)
                old_seq = struct.unpack("!H", pkt[RTP_OFFSET + 2:RTP_OFFSET + 4])[0]
                if old_seq != last_seq:  # the end packet is sent 3 times, same seq
                    seq += 1
                    last_seq = old_seq
                struct.pack_into("!HI", pkt, RTP_OFFSET + 2, seq & 0xFFFF,
                                 int(t * 8000) & 0xFFFFFFFF)
                out.append((t + (when - first), bytes(pkt)))
    return header, out, seq


def dtmf_pcap(presses: list[tuple[float, str]]) -> Path:
    """presses: (seconds after the previous press, key), e.g. [(0, "2"), (1.5, "1")]."""
    header, packets, _seq = _timeline(presses)
    records = [struct.pack("<IIII", int(at), int((at % 1) * 1e6), len(pkt), len(pkt)) + pkt
               for at, pkt in packets]
    fd, path = tempfile.mkstemp(prefix="dtmf-", suffix=".pcap")
    with open(fd, "wb") as fh:
        fh.write(header + b"".join(records))
    return Path(path)


class Keypad:
    """Keys pressed now, from a test's own RTP socket: the same RFC 2833 packets
    as :func:`dtmf_pcap`, for a caller whose endpoint also measures what it
    hears (Asterisk sends its audio where its RTP comes from). Timestamps and
    sequence numbers keep rising from one press to the next, or Asterisk
    takes a press for a repeat of the one before."""

    def __init__(self, transport: asyncio.DatagramTransport, dest: tuple[str, int]) -> None:
        self.transport, self.dest = transport, dest
        self.seq = 1000
        self.epoch = asyncio.get_running_loop().time() - 1_000_000.0  # RTP time 0

    async def press(self, keys: str) -> None:
        """Key ``keys``, 0.6 s apart; returns after the last one's packets."""
        loop = asyncio.get_running_loop()
        _header, packets, self.seq = _timeline([(0, keys)], loop.time() - self.epoch, self.seq)
        for at, pkt in packets:
            await asyncio.sleep(max(0.0, self.epoch + at - loop.time()))
            self.transport.sendto(pkt[RTP_OFFSET:], self.dest)
