"""The staffing and quality UI in Chromium against the real control plane
(the API app without Asterisk, on a real port): the wallboard shows a
queue's forecast from seeded history beside its agents logged in and an
alert raised live by the alert watch (an agent of the queue paused for 20
minutes); the Quality page makes a form and scores a call (the review row
is written); the agent sees that review."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from control.acd import queues as queue_admin
from control.acd.models import Call
from control.auth.audit import CLI
from tests.harness.api import PASSWORD, USERS, api
from tests.test_auth_api import cheap_hashes  # noqa: F401  (autouse fixture)
from tests.test_staffing import _seed_history

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("AITCOMMS_CHROMIUM", "/usr/bin/chromium"))

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which("node") is None
    or not (ROOT / "web" / "dist" / "index.html").exists()
    or not (ROOT / "web" / "node_modules" / "playwright-core").exists(),
    reason="needs /usr/bin/chromium, node and the built web/ (make setup)")


async def test_wallboard_forecast_alert_and_a_review_in_the_browser(tmp_path: Path) -> None:
    async with api(tmp_path) as a:
        tomorrow = datetime.now(UTC).date() + timedelta(days=1)
        _seed_history(a.db, tomorrow)
        now = datetime.now(UTC)
        with a.db.session() as s:
            queue_admin.set_member(s, "autos", "1001", actor=CLI)
            s.add(Call(id="call-ana-1", caller_channel="x", queue="autos", state="completed",
                       agent_extension="1001", entered_at=now - timedelta(minutes=6),
                       answered_at=now - timedelta(minutes=5), ended_at=now))
            # paused 20 minutes ago: past the queue's default 15 min threshold
            s.execute(text("UPDATE agents SET status = 'paused', pause_reason = 'training', "
                           "status_since = :at WHERE extension = '1001'"),
                      {"at": now - timedelta(minutes=20)})
        env = {**os.environ, "BASE_URL": str(a.client.make_url("")).rstrip("/"),
               "SUP_EMAIL": USERS["supervisor"], "AGENT_EMAIL": USERS["agent"],
               "PASSWORD": PASSWORD, "CALL_ID": "call-ana-1", "CHROMIUM": str(CHROMIUM),
               "NODE_PATH": str(ROOT / "web" / "node_modules")}
        proc = await asyncio.create_subprocess_exec(
            "node", str(ROOT / "tests" / "browser" / "staffing.mjs"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 120)
        log = out.decode() + err.decode()
        assert proc.returncode == 0, log
        assert "Content Security Policy violation" not in log, log
        steps = {line.split(" ", 2)[1]: json.loads(line.split(" ", 2)[2])
                 for line in out.decode().splitlines() if line.startswith("STEP ")}
        with a.db.engine.connect() as conn:
            reviews = [dict(r._mapping) for r in conn.execute(text(
                "SELECT call_id, agent_extension, score, reviewer FROM quality_reviews"))]
    # the forecast: 20 calls expected from 09:00 (10 and 30 on the last two
    # Tuesdays), and the queue's one agent shown as paused, i.e. logged in
    nine = [r for r in steps["forecast"]["rows"] if "T09:00:00" in r["start"]]
    assert nine and nine[0]["cells"][1] == "20", steps["forecast"]
    assert steps["forecast"]["logged_in"] == "1"
    assert steps["alert"]["id"] == "agent_paused_long:autos:1001"
    assert "1001" in steps["alert"]["text"]
    # the player points at the call's recording; the review is written:
    # (no greeting, needs 5 of 5 weighted 3) = 3 / 4 = 75
    assert steps["scored"]["audio_src"].startswith("/api/v1/calls/call-ana-1/recording?token=")
    assert reviews == [{"call_id": "call-ana-1", "agent_extension": "1001", "score": 75.0,
                        "reviewer": USERS["supervisor"]}]
    assert "75" in steps["scored"]["message"]
    assert len(steps["agent"]["reviews"]) == 1 and "call-ana-1" in steps["agent"]["reviews"][0]
