"""Every table of the control plane, imported once so Base.metadata knows them all."""

from control.acd.models import Agent
from control.provisioning.models import Did, Trunk

__all__ = ["Agent", "Did", "Trunk"]
