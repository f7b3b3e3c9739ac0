"""FastAGI handlers the dialplan calls for CRM lookups (IVR caller identification,
self-service). The FastAGI server starts with the stack on 127.0.0.1:4573 once the
IVR issue lands; the dialplan does not depend on it yet."""
