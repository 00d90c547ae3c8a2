"""HyperLoRa REST management API (FastAPI): tenants, API keys, applications, device profiles,
devices (activation, session, uplinks, downlink queue), gateways, zones, the live event stream,
``/health`` and ``/metrics``.

A composition root builds it with::

    hub = EventHub()
    app = create_app(storage, bus, hub, ApiSettings())
    service = ApiService(ApiSettings(), bus, storage, event_hub=hub)   # uvicorn on 127.0.0.1:8080
"""

from .app import create_app
from .events import EventHub
from .service import ApiService
from .settings import ApiSettings

__all__ = ["ApiService", "ApiSettings", "EventHub", "create_app"]
