"""Trunks and DIDs: how calls from the PSTN get in and where they go."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import DateTime, Integer, String, func
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
