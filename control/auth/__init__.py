"""Users of the API, passwords, tokens and roles, and the audit log."""
