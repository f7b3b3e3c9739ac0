"""The speech tap: each leg of a transcribed call, streamed apart to a recognizer.

How: for each leg (the caller's channel, the agent's) an ARI snoop with
``spy=in`` (only what that party says, never what it hears) is bridged with
an ARI ``externalMedia`` channel in AudioSocket encapsulation, which opens a
TCP connection to this process's AudioSocket server
(:mod:`control.speech.audiosocket`) and streams 8 kHz signed linear audio,
the leg named by the UUID it sends first.

Why this transport: a snoop per leg keeps caller and agent apart (one
mixed stream could not say who spoke), and leaves the call's own bridge,
recording and supervision untouched: the tap only listens. Of the two
externalMedia encapsulations, AudioSocket over TCP was proven on these
machines (see DESIGN "Speech"), needs no RTP port range, jitter or
sequence handling of ours, and carries the leg's UUID in-band; Asterisk
22's WebSocket channel would also do, but is only in 22.6+, and an
AudioSocket server is 30 lines. The snoops and the externalMedia channels
live in a Stasis application of their own (``<app>-speech``, on a second
ARI connection), so the ACD never sees them.

How it fails: nothing here is on the call's audio path. A tap that cannot
be set up, a recognizer process that dies (:mod:`control.speech.recognizer`
restarts it; the transcript is marked ``incomplete`` with the gap), a
database away (segments are lost, the live captions still go): the call
goes on as it was. Over ``speech_max_streams`` a new call is not
transcribed, and its detail says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from aiohttp import web

from control.acd.calls import CallLegs
from control.api.keys import LEADERSHIP
from control.db import Database
from control.events.bus import EventBus
from control.settings import Settings
from control.speech import analysis, audiosocket
from control.speech import store as speech_store
from control.speech.recognizer import Recognizers
from control.telephony.ari import AriError
from control.telephony.fleet import AriFleet

log = logging.getLogger(__name__)

SNOOP_BOUND_S = 5.0
CLOSE_BOUND_S = 5.0  # after the call: the last finals, then the analysis
SUGGEST_FROM = 3  # agent assist reads the caller's last utterances


@dataclass
class Leg:
    tap: CallTap
    speaker: str  # caller | agent
    channel: str
    leg_id: str  # the AudioSocket stream's UUID
    snoop_id: str
    media_id: str
    bridge_id: str | None = None
    stream: int | None = None
    offset: float = 0.0  # seconds from the call's bridging to this leg's first audio
    closed: asyncio.Event = field(default_factory=asyncio.Event)


@dataclass
class CallTap:
    call: CallLegs
    started: float  # loop time the call was bridged
    keywords: list[str]
    legs: list[Leg] = field(default_factory=list)
    gaps: list[dict[str, Any]] = field(default_factory=list)
    recent: list[str] = field(default_factory=list)  # the caller's last finals
    pending: set[asyncio.Task[None]] = field(default_factory=set)  # results being handled
    ended: bool = False


class SpeechTap:
    def __init__(self, settings: Settings, db: Database, bus: EventBus, ari: AriFleet) -> None:
        self.settings = settings
        self.db = db
        self.bus = bus
        self.app_name = ari.app  # its own app: the ACD's events are not its business
        self.ari = ari
        self.ari.handlers.append(self._on_ari_event)
        self.ari.on_connect.append(self._sweep)
        self.recognizers = (Recognizers(settings.speech_model) if settings.speech_model
                            else None)
        self.max_streams = settings.speech_max_streams
        self.taps: dict[str, CallTap] = {}
        self.legs: dict[str, Leg] = {}
        self._entered: dict[str, asyncio.Future[None]] = {}
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    # -- lifecycle ---------------------------------------------------------------

    async def context(self, app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: the AudioSocket server, the recognizer
        process and the speech app's ARI connection."""
        self._server = await asyncio.start_server(
            self._audiosocket, "127.0.0.1", self.settings.ports.audiosocket)
        async def listen() -> None:
            if self.recognizers:
                self.recognizers.start()
            self.ari.start()
        await app[LEADERSHIP].lead(listen)  # the routing control plane taps calls
        yield
        await self.ari.close()
        self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self.recognizers:
            await self.recognizers.close()

    def streams_in_use(self) -> int:
        return sum(len(t.legs) for t in self.taps.values())

    def status(self) -> dict[str, Any]:
        rec = self.recognizers
        return {"model": str(self.settings.speech_model) if self.settings.speech_model else None,
                "recognizer_pid": rec.pid if rec else None, "ready": bool(rec and rec.ready),
                "restarts": rec.restarts if rec else 0, "streams": self.streams_in_use(),
                "max_streams": self.max_streams, "calls": sorted(self.taps)}

    # -- the ACD's hooks ------------------------------------------------------------

    async def call_connected(self, call: CallLegs) -> None:
        """A call was bridged: tap both legs if its queue's policy says so."""
        if not call.queue or not call.agent_channel:
            return  # outbound calls have no queue, hence no policy
        policy = await asyncio.to_thread(self._policy, call.queue)
        if not policy or not policy["transcribe"]:
            return
        old = self.taps.get(call.call_id)
        if old is not None:  # a transfer bridged it again: tap the new agent's leg
            await self._untap(old)
            old.legs = []
        if self.recognizers is None:
            await self._not_transcribed(call, "no speech model is configured")
            return
        if self.streams_in_use() + 2 > self.max_streams:
            await self._not_transcribed(
                call, f"capacity: {self.streams_in_use()} of {self.max_streams} streams in "
                "use on this node")
            return
        tap = old or CallTap(call, asyncio.get_running_loop().time(), policy["keywords"])
        tap.call = call
        self.taps[call.call_id] = tap
        try:
            for speaker, channel in (("caller", call.caller_channel),
                                     ("agent", call.agent_channel)):
                await self._tap_leg(tap, speaker, channel)
        except (AriError, TimeoutError) as exc:
            log.warning("call %s: speech tap not set up (%s): not transcribed", call.call_id,
                        exc)
            await self._untap(tap)
            self.taps.pop(call.call_id, None)
            await self._not_transcribed(call, f"the tap could not be set up ({exc})")
            return
        await self._save_status(call.call_id, "transcribing")
        await self._publish("speech.status", tap, status="transcribing")

    async def call_ended(self, call: CallLegs) -> None:
        tap = self.taps.pop(call.call_id, None)
        if tap is None:
            return
        tap.ended = True
        await self._untap(tap)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLOSE_BOUND_S):
                for leg in tap.legs:
                    await leg.closed.wait()
                while tap.pending:  # the last finals stored before the analysis
                    await asyncio.wait(set(tap.pending))
        status = "incomplete" if tap.gaps else "complete"
        result = await asyncio.to_thread(self._analyse, call.call_id, status, tap.gaps)
        await self._publish("speech.analysis", tap, status=status, analysis=result)

    # -- Asterisk side ------------------------------------------------------------------

    async def _tap_leg(self, tap: CallTap, speaker: str, channel: str) -> None:
        tag = uuid.uuid4().hex[:12]
        leg = Leg(tap, speaker, channel, str(uuid.uuid4()), f"speech-snoop-{tag}",
                  f"speech-media-{tag}")
        tap.legs.append(leg)
        self.legs[leg.leg_id] = leg
        node = tap.call.media_node  # every leg of a call is on its node
        await self.ari.request(
            "POST", "/channels/externalMedia", node=node, app=self.app_name,
            channelId=leg.media_id,
            external_host=f"127.0.0.1:{self.settings.ports.audiosocket}",
            encapsulation="audiosocket", transport="tcp", format="slin", data=leg.leg_id)
        entered = asyncio.get_running_loop().create_future()
        self._entered[leg.snoop_id] = entered
        try:
            await self.ari.request("POST", f"/channels/{channel}/snoop", node=node,
                                   app=self.app_name,
                                   appArgs="speech", snoopId=leg.snoop_id, spy="in")
            await asyncio.wait_for(entered, SNOOP_BOUND_S)
        finally:
            self._entered.pop(leg.snoop_id, None)
        bridge = await self.ari.request("POST", "/bridges", node=node, type="mixing",
                                        name=f"speech-{tap.call.call_id}-{speaker}")
        leg.bridge_id = bridge["id"]
        await self.ari.request("POST", f"/bridges/{bridge['id']}/addChannel",
                               channel=f"{leg.snoop_id},{leg.media_id}")

    async def _untap(self, tap: CallTap) -> None:
        for leg in tap.legs:
            await self.ari.request_quietly("DELETE", f"/channels/{leg.snoop_id}")
            await self.ari.request_quietly("DELETE", f"/channels/{leg.media_id}")
            if leg.bridge_id:
                await self.ari.request_quietly("DELETE", f"/bridges/{leg.bridge_id}")

    async def _sweep(self, node: str) -> None:
        """After a node (re)connects: taps this process no longer knows (it
        was restarted mid-call) are taken down; Asterisk would keep them."""
        known = {name for tap in self.taps.values() for leg in tap.legs
                 for name in (leg.snoop_id, leg.media_id, leg.bridge_id)}
        for channel in await self.ari.request_quietly("GET", "/channels", node=node) or []:
            if channel["id"].startswith("speech-") and channel["id"] not in known:
                await self.ari.request_quietly("DELETE", f"/channels/{channel['id']}")
        for bridge in await self.ari.request_quietly("GET", "/bridges", node=node) or []:
            if str(bridge.get("name", "")).startswith("speech-") and bridge["id"] not in known:
                await self.ari.request_quietly("DELETE", f"/bridges/{bridge['id']}")

    def _on_ari_event(self, event: dict[str, Any]) -> None:
        if event.get("type") == "StasisStart":
            waiter = self._entered.get(event["channel"]["id"])
            if waiter and not waiter.done():
                waiter.set_result(None)

    # -- audio in -----------------------------------------------------------------------

    async def _audiosocket(self, reader: asyncio.StreamReader,
                           writer: asyncio.StreamWriter) -> None:
        leg: Leg | None = None
        try:
            kind, payload = await audiosocket.read_frame(reader)
            if kind != audiosocket.UUID:
                return
            leg = self.legs.get(audiosocket.stream_id(payload))
            if leg is None or self.recognizers is None:
                log.warning("AudioSocket stream %s unknown: closed",
                            audiosocket.stream_id(payload))
                return
            leg.offset = asyncio.get_running_loop().time() - leg.tap.started
            log.info("call %s: %s's leg streaming (AudioSocket %s)", leg.tap.call.call_id,
                     leg.speaker, leg.leg_id)
            found = leg
            leg.stream = self.recognizers.open(partial(self._result, found),
                                               partial(self._gap, found), found.closed.set)
            while True:
                kind, payload = await audiosocket.read_frame(reader)
                if kind == audiosocket.AUDIO:
                    self.recognizers.feed(leg.stream, payload)
                elif kind in (audiosocket.HANGUP, audiosocket.ERROR):
                    break
        finally:
            if leg is not None:
                if leg.stream is not None and self.recognizers:
                    state = self.recognizers.streams.get(leg.stream)
                    log.info("call %s: %s's leg stream closed after %.1f s of audio",
                             leg.tap.call.call_id, leg.speaker, state.audio_s if state else 0)
                    self.recognizers.close_stream(leg.stream)
                else:
                    leg.closed.set()
                self.legs.pop(leg.leg_id, None)
            writer.close()

    # -- results out -----------------------------------------------------------------------

    def _result(self, leg: Leg, message: dict[str, Any]) -> None:
        task = asyncio.create_task(self._handle_result(leg, message))
        leg.tap.pending.add(task)
        task.add_done_callback(leg.tap.pending.discard)

    async def _handle_result(self, leg: Leg, message: dict[str, Any]) -> None:
        tap = leg.tap
        said = str(message.get("text", ""))
        if message["kind"] == "partial":
            await self._publish("speech.partial", tap, speaker=leg.speaker, text=said,
                                at=round(leg.offset + float(message.get("end") or 0), 2))
            return
        start = round(leg.offset + float(message["start"]), 2)
        end = round(leg.offset + float(message["end"]), 2)
        await self._publish("speech.final", tap, speaker=leg.speaker, text=said, start=start,
                            end=end)
        if leg.speaker == "caller":
            tap.recent = (tap.recent + [said])[-SUGGEST_FROM:]
        try:
            suggestions, keywords = await asyncio.to_thread(
                self._store_final, tap, leg.speaker, start, end, said)
            tap.keywords = keywords  # as the queue's policy says now
        except Exception as exc:  # the database away: the captions went anyway
            log.warning("call %s: transcript segment not stored (%s)", tap.call.call_id, exc)
            suggestions = []
        for phrase in speech_store.keywords_in(tap.keywords, said):
            await self._publish("speech.keyword", tap, speaker=leg.speaker, keyword=phrase,
                                text=said, at=start)
        if suggestions:
            await self._publish("speech.suggestion", tap, articles=suggestions)

    def _store_final(self, tap: CallTap, speaker: str, start: float, end: float,
                     said: str) -> tuple[list[dict[str, Any]], list[str]]:
        """Store the segment; the articles for the caller's last words and the
        queue's alert phrases (changed during the call: the new ones count)."""
        with self.db.session() as session:
            speech_store.add_segment(session, tap.call.call_id, speaker, start, end, said)
            keywords = list(speech_store.get_policy(session, tap.call.queue).keywords or [])
            if speaker != "caller":
                return [], keywords
            return speech_store.suggest(session, " ".join(tap.recent)), keywords

    def _gap(self, leg: Leg, at: float) -> None:
        gap = {"speaker": leg.speaker, "at": round(leg.offset + at, 2)}
        leg.tap.gaps.append(gap)
        task = asyncio.create_task(self._gap_said(leg.tap, gap))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _gap_said(self, tap: CallTap, gap: dict[str, Any]) -> None:
        await self._save_status(tap.call.call_id, "incomplete", gaps=tap.gaps)
        await self._publish("speech.status", tap, status="incomplete", gap=gap)

    # -- storage and events ------------------------------------------------------------------

    def _policy(self, queue: str) -> dict[str, Any] | None:
        try:
            with self.db.session() as session:
                return speech_store.get_policy(session, queue).as_dict()
        except Exception as exc:
            log.warning("speech policy of queue %s unreadable (%s): not transcribed", queue, exc)
            return None

    def _analyse(self, call_id: str, status: str,
                 gaps: list[dict[str, Any]]) -> dict[str, Any] | None:
        try:
            with self.db.session() as session:
                found = speech_store.transcript(session, call_id)["segments"]
                result = analysis.analyse(found)
                speech_store.set_status(session, call_id, status, gaps=gaps, analysis=result)
                return result
        except Exception as exc:
            log.warning("call %s: speech analysis not stored (%s)", call_id, exc)
            return None

    async def _save_status(self, call_id: str, status: str, reason: str | None = None,
                           gaps: list[dict[str, Any]] | None = None) -> None:
        def run() -> None:
            with self.db.session() as session:
                speech_store.set_status(session, call_id, status, reason, gaps)

        try:
            await asyncio.to_thread(run)
        except Exception as exc:
            log.warning("call %s: speech status not stored (%s)", call_id, exc)

    async def _not_transcribed(self, call: CallLegs, reason: str) -> None:
        log.info("call %s not transcribed: %s", call.call_id, reason)
        await self._save_status(call.call_id, "not_transcribed", reason)
        await self._publish("speech.status", CallTap(call, 0.0, []), status="not_transcribed",
                            reason=reason)

    async def _publish(self, type: str, tap: CallTap, **data: Any) -> None:
        try:
            await self.bus.publish(type, {"call_id": tap.call.call_id,
                                          "agent_extension": tap.call.agent_extension,
                                          "queue": tap.call.queue, "sent_at": time.time(),
                                          **data})
        except Exception:
            log.exception("event %s not published", type)
