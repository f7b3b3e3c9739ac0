"""Who may use the API (users and their role), their refresh tokens, and the
audit log of every change made through the API or the CLI."""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Boolean, DateTime, ForeignKey, Index, Integer, String, func
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base


class Role(enum.StrEnum):
    ADMIN = "admin"  # users, configuration, everything
    SUPERVISOR = "supervisor"  # queues and agents, the wallboard, the audit log
    AGENT = "agent"  # takes calls, reads and writes customers' files


class User(Base):
    __tablename__ = "users"

    id: Mapped[int] = mapped_column(primary_key=True)
    email: Mapped[str] = mapped_column(String(255), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, parameters inside
    role: Mapped[str] = mapped_column(String(16))
    # the agents.extension this user answers calls as, for agents
    agent_extension: Mapped[str | None] = mapped_column(String(16), nullable=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    # consecutive failed logins; from the 5th on the account is locked for a
    # time that doubles with each further failure (see auth.service)
    failed_logins: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    last_login_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # RFC 6238 secret (base32) of the optional second factor; null: password only
    totp_secret: Mapped[str | None] = mapped_column(String(64), nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), server_default=func.now())

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "email": self.email, "role": self.role,
                "agent_extension": self.agent_extension, "active": self.active}


class RefreshToken(Base):
    """One issued refresh token, by its JWT id: revoking it is setting revoked_at."""

    __tablename__ = "refresh_tokens"

    jti: Mapped[str] = mapped_column(String(36), primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    issued_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class AuditEntry(Base):
    """Who changed what, with the record before and after. No foreign keys:
    the log outlives the users and records it names."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_entity", "entity", "entity_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    actor: Mapped[str] = mapped_column(String(255))  # e-mail, or "cli" / "seed"
    action: Mapped[str] = mapped_column(String(40))  # create, update, delete, lock...
    entity: Mapped[str] = mapped_column(String(40))  # the table: customers, users...
    entity_id: Mapped[str] = mapped_column(String(40))
    before: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    after: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "at": self.at.isoformat(), "user_id": self.user_id,
                "actor": self.actor, "action": self.action, "entity": self.entity,
                "entity_id": self.entity_id, "before": self.before, "after": self.after}
