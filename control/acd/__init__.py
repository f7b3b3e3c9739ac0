"""Automatic call distribution: agents, queues, routing."""
