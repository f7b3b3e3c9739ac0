"""The control plane's side of the recognizer process (:mod:`control.speech.engine`).

:class:`Recognizers` starts the process, hands it each stream's audio and
reads its results back. When the process dies (a fault in Kaldi, the OOM
killer, someone's ``kill``) it is started again after a short pause and
every open stream is reopened at the offset its audio had reached: what was
said meanwhile is lost, so the stream is marked ``incomplete`` and its
owner told (``on_gap``). Nothing here ever touches a call: the audio that
reaches this class is a copy (a snoop), and a write to a dead process is
dropped, never raised.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from control.speech.engine import AUDIO, CLOSE, IN_RATE, OPEN, frame

log = logging.getLogger(__name__)

RESTART_AFTER_S = 0.5
ResultHandler = Callable[[dict[str, Any]], None]


@dataclass
class StreamState:
    number: int
    on_result: ResultHandler
    on_gap: Callable[[float], None]
    on_closed: Callable[[], None] | None = None
    audio_s: float = 0.0  # seconds of audio received so far
    closing: bool = False  # closed by its owner; its last results still to come
    incomplete: bool = False
    gaps: list[float] = field(default_factory=list)  # where audio was lost


class Recognizers:
    def __init__(self, model: Path) -> None:
        self.model = model
        self.streams: dict[int, StreamState] = {}
        self._next = 1
        self._proc: asyncio.subprocess.Process | None = None
        self._task: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc and self._proc.returncode is None else None

    @property
    def ready(self) -> bool:
        return self._ready.is_set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="speech-recognizers")

    async def close(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self._stop_process()

    async def _stop_process(self) -> None:
        proc = self._proc
        if proc and proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()
            await proc.wait()

    async def wait_ready(self) -> None:
        """Until the model is loaded (bound it with ``asyncio.timeout``)."""
        await self._ready.wait()

    # -- streams ---------------------------------------------------------------

    def open(self, on_result: ResultHandler, on_gap: Callable[[float], None],
             on_closed: Callable[[], None] | None = None) -> int:
        """A new stream; ``on_closed`` once its last result is in (after
        :meth:`close_stream`)."""
        number = self._next
        self._next += 1
        self.streams[number] = StreamState(number, on_result, on_gap, on_closed)
        self._send(frame(OPEN, number, json.dumps({"base": 0.0}).encode()))
        return number

    def feed(self, number: int, pcm: bytes) -> None:
        stream = self.streams.get(number)
        if stream is None or stream.closing:
            return
        stream.audio_s += len(pcm) / 2 / IN_RATE
        self._send(frame(AUDIO, number, pcm))

    def close_stream(self, number: int) -> None:
        stream = self.streams.get(number)
        if stream is None or stream.closing:
            return
        stream.closing = True
        if self._ready.is_set():
            self._send(frame(CLOSE, number))
        else:  # the process is away: nothing more will come
            self._closed(number)

    def _closed(self, number: int) -> None:
        stream = self.streams.pop(number, None)
        if stream is not None and stream.on_closed is not None:
            with contextlib.suppress(Exception):
                stream.on_closed()

    def active(self) -> int:
        return sum(1 for s in self.streams.values() if not s.closing)

    def _send(self, data: bytes) -> None:
        proc = self._proc
        if proc is None or proc.stdin is None or proc.returncode is not None \
                or not self._ready.is_set():
            return  # away or starting: this audio is lost (the stream says so)
        try:
            proc.stdin.write(data)
        except (BrokenPipeError, ConnectionResetError, RuntimeError):
            pass

    # -- the process -------------------------------------------------------------

    async def _run(self) -> None:
        while True:
            try:
                await self._one_life()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("speech recognizer process failed")
            self._ready.clear()
            self.restarts += 1
            # streams being closed had their last results lost with it
            for number in [n for n, s in self.streams.items() if s.closing]:
                self._closed(number)
            # every open stream lost audio from now until the process is back
            for stream in self.streams.values():
                stream.incomplete = True
                stream.gaps.append(round(stream.audio_s, 2))
                with contextlib.suppress(Exception):
                    stream.on_gap(stream.audio_s)
            await asyncio.sleep(RESTART_AFTER_S)

    async def _one_life(self) -> None:
        self._proc = proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "control.speech.engine", "--model", str(self.model),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE,
            limit=1 << 20)
        assert proc.stdout is not None
        log.info("speech recognizer process %s started (model %s)", proc.pid, self.model)
        try:
            async for raw in proc.stdout:
                try:
                    message = json.loads(raw)
                except ValueError:
                    continue
                if message.get("kind") == "ready":
                    self._ready.set()
                    # streams opened while it was away: (re)opened where
                    # each one's audio has reached
                    for state in self.streams.values():
                        self._send(frame(OPEN, state.number, json.dumps(
                            {"base": state.audio_s}).encode()))
                    continue
                found = self.streams.get(int(message.get("stream", 0)))
                if found is not None and message.get("kind") == "closed":
                    self._closed(found.number)
                elif found is not None and message.get("kind") in ("partial", "final"):
                    try:
                        found.on_result(message)
                    except Exception:
                        log.exception("speech result handler failed")
        finally:
            await self._stop_process()
        log.warning("speech recognizer process %s ended (%s): restarting", proc.pid,
                    proc.returncode)
