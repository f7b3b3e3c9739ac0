"""Trunks and DIDs: validation and storage. Applying them is the stack's job."""

from __future__ import annotations

import ipaddress
import re
import socket

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Agent, Queue
from control.errors import Conflict, InvalidInput
from control.ivr.flows import Flow
from control.provisioning.models import Did, Trunk
from control.provisioning.targets import TargetError, parse_target

NAME_RE = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")


def resolve_host(host: str) -> str:
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        pass
    try:
        infos = socket.getaddrinfo(host, None, socket.AF_INET)
    except socket.gaierror as exc:
        raise InvalidInput("host", f"cannot resolve {host!r}: {exc.strerror}") from exc
    return str(infos[0][4][0])


def create_trunk(session: Session, *, name: str, host: str, port: int) -> Trunk:
    if not NAME_RE.match(name):
        raise InvalidInput("name", "lowercase letters, digits, - and _ (at most 64)")
    if not 1 <= port <= 65535:
        raise InvalidInput("port", "must be between 1 and 65535")
    address = resolve_host(host)
    if session.scalar(select(Trunk).where(Trunk.name == name)):
        raise Conflict(f"a trunk named {name} already exists")
    if session.scalar(select(Trunk).where(Trunk.address == address)):
        raise Conflict(f"another trunk already has address {address}")
    trunk = Trunk(name=name, host=host, address=address, port=port)
    session.add(trunk)
    session.flush()
    return trunk


def normalise_did(number: str) -> str:
    """An incoming number in E.164 (+34910000001); refuses what is not one."""
    try:
        parsed = phonenumbers.parse(number, None)
    except phonenumbers.NumberParseException as exc:
        raise InvalidInput(
            "number", f"{number!r} is not an E.164 number (+ and country code): {exc}"
        ) from exc
    if not phonenumbers.is_possible_number(parsed):
        raise InvalidInput("number", f"{number!r} is not a possible phone number")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def create_did(session: Session, *, number: str, target: str, ivrs: list[Flow]) -> Did:
    e164 = normalise_did(number)
    try:
        kind, name = parse_target(target)
    except TargetError as exc:
        raise InvalidInput("target", str(exc)) from exc
    if kind == "ext" and not session.scalar(select(Agent).where(Agent.extension == name)):
        raise InvalidInput("target", f"no agent with extension {name}")
    if kind == "ivr" and name not in {f.name for f in ivrs}:
        raise InvalidInput("target", f"no IVR named {name} in dialplans/ivr/")
    if kind == "queue" and not session.scalar(select(Queue).where(Queue.name == name)):
        raise InvalidInput("target", f"no queue named {name}")
    if session.scalar(select(Did).where(Did.number == e164)):
        raise Conflict(f"DID {e164} is already routed")
    did = Did(number=e164, target=f"{kind}:{name}")
    session.add(did)
    session.flush()
    return did
