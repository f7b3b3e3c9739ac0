"""Trunks and DIDs: validation, storage and audit. Applying them is the
stack's job (:func:`control.provisioning.dialplan.apply_data_change`)."""

from __future__ import annotations

import ipaddress
import re
import socket

import phonenumbers
from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Agent, Queue
from control.auth.audit import CLI, Actor, record
from control.errors import Conflict, InvalidInput, NotFound
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
    except (socket.gaierror, UnicodeError) as exc:
        raise InvalidInput("host", f"cannot resolve {host!r}: "
                           f"{getattr(exc, 'strerror', None) or exc}") from exc
    return str(infos[0][4][0])


def create_trunk(session: Session, *, name: str, host: str, port: int,
                 actor: Actor = CLI) -> Trunk:
    if not NAME_RE.match(name):
        raise InvalidInput("name", "lowercase letters, digits, - and _ (at most 64)")
    if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
        raise InvalidInput("port", "must be between 1 and 65535")
    host = host.strip()
    if not host or len(host) > 255:
        raise InvalidInput("host", "an IP address or a DNS name, at most 255 characters")
    if session.scalar(select(Trunk).where(Trunk.name == name)):
        raise Conflict(f"a trunk named {name} already exists", "name")
    address = resolve_host(host)
    if session.scalar(select(Trunk).where(Trunk.address == address)):
        raise Conflict(f"another trunk already has address {address}", "host")
    trunk = Trunk(name=name, host=host, address=address, port=port)
    session.add(trunk)
    session.flush()
    record(session, actor, "create", "trunks", name, after=trunk.as_dict())
    return trunk


def list_trunks(session: Session) -> list[Trunk]:
    return list(session.scalars(select(Trunk).order_by(Trunk.name)))


def delete_trunk(session: Session, name: str, *, actor: Actor = CLI) -> Trunk:
    """Calls from its address are no longer trusted once applied (Kamailio
    challenges them like any stranger); calls already up stay up."""
    trunk = session.scalar(select(Trunk).where(Trunk.name == name))
    if trunk is None:
        raise NotFound("trunk", name, "name")
    before = trunk.as_dict()
    session.delete(trunk)
    session.flush()
    record(session, actor, "delete", "trunks", name, before=before)
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


def check_target(session: Session, target: str, ivrs: list[Flow]) -> str:
    """ext:EXTENSION, queue:NAME or ivr:NAME that exists now."""
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
    return f"{kind}:{name}"


def create_did(session: Session, *, number: str, target: str, ivrs: list[Flow],
               actor: Actor = CLI) -> Did:
    e164 = normalise_did(number)
    target = check_target(session, target, ivrs)
    if session.scalar(select(Did).where(Did.number == e164)):
        raise Conflict(f"DID {e164} is already routed", "number")
    did = Did(number=e164, target=target)
    session.add(did)
    session.flush()
    record(session, actor, "create", "dids", e164, after=did.as_dict())
    return did


def list_dids(session: Session) -> list[Did]:
    return list(session.scalars(select(Did).order_by(Did.number)))


def get_did(session: Session, number: str) -> Did:
    e164 = normalise_did(number)
    did = session.scalar(select(Did).where(Did.number == e164))
    if did is None:
        raise NotFound("DID", e164, "number")
    return did


def update_did(session: Session, number: str, *, target: str, ivrs: list[Flow],
               actor: Actor = CLI) -> Did:
    did = get_did(session, number)
    before = did.as_dict()
    did.target = check_target(session, target, ivrs)
    session.flush()
    if did.as_dict() != before:
        record(session, actor, "update", "dids", did.number, before=before,
               after=did.as_dict())
    return did


def delete_did(session: Session, number: str, *, actor: Actor = CLI) -> Did:
    """Calls to it then hear "no service"; calls already up stay up."""
    did = get_did(session, number)
    before = did.as_dict()
    session.delete(did)
    session.flush()
    record(session, actor, "delete", "dids", did.number, before=before)
    return did
