"""Quality reviews: evaluation forms per queue and supervisors' scores of calls.

A form has criteria, each with a weight (how much it counts) and a kind:
``yes_no`` (true/false) or ``scale_1_5`` (a whole number 1 to 5). A review
scores every criterion of the form for one answered call of the form's
queue; its score is the weighted mean on 0-100 (yes = 100, no = 0; 1 = 0,
5 = 100). Plain functions ``fn(session, *, actor)`` audited in the caller's
transaction. Bad input raises :class:`~control.errors.InvalidInput` naming
the field (``criteria.2.weight``, ``scores.greeting``): nothing is stored.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from control.acd.models import Call, Queue
from control.auth import audit
from control.auth.audit import Actor
from control.errors import InvalidInput, NotFound
from control.quality.models import CriterionKind, EvaluationForm, QualityReview

MAX_CRITERIA = 30
MAX_WEIGHT = 100
KINDS = tuple(k.value for k in CriterionKind)


def check_criteria(criteria: Any) -> list[dict[str, Any]]:
    if not isinstance(criteria, list) or not criteria:
        raise InvalidInput("criteria", "expected a list of at least one criterion")
    if len(criteria) > MAX_CRITERIA:
        raise InvalidInput("criteria", f"at most {MAX_CRITERIA} criteria")
    out: list[dict[str, Any]] = []
    seen: set[str] = set()
    for i, item in enumerate(criteria):
        field = f"criteria.{i}"
        if not isinstance(item, dict):
            raise InvalidInput(field, "expected an object {name, weight, kind}")
        unknown = set(item) - {"name", "weight", "kind"}
        if unknown:
            raise InvalidInput(f"{field}.{sorted(unknown)[0]}",
                               "unknown field; known: name, weight, kind")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip() or len(name.strip()) > 60:
            raise InvalidInput(f"{field}.name", "required: a name of 1 to 60 characters")
        name = name.strip()
        if name in seen:
            raise InvalidInput(f"{field}.name", f"{name!r} is named twice")
        seen.add(name)
        weight = item.get("weight")
        if not isinstance(weight, int | float) or isinstance(weight, bool) or weight != weight:
            raise InvalidInput(f"{field}.weight", "required: a number")
        if not 0 < weight <= MAX_WEIGHT:
            raise InvalidInput(f"{field}.weight", f"must be above 0 and at most {MAX_WEIGHT}")
        kind = item.get("kind")
        if kind not in KINDS:
            raise InvalidInput(f"{field}.kind", f"one of {', '.join(KINDS)}")
        out.append({"name": name, "weight": float(weight), "kind": kind})
    return out


def create_form(session: Session, *, queue: str, name: str, criteria: Any,
                actor: Actor) -> EvaluationForm:
    if session.scalar(select(Queue.id).where(Queue.name == queue)) is None:
        raise InvalidInput("queue", f"no queue {queue!r}")
    if not name.strip():
        raise InvalidInput("name", "required")
    form = EvaluationForm(queue=queue, name=name.strip(), criteria=check_criteria(criteria),
                          created_at=datetime.now(UTC))
    session.add(form)
    session.flush()
    audit.record(session, actor, "create", "evaluation_forms", form.id, after=form.as_dict())
    return form


def list_forms(session: Session, queue: str | None = None) -> list[EvaluationForm]:
    query = select(EvaluationForm).order_by(EvaluationForm.queue, EvaluationForm.id)
    if queue:
        query = query.where(EvaluationForm.queue == queue)
    return list(session.scalars(query))


def _normalised(criterion: dict[str, Any], value: Any, field: str) -> float:
    if criterion["kind"] == CriterionKind.YES_NO.value:
        if not isinstance(value, bool):
            raise InvalidInput(field, "expected true or false")
        return 1.0 if value else 0.0
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(field, "expected a whole number from 1 to 5")
    if not 1 <= value <= 5:
        raise InvalidInput(field, "out of range: 1 to 5")
    return (value - 1) / 4


def score(criteria: list[dict[str, Any]], scores: Any) -> float:
    """The weighted score (0-100) of ``scores`` against ``criteria``; every
    criterion scored, nothing else."""
    if not isinstance(scores, dict):
        raise InvalidInput("scores", "expected an object: criterion name -> score")
    names = {c["name"] for c in criteria}
    for name in scores:
        if name not in names:
            raise InvalidInput(f"scores.{name}", "not a criterion of this form")
    total = weights = 0.0
    for criterion in criteria:
        field = f"scores.{criterion['name']}"
        if criterion["name"] not in scores:
            raise InvalidInput(field, "required: every criterion of the form is scored")
        total += criterion["weight"] * _normalised(criterion, scores[criterion["name"]], field)
        weights += criterion["weight"]
    return round(100 * total / weights, 1)


def create_review(session: Session, *, call_id: str, form_id: int, scores: Any,
                  comment: str = "", actor: Actor) -> QualityReview:
    """A supervisor's review of an answered call against a form of its queue."""
    call = session.get(Call, call_id)
    if call is None:
        raise NotFound("call", call_id, "call_id")
    if not call.agent_extension or call.answered_at is None:
        raise InvalidInput("call_id", "the call was not answered by an agent: nothing to "
                                      "review")
    form = session.get(EvaluationForm, form_id)
    if form is None:
        raise InvalidInput("form_id", f"no evaluation form {form_id}")
    if form.queue != call.queue:
        raise InvalidInput("form_id", f"form {form_id} is for queue {form.queue}, the call "
                                      f"was in {call.queue or 'no queue (outbound)'}")
    review = QualityReview(
        call_id=call.id, form_id=form.id, queue=call.queue,
        agent_extension=call.agent_extension, reviewer=actor.name,
        criteria=list(form.criteria), scores=dict(scores) if isinstance(scores, dict) else {},
        score=score(form.criteria, scores), comment=comment,
        created_at=datetime.now(UTC))
    session.add(review)
    session.flush()
    audit.record(session, actor, "create", "quality_reviews", review.id,
                 after=review.as_dict())
    return review


def list_reviews(session: Session, *, agent: str | None = None, queue: str | None = None,
                 call_id: str | None = None, limit: int = 100) -> list[QualityReview]:
    query = select(QualityReview).order_by(QualityReview.created_at.desc(),
                                           QualityReview.id.desc()).limit(limit)
    if agent:
        query = query.where(QualityReview.agent_extension == agent)
    if queue:
        query = query.where(QualityReview.queue == queue)
    if call_id:
        query = query.where(QualityReview.call_id == call_id)
    return list(session.scalars(query))


def get_review(session: Session, review_id: int) -> QualityReview:
    review = session.get(QualityReview, review_id)
    if review is None:
        raise NotFound("review", str(review_id), "id")
    return review
