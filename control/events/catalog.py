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
    EventType("recordings.disk_full", "supervisors", "the recordings folder's disk is full "
              "or nearly: calls go on, new recordings stay in Asterisk's spool",
              ("path", "free_bytes", "total_bytes", "reason")),
    EventType("recordings.disk_ok", "supervisors", "the recordings folder's disk has room "
              "again", ("path", "free_bytes", "total_bytes")),
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
    # -- wallboard alerts (control.staffing.alerts) ----------------------------------
    EventType("alert.raised", "supervisors", "a queue crossed one of its alert thresholds "
              "(service level under target, longest wait, an agent long in wrap-up or "
              "paused)", ("alert_id", "kind", "queue", "agent_extension", "value",
                          "threshold")),
    EventType("alert.cleared", "supervisors", "a raised alert is back to normal",
              ("alert_id", "kind", "queue", "agent_extension")),
    # -- speech (control.speech): live transcript, alerts, assist ---------------------
    EventType("speech.status", "agent", "a call's transcription started, lost audio "
              "(incomplete) or was not set up (reason: capacity, no model, tap failed)",
              ("call_id", "agent_extension", "status", "reason")),
    EventType("speech.partial", "agent", "what a leg is saying, still being recognised",
              ("call_id", "agent_extension", "speaker", "text", "at")),
    EventType("speech.final", "agent", "an utterance recognised: speaker (caller or agent), "
              "text, start and end in seconds from the bridging",
              ("call_id", "agent_extension", "speaker", "text", "start", "end")),
    EventType("speech.keyword", "supervisors", "a queue's alert phrase was said on a call",
              ("call_id", "agent_extension", "speaker", "keyword", "text", "at")),
    EventType("speech.suggestion", "agent", "knowledge-base articles for what the caller "
              "just said (agent assist)", ("call_id", "agent_extension", "articles")),
    EventType("speech.analysis", "agent", "after the call: summary, sentiment trend per "
              "leg, talk/silence/overtalk ratios", ("call_id", "agent_extension", "status",
                                                    "analysis")),
    # -- outbound campaigns (control.campaigns) -----------------------------------------
    EventType("campaign.started", "supervisors", "a campaign's dialer started",
              ("campaign_id", "mode")),
    EventType("campaign.stopped", "supervisors", "a campaign's dialer stopped", ("campaign_id",)),
    EventType("campaign.dialing", "supervisors", "the dialer placed a customer's call",
              ("campaign_id", "call_id", "phone", "agent_extension")),
    EventType("campaign.answered", "supervisors", "a campaign call was answered: a person "
              "or (AMD) a machine", ("campaign_id", "call_id", "result", "amd_status")),
    EventType("campaign.lead", "agent", "a campaign call is put through to an agent: the "
              "lead's screen pop, script and dispositions",
              ("campaign_id", "call_id", "agent_extension", "lead", "script", "dispositions")),
    EventType("campaign.connected", "agent", "the person and the agent are bridged",
              ("campaign_id", "call_id", "agent_extension", "seconds_to_agent")),
    EventType("campaign.abandoned", "supervisors", "a person reached no agent within 2 s: "
              "the recorded message, counted abandoned", ("campaign_id", "call_id", "message")),
    EventType("campaign.attempt", "supervisors", "a campaign dial is over, with its result",
              ("campaign_id", "call_id", "result", "abandoned", "agent_extension", "talk_s")),
    EventType("campaign.stats", "supervisors", "a running campaign's figures, every few "
              "seconds", ("campaign_id", "figures")),
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
