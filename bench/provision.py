"""Provision the ACD benchmark's stack in one go: a trunk, N available agents,
one queue holding them all and a DID routed to it, then one render and reload.

The CLI applies (re-renders, reloads PJSIP, the dialplan and Kamailio) after
every command: 150 agents took minutes that way. This uses the same functions
as the CLI, in one transaction, and applies once. It runs in the stack's own
environment (AITCOMMS_VAR, ports): bench.acd starts it as a subprocess.

Usage: python -m bench.provision JSON   (keys: see ``provision``)
"""

from __future__ import annotations

import json
import sys
from typing import Any


def provision(spec: dict[str, Any]) -> None:
    """spec: trunk_host, extensions (list), password_prefix, queue (name and
    queue settings), did."""
    from control.acd.agents import create_agent
    from control.acd.models import AgentStatus
    from control.acd.queues import create_queue, set_member
    from control.acd.store import AcdStore
    from control.db import Database
    from control.ivr.flows import dialplans_dir, load_flows
    from control.provisioning.dialplan import apply_data_change
    from control.provisioning.trunks import create_did, create_trunk
    from control.settings import get_settings

    settings = get_settings()
    db = Database(settings)
    exts: list[str] = spec["extensions"]
    q = spec["queue"]
    with db.session() as session:
        create_trunk(session, name="bench", host=spec["trunk_host"], port=5060)
        for ext in exts:
            create_agent(session, extension=ext, name=f"Bench {ext}",
                         password=f"{spec['password_prefix']}{ext}", realm=settings.sip_domain)
        create_queue(session, name=q["name"], wrapup_s=q["wrapup_s"],
                     ring_timeout_s=q["ring_timeout_s"], max_misses=q["max_misses"],
                     max_wait_s=q["max_wait_s"], record=False)
        for ext in exts:
            set_member(session, q["name"], ext)
        create_did(session, number=spec["did"], target=f"queue:{q['name']}",
                   ivrs=load_flows(dialplans_dir(settings.root) / "ivr"))
    store = AcdStore(db)
    for ext in exts:
        store.set_agent_status(ext, AgentStatus.AVAILABLE, None, 0)
    apply_data_change(settings, db)


if __name__ == "__main__":
    provision(json.loads(sys.argv[1]))
