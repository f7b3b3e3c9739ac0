"""Outbound campaigns' dialing data: how a sales campaign (``control.crm.sales``,
channel ``phone``) is dialled, its calling list, the do-not-call lists and
every dial attempt.

- :class:`CampaignDialing`: the campaign's dialing settings (mode, agents,
  caller ID, calling hours, retry rules, script, dispositions, recorded
  message, AMD, abandonment cap) and whether it is running;
- :class:`ListEntry`: one number of the campaign's calling list, its lead, the
  lead's time zone and where it is in its retries (or its scheduled callback);
- :class:`DoNotCall`: a number never to dial, for every campaign
  (``campaign_id`` NULL) or for one;
- :class:`Attempt`: one dial, its result (human, machine, busy, no_answer,
  failed), whether the person was abandoned, the agent and talk time: the
  wallboard's and the abandonment rate's source.

Times are stored in UTC; SQLite hands them back naive (:func:`utc` fixes that).
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
    func,
)
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base


def utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _iso(value: datetime | None) -> str | None:
    found = utc(value)
    return found.isoformat() if found else None


class DialMode(enum.StrEnum):
    PREVIEW = "preview"  # the agent sees the lead, then dials or skips
    PROGRESSIVE = "progressive"  # at most one line per free agent
    PREDICTIVE = "predictive"  # lines per agent paced to the answer rate and the cap


class MachineAction(enum.StrEnum):
    HANGUP = "hangup"
    MESSAGE = "message"  # leave the campaign's recorded message
    AGENT = "agent"  # pass to an agent as if a person answered


class Result(enum.StrEnum):
    """What a dial came to (the pacer's observations use the same words)."""
    HUMAN = "human"
    MACHINE = "machine"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    FAILED = "failed"


class EntryStatus(enum.StrEnum):
    PENDING = "pending"  # never dialled
    CALLING = "calling"  # a line is out for it now
    RETRY = "retry"  # to be dialled again at next_attempt_at
    CALLBACK = "callback"  # an agent scheduled a call back at callback_at
    DONE = "done"  # worked to the end (a final disposition, or max attempts)
    DNC = "dnc"  # on a do-not-call list: never dialled


DEFAULT_RETRY_S = {"busy": 600, "no_answer": 3600, "machine": 7200, "failed": 3600,
                   "abandoned": 3600}
DEFAULT_DISPOSITIONS = [
    {"code": "sale", "label": "Sale", "final": True},
    {"code": "not_interested", "label": "Not interested", "final": True},
    {"code": "call_back", "label": "Call back", "final": False, "retry_s": 86400},
    {"code": "wrong_number", "label": "Wrong number", "final": True},
    {"code": "do_not_call", "label": "Do not call", "final": True, "dnc": True},
]


class CampaignDialing(Base):
    __tablename__ = "campaign_dialing"

    campaign_id: Mapped[int] = mapped_column(
        ForeignKey("campaigns.id", ondelete="CASCADE"), primary_key=True)
    mode: Mapped[str] = mapped_column(String(12), default=DialMode.PROGRESSIVE.value)
    agents: Mapped[list[str]] = mapped_column(JSON, default=list)  # extensions
    queues: Mapped[list[str]] = mapped_column(JSON, default=list)  # their members dial too
    caller_id: Mapped[str | None] = mapped_column(String(20), nullable=True)
    hours_start: Mapped[str] = mapped_column(String(5), default="09:00")  # lead's local time
    hours_end: Mapped[str] = mapped_column(String(5), default="21:00")
    days: Mapped[list[int]] = mapped_column(JSON, default=lambda: [0, 1, 2, 3, 4])  # Mon=0
    retry_rules: Mapped[dict[str, int]] = mapped_column(JSON, default=lambda: dict(DEFAULT_RETRY_S))
    max_attempts: Mapped[int] = mapped_column(Integer, default=3)
    ring_s: Mapped[int] = mapped_column(Integer, default=20)
    script: Mapped[str] = mapped_column(Text, default="")
    dispositions: Mapped[list[dict[str, Any]]] = mapped_column(
        JSON, default=lambda: [dict(d) for d in DEFAULT_DISPOSITIONS])
    message: Mapped[str | None] = mapped_column(String(120), nullable=True)  # Asterisk sound
    amd: Mapped[bool] = mapped_column(Boolean, default=False)
    machine_action: Mapped[str] = mapped_column(String(12), default=MachineAction.HANGUP.value)
    abandon_cap_pct: Mapped[float] = mapped_column(Float, default=3.0)
    abandon_window_s: Mapped[int] = mapped_column(Integer, default=30 * 86400)
    # predictive: how the cap is kept (control.campaigns.pacing.ADAPTS)
    adapt: Mapped[str] = mapped_column(String(12), default="hard_limit")
    wrapup_s: Mapped[int] = mapped_column(Integer, default=10)  # after each call, per agent
    running: Mapped[bool] = mapped_column(Boolean, default=False)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now(),
                                                 onupdate=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {"campaign_id": self.campaign_id, "mode": self.mode, "agents": list(self.agents),
                "queues": list(self.queues), "caller_id": self.caller_id,
                "hours_start": self.hours_start, "hours_end": self.hours_end,
                "days": list(self.days), "retry_rules": dict(self.retry_rules),
                "max_attempts": self.max_attempts, "ring_s": self.ring_s,
                "script": self.script, "dispositions": list(self.dispositions),
                "message": self.message, "amd": self.amd,
                "machine_action": self.machine_action,
                "abandon_cap_pct": self.abandon_cap_pct,
                "abandon_window_s": self.abandon_window_s, "adapt": self.adapt,
                "wrapup_s": self.wrapup_s, "running": self.running}


class ListEntry(Base):
    __tablename__ = "campaign_list"
    __table_args__ = (UniqueConstraint("campaign_id", "phone"),
                      Index("ix_campaign_list_due", "campaign_id", "status", "next_attempt_at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    lead_id: Mapped[int | None] = mapped_column(ForeignKey("leads.id", ondelete="SET NULL"),
                                                nullable=True)
    phone: Mapped[str] = mapped_column(String(20))  # E.164
    timezone: Mapped[str] = mapped_column(String(40))  # the lead's, from the number's region
    status: Mapped[str] = mapped_column(String(10), default=EntryStatus.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True),
                                                             nullable=True)
    last_result: Mapped[str | None] = mapped_column(String(12), nullable=True)
    disposition: Mapped[str | None] = mapped_column(String(32), nullable=True)
    callback_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    callback_agent: Mapped[str | None] = mapped_column(String(16), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "campaign_id": self.campaign_id, "lead_id": self.lead_id,
                "phone": self.phone, "timezone": self.timezone, "status": self.status,
                "attempts": self.attempts, "next_attempt_at": _iso(self.next_attempt_at),
                "last_result": self.last_result, "disposition": self.disposition,
                "callback_at": _iso(self.callback_at), "callback_agent": self.callback_agent}


class DoNotCall(Base):
    __tablename__ = "do_not_call"
    __table_args__ = (UniqueConstraint("phone", "campaign_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(20), index=True)  # E.164
    campaign_id: Mapped[int | None] = mapped_column(  # NULL: every campaign
        ForeignKey("campaigns.id", ondelete="CASCADE"), nullable=True)
    reason: Mapped[str] = mapped_column(String(120), default="")
    added_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "phone": self.phone, "campaign_id": self.campaign_id,
                "reason": self.reason, "added_at": _iso(self.added_at)}


class Attempt(Base):
    __tablename__ = "campaign_attempts"
    __table_args__ = (Index("ix_campaign_attempts_started", "campaign_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("campaigns.id", ondelete="CASCADE"))
    entry_id: Mapped[int] = mapped_column(ForeignKey("campaign_list.id", ondelete="CASCADE"))
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    phone: Mapped[str] = mapped_column(String(20))
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    answered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    connected_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    ended_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    result: Mapped[str | None] = mapped_column(String(12), nullable=True)  # a Result
    abandoned: Mapped[bool] = mapped_column(Boolean, default=False)
    amd_status: Mapped[str | None] = mapped_column(String(12), nullable=True)
    agent_extension: Mapped[str | None] = mapped_column(String(16), nullable=True)
    talk_s: Mapped[float] = mapped_column(Float, default=0.0)
    disposition: Mapped[str | None] = mapped_column(String(32), nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "campaign_id": self.campaign_id, "entry_id": self.entry_id,
                "call_id": self.call_id, "phone": self.phone,
                "started_at": _iso(self.started_at), "answered_at": _iso(self.answered_at),
                "connected_at": _iso(self.connected_at), "ended_at": _iso(self.ended_at),
                "result": self.result, "abandoned": self.abandoned,
                "amd_status": self.amd_status, "agent_extension": self.agent_extension,
                "talk_s": self.talk_s, "disposition": self.disposition}
