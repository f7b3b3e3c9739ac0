"""FastAGI handlers the dialplan calls for CRM lookups (IVR caller
identification, self-service, callback requests). The server
(:mod:`agi.server`) runs inside the control plane process on
127.0.0.1:${ports.fastagi}; the lookups (:mod:`agi.handlers`) are shared with
``aitcomms dialplan simulate``."""
