"""Spike: what one media node does with two Stasis websockets of the SAME app
name (two control planes both connected as "aitcomms"), and with two
distinct names. One call is placed into queue:spike (Stasis(aitcomms,queue,...))
while both listen; prints who got its StasisStart.

    .venv/bin/python docs/scale-out/ari_twice.py   (node 1 and Kamailio must be up:
                                                    measure.py starts them; see spike.sh)
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import subprocess
import sys
from pathlib import Path

import aiohttp

HERE = Path(__file__).resolve().parent
SPIKE = Path(os.environ.get("SPIKE", "/tmp/aitcomms-scale-spike"))
ARI = "http://127.0.0.1:33088"


def password() -> str:
    for line in (SPIKE / "n1/secrets.env").read_text().splitlines():
        if line.startswith("ARI_PASSWORD="):
            return line.split("=", 1)[1].strip().strip("'\"")
    raise SystemExit("no ARI password")


async def listen(session: aiohttp.ClientSession, name: str, app: str,
                 got: dict[str, list[str]], ready: asyncio.Event) -> None:
    async with session.ws_connect(f"{ARI.replace('http', 'ws')}/ari/events",
                                  params={"app": app, "subscribeAll": "false"}) as ws:
        ready.set()
        async for msg in ws:
            event = json.loads(msg.data)
            if event["type"] == "StasisStart":
                got[name].append(event["channel"]["id"])
                # hand it back to the dialplan (app_queue fallback) at once
                async with session.post(f"{ARI}/ari/channels/{event['channel']['id']}/continue"):
                    pass


async def trial(apps: tuple[str, str], stagger: float) -> None:
    token = base64.b64encode(f"aitcomms:{password()}".encode()).decode()
    got: dict[str, list[str]] = {"first": [], "second": []}
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session:
        r1, r2 = asyncio.Event(), asyncio.Event()
        t1 = asyncio.create_task(listen(session, "first", apps[0], got, r1))
        await r1.wait()
        await asyncio.sleep(stagger)
        t2 = asyncio.create_task(listen(session, "second", apps[1], got, r2))
        await r2.wait()
        await asyncio.sleep(0.5)
        async with session.get(f"{ARI}/ari/applications") as resp:
            registered = [a["name"] for a in await resp.json()]
        sipp = await asyncio.create_subprocess_exec(
            "sipp", "127.0.0.1:30060", "-sf", str(HERE / "caller.xml"), "-i", "127.0.0.40",
            "-mi", "127.0.0.40", "-mp", "46500", "-p", "5064", "-s", "+34910005000", "-m", "2",
            "-r", "10", "-d", "1500", "-nostdin", "-timeout", "20s",
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        await sipp.wait()
        for t in (t1, t2):
            t.cancel()
        await asyncio.gather(t1, t2, return_exceptions=True)
    print(f"apps {apps}: registered {registered}; StasisStart of 2 calls -> "
          f"first websocket {len(got['first'])}, second {len(got['second'])}")


async def main() -> None:
    await trial(("aitcomms", "aitcomms"), 0.5)
    await trial(("aitcomms", "aitcomms-b"), 0.5)


if __name__ == "__main__" and "takeover" not in sys.argv:
    sys.exit(asyncio.run(main()))


async def takeover() -> None:
    """Control plane A (app aitcomms) holds a caller in Stasis and dies (its
    websocket closes); B (app aitcomms-b) takes the caller over with
    POST /channels/{id}/move?app=aitcomms-b. Does B get it, and can B drive it?"""
    token = base64.b64encode(f"aitcomms:{password()}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as session:
        a_got: list[str] = []
        b_events: list[str] = []
        a = await session.ws_connect(f"{ARI.replace('http', 'ws')}/ari/events",
                                     params={"app": "aitcomms", "subscribeAll": "false"})
        b = await session.ws_connect(f"{ARI.replace('http', 'ws')}/ari/events",
                                     params={"app": "aitcomms-b", "subscribeAll": "false"})
        sipp = await asyncio.create_subprocess_exec(
            "sipp", "127.0.0.1:30060", "-sf", str(HERE / "caller.xml"), "-i", "127.0.0.40",
            "-mi", "127.0.0.40", "-mp", "46500", "-p", "5064", "-s", "+34910005000", "-m", "1",
            "-d", "8000", "-nostdin", "-timeout", "30s",
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        async for msg in a:  # A: the caller arrives, hears music
            event = json.loads(msg.data)
            if event["type"] == "StasisStart":
                chan = event["channel"]["id"]
                a_got.append(chan)
                await session.post(f"{ARI}/ari/channels/{chan}/answer")
                await session.post(f"{ARI}/ari/channels/{chan}/moh")
                break
        await a.close()  # A dies
        await asyncio.sleep(0.5)
        async with session.get(f"{ARI}/ari/channels/{a_got[0]}") as resp:
            body = await resp.json() if resp.status == 200 else {}
            state = (body.get("state"), body.get("dialplan")) if body else resp.status
        async with session.post(f"{ARI}/ari/channels/{a_got[0]}/move",
                                params={"app": "aitcomms-b", "appArgs": "queue,spike"}) as resp:
            moved = resp.status, (await resp.text())[:120]

        async def read_b() -> None:
            async for msg in b:
                event = json.loads(msg.data)
                b_events.append(event["type"])
                if event["type"] == "StasisStart":
                    async with session.delete(f"{ARI}/ari/channels/{a_got[0]}/moh") as r1, \
                            session.post(f"{ARI}/ari/channels/{a_got[0]}/play",
                                         params={"media": "sound:beep"}) as r2:
                        b_events.append(f"B moh-off {r1.status} play {r2.status}")
        try:
            await asyncio.wait_for(read_b(), 3)
        except TimeoutError:
            pass
        await b.close()
        await sipp.wait()
    print(f"takeover: A had {a_got}; after A's websocket closed the caller was {state}; "
          f"move to aitcomms-b -> {moved}; B saw {b_events[:6]}; caller's SIPp exit "
          f"{sipp.returncode} (0: the call lasted its 8 s and hung up cleanly)")


if __name__ == "__main__" and "takeover" in sys.argv:
    asyncio.run(takeover())
