"""The caller's needs: the language and the skills a call is routed on, and
where each of them came from.

- Language: what the caller chose in the IVR, else the language of the
  customer's record in the CRM, else the queue's.
- Skills: the IVR's (a menu choice such as "autos") or else the queue's, plus
  those the customer's context implies, through the queue's ``context_skills``
  mapping: an open claim (``open_claim``) and the type of each active policy
  (``policy:auto``, ``policy:home``...) each name a skill. Admins change the
  mapping per queue; unset, it is :data:`DEFAULT_CONTEXT_SKILLS`.

Each need carries its source (``ivr``, ``customer``, ``queue``) so that the
stored routing decision can say why the call wanted what it wanted.

Pure: no I/O. The router hands in what the dialplan passed, the screen-pop
context the CRM lookup returned (:func:`control.crm.customers.customer_context`,
``{}`` for an unknown caller) and the queue's settings (``Queue.as_dict()``).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from control.crm.models import OPEN_CLAIM_STATUSES, PolicyStatus, ProductType

IVR, CUSTOMER, QUEUE = "ivr", "customer", "queue"

OPEN_CLAIM = "open_claim"
POLICY_PREFIX = "policy:"
# What the customer's context can say, as keys of a queue's mapping: an open
# claim, and each line of business a policy can be of.
CONTEXT_KEYS: tuple[str, ...] = (OPEN_CLAIM, *(POLICY_PREFIX + t.value for t in ProductType))
# The mapping of a queue that sets none: an open claim wants the claims desk,
# a policy wants an agent of its line (the lines are also skills' names).
DEFAULT_CONTEXT_SKILLS: dict[str, str] = {
    OPEN_CLAIM: "claims", **{POLICY_PREFIX + t.value: t.value for t in ProductType}}

# the same shapes the admin services accept for skills and languages
_SKILL_RE = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
# "en", "EN", "en_GB", "en-US": Asterisk's and browsers' ways of naming a language
_LANGUAGE_RE = re.compile(r"^([a-z]{2})(?:[_-][a-z0-9]+)*$")
_FALLBACK_LANGUAGE = "es"  # the queues' own default (a queue always has one)
_OPEN_CLAIM_STATUSES = {s.value for s in OPEN_CLAIM_STATUSES}


@dataclass(frozen=True)
class Needs:
    """What a call wants, resolved, with the source of each need."""

    language: str
    language_source: str
    skill_sources: tuple[tuple[str, str], ...]  # (skill, source), in priority order

    @property
    def skills(self) -> tuple[str, ...]:
        return tuple(skill for skill, _ in self.skill_sources)

    def as_dict(self) -> dict[str, Any]:
        """As stored with each routing decision (JSON)."""
        return {"language": {"value": self.language, "source": self.language_source},
                "skills": [{"skill": s, "source": src} for s, src in self.skill_sources]}


def language_code(value: object) -> str | None:
    """A two-letter language code out of what a caller, a record or a channel
    says (``en``, ``EN``, ``en_GB``); None when it says nothing usable."""
    if not isinstance(value, str):
        return None
    match = _LANGUAGE_RE.match(value.strip().lower())
    return match.group(1) if match else None


def _skill_list(values: Sequence[object] | str | None) -> list[str]:
    """Skills as given (a list, or the dialplan's ``a|b``): cleaned, known
    shapes only, each once. Garbage is dropped rather than routed on."""
    if values is None:
        return []
    items = values.split("|") if isinstance(values, str) else list(values)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str):
            continue
        skill = item.strip().lower()
        if _SKILL_RE.match(skill) and skill not in out:
            out.append(skill)
    return out


def context_skills_of(queue: Mapping[str, Any]) -> dict[str, str]:
    """The queue's mapping from the customer's context to skills (the default
    when the queue sets none)."""
    mapping = queue.get("context_skills")
    return dict(DEFAULT_CONTEXT_SKILLS if mapping is None else mapping)


def inferred_skills(context: Mapping[str, Any], mapping: Mapping[str, str]) -> list[str]:
    """Skills the customer's context implies through ``mapping``: an open claim
    first (the likeliest reason to call), then each active policy's line."""
    facts: list[str] = []
    claims = context.get("claims") or []
    # the screen pop lists open claims only; the status check keeps it so if
    # the context ever carries closed ones too
    if any(isinstance(c, Mapping) and c.get("status", "reported") in _OPEN_CLAIM_STATUSES
           for c in claims):
        facts.append(OPEN_CLAIM)
    for policy in context.get("policies") or []:
        if isinstance(policy, Mapping) and policy.get("status", PolicyStatus.ACTIVE.value) \
                == PolicyStatus.ACTIVE.value and isinstance(policy.get("type"), str):
            facts.append(POLICY_PREFIX + policy["type"].strip().lower())
    return _skill_list([mapping.get(fact) or "" for fact in facts])


def resolve(ivr: Sequence[str], context: Mapping[str, Any],
            queue: Mapping[str, Any]) -> Needs:
    """The call's needs.

    ``ivr``: the IVR's language and skills as the dialplan passed them to
    Stasis (``AIT_LANGUAGE``, ``AIT_SKILLS`` as ``a|b``). A DID that goes
    straight to a queue sets neither: they arrive empty (or are missing), and
    the customer's record and the queue decide. ``context``: the customer's
    screen pop (``{}``: caller unknown). ``queue``: the queue's settings.
    """
    ivr_language = language_code(ivr[0]) if len(ivr) > 0 else None
    ivr_skills = _skill_list(ivr[1]) if len(ivr) > 1 else []
    customer = context.get("customer")
    customer_language = language_code(customer.get("language")) \
        if isinstance(customer, Mapping) else None

    if ivr_language:
        language, language_source = ivr_language, IVR
    elif customer_language:
        language, language_source = customer_language, CUSTOMER
    else:
        language = language_code(queue.get("language")) or _FALLBACK_LANGUAGE
        language_source = QUEUE

    # an IVR that names skills (a menu choice) replaces the queue's, as before;
    # what the customer's file says is added to either
    if ivr_skills:
        base = [(s, IVR) for s in ivr_skills]
    else:
        base = [(s, QUEUE) for s in _skill_list(queue.get("skills"))]
    seen = {s for s, _ in base}
    extra = [(s, CUSTOMER) for s in inferred_skills(context, context_skills_of(queue))
             if s not in seen]
    return Needs(language, language_source, tuple(base + extra))
