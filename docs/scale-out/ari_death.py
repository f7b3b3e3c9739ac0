"""Spike: how soon a control plane's ARI websocket to a media node notices
`kill -9` of that node (vs Kamailio's OPTIONS probing). Starts node 2, connects,
kills it, prints the delay, stops what it started.

    .venv/bin/python docs/scale-out/ari_death.py
"""

from __future__ import annotations

import asyncio
import base64
import signal
import sys
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import measure as m  # noqa: E402


async def main() -> None:
    m.start_node(2)
    pw = next(line.split("=", 1)[1].strip().strip("'\"")
              for line in (m.SPIKE / "n2/secrets.env").read_text().splitlines()
              if line.startswith("ARI_PASSWORD="))
    token = base64.b64encode(f"aitcomms:{pw}".encode()).decode()
    async with aiohttp.ClientSession(headers={"Authorization": f"Basic {token}"}) as s:
        for _ in range(50):  # ARI answers a moment after the SIP port is bound
            try:
                ws = await s.ws_connect("ws://127.0.0.1:33588/ari/events",
                                        params={"app": "aitcomms"}, heartbeat=10)
                break
            except aiohttp.ClientError:
                await asyncio.sleep(0.2)
        await asyncio.sleep(0.5)
        killed = time.monotonic()
        m.stop_node(2, signal.SIGKILL)
        msg = await ws.receive()
        print(f"kill -9 -> websocket {msg.type.name} after {time.monotonic() - killed:.3f} s")
        try:
            await s.get("http://127.0.0.1:33588/ari/asterisk/info",
                        timeout=aiohttp.ClientTimeout(total=2))
        except aiohttp.ClientError as exc:
            print(f"the next REST request fails at once: {type(exc).__name__}")


asyncio.run(main())
