"""The recognizer process: one vosk model, one recognizer per stream.

Why a process of its own: vosk's recognizers run in C (Kaldi); a fault
there would take the whole control plane, and every call's routing, with
it. Here it takes only this process: the control plane
(:mod:`control.speech.recognizer`) starts it again and the calls go on,
their transcript marked incomplete for the gap.

Why threads inside it: the model (~300 MB resident) is loaded once and
shared by every recognizer, which only threads can do; a recognizer is not
thread-safe, so each stream has its own thread and its own recognizer.
vosk's calls go through cffi, which releases the GIL: two streams decoded
on two threads took 3.4 s of wall time against 2.8 s for one alone on this
2-core machine (measured with the Korean test model), so streams do run in
parallel.

Protocol (stdin, binary): frames of 1 byte kind, 4 bytes stream number, 4
bytes length (big endian), payload. ``OPEN`` (payload: JSON ``{"base":
seconds}``, the audio offset the stream resumes at), ``AUDIO`` (signed
linear 16-bit, 8 kHz, mono: resampled here to the model's 16 kHz with
soxr), ``CLOSE``. Results on stdout, one JSON object a line: ``{"stream",
"kind": "partial"|"final"|"ready"|"closed", "text", "start", "end"}``
(seconds from the stream's start). Stdin closed: the process ends.
"""

from __future__ import annotations

import argparse
import json
import queue
import struct
import sys
import threading
import time
from typing import Any

HEADER = struct.Struct("!BII")
OPEN, AUDIO, CLOSE = 1, 2, 3
IN_RATE, MODEL_RATE = 8000, 16000
PARTIAL_EVERY_S = 0.25  # partial results at most this often per stream
# The end of an utterance, decided here: vosk's own endpointing needs ~1 s of
# trailing silence and never fires on digital silence (all zeros, what a
# snoop gives while a party is quiet: measured). Below SILENCE_RMS for
# END_SILENCE_S after speech, the utterance is final.
SILENCE_RMS = 150.0
END_SILENCE_S = 0.5
FRAME = 160  # 20 ms at 8 kHz
MAX_BATCH = 50  # frames (1 s) decoded in one call when behind
PREROLL_S = 0.3  # silence given before an utterance (its first sound is soft)
PREROLL_BATCHES = 15

_out_lock = threading.Lock()


def emit(message: dict[str, Any]) -> None:
    line = json.dumps(message, ensure_ascii=False) + "\n"
    with _out_lock:
        sys.stdout.write(line)
        sys.stdout.flush()


def frame(kind: int, stream: int, payload: bytes = b"") -> bytes:
    return HEADER.pack(kind, stream, len(payload)) + payload


def span(result: dict[str, Any], base: float) -> tuple[float, float]:
    """Start and end of a result (seconds from the stream's start): its words'."""
    words = result.get("result") or []
    if not words:
        return base, base
    return base + float(words[0]["start"]), base + float(words[-1]["end"])


def trailing_quiet(samples: Any, quiet: float) -> tuple[float, bool]:
    """Seconds of silence at the end of ``samples`` (added to ``quiet`` if
    the whole of it is silent), and whether any 20 ms frame in it was loud."""
    import numpy as np

    whole = len(samples) // FRAME * FRAME
    if not whole:
        return quiet, False
    frames = samples[:whole].astype(np.float64).reshape(-1, FRAME)
    loud = np.nonzero(np.sqrt(np.mean(frames ** 2, axis=1)) >= SILENCE_RMS)[0]
    if not len(loud):
        return quiet + whole / IN_RATE, False
    return (len(frames) - 1 - int(loud[-1])) * FRAME / IN_RATE, True


class Stream(threading.Thread):
    """One leg's recognizer on its own thread, fed through a queue."""

    def __init__(self, number: int, model: Any, base: float) -> None:
        super().__init__(name=f"stream-{number}", daemon=True)
        self.number = number
        self.model = model
        self.base = base
        self.inbox: queue.Queue[bytes | None] = queue.Queue()

    def run(self) -> None:
        import numpy as np
        import soxr
        import vosk

        recognizer = vosk.KaldiRecognizer(self.model, MODEL_RATE)
        recognizer.SetWords(True)
        resampler = soxr.ResampleStream(IN_RATE, MODEL_RATE, 1, dtype="int16")
        cpu = time.thread_time()
        heard = 0.0  # seconds of the stream received (the stream's clock)
        given = 0.0  # seconds given to the recognizer (its clock: silence is skipped)
        shift = 0.0  # the stream's clock minus the recognizer's, this utterance
        preroll: list[Any] = []  # the last silent audio, given when speech starts
        last_partial, partial_at = "", -1.0
        quiet = 0.0  # seconds of silence since the last loud frame
        speaking = False

        def give(samples: Any, last: bool = False) -> bool:
            nonlocal given
            given += len(samples) / IN_RATE
            audio = resampler.resample_chunk(samples, last=last).tobytes()
            return bool(recognizer.AcceptWaveform(audio))

        while True:
            chunks = [self.inbox.get()]
            # behind real time (a busy machine): take what has queued up in
            # one call, far cheaper than one call per 20 ms frame
            while chunks[-1] is not None and len(chunks) < MAX_BATCH:
                try:
                    chunks.append(self.inbox.get_nowait())
                except queue.Empty:
                    break
            last = chunks[-1] is None
            samples = np.frombuffer(b"".join(c for c in chunks if c), dtype=np.int16)
            if last:
                if speaking:
                    give(samples, last=True)
                    self._final(json.loads(recognizer.FinalResult()), shift)
                emit({"stream": self.number, "kind": "closed"})
                print(f"speech engine: stream {self.number} closed: {heard:.1f} s of audio, "
                      f"{given:.1f} s with speech decoded in {time.thread_time() - cpu:.1f} "
                      "CPU-s", file=sys.stderr, flush=True)
                return
            quiet, loud = trailing_quiet(samples, quiet)
            if not speaking and not loud:
                # between utterances the recognizer is not fed at all: a
                # quiet leg costs next to nothing
                heard += len(samples) / IN_RATE
                preroll = (preroll + [samples])[-PREROLL_BATCHES:]
                continue
            if not speaking:
                pre = np.concatenate(preroll) if preroll else samples[:0]
                pre = pre[-int(PREROLL_S * IN_RATE):]
                preroll = []
                shift = heard - len(pre) / IN_RATE - given
                give(pre)
                speaking = True
            heard += len(samples) / IN_RATE
            if give(samples):
                self._final(json.loads(recognizer.Result()), shift)
                last_partial, speaking = "", False
            elif quiet >= END_SILENCE_S:
                self._final(json.loads(recognizer.FinalResult()), shift)
                last_partial, speaking = "", False
            elif heard - partial_at >= PARTIAL_EVERY_S:
                text = json.loads(recognizer.PartialResult()).get("partial", "")
                if text and text != last_partial:
                    last_partial, partial_at = text, heard
                    emit({"stream": self.number, "kind": "partial", "text": text,
                          "start": None, "end": round(self.base + heard, 2)})

    def _final(self, result: dict[str, Any], shift: float) -> None:
        text = str(result.get("text", "")).strip()
        if not text:
            return
        start, end = span(result, self.base + shift)
        emit({"stream": self.number, "kind": "final", "text": text, "start": round(start, 2),
              "end": round(end, 2)})


def serve(model_path: str) -> None:
    import vosk

    vosk.SetLogLevel(-1)
    model = vosk.Model(model_path)
    emit({"stream": 0, "kind": "ready"})
    streams: dict[int, Stream] = {}
    source = sys.stdin.buffer
    while True:
        header = source.read(HEADER.size)
        if len(header) < HEADER.size:
            break
        kind, number, length = HEADER.unpack(header)
        payload = source.read(length) if length else b""
        if kind == OPEN:
            base = float(json.loads(payload or b"{}").get("base", 0.0))
            stream = streams[number] = Stream(number, model, base)
            stream.start()
        elif kind == AUDIO and number in streams:
            streams[number].inbox.put(payload)
        elif kind == CLOSE and number in streams:
            streams.pop(number).inbox.put(None)
    for stream in streams.values():
        stream.inbox.put(None)
    for stream in streams.values():
        stream.join(timeout=5)


def main() -> None:
    parser = argparse.ArgumentParser(description="vosk recognizers for the speech tap")
    parser.add_argument("--model", required=True, help="the vosk model's folder")
    serve(parser.parse_args().model)


if __name__ == "__main__":
    main()
