"""The fencing token's row (migration 0018)."""

from __future__ import annotations

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base


class RoutingFence(Base):
    """The newest routing lease's token: the ACD's writes carry theirs and
    stop when this one is newer (:mod:`control.ha.fence`)."""

    __tablename__ = "routing_fence"

    name: Mapped[str] = mapped_column(String(32), primary_key=True)
    token: Mapped[int] = mapped_column(BigInteger)
