"""DrccService: consumes ns.up.meta, runs the device's rate-control policy, publishes
drcc.link_adr and records each decision.

Adapter around :class:`services.drcc.core.DrccCore`: it loads the device's state
(DrccRepository.get_state), looks up the device profile's ``adr_policy`` (cached), calls the
core, saves the state, and for a decision publishes a ``LinkAdrDecision`` (channels as indices
in the region's plan) and records it (DrccRepository.record_decision). Idempotent: a frame
counter already in the device's history is ignored, so a redelivered record changes nothing.

State in memory, coalesced writes: the state of a device seen recently stays in memory
(at most ``state_cache_size`` devices; one not seen for ``state_write_s`` seconds is written
if needed and dropped, so the next uplink reads the database again). Its state is written
when a decision is taken, when its pending decision is applied or its policy changes, after
``state_write_every`` uplinks, ``state_write_s`` seconds after its oldest unwritten uplink,
and on :meth:`DrccService.stop` (every device). What a crash loses is the history of at most
the last ``state_write_every - 1`` uplinks (or ``state_write_s`` seconds) per device, never a
decision: the restarted service only waits that many more uplinks for an estimate, and a
redelivered uplink that was not written yet is simply counted again. In a distributed
deployment a partition that moves to another instance and back within ``state_write_s``
seconds may do the same (the last writer wins). ``state_write_every=1`` writes every uplink.
The API's ``GET .../drcc/state`` shows the last written state.

The network-wide channel usage window lives in memory; after a restart it refills within one
window (``usage_window_s``). Per-device state survives restarts in the database.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from services.bus import Bus, Topic
from services.bus.base import Envelope
from services.bus.messages import BaseMessage, LedgerRecord, LinkAdrDecision, UplinkMeta
from services.lorawan.errors import LoRaWANError
from services.lorawan.types import EUI64
from services.storage.domain import DrccDecision, DrccState
from services.storage.errors import NotFound
from services.storage.storage import Storage

from . import metrics
from .core import DeviceView, DrccCore, Outcome, UplinkInput
from .metrics import DrccCounters
from .plugin import GatewaySignal
from .settings import DrccSettings

log = logging.getLogger("hyperlora.drcc")

Clock = Callable[[], datetime]

#: device -> (looked up at, adr_policy) entries (and DevEUI texts) kept before the cache
#: starts over
PROFILE_CACHE_MAX = 100_000
#: the network ledger's kind for rate-control decisions (chaincode/network.py)
LEDGER_KIND = "link_adr"


def utc_now() -> datetime:
    return datetime.now(UTC)


def uplink_input(msg: UplinkMeta) -> UplinkInput:
    """The core's view of an ns.up.meta record."""
    signals = tuple(
        GatewaySignal(
            gw_eui=s.gw_eui, snr_db=float(s.snr) if s.snr is not None else -30.0, rssi_dbm=s.rssi
        )
        for s in msg.signals
    )
    size = msg.size
    enabled = msg.enabled_channels
    return UplinkInput(
        dev_eui=msg.dev_eui,
        f_cnt=msg.f_cnt,
        time_s=msg.received_at.timestamp(),
        dr=msg.dr,
        freq_hz=msg.freq_hz,
        adr=msg.adr,
        tx_power_index=msg.tx_power_index,
        nb_trans=msg.nb_trans,
        signals=signals,
        region=msg.region,
        size=int(size) if size else None,
        enabled_channels=None if enabled is None else tuple(int(i) for i in enabled),
    )


def ledger_record(out: LinkAdrDecision, zone: str, der: float | None = None) -> LedgerRecord:
    """The network-ledger record of one published decision (chaincode/network.py validates
    kind ``link_adr``: key ``<dev_eui>/<decision id>``, the fields below)."""
    payload: dict[str, Any] = {
        "dev_eui": out.dev_eui,
        "reason": out.reason or "unspecified",
        "algorithm": out.policy,
        "dr": out.dr,
        "tx_power_index": out.tx_power_index,
        "nb_trans": out.nb_trans,
        "channels": list(out.channels),
        "zone": zone,
        "decided_at": out.decided_at.isoformat(),
        "details": {"decision_id": out.decision_id, "based_on_f_cnt": out.based_on_f_cnt},
    }
    if der is not None:
        payload["der"] = min(1.0, max(0.0, float(der)))
    return LedgerRecord(
        idempotency_key=f"adr:{out.dev_eui}:{out.decision_id}",
        channel="network",
        kind=LEDGER_KIND,
        zone=zone,
        key=f"{out.dev_eui}/{out.decision_id}",
        payload=payload,
    )


@dataclass(slots=True)
class _Cached:
    """A device's state in memory."""

    view: DeviceView
    used_at: float  # monotonic time of the last uplink
    unsaved: int = 0  # uplinks since the last write
    unsaved_since: float = 0.0  # monotonic time of the oldest unsaved uplink
    busy: int = 0  # handlers using it right now (never dropped while > 0)


class DrccService:
    """Subscribe with :meth:`start` (before ``bus.start()``); :meth:`stop` writes the
    states held in memory."""

    def __init__(
        self,
        settings: DrccSettings | None,
        bus: Bus,
        storage: Storage,
        clock: Clock = utc_now,
    ) -> None:
        self.settings = settings or DrccSettings()
        self.bus = bus
        self.storage = storage
        self.clock = clock
        self.core = DrccCore(self.settings)
        self.counters = DrccCounters()
        self._profiles: dict[str, tuple[float, str | None]] = {}
        self._states: dict[str, _Cached] = {}  # least recently used first
        self._euis: dict[str, tuple[EUI64, str]] = {}
        self._flusher: asyncio.Task[None] | None = None
        self._subscribed = False
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        s = self.settings
        if not self._subscribed:
            self.bus.subscribe(
                Topic.NS_UP_META, s.consumer_group, self.on_uplink_meta, s.concurrency
            )
            self._subscribed = True
        self._started = True
        self._flusher = asyncio.create_task(self._flush_loop(), name="drcc-state-flush")

    async def stop(self) -> None:
        """Write every state held in memory; later uplinks are written one by one."""
        self._started = False
        if self._flusher is not None:
            self._flusher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._flusher
            self._flusher = None
        await self.flush()

    # -- state in memory --------------------------------------------------------------------

    async def flush(self, idle_s: float | None = None) -> int:
        """Write the unsaved states (all, or those whose oldest unsaved uplink is ``idle_s``
        old) and drop from memory the devices not seen for ``idle_s`` (all when None).
        Returns the number of states written."""
        now = time.monotonic()
        written = 0
        for key, entry in list(self._states.items()):
            due = idle_s is None or now - entry.unsaved_since >= idle_s
            if entry.unsaved and due and await self._write(key, entry):
                written += 1
            stale = idle_s is None or now - entry.used_at >= idle_s
            if stale and not entry.unsaved and not entry.busy and self._states.get(key) is entry:
                del self._states[key]
        return written

    async def _flush_loop(self) -> None:
        period = min(self.settings.state_write_s / 2, 5.0)
        while True:
            await asyncio.sleep(period)
            try:
                await self.flush(self.settings.state_write_s)
            except Exception:  # keep flushing: the next round retries what failed
                log.warning("drcc.state.flush_failed", exc_info=True)

    async def _write(self, key: str, entry: _Cached) -> bool:
        """Write the entry's state now (False: the device is gone, dropped from memory)."""
        state = entry.view.to_json()
        entry.unsaved = 0
        try:
            await self.storage.drcc.save_state(
                DrccState(dev_eui=EUI64.from_hex(key), policy=entry.view.policy, state=state)
            )
        except NotFound:
            if self._states.get(key) is entry:
                del self._states[key]
            return False
        except BaseException:
            entry.unsaved = max(entry.unsaved, 1)  # retried by the next write or flush
            raise
        return True

    async def _cached(self, key: str, dev_eui: EUI64) -> _Cached:
        entry = self._states.get(key)
        now = time.monotonic()
        if entry is not None:
            del self._states[key]  # moved to the most recently used end
            self._states[key] = entry
            entry.used_at = now
            return entry
        stored = await self.storage.drcc.get_state(dev_eui)
        entry = self._states.get(key)  # loaded meanwhile (a redelivery racing this one)
        if entry is None:
            view = DeviceView.from_json(None if stored is None else stored.state)
            entry = _Cached(view, now)
            if self._started:
                self._states[key] = entry
                if len(self._states) > self.settings.state_cache_size:
                    await self._evict()
        return entry

    async def _evict(self) -> None:
        """Drop the least recently used devices beyond the cache size (written first)."""
        excess = len(self._states) - self.settings.state_cache_size
        for key, entry in list(self._states.items()):
            if excess <= 0:
                break
            if entry.busy:
                continue
            if entry.unsaved:
                await self._write(key, entry)
            if not entry.unsaved and not entry.busy and self._states.get(key) is entry:
                del self._states[key]
                excess -= 1

    # -- profile lookup ---------------------------------------------------------------------

    def _eui(self, text: str) -> tuple[EUI64, str]:
        """The DevEUI of a record and its canonical text, memoised (LoRaWANError if invalid)."""
        hit = self._euis.get(text)
        if hit is None:
            dev_eui = EUI64.from_hex(text)
            if len(self._euis) >= PROFILE_CACHE_MAX:
                self._euis.clear()
            hit = self._euis[text] = (dev_eui, str(dev_eui))
        return hit

    async def _profile_policy(self, dev_eui: EUI64, key: str) -> tuple[bool, str | None]:
        """(device known, the profile's adr_policy); ``key`` is ``str(dev_eui)``."""
        hit = self._profiles.get(key)
        now = time.monotonic()
        if hit is not None and now - hit[0] < self.settings.profile_cache_s:
            return True, hit[1]
        device = await self.storage.devices.get(dev_eui, tenant_id=None)
        if device is None:
            return False, None
        profile = await self.storage.device_profiles.get(device.device_profile_id, tenant_id=None)
        policy = None if profile is None else profile.adr_policy
        if len(self._profiles) >= PROFILE_CACHE_MAX:
            self._profiles.clear()
        self._profiles[key] = (now, policy)
        return True, policy

    # -- handler ----------------------------------------------------------------------------

    async def on_uplink_meta(self, env: Envelope[BaseMessage]) -> None:
        try:
            await self._handle(env)
        finally:
            self.counters.handled += 1

    async def _handle(self, env: Envelope[BaseMessage]) -> None:
        msg = env.message
        assert isinstance(msg, UplinkMeta)
        try:
            dev_eui, key = self._eui(msg.dev_eui)
            known, profile_policy = await self._profile_policy(dev_eui, key)
            if not known:
                self.counters.skip("unknown_device")
                return
            entry = await self._cached(key, dev_eui)
        except LoRaWANError as exc:
            self._invalid(msg, exc)
            return
        entry.busy += 1
        try:
            await self._handle_cached(key, entry, msg, profile_policy)
        finally:
            entry.busy -= 1

    def _invalid(self, msg: UplinkMeta, exc: LoRaWANError) -> None:
        self.counters.errors += 1
        metrics.ERRORS.labels(type(exc).__name__).inc()
        log.warning("drcc.uplink.invalid dev_eui=%s error=%s", msg.dev_eui, exc)

    async def _handle_cached(
        self, key: str, entry: _Cached, msg: UplinkMeta, profile_policy: str | None
    ) -> None:
        view = entry.view
        pending, policy_before = view.pending, view.policy
        try:
            policy = self.core.resolve_policy(profile_policy)
            outcome = self.core.handle(view, uplink_input(msg), policy)
        except LoRaWANError as exc:
            self._invalid(msg, exc)
            return
        if outcome.duplicate:
            self.counters.duplicates += 1
            metrics.DUPLICATES.inc()
            return
        self.counters.uplinks += 1
        metrics.UPLINKS.inc()
        if outcome.skipped:
            self.counters.skip(outcome.skipped)
        now = time.monotonic()
        if not entry.unsaved:
            entry.unsaved_since = now
        entry.unsaved += 1
        s = self.settings
        must_write = (
            outcome.decision is not None
            or view.pending is not pending  # applied (or replaced): a decision's fate
            or view.policy != policy_before
            or entry.unsaved >= s.state_write_every
            or now - entry.unsaved_since >= s.state_write_s
            or not self._started
            or self._states.get(key) is not entry  # not held in memory
        )
        if must_write and not await self._write(key, entry):
            self.counters.skip("device_deleted")
            return
        if outcome.decision is not None:
            await self._publish(self._eui(key)[0], msg, outcome)

    async def _publish(self, dev_eui: EUI64, msg: UplinkMeta, outcome: Outcome) -> None:
        d = outcome.decision
        assert d is not None and outcome.decision_id is not None
        out = LinkAdrDecision(
            decision_id=outcome.decision_id,
            dev_eui=msg.dev_eui,
            dr=d.dr,
            tx_power_index=d.tx_power_index,
            channels=list(outcome.channels),
            nb_trans=d.nb_trans,
            policy=outcome.policy,
            reason=d.reason,
            based_on_f_cnt=msg.f_cnt,
            decided_at=self.clock(),
        )
        await self.storage.drcc.record_decision(
            DrccDecision(
                dev_eui=dev_eui,
                policy=outcome.policy,
                dr=d.dr,
                tx_power_index=d.tx_power_index,
                ch_mask=list(outcome.channels),
                nb_trans=d.nb_trans,
                reason=d.reason,
                details={"decision_id": outcome.decision_id, "based_on_f_cnt": msg.f_cnt},
            )
        )
        if self.settings.ledger_enabled:
            der = outcome.view.policy_state.get("last_der")
            record = ledger_record(
                out, self.settings.ledger_zone, der if isinstance(der, int | float) else None
            )
            await self.bus.publish(Topic.LEDGER_TX, record.zone, record)
            self.counters.ledger_records += 1
        await self.bus.publish(Topic.DRCC_LINK_ADR, msg.dev_eui, out)
        self.counters.decisions += 1
        metrics.DECISIONS.labels(outcome.policy).inc()
        log.info(
            "drcc.decision dev_eui=%s policy=%s dr=%d tx_power_index=%d channels=%s "
            "nb_trans=%d reason=%s",
            msg.dev_eui,
            outcome.policy,
            d.dr,
            d.tx_power_index,
            list(outcome.channels),
            d.nb_trans,
            d.reason,
        )
