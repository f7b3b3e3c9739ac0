"""The application's keys: where every part of the app finds what is shared.

A leaf module (it imports nothing of the app at run time), so that route
modules read ``request.app[DB]`` without importing :mod:`control.api.app`,
which imports them all: no import cycles, no imports inside functions.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from control.acd.customers import CrmLink
    from control.acd.router import Router
    from control.acd.store import AcdStore
    from control.campaigns.dialer import CampaignDialer
    from control.db import Database
    from control.events.bus import EventBus
    from control.ha.leadership import Leadership
    from control.settings import Settings
    from control.telephony.ami import AmiClient
    from control.telephony.fleet import AriFleet

# pushes a stored data change (agents, queues, trunks, DIDs) into the running
# stack as `author`, dropping the registrations of the SIP users in `unregister`
Apply = Callable[[str, Sequence[str]], object]

SETTINGS: web.AppKey[Settings] = web.AppKey("settings")
DB: web.AppKey[Database] = web.AppKey("db")
BUS: web.AppKey[EventBus] = web.AppKey("bus")
AMI: web.AppKey[AmiClient] = web.AppKey("ami")
ARI: web.AppKey[AriFleet] = web.AppKey("ari")
CRM: web.AppKey[CrmLink] = web.AppKey("crm")
LEADERSHIP: web.AppKey[Leadership] = web.AppKey("leadership")
ACD_STORE: web.AppKey[AcdStore] = web.AppKey("acd_store")
ROUTER: web.AppKey[Router] = web.AppKey("router")
APPLY: web.AppKey[Apply] = web.AppKey("apply_data_change")
CAMPAIGNS: web.AppKey[CampaignDialer] = web.AppKey("campaigns")
