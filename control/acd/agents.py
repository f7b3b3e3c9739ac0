"""Creating and listing agents (with their SIP identity)."""

from __future__ import annotations

import hashlib
import re
import secrets as _random

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Agent
from control.errors import Conflict, InvalidInput

EXTENSION_RE = re.compile(r"^[1-9][0-9]{1,7}$")
TAG_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
LANGUAGE_RE = re.compile(r"^[a-z]{2}$")


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


def create_agent(
    session: Session,
    *,
    extension: str,
    name: str,
    password: str | None,
    realm: str,
    skills: list[str] | None = None,
    languages: list[str] | None = None,
) -> tuple[Agent, str | None]:
    """Create an agent. Returns the agent and the generated password, if one
    had to be generated (shown once, never stored in clear)."""
    if not EXTENSION_RE.match(extension):
        raise InvalidInput("extension", "2 to 8 digits, not starting with 0")
    name = name.strip()
    if not name or len(name) > 120:
        raise InvalidInput("name", "required, at most 120 characters")
    generated = None
    if password is None:
        password = generated = _random.token_urlsafe(12)
    if len(password) < 8:
        raise InvalidInput("password", "at least 8 characters")
    if session.scalar(select(Agent).where(Agent.extension == extension)):
        raise Conflict(f"extension {extension} already belongs to an agent")
    agent = Agent(
        extension=extension,
        name=name,
        skills=_tags("skills", skills or [], TAG_RE),
        languages=_tags("languages", languages or [], LANGUAGE_RE),
        sip_ha1=sip_ha1(extension, realm, password),
    )
    session.add(agent)
    session.flush()
    return agent, generated


def list_agents(session: Session) -> list[Agent]:
    return list(session.scalars(select(Agent).order_by(Agent.extension)))
