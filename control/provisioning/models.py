"""Trunks and DIDs: how calls from the PSTN get in and where they go."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, Text, UniqueConstraint, func
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base


class Trunk(Base):
    """An IP-authenticated SIP trunk: calls from `address` are trusted as PSTN."""

    __tablename__ = "trunks"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    host: Mapped[str] = mapped_column(String(255))  # as the operator gave it
    address: Mapped[str] = mapped_column(String(64))  # host resolved to an IP at add time
    port: Mapped[int] = mapped_column(Integer, default=5060)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "host": self.host,
                "address": self.address, "port": self.port}


class Did(Base):
    """An incoming number (E.164) and the target it rings: ext:, queue: or ivr:."""

    __tablename__ = "dids"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(20), unique=True)
    target: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "number": self.number, "target": self.target}


class DialplanVersion(Base):
    """One dialplan Asterisk ran: the exact text, who applied it, when, and the
    change from the one before (``aitcomms dialplan history / rollback``)."""

    __tablename__ = "dialplan_versions"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    author: Mapped[str] = mapped_column(String(120))
    # apply | rollback | baseline (what was running before the first apply)
    action: Mapped[str] = mapped_column(String(16))
    restored_from: Mapped[int | None] = mapped_column(Integer, nullable=True)
    sha256: Mapped[str] = mapped_column(String(64))
    text: Mapped[str] = mapped_column(Text)
    diff: Mapped[str] = mapped_column(Text)

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "created_at": self.created_at.isoformat(),
                "author": self.author, "action": self.action,
                "restored_from": self.restored_from, "sha256": self.sha256}


class MediaNode(Base):
    """An Asterisk that takes calls from Kamailio's dispatcher (setid 1).

    ``active`` nodes get new calls while they answer Kamailio's OPTIONS
    pings; a ``draining`` one gets none (its calls in progress go on), and
    the drain survives a ``dispatcher.reload`` because it lives here (the
    view ``kamailio_dispatcher`` gives it flags 4). ``local`` is the stack's
    own Asterisk, kept by set-up (:func:`control.provisioning.nodes.ensure_local_node`).
    """

    __tablename__ = "media_nodes"
    __table_args__ = (UniqueConstraint("address", "port", name="uq_media_nodes_address_port"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    address: Mapped[str] = mapped_column(String(64))
    port: Mapped[int] = mapped_column(Integer)
    weight: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    state: Mapped[str] = mapped_column(String(12), default="active", server_default="active")
    # 1, 2, ...: a node this box's supervisor runs (``asterisk-<name>``), its
    # ports and folders derived from the slot (control/stack/media_nodes.py);
    # None: run elsewhere, or the stack's own Asterisk (``local``)
    slot: Mapped[int | None] = mapped_column(Integer, nullable=True)
    # a node run elsewhere that the control planes drive over ARI (migration
    # 0019): its ARI's URL and the password generated for it (never shown)
    ari_url: Mapped[str | None] = mapped_column(String(255), nullable=True)
    ari_password: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    @property
    def runs_here(self) -> bool:
        """Run by this box's supervisor as a node of its own (not ``local``)."""
        return self.slot is not None

    @property
    def uri(self) -> str:
        """Its SIP address as Kamailio's dispatcher names it."""
        return f"sip:{self.address}:{self.port}"

    def as_dict(self) -> dict[str, object]:
        return {"id": self.id, "name": self.name, "address": self.address, "port": self.port,
                "uri": self.uri, "weight": self.weight, "state": self.state,
                "local": self.runs_here, "slot": self.slot, "ari_url": self.ari_url,
                "created_at": self.created_at.isoformat() if self.created_at else None}
