"""Every table of the control plane, imported once so Base.metadata knows them all."""

import control.auth.models  # noqa: F401  (users, refresh_tokens, audit_log)
import control.crm.models  # noqa: F401  (customers, policies, claims, quotes, ...)
import control.crm.sales  # noqa: F401  (products, campaigns, leads)
from control.acd.models import Agent, Call, Queue, QueueMember, RoutingDecision
from control.provisioning.models import DialplanVersion, Did, Trunk

__all__ = ["Agent", "Call", "DialplanVersion", "Did", "Queue", "QueueMember", "RoutingDecision",
           "Trunk"]
