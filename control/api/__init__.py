"""The control plane's HTTP side: REST API under /api/v1, health, web UI."""
