"""Acceptance, in Chromium: a newcomer's first call on a new install, timed,
and an admin making an agent with its login on the admin page.

From nothing (a new var folder: no database, no secrets) the test does what
``make run`` does, ``aitcomms up`` then ``aitcomms db seed --demo``, and reads
the passwords they print once (the first admin's, the demo agents'). The
demo agent signs in to the desk in Chromium (the softphone registers over
WSS), goes Available; the admin presses the admin page's Test call button
for the demo queue; the built-in caller's call rings on the desk, the agent
answers, RTP flows both ways (counted by Asterisk on the browser's channel
and by the browser). The time from the first command to the answer is
printed. Then the admin creates an agent with its login in one step on the
admin page; that agent signs in with the password the page showed once and
its softphone registers (Kamailio's location table holds it). axe-core
checks the login, desk, wallboard and admin pages on the way: no serious or
critical violation.

Same set-up as tests/test_web_browser.py: the stack and Chromium in a
network namespace whose only interface is ``lo``.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from sqlalchemy import select

from control.acd.models import Call
from control.db import Database
from tests.conftest import ROOT, TEST_PORTS, StackUnderTest
from tests.harness.ami import Ami
from tests.harness.wait import wait_until
from tests.test_first_call import demo_accounts
from tests.test_web_browser import CHROMIUM, Browser, loopback_namespace, rtp_counts
from tests.test_web_browser import pytestmark as browser_needs

pytestmark = browser_needs
SCRIPT = ROOT / "tests" / "browser" / "first_call.mjs"
AXE = ROOT / "web" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "test-artifacts" / "browser-first-call"
NEW_AGENT = {"extension": "3101", "name": "Nueva Agente", "user_email": "nueva@aitcomms.local"}
SERIOUS = ("serious", "critical")


def serious(audits: list[dict[str, Any]]) -> list[str]:
    return [f"{a['page']}: {v['id']} ({v['impact']}) {v['help']} at {v['nodes']}"
            for a in audits for v in a["violations"] if v["impact"] in SERIOUS]


async def test_first_call_on_a_new_install_and_an_agent_made_with_its_login() -> None:
    with loopback_namespace():
        var_dir = Path(tempfile.mkdtemp(prefix="aitcomms-first-"))
        env = {**os.environ, "AITCOMMS_VAR": str(var_dir)}
        env.update({f"AITCOMMS_PORT_{k}": str(v) for k, v in TEST_PORTS.items()})
        env.pop("DATABASE_URL", None)
        env.pop("REDIS_URL", None)
        stack = StackUnderTest(env=env, var_dir=var_dir)
        try:
            await _first_call(stack)
        finally:
            stack.aitcomms("down", check=False)
            logs = ARTIFACTS / "logs"
            logs.mkdir(parents=True, exist_ok=True)
            for log in (var_dir / "log").glob("*.log"):
                shutil.copy(log, logs / log.name)
            shutil.rmtree(var_dir, ignore_errors=True)


async def _first_call(stack: StackUnderTest) -> None:
    began = time.time()  # `make run` from here: a new install's database and secrets
    up = stack.aitcomms("up")
    admin = re.search(r"First admin: (\S+), password \(shown once\): (\S+)", up.stdout)
    assert admin, up.stdout
    seeded = stack.aitcomms("db", "seed", "--demo").stdout
    set_up_s = time.time() - began
    accounts = demo_accounts(seeded)
    assert "1001" in accounts, seeded
    demo_agent = accounts["1001"]

    shutil.rmtree(ARTIFACTS, ignore_errors=True)
    ARTIFACTS.mkdir(parents=True)
    stderr_file = ARTIFACTS / "browser.log"
    browser_env = {**os.environ, "BASE_URL": f"http://127.0.0.1:{stack.port('http')}",
                   "ARTIFACTS": str(ARTIFACTS), "AXE": str(AXE), "CHROMIUM": str(CHROMIUM),
                   "DEMO_EMAIL": demo_agent["email"], "DEMO_PASSWORD": demo_agent["password"],
                   "ADMIN_EMAIL": admin[1], "ADMIN_PASSWORD": admin[2],
                   "TEST_CALL_TO": "queue:operador", "NEW_AGENT": json.dumps(NEW_AGENT)}
    with stderr_file.open("wb") as err:
        proc = await asyncio.create_subprocess_exec(
            "node", str(SCRIPT), env=browser_env, cwd=ROOT / "web",
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=err)
    browser = Browser(proc, stderr_file)
    db = Database(stack.settings)
    try:
        await browser.step("ready", 90)
        placed = await browser.step("placed", 30)
        answered = await browser.step("answered", 90)
        answered_s = answered["answeredAt"] / 1000 - began
        async with Ami(stack.port("ami"), stack.secret("AMI_PASSWORD")) as ami:
            chans = [c["Channel"] for c in await ami.channels()
                     if c["Channel"].startswith("PJSIP/agent-1001-")]
            assert len(chans) == 1, chans
            rx1, tx1 = await rtp_counts(ami, chans[0])
            await asyncio.sleep(2)
            rx2, tx2 = await rtp_counts(ami, chans[0])
        rang_s = (answered["ringingAt"] - answered["placedAt"]) / 1000
        print(f"\nfirst call: set-up (up + seed --demo) {set_up_s:.1f} s; test call placed "
              f"{placed['message']!r}; rang {rang_s:.1f} s after the button; "
              f"answered {answered_s:.1f} s after the first command. "
              f"Browser channel {chans[0]}: Asterisk rx {rx2 - rx1}, tx {tx2 - tx1} packets "
              f"in 2 s; browser {answered['rtp']}")
        # 2 s of 20 ms packets is 100 per direction: ask for most of them
        assert rx2 - rx1 >= 60, ("Asterisk receives nothing from the browser", rx1, rx2)
        assert tx2 - tx1 >= 60, ("Asterisk sends nothing to the browser", tx1, tx2)
        assert answered["rtp"]["received"] > 0 and answered["rtp"]["sent"] > 0, answered
        with db.session() as s:
            call = s.scalar(select(Call).where(Call.agent_extension == "1001"))
            assert call is not None and call.queue == "operador", call
            assert call.answered_at is not None and call.caller_number == "+34612345678"
        await browser.go()

        made = await browser.step("agent-made", 60)
        assert NEW_AGENT["user_email"] in made["users"], made
        await browser.step("new-registered", 60)
        location = await wait_until(
            lambda: "AoR: " + NEW_AGENT["extension"] in stack.kamcmd(
                "ul.lookup", "location", NEW_AGENT["extension"]), timeout=10)
        assert location, stack.kamcmd("ul.dump")
        await browser.go()
        audits = (await browser.step("axe", 30))["audits"]
        assert await asyncio.wait_for(proc.wait(), 20) == 0
        for a in audits:
            print(f"axe {a['page']}: " + (", ".join(f"{v['id']} ({v['impact']})"
                                                    for v in a["violations"]) or "none"))
        assert {a["page"] for a in audits} == {"login", "desk", "desk on a call", "admin",
                                               "wallboard"}, audits
        assert not serious(audits), "\n".join(serious(audits))
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        db.dispose()
