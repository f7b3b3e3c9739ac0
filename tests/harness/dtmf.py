"""Key presses for SIPp's ``play_pcap_audio``: one pcap with several RFC 2833
digits at chosen moments, built from the one-digit pcaps sip-tester ships
(``/usr/share/sip-tester/dtmf_2833_N.pcap``). Sequence numbers and RTP
timestamps are renumbered so that every press is a new event for Asterisk
(the shipped files reuse theirs)."""

from __future__ import annotations

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


def dtmf_pcap(presses: list[tuple[float, str]]) -> Path:
    """presses: (seconds after the previous press, key), e.g. [(0, "2"), (1.5, "1")]."""
    header = b""
    records = []
    t, seq = 1_000_000.0, 1000
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
                at = t + (when - first)
                records.append(struct.pack("<IIII", int(at), int((at % 1) * 1e6), len(pkt),
                                           len(pkt)) + bytes(pkt))
    fd, path = tempfile.mkstemp(prefix="dtmf-", suffix=".pcap")
    with open(fd, "wb") as fh:
        fh.write(header + b"".join(records))
    return Path(path)
