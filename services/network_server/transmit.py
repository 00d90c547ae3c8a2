"""Handing frames to gateways: RX1 first, RX2 on a TX_ACK error while still in time."""

from __future__ import annotations

import asyncio
from dataclasses import replace

from services.bus import Envelope, Topic
from services.bus.messages import BaseMessage, DownlinkTxAck, GatewayTxAck

from . import metrics
from .adapter_base import INFLIGHT_TTL_S, TX_LEAD_S, AdapterBase, InFlight, log
from .core import downlink as dl
from .support import new_id


class TransmitFlow(AdapterBase):
    async def _transmit(
        self,
        *,
        kind: str,
        dev_eui: str,
        phy_payload: bytes,
        rx1: dl.TxParams | None,
        rx2: dl.TxParams,
        opened_at: float,
        request_id: str | None = None,
        f_cnt_down: int | None = None,
    ) -> str | None:
        """Send in RX1 (RX2 as fallback) if still in time; returns the downlink id."""
        now = asyncio.get_running_loop().time()
        rx2_deadline = opened_at + rx2.delay_s - TX_LEAD_S
        if rx1 is not None and now < opened_at + rx1.delay_s - TX_LEAD_S:
            tx, fallback = rx1, rx2
        elif now < rx2_deadline:
            tx, fallback = rx2, None
        else:
            log.warning("ns.downlink.too_late dev_eui=%s kind=%s", dev_eui, kind)
            self.counters.tx_ack_errors += 1
            metrics.TX_ACK_ERRORS.labels("NS_TOO_LATE").inc()
            return None
        inflight = InFlight(
            kind=kind,
            dev_eui=dev_eui,
            phy_payload=phy_payload,
            tx=tx,
            fallback=fallback,
            deadline=rx2_deadline,
            created=now,
            request_id=request_id,
            f_cnt_down=f_cnt_down,
        )
        return await self._publish_inflight(inflight)

    async def _publish_inflight(self, inflight: InFlight) -> str:
        now = asyncio.get_running_loop().time()
        for key in [k for k, v in self._inflight.items() if now - v.created > INFLIGHT_TTL_S]:
            del self._inflight[key]
        downlink_id = new_id()
        self._inflight[downlink_id] = inflight
        msg = dl.gateway_downlink(
            self.region, inflight.tx, inflight.phy_payload, downlink_id, inflight.dev_eui
        )
        await self.bus.publish(Topic.GW_DOWN, msg.gw_eui, msg)
        self.counters.downlinks += 1
        metrics.DOWNLINKS.labels(inflight.kind).inc()
        log.info(
            "ns.downlink.sent dev_eui=%s gw_eui=%s window=%s tmst=%d freq_hz=%d dr=%d kind=%s",
            inflight.dev_eui,
            msg.gw_eui,
            inflight.tx.window,
            inflight.tx.tmst,
            inflight.tx.freq_hz,
            inflight.tx.dr,
            inflight.kind,
        )
        return downlink_id

    async def on_tx_ack(self, env: Envelope[BaseMessage]) -> None:
        msg = env.message
        assert isinstance(msg, GatewayTxAck)
        inflight = self._inflight.pop(msg.downlink_id, None)
        if inflight is None:
            return
        error = None if msg.error in (None, "", "NONE") else msg.error
        if error is not None:
            self.counters.tx_ack_errors += 1
            metrics.TX_ACK_ERRORS.labels(error).inc()
            now = asyncio.get_running_loop().time()
            if inflight.fallback is not None and now < inflight.deadline:
                log.info(
                    "ns.downlink.retry_rx2 dev_eui=%s gw_eui=%s error=%s",
                    inflight.dev_eui,
                    msg.gw_eui,
                    error,
                )
                await self._publish_inflight(
                    replace(inflight, tx=inflight.fallback, fallback=None, created=now)
                )
                return
            log.warning(
                "ns.downlink.failed dev_eui=%s gw_eui=%s error=%s",
                inflight.dev_eui,
                msg.gw_eui,
                error,
            )
        await self.bus.publish(
            Topic.NS_TX_ACK,
            inflight.dev_eui,
            DownlinkTxAck(
                dev_eui=inflight.dev_eui,
                request_id=inflight.request_id,
                downlink_id=msg.downlink_id,
                gw_eui=msg.gw_eui,
                f_cnt_down=inflight.f_cnt_down,
                error=error,
            ),
        )
