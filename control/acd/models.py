"""ACD data: agents and their state, queues and members, calls and the routing
decision taken for each."""

from __future__ import annotations

import enum
import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from control.acd.needs import DEFAULT_CONTEXT_SKILLS
from control.db import Base


class AgentStatus(enum.StrEnum):
    LOGGED_OUT = "logged_out"
    AVAILABLE = "available"
    RINGING = "ringing"
    ON_CALL = "on_call"
    WRAP_UP = "wrap_up"
    PAUSED = "paused"


class Agent(Base):
    __tablename__ = "agents"

    id: Mapped[int] = mapped_column(primary_key=True)
    # The extension is also the SIP user name the agent's phones register with.
    extension: Mapped[str] = mapped_column(String(16), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    languages: Mapped[list[str]] = mapped_column(JSON, default=list)
    # Digest HA1 = md5(extension:realm:password); the password itself is not kept.
    sip_ha1: Mapped[str] = mapped_column(String(32))
    # Kept here so that a restarted control plane finds agents as they were.
    status: Mapped[str] = mapped_column(String(16), default=AgentStatus.LOGGED_OUT.value)
    pause_reason: Mapped[str | None] = mapped_column(String(40), nullable=True)
    status_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    missed_in_a_row: Mapped[int] = mapped_column(Integer, default=0)
    # "sdes": the agent's phones get SRTP only, and must use SIP over TLS
    # (Kamailio reads it with the credentials; rtpengine does the SRTP)
    media_encryption: Mapped[str] = mapped_column(String(8), default="none",
                                                  server_default="none")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "extension": self.extension,
            "name": self.name,
            "skills": list(self.skills or []),
            "languages": list(self.languages or []),
            "status": self.status,
            "pause_reason": self.pause_reason,
            "status_since": self.status_since.isoformat() if self.status_since else None,
            "media_encryption": self.media_encryption,
        }


# Score weights of a queue unless it sets its own (see acd.scoring).
DEFAULT_WEIGHTS: dict[str, float] = {
    "previous_agent": 50, "language": 20, "skill": 10, "call_today": -2,
}


class Queue(Base):
    __tablename__ = "queues"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(40), unique=True)
    # skills a caller of this queue wants unless the IVR says otherwise
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    language: Mapped[str] = mapped_column(String(2), default="es")
    wrapup_s: Mapped[int] = mapped_column(Integer, default=10)
    ring_timeout_s: Mapped[int] = mapped_column(Integer, default=15)
    max_misses: Mapped[int] = mapped_column(Integer, default=2)
    max_wait_s: Mapped[int] = mapped_column(Integer, default=300)
    announce_every_s: Mapped[int] = mapped_column(Integer, default=30)
    service_level_s: Mapped[int] = mapped_column(Integer, default=20)
    record: Mapped[bool] = mapped_column(Boolean, default=True)
    weights: Mapped[dict[str, float]] = mapped_column(JSON, default=dict)
    # what the customer's context adds to the skills a caller wants (acd.needs):
    # {"open_claim": "claims", "policy:auto": "auto", ...}; None: the default
    context_skills: Mapped[dict[str, str] | None] = mapped_column(JSON, nullable=True)
    # days a recording of this queue is kept (control.recordings.retention); None: for ever
    recording_retention_days: Mapped[int | None] = mapped_column(Integer, nullable=True)
    members: Mapped[list[QueueMember]] = relationship(
        back_populates="queue", cascade="all, delete-orphan", lazy="selectin")

    def weight(self, name: str) -> float:
        return float((self.weights or {}).get(name, DEFAULT_WEIGHTS[name]))

    def settings(self) -> dict[str, Any]:
        """The queue without its members (routing reads those apart)."""
        return {
            "id": self.id, "name": self.name, "skills": list(self.skills or []),
            "language": self.language, "wrapup_s": self.wrapup_s,
            "ring_timeout_s": self.ring_timeout_s, "max_misses": self.max_misses,
            "max_wait_s": self.max_wait_s, "announce_every_s": self.announce_every_s,
            "service_level_s": self.service_level_s, "record": self.record,
            "weights": {k: self.weight(k) for k in DEFAULT_WEIGHTS},
            "context_skills": dict(DEFAULT_CONTEXT_SKILLS if self.context_skills is None
                                   else self.context_skills),
        }

    def as_dict(self) -> dict[str, object]:
        return self.settings() | {"members": [{"extension": m.agent.extension,
                                               "penalty": m.penalty} for m in self.members]}


class QueueMember(Base):
    __tablename__ = "queue_members"

    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"),
                                          primary_key=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("agents.id", ondelete="CASCADE"),
                                          primary_key=True)
    # subtracted from the agent's score in this queue
    penalty: Mapped[int] = mapped_column(Integer, default=0)
    queue: Mapped[Queue] = relationship(back_populates="members")
    agent: Mapped[Agent] = relationship(lazy="joined")


class CallState(enum.StrEnum):
    WAITING = "waiting"
    RINGING = "ringing"
    ANSWERED = "answered"
    COMPLETED = "completed"
    ABANDONED = "abandoned"
    VOICEMAIL = "voicemail"
    CALLBACK = "callback"
    NO_ANSWER = "no_answer"  # outbound: the customer (or the agent's own phone) did not answer


class Call(Base):
    """One call handled by the control plane: inbound from queue entry to
    hangup, or outbound (an agent calling a customer through a trunk).

    ``caller_channel`` is always the customer's leg and ``caller_number`` the
    customer's number, whichever side dialled; ``queue`` is empty for outbound.
    """

    __tablename__ = "calls"

    id: Mapped[str] = mapped_column(String(36), primary_key=True,
                                    default=lambda: str(uuid.uuid4()))
    caller_channel: Mapped[str] = mapped_column(String(80), index=True)
    agent_channel: Mapped[str | None] = mapped_column(String(80), nullable=True)
    bridge_id: Mapped[str | None] = mapped_column(String(80), nullable=True)
    queue: Mapped[str] = mapped_column(String(40), index=True)
    caller_number: Mapped[str] = mapped_column(String(40), default="", index=True)
    customer_id: Mapped[int | None] = mapped_column(Integer, nullable=True, index=True)
    language: Mapped[str] = mapped_column(String(2), default="es")
    skills: Mapped[list[str]] = mapped_column(JSON, default=list)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    state: Mapped[str] = mapped_column(String(16), default=CallState.WAITING.value, index=True)
    agent_extension: Mapped[str | None] = mapped_column(String(16), nullable=True, index=True)
    entered_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    recording: Mapped[str | None] = mapped_column(String(255), nullable=True)
    # the retention job deleted the recording's file (``recording`` keeps its path)
    recording_deleted_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                                  nullable=True)
    direction: Mapped[str] = mapped_column(String(8), default="inbound", server_default="inbound")
    # outbound: the callback task this call works (done once the customer answers)
    task_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # the media node (Asterisk) the call is on; NULL: the stack's own
    media_node: Mapped[str | None] = mapped_column(String(32), nullable=True)

    def as_dict(self) -> dict[str, Any]:
        def iso(d: datetime | None) -> str | None:
            return d.isoformat() if d else None

        return {
            "id": self.id, "queue": self.queue, "caller_number": self.caller_number,
            "customer_id": self.customer_id, "language": self.language,
            "skills": list(self.skills or []), "priority": self.priority, "state": self.state,
            "agent_extension": self.agent_extension, "entered_at": iso(self.entered_at),
            "answered_at": iso(self.answered_at), "ended_at": iso(self.ended_at),
            "recording": self.recording, "direction": self.direction or "inbound",
            "recording_deleted_at": iso(self.recording_deleted_at),
            "task_id": self.task_id,
        }


class RoutingDecision(Base):
    """Why a call rang whom: every candidate with its score breakdown."""

    __tablename__ = "routing_decisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    decided_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    candidates: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    chosen: Mapped[str | None] = mapped_column(String(16), nullable=True)
    reason: Mapped[str] = mapped_column(String(255))
    # the caller's language and skills with where each came from (acd.needs)
    needs: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {"decided_at": self.decided_at.isoformat(), "candidates": self.candidates,
                "chosen": self.chosen, "reason": self.reason, "needs": self.needs}


class CallEvent(Base):
    """What happened during a call that neither its row nor its routing
    decisions hold: a ring not answered, holds, transfers, a consultation,
    supervision, the recording paused, resumed or filed. Written by the call
    log (control.acd.call_log), in the call's order; read by the call's
    timeline (control.recordings.history)."""

    __tablename__ = "call_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(ForeignKey("calls.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    kind: Mapped[str] = mapped_column(String(32))
    agent_extension: Mapped[str | None] = mapped_column(String(16), nullable=True)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
