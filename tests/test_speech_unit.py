"""Speech, the parts that need no call: AudioSocket framing, the engine's
endpointing, alert phrases, the knowledge base's ranking and the transcript
search (each backend), the after-call analysis, the API's refusals."""

from __future__ import annotations

import asyncio
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from control.acd.calls import CallLegs
from control.acd.queues import create_queue
from control.db import Database
from control.errors import InvalidInput
from control.events.bus import EventBus
from control.settings import Settings
from control.speech import analysis, audiosocket, store
from control.speech.engine import END_SILENCE_S, trailing_quiet
from control.speech.seed import ARTICLES
from control.speech.tap import SpeechTap
from control.telephony.ari import AriError
from tests.conftest import ROOT
from tests.harness.api import Api, api
from tests.harness.crm import sqlite_database
from tests.harness.fake_ari import FakeAri

# -- AudioSocket framing ------------------------------------------------------------


async def test_audiosocket_frames_are_read_as_asterisk_writes_them() -> None:
    reader = asyncio.StreamReader()
    leg = bytes(range(16))
    reader.feed_data(audiosocket.encode(audiosocket.UUID, leg)
                     + audiosocket.encode(audiosocket.AUDIO, b"\x01\x00" * 160)
                     + audiosocket.encode(audiosocket.HANGUP))
    reader.feed_eof()
    kind, payload = await audiosocket.read_frame(reader)
    assert kind == audiosocket.UUID
    assert audiosocket.stream_id(payload) == "00010203-0405-0607-0809-0a0b0c0d0e0f"
    assert await audiosocket.read_frame(reader) == (audiosocket.AUDIO, b"\x01\x00" * 160)
    assert await audiosocket.read_frame(reader) == (audiosocket.HANGUP, b"")
    # Asterisk may simply close the socket: a hang-up too
    assert await audiosocket.read_frame(reader) == (audiosocket.HANGUP, b"")


# -- the engine's endpointing ----------------------------------------------------------


def test_trailing_silence_is_counted_after_the_last_loud_frame() -> None:
    tone = (3000 * np.sin(np.arange(800) / 3)).astype(np.int16)  # 0.1 s loud
    silent = np.zeros(1600, dtype=np.int16)  # 0.2 s
    quiet, loud = trailing_quiet(np.concatenate([tone, silent]), 0.0)
    assert loud and quiet == pytest.approx(0.2, abs=0.021)
    quiet, loud = trailing_quiet(silent, quiet)
    assert not loud and quiet == pytest.approx(0.4, abs=0.021)
    quiet, _ = trailing_quiet(np.concatenate([silent, silent]), quiet)
    assert quiet >= END_SILENCE_S  # the utterance is final
    # digital silence and line noise are both silence
    noise = np.random.default_rng(1).integers(-60, 60, 1600).astype(np.int16)
    assert trailing_quiet(noise, 0.0) == (pytest.approx(0.2), False)


# -- alert phrases -----------------------------------------------------------------------


def test_alert_phrases_match_whole_words_case_and_punctuation_aside() -> None:
    phrases = store.check_keywords(["Cancelar", "darme de baja", "abogado", "cancelar"])
    assert phrases == ["cancelar", "darme de baja", "abogado"]
    said = "Pues mire, quiero DARME de baja y cancelar, ¡ya!"
    assert store.keywords_in(phrases, said) == ["cancelar", "darme de baja"]
    assert store.keywords_in(phrases, "la cancelación") == []  # not a whole word
    with pytest.raises(InvalidInput):
        store.check_keywords(["   "])
    with pytest.raises(InvalidInput):
        store.check_keywords(["x" * 81])


# -- after the call -------------------------------------------------------------------------


def test_analysis_ratios_summary_and_sentiment_trend() -> None:
    segments = [
        {"speaker": "caller", "start": 0.0, "end": 4.0,
         "text": "tengo un problema con el siniestro del coche, es un desastre"},
        {"speaker": "agent", "start": 3.0, "end": 6.0, "text": "vamos a ver el siniestro"},
        {"speaker": "caller", "start": 8.0, "end": 10.0,
         "text": "perfecto, gracias, muy amable"},
    ]
    result = analysis.analyse(segments)
    ratios = result["ratios"]
    assert ratios["caller_talk"] == pytest.approx(0.6)  # 6 of 10 s
    assert ratios["agent_talk"] == pytest.approx(0.3)
    assert ratios["overtalk"] == pytest.approx(0.1)  # 3..4 s
    assert ratios["silence"] == pytest.approx(0.2)  # 6..8 s
    trend = result["sentiment"]["caller"]
    assert trend[0] is not None and trend[0] < 0 < trend[-1]  # worse, then better
    assert any("siniestro" in line for line in result["summary"])
    assert analysis.analyse([])["ratios"]["caller_talk"] == 0.0


# -- database: knowledge base, search, policies (each backend) ---------------------------


def _seed_kb(db: Database) -> dict[str, int]:
    with db.session() as session:
        return {title: store.create_article(session, title=title, body=body, tags=tags).id
                for title, body, tags in ARTICLES}


def test_kb_ranks_the_article_about_what_was_said_first(database: Database) -> None:
    ids = _seed_kb(database)
    cases = {
        "quiero darme de baja y cancelar la póliza": "Cancelar una póliza o darse de baja",
        "he tenido un accidente con el coche, necesito dar parte": (
            "Cómo dar parte de un siniestro de automóvil"),
        "¿cuánto me costaría el seguro de hogar? tengo un piso de noventa metros": (
            "Pedir un presupuesto de seguro de hogar"),
        "necesito una grúa, estoy en la autopista": "Asistencia en viaje y grúa",
    }
    with database.session() as session:
        for said, title in cases.items():
            found = store.suggest(session, said)
            assert found and found[0]["id"] == ids[title], (said, found)
            assert found[0]["score"] >= found[-1]["score"]
        assert store.suggest(session, "y de la que") == []  # only stop words


def test_transcripts_are_searchable_by_their_words(database: Database) -> None:
    with database.session() as session:
        store.add_segment(session, "call-a", "caller", 1.0, 3.0, "quiero cancelar el seguro")
        store.add_segment(session, "call-a", "agent", 3.5, 5.0, "le paso con retenciones")
        store.add_segment(session, "call-b", "caller", 0.5, 2.0, "un siniestro en casa")
    with database.session() as session:
        hits = store.search_transcripts(session, "cancelar seguro")
        assert [(h["call_id"], h["speaker"]) for h in hits] == [("call-a", "caller")]
        assert store.search_transcripts(session, "siniestro")[0]["call_id"] == "call-b"
        assert store.search_transcripts(session, "barco") == []
        # FTS syntax in user input is quoted away, never an error
        assert store.search_transcripts(session, "cancelar OR NEAR(") == []
        with pytest.raises(InvalidInput):
            store.search_transcripts(session, '" * ()')  # no word: refused, not an FTS error
        assert store.transcript(session, "call-a")["segments"][0]["text"].startswith("quiero")


async def send(a: Api, method: str, path: str, token: str,
               body: dict[str, Any]) -> tuple[int, Any]:
    return await a.call(method, path, token, json=body)


async def test_speech_api_refuses_bad_input_and_keeps_data(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        with a.db.session() as session:
            create_queue(session, name="autos")
        sup, agent = await a.token("supervisor"), await a.token("agent")
        status, body = await a.call("GET", "/api/v1/queues/autos/speech", agent)
        assert status == 200 and body["speech"] == {"queue": "autos", "transcribe": False,
                                                    "keywords": []}
        status, body = await send(a, "PUT", "/api/v1/queues/autos/speech", sup,
                                  {"transcribe": True, "keywords": ["Cancelar", "abogado"]})
        assert status == 200 and body["speech"]["keywords"] == ["cancelar", "abogado"]
        for bad, field in (({"transcribe": "yes"}, "transcribe"),
                           ({"keywords": "cancelar"}, "keywords"),
                           ({"keywords": ["  "]}, "keywords"),
                           ({"mute": True}, "mute")):
            status, body = await send(a, "PUT", "/api/v1/queues/autos/speech", sup, bad)
            assert status == 422 and body["field"] == field, (bad, body)
        status, _ = await send(a, "PUT", "/api/v1/queues/autos/speech", agent,
                               {"transcribe": False})
        assert status == 403
        status, body = await send(a, "PUT", "/api/v1/queues/nope/speech", sup,
                                  {"transcribe": True})
        assert status == 404, body
        status, body = await a.call("GET", "/api/v1/queues/autos/speech", agent)
        assert body["speech"]["transcribe"] is True  # refusals changed nothing

        status, body = await send(a, "POST", "/api/v1/kb/articles", sup,
                                  {"title": "Baja", "body": "Cómo tramitar la baja"})
        assert status == 201
        article = body["article"]["id"]
        status, body = await send(a, "POST", "/api/v1/kb/articles", sup, {"title": "x"})
        assert status == 422 and body["field"] == "body"
        status, body = await send(a, "PATCH", f"/api/v1/kb/articles/{article}", sup,
                                  {"body": "Cómo tramitar la baja de la póliza"})
        assert status == 200
        status, body = await a.call("GET", "/api/v1/kb/suggestions?text=quiero+la+baja", agent)
        assert status == 200 and body["articles"][0]["id"] == article
        status, body = await a.call("GET", "/api/v1/kb/suggestions", agent)
        assert status == 422 and body["field"] == "text"
        status, body = await a.call("GET", "/api/v1/transcripts?q=%22", sup)
        assert status == 422 and body["field"] == "q"
        status, _ = await a.call("GET", "/api/v1/transcripts?q=baja", agent)
        assert status == 403
        status, _ = await a.call("DELETE", "/api/v1/kb/articles/99999", sup)
        assert status == 404
        resp = await a.client.delete(f"/api/v1/kb/articles/{article}",
                                     headers={"Authorization": f"Bearer {sup}"})
        assert resp.status == 204
        status, body = await a.call("GET", "/api/v1/calls/nope/transcript", agent)
        assert status == 200 and body["speech"]["status"] == "not_transcribed"


# -- the tap's guards (a fake ARI: no call, no Asterisk) ---------------------------------


def _tap(tmp_path: Path, max_streams: int) -> tuple[SpeechTap, FakeAri, EventBus]:
    db = sqlite_database(tmp_path)
    with db.session() as session:
        create_queue(session, name="autos")
        create_queue(session, name="hogar")
        store.set_policy(session, "autos", transcribe=True)
    bus = EventBus()
    settings = Settings(var_dir=tmp_path, speech_model=tmp_path / "model",
                        speech_max_streams=max_streams)
    ari = FakeAri(f"{settings.stasis_app}-speech")
    tap = SpeechTap(settings, db, bus, ari.fleet())
    return tap, ari, bus


def _legs(call_id: str, queue: str) -> CallLegs:
    return CallLegs(call_id, queue, "inbound", f"caller-{call_id}", f"agent-{call_id}", "1001",
                    None)


async def test_over_capacity_a_call_is_not_transcribed_and_says_why(tmp_path: Path) -> None:
    tap, ari, bus = _tap(tmp_path, max_streams=1)  # one call needs two streams
    async with bus.subscribe() as events:
        await tap.call_connected(_legs("c1", "autos"))
        event = events.get_nowait()
    assert event.type == "speech.status" and event.data["status"] == "not_transcribed"
    assert "capacity" in event.data["reason"]
    assert ari.requests == []  # no snoop, no AudioSocket channel
    with tap.db.session() as session:
        speech = store.transcript(session, "c1")["speech"]
    assert speech["status"] == "not_transcribed" and "capacity" in speech["reason"]


async def test_queue_without_transcription_gets_no_tap(tmp_path: Path) -> None:
    tap, ari, bus = _tap(tmp_path, max_streams=10)
    async with bus.subscribe() as events:
        await tap.call_connected(_legs("c2", "hogar"))
        assert events.empty()
    assert ari.requests == [] and tap.taps == {}


async def test_a_tap_that_cannot_be_set_up_leaves_the_call_alone(tmp_path: Path) -> None:
    tap, ari, bus = _tap(tmp_path, max_streams=10)
    ari.trouble["/snoop"] = AriError(404, "Channel not found")
    async with bus.subscribe() as events:
        await tap.call_connected(_legs("c3", "autos"))
        event = events.get_nowait()
    assert event.data["status"] == "not_transcribed" and "tap" in event.data["reason"]
    # what was set up is taken down again; the call's own channels untouched
    deleted = [path for method, path, _ in ari.requests if method == "DELETE"]
    assert deleted and all("speech-" in p or p.startswith("/bridges/") for p in deleted)
    assert not any("caller-c3" in p and m == "DELETE" for m, p, _ in ari.requests)
    assert tap.taps == {}


def test_speech_benchmark_prints_its_table() -> None:
    """The benchmark runs (one short stream) and prints its row beside the
    model's memory; its figures are for reading, not asserted."""
    proc = subprocess.run([sys.executable, "-m", "bench.speech", "--streams", "1",
                           "--seconds", "4"], cwd=ROOT, capture_output=True, text=True,
                          timeout=180)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "model loaded:" in proc.stdout and "MB resident" in proc.stdout, proc.stdout
    row = re.search(r"^1 \(baseline\)\s+(?P<rtf>[\d.]+)\s+[\d.]+\s+(?P<finals>\d+)", proc.stdout,
                    re.M)
    assert row and float(row["rtf"]) > 0, proc.stdout
    assert "speech_max_streams for this node:" in proc.stdout
