"""Agents: the people who take calls, and their SIP identity."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, DateTime, String, func
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base


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
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.id,
            "extension": self.extension,
            "name": self.name,
            "skills": list(self.skills or []),
            "languages": list(self.languages or []),
        }
