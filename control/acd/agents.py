"""Agents (with their SIP identity): create, change, remove, list.

Every change is audited in the caller's transaction. Pushing it into the
running stack (PJSIP, dialplan, Kamailio's registrations) is
:func:`control.provisioning.dialplan.apply_data_change`'s job, called by the
CLI and the API after the transaction.
"""

from __future__ import annotations

import hashlib
import re
import secrets as _random
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Agent, AgentStatus, Call, CallState, QueueMember
from control.auth.audit import CLI, Actor, record
from control.errors import Conflict, InvalidInput, NotFound

EXTENSION_RE = re.compile(r"^[1-9][0-9]{1,7}$")
TAG_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2}$")
# what the agent's phones get: plain RTP, or SRTP keyed by SDES (over TLS only)
MEDIA_ENCRYPTIONS = ("none", "sdes")
# an agent in these states has a call ringing or up: it cannot be removed
BUSY = (AgentStatus.RINGING.value, AgentStatus.ON_CALL.value)


def sip_ha1(extension: str, realm: str, password: str) -> str:
    return hashlib.md5(f"{extension}:{realm}:{password}".encode()).hexdigest()


def _tags(field: str, values: list[str], pattern: re.Pattern[str]) -> list[str]:
    out: list[str] = []
    for v in values:
        v = v.strip().lower()
        if not v:
            continue
        if not pattern.match(v):
            raise InvalidInput(field, f"{v!r} is not a valid value")
        if v not in out:
            out.append(v)
    return out


def _name(name: str) -> str:
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("name", "required, at most 120 characters")
    return name


def _password(password: str) -> str:
    if len(password) < 8:
        raise InvalidInput("password", "at least 8 characters")
    if len(password) > 128:
        raise InvalidInput("password", "at most 128 characters")
    return password


def _media_encryption(value: str) -> str:
    value = value.strip().lower()
    if value not in MEDIA_ENCRYPTIONS:
        raise InvalidInput("media_encryption", f"one of {', '.join(MEDIA_ENCRYPTIONS)}")
    return value


def create_agent(
    session: Session,
    *,
    extension: str,
    name: str,
    password: str | None,
    realm: str,
    skills: list[str] | None = None,
    languages: list[str] | None = None,
    media_encryption: str = "none",
    actor: Actor = CLI,
) -> tuple[Agent, str | None]:
    """Create an agent. Returns the agent and the generated password, if one
    had to be generated (shown once, never stored in clear)."""
    if not EXTENSION_RE.match(extension):
        raise InvalidInput("extension", "2 to 8 digits, not starting with 0")
    name = _name(name)
    generated = None
    if password is None:
        password = generated = _random.token_urlsafe(12)
    _password(password)
    if session.scalar(select(Agent).where(Agent.extension == extension)):
        raise Conflict(f"extension {extension} already belongs to an agent", "extension")
    agent = Agent(
        extension=extension,
        name=name,
        skills=_tags("skills", skills or [], TAG_RE),
        languages=_tags("languages", languages or [], LANGUAGE_RE),
        sip_ha1=sip_ha1(extension, realm, password),
        media_encryption=_media_encryption(media_encryption),
    )
    session.add(agent)
    session.flush()
    record(session, actor, "create", "agents", extension, after=agent.as_dict())
    return agent, generated


def list_agents(session: Session) -> list[Agent]:
    return list(session.scalars(select(Agent).order_by(Agent.extension)))


def get_agent(session: Session, extension: str) -> Agent:
    agent = session.scalar(select(Agent).where(Agent.extension == extension))
    if agent is None:
        raise NotFound("agent", extension, "extension")
    return agent


def update_agent(
    session: Session,
    extension: str,
    *,
    realm: str,
    actor: Actor = CLI,
    name: str | None = None,
    password: str | None = None,
    skills: list[str] | None = None,
    languages: list[str] | None = None,
    media_encryption: str | None = None,
) -> tuple[Agent, bool]:
    """Change what is given (None: unchanged). A new password replaces the
    digest HA1: the old password stops working at once (Kamailio reads HA1
    from the database). Returns the agent and whether its phones must
    register again (then the caller drops its registrations, see
    apply_data_change): a new password, or a new media encryption (Kamailio
    keeps it with each registration)."""
    agent = get_agent(session, extension)
    before = agent.as_dict()
    if name is not None:
        agent.name = _name(name)
    if skills is not None:
        agent.skills = _tags("skills", skills, TAG_RE)
    if languages is not None:
        agent.languages = _tags("languages", languages, LANGUAGE_RE)
    encryption_changed = False
    if media_encryption is not None:
        new = _media_encryption(media_encryption)
        encryption_changed, agent.media_encryption = new != agent.media_encryption, new
    new_ha1 = sip_ha1(extension, realm, _password(password)) if password is not None else None
    password_changed = new_ha1 is not None and new_ha1 != agent.sip_ha1
    if new_ha1 is not None:
        agent.sip_ha1 = new_ha1
    session.flush()
    after: dict[str, Any] = agent.as_dict()
    if password_changed:
        after["sip_password"] = "changed"  # never the password, nor its HA1
    if after != before:
        record(session, actor, "update", "agents", extension, before=before, after=after)
    return agent, password_changed or encryption_changed


def delete_agent(session: Session, extension: str, *, actor: Actor = CLI,
                 live_channels: list[str] | None = None) -> dict[str, Any]:
    """Remove an agent, its queue memberships and its users' link to it.

    Refused (Conflict) while it has a call ringing or up — by its state, by
    an open call of the ACD, or by ``live_channels`` (its channels in
    Asterisk now, which also covers calls dialled straight to the extension)
    — and while a DID sends calls to it (``ext:EXTENSION``): those callers
    would reach nobody. Returns what was removed, for the caller's message."""
    from control.auth.models import User
    from control.provisioning.models import Did

    agent = get_agent(session, extension)
    if agent.status in BUSY:
        raise Conflict(f"agent {extension} is {agent.status}: remove it after the call "
                       "(a state left over from a crash: aitcomms agent status "
                       f"{extension} logged_out)", "extension")
    open_call = session.scalar(select(Call.id).where(
        Call.agent_extension == extension,
        Call.state.in_((CallState.RINGING.value, CallState.ANSWERED.value))).limit(1))
    if open_call is not None:
        raise Conflict(f"agent {extension} has call {open_call} in progress", "extension")
    if live_channels:
        raise Conflict(f"agent {extension} has a call up in Asterisk "
                       f"({', '.join(live_channels[:3])})", "extension")
    dids = list(session.scalars(select(Did.number).where(Did.target == f"ext:{extension}")))
    if dids:
        raise Conflict(f"DID {', '.join(dids)} rings agent {extension}: point it elsewhere "
                       "or remove it first", "extension")
    before = agent.as_dict()
    memberships = list(session.scalars(select(QueueMember).where(
        QueueMember.agent_id == agent.id)))
    queues = sorted(m.queue.name for m in memberships)
    for m in memberships:
        session.delete(m)
    users = list(session.scalars(select(User).where(User.agent_extension == extension)))
    for user in users:  # a new agent given this extension must not inherit them
        user_before = user.as_dict()
        user.agent_extension = None
        record(session, actor, "update", "users", user.id, before=user_before,
               after=user.as_dict())
    session.delete(agent)
    session.flush()
    record(session, actor, "delete", "agents", extension,
           before=before | {"queues": queues})
    return {"agent": before, "queues": queues, "users": [u.email for u in users]}


def live_channels(settings: Any, extension: str) -> list[str]:
    """The agent's channels in this stack's Asterisk now (none when it is not
    running): ringing or talking, through the ACD or dialled directly."""
    from control.stack.manager import Stack

    prefix = f"PJSIP/agent-{extension}-"
    return [c for c in Stack(settings).channels() if c.startswith(prefix)]
