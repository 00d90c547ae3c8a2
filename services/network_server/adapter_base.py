"""Shared state and helpers of the network server adapter (see adapter.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from services.bus import Bus, Topic
from services.bus.base import Envelope
from services.bus.messages import BaseMessage, RxMetadata, SessionChanged
from services.lorawan.region import Region, get_region
from services.lorawan.types import EUI64, DevAddr
from services.storage import Storage
from services.storage.batching import GroupCommitter
from services.storage.domain import DeviceSession
from services.storage.errors import StaleVersion
from services.storage.repositories.session_batch import SessionWrite

from . import metrics
from .core.dedup import DedupGroup
from .core.downlink import TxParams
from .dedup_runner import DedupRunner
from .metrics import NsCounters
from .session_cache import SessionCache
from .settings import NetworkServerSettings
from .support import KeyedLocks

log = logging.getLogger("hyperlora.network_server")
_CLOCK_SLACK = timedelta(seconds=5)  # clocks of two hosts may differ this much

Clock = Callable[[], datetime]

TX_LEAD_S = 0.05  # the gateway must have the frame this long before the window opens
JOIN_CONTEXT_TTL_S = 30.0
INFLIGHT_TTL_S = 30.0


@dataclass(frozen=True, slots=True)
class JoinContext:
    """What the network server keeps of a join request until the join server answers."""

    rx: tuple[RxMetadata, ...]
    dr: int
    freq_hz: int
    received_at: datetime
    opened_at: float  # loop time the first copy arrived


@dataclass(frozen=True, slots=True)
class InFlight:
    """A frame handed to a gateway, kept until its TX_ACK (for the RX2 retry). Only a TX_ACK
    without the retry context (an older bridge) needs it; see transmit.py."""

    kind: str  # "data" / "join_accept"
    dev_eui: str
    phy_payload: bytes
    tx: TxParams
    fallback: TxParams | None
    deadline: float  # loop time after which the fallback window is gone
    created: float
    request_id: str | None = None
    f_cnt_down: int | None = None
    deadline_ms: int = 0  # the same deadline on the wall clock (ms since the epoch)


class AdapterBase:
    """Settings, bus, storage, clock, counters, locks and the dedup runner."""

    def __init__(
        self,
        settings: NetworkServerSettings,
        bus: Bus,
        storage: Storage,
        clock: Clock,
        counters: NsCounters,
    ) -> None:
        self.settings = settings
        self.bus = bus
        self.storage = storage
        self.clock = clock
        self.counters = counters
        self.region: Region = get_region(settings.region)
        self.runner = DedupRunner(
            settings.dedup_window_ms / 1000.0,
            self._on_group,
            early_close=settings.dedup_early_close,
            history_frames=settings.dedup_history_frames,
        )
        self._locks = KeyedLocks()  # per DevEUI: session read-modify-write
        self._addr_locks = KeyedLocks()  # per DevAddr: uplink order
        self._uplink_slots = asyncio.Semaphore(settings.max_concurrent_uplinks)
        self._app_ids: dict[str, str | None] = {}
        # DevEUI -> the last FCnt this instance forwarded on ns.up (see _remember_forwarded)
        self._forwarded: OrderedDict[str, int] = OrderedDict()
        self._joins: dict[str, JoinContext] = {}  # dedup id -> join request context
        self._inflight: dict[str, InFlight] = {}  # downlink id -> frame awaiting TX_ACK
        # the uplink path's sessions (a hint: every write is conditional) and its writes,
        # many frames' in one transaction, each frame awaiting its batch's commit
        self.session_cache = SessionCache(settings.session_cache_size)
        storage.sessions.on_change(self.session_cache.invalidate_dev_eui)
        # other instances' caches: see announce_session_change / on_session_changed
        self.instance_id = settings.instance_id or uuid.uuid4().hex[:12]
        self._started_at = clock()
        self.session_writer: GroupCommitter[SessionWrite, int] = GroupCommitter(
            storage.sessions.save_many,
            max_batch=settings.commit_max_batch,
            linger_s=settings.commit_linger_ms / 1000.0,
        )

    def _remember_forwarded(self, dev_eui: str, f_cnt: int) -> None:
        """A repetition of this frame is not forwarded again by this instance; one this
        instance never forwarded is (up.application_uplink, ``again``). Bounded like the
        session cache; a forgotten device only costs one duplicate the app handler drops."""
        self._forwarded[dev_eui] = f_cnt
        self._forwarded.move_to_end(dev_eui)
        if len(self._forwarded) > self.settings.session_cache_size:
            self._forwarded.popitem(last=False)

    async def _on_group(self, group: DedupGroup) -> None:
        raise NotImplementedError

    async def announce_session_change(self, dev_eui: EUI64, dev_addr: DevAddr | None) -> None:
        """Tell the other network-server instances that ``dev_eui``'s session changed (after
        the commit, before the message that caused it is acknowledged). A failure is logged:
        their caches then catch up at the first conditional write that fails, as before."""
        if not self.settings.session_broadcast:
            return
        msg = SessionChanged(
            dev_eui=str(dev_eui),
            dev_addr=None if dev_addr is None else str(dev_addr),
            origin=self.instance_id,
            changed_at=self.clock(),
        )
        try:
            await self.bus.publish(Topic.NS_SESSION_CHANGED, str(dev_eui), msg)
            self.counters.session_broadcasts += 1
        except Exception as exc:  # never fail the change itself over the announcement
            log.warning("ns.session.broadcast_failed dev_eui=%s error=%r", dev_eui, exc)

    async def on_session_changed(self, env: Envelope[BaseMessage]) -> None:
        """Another instance changed a session: drop the cached copy (ours are ignored, and
        so is a backlog older than this process, whose cache started empty)."""
        msg = env.message
        assert isinstance(msg, SessionChanged)
        if msg.origin == self.instance_id or msg.changed_at < self._started_at - _CLOCK_SLACK:
            return
        self.session_cache.invalidate_dev_eui(EUI64.from_hex(msg.dev_eui))
        if msg.dev_addr is not None:
            self.session_cache.invalidate_dev_addr(DevAddr.from_hex(msg.dev_addr))
        self.counters.session_invalidations += 1

    async def _update_session(
        self, dev_eui: EUI64, mutate: Callable[[DeviceSession], bool]
    ) -> bool:
        """Read, mutate and save a session under the device lock, retrying on conflicts."""
        async with self._locks.hold(str(dev_eui)):
            for _ in range(self.settings.save_retries):
                session = await self.storage.sessions.get_by_dev_eui(dev_eui)
                if session is None:
                    log.info("ns.session.missing dev_eui=%s", dev_eui)
                    return False
                if not mutate(session):
                    return False
                try:
                    await self.storage.sessions.save(session)
                except StaleVersion:
                    self.counters.save_conflicts += 1
                    continue
                await self.announce_session_change(dev_eui, session.dev_addr)
                return True
        log.error("ns.session.save_failed dev_eui=%s", dev_eui)
        return False

    async def _application_id(self, dev_eui: EUI64) -> str | None:
        key = str(dev_eui)
        if key in self._app_ids:
            return self._app_ids[key]
        device = await self.storage.devices.get(dev_eui, tenant_id=None)
        app_id = None if device is None else str(device.application_id)
        if len(self._app_ids) >= self.settings.device_cache_size:
            self._app_ids.clear()
        if self.settings.device_cache_size:
            self._app_ids[key] = app_id
        return app_id

    async def _profile_mac_version(self, dev_eui: EUI64) -> str:
        device = await self.storage.devices.get(dev_eui, tenant_id=None)
        if device is not None:
            profile = await self.storage.device_profiles.get(
                device.device_profile_id, tenant_id=None
            )
            if profile is not None:
                return profile.mac_version
        return "1.0.3"

    def _malformed(self, reason: str, **context: Any) -> None:
        self.counters.malformed += 1
        metrics.MALFORMED.labels(reason).inc()
        fields = " ".join(f"{k}={v}" for k, v in context.items())
        log.info("ns.uplink.dropped reason=%s %s", reason, fields)
