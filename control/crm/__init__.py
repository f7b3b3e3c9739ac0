"""CRM of the broker: customers, policies, claims, quotes, interactions, tasks."""
