"""The demo of a new install (``aitcomms db seed --demo``, run by ``make run``):
queues, two agents with their logins, and a number routed to the insurance
IVR, so that a newcomer can sign in as an agent and take a call at once.

Only on an install that has no agent, queue or number yet: the demo never
touches a configured contact center (a second run says so and does
nothing). No default password: the agents' logins and SIP passwords are
generated and returned to be printed once, as for the first admin. Every
row is written through the same audited services as the CLI and the API.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.agents import create_agent
from control.acd.models import Agent, Queue
from control.acd.queues import create_queue, set_member
from control.auth.audit import Actor
from control.auth.models import Role
from control.auth.users import add_user
from control.ivr.flows import Flow
from control.provisioning.models import Did
from control.provisioning.trunks import create_did

DEMO_DID = "+34910000001"
DEMO_IVR = "seguros"
# the insurance IVR hands callers to these (dialplans/ivr/seguros.yaml):
# 1 autos, 2 hogar, nothing pressed or 0: operador
DEMO_QUEUES: tuple[tuple[str, list[str]], ...] = (
    ("autos", ["auto"]), ("hogar", ["home"]), ("operador", []))
DEMO_AGENTS = (("1001", "Ana García", "ana@aitcomms.local"),
               ("1002", "Luis Pérez", "luis@aitcomms.local"))


@dataclass
class DemoAccount:
    extension: str
    name: str
    email: str
    password: str  # the login's, generated
    sip_password: str  # for a desk phone; the browser does not need it


@dataclass
class Demo:
    accounts: list[DemoAccount] = field(default_factory=list)
    queues: list[str] = field(default_factory=list)
    did: str = DEMO_DID
    ivr: str = DEMO_IVR


def already_configured(session: Session) -> bool:
    return any(session.scalar(select(model.id).limit(1)) is not None
               for model in (Agent, Queue, Did))


def seed_demo(session: Session, *, actor: Actor, realm: str, ivrs: list[Flow]) -> Demo | None:
    """The demo, or None when this install already has agents, queues or numbers."""
    if already_configured(session):
        return None
    demo = Demo()
    for extension, name, email in DEMO_AGENTS:
        sip_password = secrets.token_urlsafe(12)
        create_agent(session, extension=extension, name=name, password=sip_password,
                     realm=realm, skills=["auto", "home"], languages=["es", "en"],
                     actor=actor)
        user, password = add_user(session, actor=actor, email=email, role=Role.AGENT.value,
                                  agent_extension=extension)
        assert password is not None  # none given: generated
        demo.accounts.append(DemoAccount(extension, name, user.email, password,
                                         sip_password))
    for name, skills in DEMO_QUEUES:
        create_queue(session, name=name, skills=skills, actor=actor)
        for extension, _, _ in DEMO_AGENTS:
            set_member(session, name, extension, actor=actor)
        demo.queues.append(name)
    create_did(session, number=DEMO_DID, target=f"ivr:{DEMO_IVR}", ivrs=ivrs, actor=actor)
    return demo
