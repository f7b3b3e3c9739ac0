"""Evaluation forms (per queue: criteria with weights, each yes/no or 1-5)
and quality reviews (a supervisor's scores of one call against one form).

A review keeps the call's agent and queue and a copy of the form's criteria
as they were when it was scored: a form changed later, or a call row
archived, does not change a past appraisal. No foreign key to the call for
the same reason.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, DateTime, Float, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from control.db import Base


class CriterionKind(enum.StrEnum):
    YES_NO = "yes_no"
    SCALE = "scale_1_5"


class EvaluationForm(Base):
    __tablename__ = "evaluation_forms"

    id: Mapped[int] = mapped_column(primary_key=True)
    queue: Mapped[str] = mapped_column(String(40), index=True)
    name: Mapped[str] = mapped_column(String(120))
    # [{"name": "greeting", "weight": 2, "kind": "yes_no"}, ...]
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "queue": self.queue, "name": self.name,
                "criteria": list(self.criteria), "created_at": self.created_at.isoformat()}


class QualityReview(Base):
    __tablename__ = "quality_reviews"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(36), index=True)
    form_id: Mapped[int] = mapped_column(ForeignKey("evaluation_forms.id"), index=True)
    queue: Mapped[str] = mapped_column(String(40), index=True)
    agent_extension: Mapped[str] = mapped_column(String(16), index=True)
    reviewer: Mapped[str] = mapped_column(String(255))  # the supervisor's e-mail
    criteria: Mapped[list[dict[str, Any]]] = mapped_column(JSON)  # the form as scored
    scores: Mapped[dict[str, Any]] = mapped_column(JSON)  # criterion name -> bool | 1..5
    score: Mapped[float] = mapped_column(Float)  # weighted, 0-100
    comment: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.id, "call_id": self.call_id, "form_id": self.form_id,
                "queue": self.queue, "agent_extension": self.agent_extension,
                "reviewer": self.reviewer, "criteria": list(self.criteria),
                "scores": dict(self.scores), "score": self.score, "comment": self.comment,
                "created_at": self.created_at.isoformat()}
