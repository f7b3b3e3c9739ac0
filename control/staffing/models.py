"""A queue's staffing targets and wallboard alert thresholds, one row per
queue (a queue without a row uses the defaults below). Removed with its queue."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Float, ForeignKey, Integer
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base

DEFAULTS: dict[str, Any] = {
    # the service level the forecast staffs for: this share answered within the
    # queue's service_level_s (80/20 when the queue says 20 s)
    "service_level_target": 0.8,
    "shrinkage": 0.3,  # share of paid time off the phones (breaks, training, absence)
    "max_occupancy": 0.85,  # agents busier than this burn out: staff for at most this
    # alerts (None: off)
    "alert_longest_wait_s": 60,  # a caller waits longer than this
    "alert_wrapup_min": 5,  # an agent of the queue in wrap-up longer than this
    "alert_paused_min": 15,  # an agent of the queue paused longer than this
}


class QueueTargets(Base):
    __tablename__ = "queue_targets"

    queue_id: Mapped[int] = mapped_column(ForeignKey("queues.id", ondelete="CASCADE"),
                                          primary_key=True)
    service_level_target: Mapped[float] = mapped_column(Float)
    shrinkage: Mapped[float] = mapped_column(Float)
    max_occupancy: Mapped[float] = mapped_column(Float)
    alert_longest_wait_s: Mapped[int | None] = mapped_column(Integer, nullable=True)
    alert_wrapup_min: Mapped[int | None] = mapped_column(Integer, nullable=True)
    alert_paused_min: Mapped[int | None] = mapped_column(Integer, nullable=True)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in DEFAULTS}
