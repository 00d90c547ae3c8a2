"""NetworkServerService: the network server as one service (settings, bus, storage, clock)."""

from __future__ import annotations

from datetime import UTC, datetime

from services.bus import Bus, Topic
from services.storage import Storage

from .adapter import Clock, NetworkServerAdapter
from .metrics import NsCounters
from .settings import NetworkServerSettings


def utc_now() -> datetime:
    return datetime.now(UTC)


class NetworkServerService:
    """Subscribe with :meth:`start` (before ``bus.start()``); :meth:`stop` closes the open
    dedup windows and waits for their processing (call it before ``bus.stop()``)."""

    def __init__(
        self,
        settings: NetworkServerSettings | None,
        bus: Bus,
        storage: Storage,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings or NetworkServerSettings()
        self.bus = bus
        self.storage = storage
        self.counters = NsCounters()
        self.adapter = NetworkServerAdapter(self.settings, bus, storage, clock, self.counters)
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        group, n = self.settings.consumer_group, self.settings.concurrency
        a = self.adapter
        self.bus.subscribe(Topic.GW_UP, group, a.on_gw_up, n)
        self.bus.subscribe(Topic.JS_JOIN_ACCEPT, group, a.on_join_accept, n)
        self.bus.subscribe(Topic.GW_TX_ACK, group, a.on_tx_ack, n)
        self.bus.subscribe(Topic.AS_DOWN_REQUEST, group, a.on_down_request, n)
        self.bus.subscribe(Topic.DRCC_LINK_ADR, group, a.on_link_adr, n)
        if self.settings.session_broadcast:
            self.bus.subscribe(
                Topic.NS_SESSION_CHANGED,
                f"{group}-sessions-{a.instance_id}",  # every instance reads every change
                a.on_session_changed,
                1,
            )
        self._started = True

    async def wait_idle(self) -> None:
        """Until every open dedup window has closed and been processed (tests, shutdown)."""
        await self.adapter.runner.wait_idle()

    async def stop(self) -> None:
        await self.adapter.runner.flush()
        await self.adapter.session_writer.close()
