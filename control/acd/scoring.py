"""Scoring agents for a waiting call: the routing decision, explained.

Score = previous agent of this customer (+50) + speaks the caller's language
(+20) + each skill the caller wants that the agent has (+10 each) + calls
handled today (-2 each) - the agent's penalty in the queue. Weights are
per queue. Ties go to the agent idle longest, then the lowest extension.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any


@dataclass(frozen=True)
class Candidate:
    extension: str
    languages: tuple[str, ...]
    skills: tuple[str, ...]
    calls_today: int
    penalty: int
    idle_since: datetime | None


@dataclass(frozen=True)
class CallNeeds:
    language: str
    skills: tuple[str, ...]
    previous_agent: str | None


@dataclass
class Scored:
    extension: str
    score: float
    breakdown: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {"extension": self.extension, "score": self.score, "breakdown": self.breakdown}


def score(candidate: Candidate, needs: CallNeeds, weights: dict[str, float]) -> Scored:
    b: dict[str, float] = {}
    if needs.previous_agent and candidate.extension == needs.previous_agent:
        b["previous_agent"] = weights["previous_agent"]
    if needs.language in candidate.languages:
        b["language"] = weights["language"]
    matching = [s for s in needs.skills if s in candidate.skills]
    if matching:
        b["skills"] = weights["skill"] * len(matching)
    if candidate.calls_today:
        b["calls_today"] = weights["call_today"] * candidate.calls_today
    if candidate.penalty:
        b["penalty"] = -float(candidate.penalty)
    return Scored(candidate.extension, sum(b.values()), b)


def rank(candidates: list[Candidate], needs: CallNeeds,
         weights: dict[str, float]) -> list[Scored]:
    """Best first."""
    idle = {c.extension: (c.idle_since.timestamp() if c.idle_since else 0.0) for c in candidates}
    scored = [score(c, needs, weights) for c in candidates]
    return sorted(scored, key=lambda s: (-s.score, idle[s.extension], s.extension))


def explain(best: Scored, ranked: list[Scored]) -> str:
    parts = [f"{k} {v:+g}" for k, v in best.breakdown.items()] or ["no preference matched"]
    runner = next((s for s in ranked if s.extension != best.extension), None)
    versus = f"; next best {runner.extension} at {runner.score:g}" if runner else ""
    return f"{best.extension} scored {best.score:g} ({', '.join(parts)}){versus}"
