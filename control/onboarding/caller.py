"""The built-in test caller: a real call into any number of this contact
center without a phone (``aitcomms call test --to``, the admin page's
button).

Asterisk originates a Local channel: its second half enters the dialplan
where a call to the number would (a DID from the trunk, an agent's
extension, a queue, an IVR), so the call takes the real path, ACD and screen
pop included; its first half is the caller, in ``[aitcomms-test-caller]``
(dialplans/extensions.conf.j2), which says a prompt again and again for
about a minute and hangs up. The caller's number is a seeded customer's by
default, so the agent sees a screen pop.

Originated through AMI, not ARI: the CLI must place it too, and a second
ARI websocket of the Stasis application would take the control plane's
events away; AMI's Originate needs no application. Failures: an unknown
number is refused before anything is dialled (InvalidInput on ``to``);
Asterisk away or refusing answers Unavailable (503, exit code 2 in the CLI).
"""

from __future__ import annotations

import asyncio
import re
import uuid
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.agents import EXTENSION_RE
from control.errors import InvalidInput, Unavailable
from control.ivr.flows import Flow
from control.provisioning.models import Did
from control.provisioning.targets import target_context
from control.provisioning.trunks import check_target, normalise_did
from control.stack.components import port_open
from control.telephony.ami import AmiClient

CALLER_CONTEXT = "aitcomms-test-caller"
# María Rodríguez Sánchez, the first customer of `aitcomms db seed`
DEFAULT_FROM = "+34612345678"
CALLER_NAME = "Test call"
ANSWER_S = 45  # how long the number may ring before the test call gives up
E164_RE = re.compile(r"^\+[1-9][0-9]{6,14}$")


@dataclass(frozen=True)
class PlannedCall:
    to: str  # what was asked: +34910000001, 1001, queue:operador, ivr:seguros
    target: str  # where it enters: did:+349..., ext:1001, queue:operador, ivr:seguros
    endpoint: str  # Local/EXTEN@CONTEXT: the half that dials
    caller_id: str
    channel_id: str  # the caller's half (;1)

    def as_dict(self) -> dict[str, str]:
        return {"to": self.to, "target": self.target, "from": self.caller_id,
                "channel_id": self.channel_id}


def plan(session: Session, *, to: str, caller_id: str = DEFAULT_FROM,
         ivrs: list[Flow]) -> PlannedCall:
    """Where a test call to ``to`` enters the dialplan; refuses what does not exist."""
    to = to.strip()
    if not E164_RE.match(caller_id):
        raise InvalidInput("from", f"{caller_id!r} is not an E.164 number (+34...)")
    if to.startswith("+"):
        number = normalise_did(to)
        if session.scalar(select(Did.id).where(Did.number == number)) is None:
            raise InvalidInput("to", f"{number} is not a number of this contact center "
                                     "(aitcomms did list)")
        target, context, exten = f"did:{number}", "from-trunk", number
    else:
        if EXTENSION_RE.match(to):
            to_target = f"ext:{to}"
        elif ":" in to:
            to_target = to
        else:
            raise InvalidInput("to", "a number (+34...), an agent's extension, "
                                     "queue:NAME or ivr:NAME")
        try:
            target = check_target(session, to_target, ivrs)
        except InvalidInput as exc:
            raise InvalidInput("to", exc.reason) from None
        context, exten, _ = target_context(target).split(",")
    return PlannedCall(to=to, target=target, endpoint=f"Local/{exten}@{context}",
                    caller_id=caller_id, channel_id=f"testcall-{uuid.uuid4().hex[:12]}")


async def place(ami: AmiClient, call: PlannedCall) -> None:
    """Originate it; returns once Asterisk has queued the originate."""
    if not ami.connected:
        raise Unavailable("Asterisk's manager interface is not connected; try again")
    answer = await ami.action({
        "Action": "Originate", "Channel": call.endpoint, "Context": CALLER_CONTEXT,
        "Exten": "s", "Priority": "1", "CallerID": f'"{CALLER_NAME}" <{call.caller_id}>',
        "Timeout": str(ANSWER_S * 1000), "Async": "true", "ChannelId": call.channel_id,
        "OtherChannelId": f"{call.channel_id}-in"}, as_list=False)
    if answer.get("Response") != "Success":
        raise Unavailable(f"Asterisk refused the test call: {answer.get('Message')}", "to")


LOGIN_S = 5.0  # an AMI that does not answer by then is not up


async def place_once(host: str, port: int, username: str, secret: str,
                     call: PlannedCall) -> None:
    """From a process without its own AMI connection (the CLI): log in, place, log out."""
    if not port_open("tcp", port):  # say so at once (panoramisk would retry, loudly)
        raise Unavailable(f"Asterisk's manager is not listening on {host}:{port} "
                          "(is the stack up? aitcomms status)")
    ami = AmiClient(host, port, username, secret)
    ami.start()
    try:
        try:
            await asyncio.wait_for(ami.logged_in.wait(), LOGIN_S)
        except TimeoutError:
            raise Unavailable(f"no answer from Asterisk's manager on {host}:{port} "
                              "(is the stack up? aitcomms status)") from None
        await place(ami, call)
    finally:
        ami.close()
