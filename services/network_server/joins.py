"""The join flow: dedup -> js.join.request; js.join.accept -> session, JoinAccept, ns.join."""

from __future__ import annotations

import asyncio
import uuid

from services.bus import Envelope, Topic
from services.bus.messages import BaseMessage, JoinAccept, JoinEvent, JoinRequest
from services.lorawan import JoinRequestPayload, PhyPayload, RejoinRequestPayload
from services.lorawan.errors import LoRaWANError
from services.lorawan.region import FixedChannelRegion
from services.lorawan.types import EUI64, AES128Key, DevAddr
from services.storage.domain import DeviceSession
from services.storage.errors import NotFound, StorageError

from . import metrics
from .adapter_base import JOIN_CONTEXT_TTL_S, JoinContext, log
from .core import downlink as dl
from .core import uplink as up
from .core.channels import default_enabled_channels
from .core.dedup import DedupGroup
from .errors import DownlinkNotPossible
from .support import new_id
from .transmit import TransmitFlow


class JoinFlow(TransmitFlow):
    async def handle_join_group(self, group: DedupGroup) -> None:
        rx = tuple(group.rx)
        gws = ",".join(r.gw_eui for r in rx)
        try:
            phy = PhyPayload.from_bytes(group.key)
            payload = phy.payload
            if isinstance(payload, RejoinRequestPayload):
                self._malformed("rejoin_unsupported", gw_eui=gws)
                return
            if not isinstance(payload, JoinRequestPayload):
                self._malformed("not_a_join_request", gw_eui=gws)
                return
            dr = up.uplink_dr(self.region, rx[0])
        except LoRaWANError as exc:
            self._malformed(type(exc).__name__, gw_eui=gws, error=str(exc))
            return
        now = asyncio.get_running_loop().time()
        for key in [k for k, v in self._joins.items() if now - v.opened_at > JOIN_CONTEXT_TTL_S]:
            del self._joins[key]
        dedup_id = new_id()
        received_at = min(r.received_at for r in rx)
        self._joins[dedup_id] = JoinContext(rx, dr, rx[0].freq_hz, received_at, group.opened_at)
        msg = JoinRequest(
            dedup_id=dedup_id,
            phy_payload=group.key,
            dev_eui=str(payload.dev_eui),
            join_eui=str(payload.join_eui),
            dev_nonce=payload.dev_nonce,
            net_id=self.settings.net_id,
            region=self.region.name,
            dr=dr,
            freq_hz=rx[0].freq_hz,
            rx=list(rx),
            received_at=received_at,
        )
        self.counters.join_requests += 1
        metrics.JOIN_REQUESTS.inc()
        log.info(
            "ns.join.request dev_eui=%s join_eui=%s dev_nonce=%d gw_eui=%s",
            msg.dev_eui,
            msg.join_eui,
            msg.dev_nonce,
            gws,
        )
        await self.bus.publish(Topic.JS_JOIN_REQUEST, msg.dev_eui, msg)

    async def on_join_accept(self, env: Envelope[BaseMessage]) -> None:
        msg = env.message
        assert isinstance(msg, JoinAccept)
        jctx = self._joins.pop(msg.dedup_id, None)
        if not msg.accepted:
            log.info("ns.join.rejected dev_eui=%s reason=%s", msg.dev_eui, msg.reason)
            return
        if jctx is None:
            log.warning("ns.join.unknown_request dev_eui=%s dedup_id=%s", msg.dev_eui, msg.dedup_id)
            return
        if (
            msg.phy_payload is None
            or msg.dev_addr is None
            or msg.f_nwk_s_int_key is None
            or msg.s_nwk_s_int_key is None
            or msg.nwk_s_enc_key is None
        ):
            log.error("ns.join.incomplete_accept dev_eui=%s", msg.dev_eui)
            return
        dev_eui = EUI64.from_hex(msg.dev_eui)
        mac_version = msg.mac_version or await self._profile_mac_version(dev_eui)
        session = DeviceSession(
            dev_eui=dev_eui,
            dev_addr=DevAddr.from_hex(msg.dev_addr),
            mac_version=mac_version,
            f_nwk_s_int_key=AES128Key.from_hex(msg.f_nwk_s_int_key),
            s_nwk_s_int_key=AES128Key.from_hex(msg.s_nwk_s_int_key),
            nwk_s_enc_key=AES128Key.from_hex(msg.nwk_s_enc_key),
            app_s_key=None,
            session_id=uuid.UUID(msg.session_id) if msg.session_id else uuid.uuid4(),
            rx1_delay=max(1, msg.rx_delay_s),
            rx1_dr_offset=msg.rx1_dr_offset,
            rx2_dr=msg.rx2_dr,
            rx2_freq=msg.rx2_freq_hz or self.region.rx2_frequency_hz,
            dr=jctx.dr,
            enabled_channels=default_enabled_channels(self.region),
        )
        self._apply_cf_list(session, msg.cf_list)
        try:
            async with self._locks.hold(msg.dev_eui):
                await self.storage.sessions.create(session)
                # a new session: the device's cached one (via the repository's listener) and
                # the cached candidates of its new DevAddr (shared DevAddrs) are stale
                self.session_cache.invalidate_dev_eui(dev_eui)
                self.session_cache.invalidate_dev_addr(session.dev_addr)
        except (NotFound, StorageError) as exc:
            log.error("ns.join.session_not_created dev_eui=%s error=%s", msg.dev_eui, exc)
            return
        await self.announce_session_change(dev_eui, session.dev_addr)
        try:
            gw = dl.select_gateway(jctx.rx)
            rx1, rx2 = dl.join_accept_windows(
                self.region,
                gw,
                uplink_dr=jctx.dr,
                rx2_dr=self.settings.rx2_dr,
                rx2_freq_hz=self.settings.rx2_freq_hz,
                power_override=self.settings.downlink_tx_power_dbm,
            )
        except (DownlinkNotPossible, LoRaWANError) as exc:
            log.warning("ns.join.no_downlink dev_eui=%s error=%s", msg.dev_eui, exc)
            return
        await self._transmit(
            kind="join_accept",
            dev_eui=msg.dev_eui,
            phy_payload=msg.phy_payload,
            rx1=rx1,
            rx2=rx2,
            opened_at=jctx.opened_at,
        )
        event = JoinEvent(
            dedup_id=msg.dedup_id,
            dev_eui=msg.dev_eui,
            join_eui=msg.join_eui,
            dev_addr=msg.dev_addr,
            session_id=str(session.session_id),
            mac_version=mac_version,
            application_id=await self._application_id(dev_eui),
            rx=list(jctx.rx),
            received_at=jctx.received_at,
        )
        await self.bus.publish(Topic.NS_JOIN, event.dev_eui, event)
        log.info(
            "ns.join.accepted dev_eui=%s dev_addr=%s session_id=%s",
            msg.dev_eui,
            msg.dev_addr,
            session.session_id,
        )

    def _apply_cf_list(self, session: DeviceSession, cf_list: bytes | None) -> None:
        if not cf_list:
            return
        try:
            values = self.region.decode_cflist(cf_list)
            if isinstance(self.region, FixedChannelRegion):
                enabled = self.region.enabled_from_cflist_ch_masks(values)
                session.enabled_channels = sorted(enabled)
                return
            start = len(self.region.default_channels())
            extra = {str(start + i): f for i, f in enumerate(values) if f}
            session.mac_command_state["cflist_channels"] = extra
            session.enabled_channels = sorted({*session.enabled_channels, *(int(k) for k in extra)})
        except LoRaWANError as exc:
            log.warning("ns.join.bad_cf_list dev_eui=%s error=%s", session.dev_eui, exc)
