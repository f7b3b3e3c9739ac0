"""What a caller needs, and where each need came from (placeholder until the
per-queue context mapping lands): the language the IVR chose, else the
customer's, else the queue's; the skills the IVR asked for, else the queue's."""

from __future__ import annotations

from typing import Any


def resolve_needs(queue: dict[str, Any], ivr_language: str, ivr_skills: tuple[str, ...],
                  context: dict[str, Any]) -> dict[str, Any]:
    customer_language = str((context.get("customer") or {}).get("language") or "")[:2]
    if ivr_language:
        language = {"value": ivr_language, "source": "ivr"}
    elif customer_language:
        language = {"value": customer_language, "source": "customer"}
    else:
        language = {"value": str(queue["language"])[:2], "source": "queue"}
    source = "ivr" if ivr_skills else "queue"
    skills = [{"skill": s, "source": source} for s in (ivr_skills or queue["skills"])]
    return {"language": language, "skills": skills}
