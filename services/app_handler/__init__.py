"""The application handler: FRMPayload decryption, payload codecs, integrations (MQTT, HTTP
webhooks, the API's event hub), the uplink log and the ledger records of each uplink, and the
encryption of application downlinks (the AppSKey lives only here, in ``app_sessions``).

Layout: ``core/`` (pure: crypto, counters, events, ledger records), ``codecs/`` (plugins by
name), ``integrations/`` (MQTT, webhooks), ``service.py`` (the bus adapter), ``app.py`` and
``__main__.py`` (the composition root).
"""

from __future__ import annotations

from .service import AppHandlerService
from .sessions import activate_abp
from .settings import AppHandlerSettings, MqttSettings, WebhookSettings

__all__ = [
    "AppHandlerService",
    "AppHandlerSettings",
    "MqttSettings",
    "WebhookSettings",
    "activate_abp",
]
