"""DrccService: consumes ns.up.meta, runs the device's rate-control policy, publishes
drcc.link_adr and records each decision.

Adapter around :class:`services.drcc.core.DrccCore`: it loads the device's state
(DrccRepository.get_state), looks up the device profile's ``adr_policy`` (cached), calls the
core, saves the state, and for a decision publishes a ``LinkAdrDecision`` (channels as indices
in the region's plan) and records it (DrccRepository.record_decision). Idempotent: a frame
counter already in the stored history is ignored, so a redelivered record changes nothing.

The network-wide channel usage window lives in memory; after a restart it refills within one
window (``usage_window_s``). Per-device state survives restarts in the database.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
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

#: device -> (looked up at, adr_policy) entries kept before the cache starts over
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


class DrccService:
    """Subscribe with :meth:`start` (before ``bus.start()``)."""

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
        self._started = False

    async def start(self) -> None:
        if self._started:
            return
        s = self.settings
        self.bus.subscribe(Topic.NS_UP_META, s.consumer_group, self.on_uplink_meta, s.concurrency)
        self._started = True

    async def stop(self) -> None:
        self._started = False

    # -- profile lookup ---------------------------------------------------------------------

    async def _profile_policy(self, dev_eui: EUI64) -> tuple[bool, str | None]:
        """(device known, the profile's adr_policy)."""
        key = str(dev_eui)
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
            dev_eui = EUI64.from_hex(msg.dev_eui)
            known, profile_policy = await self._profile_policy(dev_eui)
            if not known:
                self.counters.skip("unknown_device")
                return
            stored = await self.storage.drcc.get_state(dev_eui)
            view = DeviceView.from_json(None if stored is None else stored.state)
            policy = self.core.resolve_policy(profile_policy)
            outcome = self.core.handle(view, uplink_input(msg), policy)
        except LoRaWANError as exc:
            self.counters.errors += 1
            metrics.ERRORS.labels(type(exc).__name__).inc()
            log.warning("drcc.uplink.invalid dev_eui=%s error=%s", msg.dev_eui, exc)
            return
        if outcome.duplicate:
            self.counters.duplicates += 1
            metrics.DUPLICATES.inc()
            return
        self.counters.uplinks += 1
        metrics.UPLINKS.inc()
        if outcome.skipped:
            self.counters.skip(outcome.skipped)
        try:
            await self._save(dev_eui, outcome)
        except NotFound:
            self.counters.skip("device_deleted")
            return
        if outcome.decision is not None:
            await self._publish(dev_eui, msg, outcome)

    async def _save(self, dev_eui: EUI64, outcome: Outcome) -> None:
        await self.storage.drcc.save_state(
            DrccState(dev_eui=dev_eui, policy=outcome.view.policy, state=outcome.view.to_json())
        )

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
