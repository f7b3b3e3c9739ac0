"""The event catalogue: every event the control plane publishes, named once.

The bus refuses a name that is not here, the websocket decides who sees an
event from the keys named here, the API serves the catalogue
(``GET /api/v1/events/catalog``) and the web UI, the README and the OpenAPI
document read the same names. Every payload that concerns a call carries
``call_id``; every one that concerns an agent carries ``agent_extension``
(the ACD's payloads are built in :mod:`control.acd.notifier`).

Audience: ``agent`` events go to supervisors and admins, and to the agent
named by ``agent_extension``; ``everyone`` events (counts only) go to every
signed-in user; ``supervisors`` events only to supervisors and admins.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

Audience = Literal["agent", "everyone", "supervisors"]


@dataclass(frozen=True)
class EventType:
    name: str
    audience: Audience
    summary: str
    keys: tuple[str, ...]  # the payload's main keys (more may be present)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self) | {"keys": list(self.keys)}


_CALL = ("call_id", "agent_extension", "call")

EVENTS: dict[str, EventType] = {e.name: e for e in (
    # -- a call's life (control.acd) ----------------------------------------------
    EventType("call.queued", "agent", "a caller entered a queue and waits", _CALL),
    EventType("call.incoming", "agent", "an agent's phone rings with a queued call: the "
              "screen pop", ("call_id", "agent_extension", "queue", "caller_number",
                             "customer_id", "context")),
    EventType("call.outgoing", "agent", "an agent calls a customer out: the screen pop",
              ("call_id", "agent_extension", "caller_number", "customer_id", "task_id",
               "context")),
    EventType("call.answered", "agent", "caller and agent are bridged", _CALL),
    EventType("call.completed", "agent", "an answered call ended", _CALL),
    EventType("call.abandoned", "agent", "the caller hung up before an agent answered",
              _CALL),
    EventType("call.not_connected", "agent", "an outbound call ended before the customer "
              "answered", (*_CALL, "reason")),
    EventType("call.overflowed", "agent", "a caller waited past the queue's max wait: "
              "callback offer", _CALL),
    EventType("call.announced", "agent", "a waiting caller heard their position",
              ("call_id", "agent_extension", "position", "expected_wait_min")),
    EventType("call.held", "agent", "the caller is on hold", ("call_id", "agent_extension")),
    EventType("call.resumed", "agent", "the caller is back from hold",
              ("call_id", "agent_extension")),
    EventType("call.transferred", "agent", "blind or attended transfer",
              ("call_id", "agent_extension", "to", "from_agent")),
    EventType("call.consulting", "agent", "the consulted colleague answered",
              ("call_id", "agent_extension", "consulted")),
    EventType("call.consult_ended", "agent", "the consulted colleague hung up",
              ("call_id", "agent_extension")),
    EventType("call.supervised", "agent", "a supervisor listens, whispers or barges",
              ("call_id", "agent_extension", "mode", "supervisor_channel")),
    EventType("call.supervision_ended", "agent", "the supervisor left the call",
              ("call_id", "agent_extension", "supervisor_channel")),
    EventType("recording.started", "agent", "the call's recording started",
              ("call_id", "agent_extension")),
    EventType("recording.paused", "agent", "the call's recording is paused",
              ("call_id", "agent_extension")),
    EventType("recording.resumed", "agent", "the call's recording goes on",
              ("call_id", "agent_extension")),
    EventType("recording.filed", "agent", "the call's recording is closed and filed",
              ("call_id", "agent_extension", "recording")),
    # -- agents ---------------------------------------------------------------------
    EventType("agent.status_changed", "agent", "an agent's state changed",
              ("agent_extension", "agent", "status")),
    # -- CRM ------------------------------------------------------------------------
    EventType("task.created", "agent", "a callback or follow-up task was created",
              ("agent_extension", "task", "kind", "customer_id")),
    EventType("quote.created", "agent", "a quote was made", ("agent_extension", "quote",
                                                              "customer_id")),
    EventType("policy.created", "agent", "a quote was accepted: a policy",
              ("agent_extension", "policy", "customer_id", "quote_id")),
    EventType("lead.converted", "agent", "a lead became a customer",
              ("agent_extension", "lead", "customer_id")),
    # -- figures --------------------------------------------------------------------
    EventType("queue.stats", "everyone", "every queue's live and today's figures, "
              "every few seconds while a socket is open", ("queues", "agents")),
)}


class UnknownEvent(ValueError):
    pass


def event_type(name: str) -> EventType:
    try:
        return EVENTS[name]
    except KeyError:
        raise UnknownEvent(f"event {name!r} is not in the catalogue "
                           "(control/events/catalog.py)") from None


def catalogue() -> list[dict[str, Any]]:
    return [e.as_dict() for e in EVENTS.values()]
