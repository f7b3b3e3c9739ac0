"""The admin page's media nodes in Chromium against the session's real stack
(its control plane serves the UI; Kamailio's dispatcher and its probes are
real): the stack's own Asterisk is listed as Kamailio sees it, a second node
(a SIP stand-in answering OPTIONS, tests/harness/sip_node.py) is added and
seen probed up, drained (Kamailio disables it: flags DX), drained no more,
then removed; removing the stack's own node is refused with the API's
reason. Every change is an audit row of the admin who made it."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from control.auth.models import AuditEntry
from control.db import Database
from tests.conftest import StackUnderTest
from tests.harness.ports import sip_port
from tests.harness.sip_node import FakeNode
from tests.test_admin_api import admin_token, last_id
from tests.test_media_nodes import dispatcher_flags

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = Path(os.environ.get("AITCOMMS_CHROMIUM", "/usr/bin/chromium"))
ADMIN_EMAIL, ADMIN_PASSWORD = "it-ops@example.com", "it-ops-pass-1"  # admin_token's admin

pytestmark = [pytest.mark.stack, pytest.mark.skipif(
    not CHROMIUM.exists() or shutil.which("node") is None
    or not (ROOT / "web" / "dist" / "index.html").exists()
    or not (ROOT / "web" / "node_modules" / "playwright-core").exists(),
    reason="needs /usr/bin/chromium, node and the built web/ (make setup)")]


async def test_admin_adds_drains_and_removes_a_media_node_in_the_browser(
        clean_stack: StackUnderTest) -> None:
    stack = clean_stack
    admin_token(stack)  # the admin exists
    local = f"sip:127.0.0.1:{stack.port('asterisk_sip')}"
    audited_after = last_id(stack, "audit_log")
    with FakeNode("127.0.0.1", sip_port()) as node:
        env = {**os.environ, "BASE_URL": f"http://127.0.0.1:{stack.port('http')}",
               "ADMIN_EMAIL": ADMIN_EMAIL, "PASSWORD": ADMIN_PASSWORD,
               "NODE_PORT": str(node.port), "CHROMIUM": str(CHROMIUM),
               "NODE_PATH": str(ROOT / "web" / "node_modules")}
        proc = await asyncio.create_subprocess_exec(
            "node", str(ROOT / "tests" / "browser" / "nodes.mjs"), env=env,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await asyncio.wait_for(proc.communicate(), 150)
        pinged = node.received["OPTIONS"]
    log = out.decode() + err.decode()
    assert proc.returncode == 0, log
    assert "Content Security Policy violation" not in log, log
    steps = {line.split(" ", 2)[1]: json.loads(line.split(" ", 2)[2])
             for line in out.decode().splitlines() if line.startswith("STEP ")}

    # the stack's own Asterisk, as the database and the running edge have it
    assert steps["local"]["cells"][:4] == ["local", local, "1", "active"], steps["local"]
    assert steps["local"]["cells"][4].startswith("answers (AP)"), steps["local"]
    assert steps["local"]["cells"][5] == "connected", steps["local"]  # the router's ARI
    # added, then probed up by Kamailio's OPTIONS (the stand-in counted them)
    assert steps["created"]["result"] == "ok" and node.uri in steps["created"]["text"]
    assert steps["probed"]["cells"][:4] == ["media2", node.uri, "2", "active"]
    assert steps["probed"]["cells"][4].startswith("answers (AP)"), steps["probed"]
    assert steps["probed"]["cells"][5] == "not driven", steps["probed"]  # run elsewhere
    assert pinged > 0
    # a drain disables it in Kamailio (DX), kept in the database; then undone
    assert steps["drained"]["result"] == "ok", steps["drained"]
    assert steps["drained"]["cells"][3] == "draining"
    assert "(DX)" in steps["drained"]["cells"][4], steps["drained"]
    assert steps["undrained"]["result"] == "ok" and steps["undrained"]["cells"][3] == "active"
    # the stack's own node cannot go: the API's reason, by field, on the page
    refused = steps["local_refused"]
    assert refused["result"] == "error" and refused["text"].startswith("name: "), refused
    assert refused["still_listed"] == 1
    assert steps["removed"]["result"] == "ok" and steps["removed"]["rows"] == ["local"]
    assert dispatcher_flags(stack) == {local: "AP"}

    db = Database(stack.settings)
    with db.session() as s:
        rows = [(e.action, e.actor) for e in s.scalars(
            select(AuditEntry).where(AuditEntry.entity == "media_nodes",
                                     AuditEntry.id > audited_after).order_by(AuditEntry.id))]
    db.dispose()
    assert rows == [("create", ADMIN_EMAIL), ("update", ADMIN_EMAIL), ("update", ADMIN_EMAIL),
                    ("delete", ADMIN_EMAIL)], rows
