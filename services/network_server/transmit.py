"""Handing frames to gateways: RX1 first, RX2 on a TX_ACK error while still in time.

Any network-server instance can finish a downlink from its gw.tx_ack alone: gw.down carries
a retry context (core/retry_context.py: kind, dev_eui, request_id, f_cnt_down, wall-clock
deadline, and the frame with its RX2 parameters when RX2 is the fallback) that the gateway
bridge echoes on gw.tx_ack. gw.tx_ack is keyed by gateway, so with several instances in one
consumer group it often reaches an instance that did not send the downlink. The in-memory
``_inflight`` entry is only the fallback for a TX_ACK without a (readable) context, from a
bridge that predates it: then only the sending instance can finish the downlink.

The RX2 retry of downlink ``X`` has the id ``X-rx2`` (not a fresh one), so a gw.tx_ack
delivered twice (at-least-once bus, rebalance) yields one RX2 transmission: the bridge drops
an already-sent downlink id, and the app handler drops a repeated (downlink_id, error).
"""

from __future__ import annotations

import asyncio

from services.bus import Envelope, Topic
from services.bus.messages import BaseMessage, DownlinkTxAck, GatewayTxAck

from . import metrics
from .adapter_base import INFLIGHT_TTL_S, TX_LEAD_S, AdapterBase, InFlight, log
from .core import downlink as dl
from .core import retry_context as rc
from .support import new_id

RX2_RETRY_SUFFIX = "-rx2"


class TransmitFlow(AdapterBase):
    def _wall_ms(self) -> int:
        return int(self.clock().timestamp() * 1000)

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
            deadline_ms=self._wall_ms() + int((rx2_deadline - now) * 1000),
        )
        return await self._publish_inflight(inflight, new_id())

    async def _publish_inflight(self, inflight: InFlight, downlink_id: str) -> str:
        now = inflight.created
        for key in [k for k, v in self._inflight.items() if now - v.created > INFLIGHT_TTL_S]:
            del self._inflight[key]
        self._inflight[downlink_id] = inflight
        context = rc.RetryContext(
            kind=inflight.kind,
            dev_eui=inflight.dev_eui,
            deadline_ms=inflight.deadline_ms,
            request_id=inflight.request_id,
            f_cnt_down=inflight.f_cnt_down,
            phy_payload=inflight.phy_payload if inflight.fallback is not None else b"",
            fallback=inflight.fallback,
        )
        msg = dl.gateway_downlink(
            self.region,
            inflight.tx,
            inflight.phy_payload,
            downlink_id,
            inflight.dev_eui,
            retry=rc.encode(context),
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

    def _context_of(self, msg: GatewayTxAck) -> rc.RetryContext | None:
        if not msg.retry:
            return None
        try:
            return rc.decode(bytes(msg.retry))
        except rc.UnknownRetryContext as exc:
            metrics.TX_ACK_ERRORS.labels("NS_BAD_RETRY_CONTEXT").inc()
            log.warning(
                "ns.tx_ack.context_unreadable downlink_id=%s gw_eui=%s error=%s",
                msg.downlink_id,
                msg.gw_eui,
                exc,
            )
            return None

    async def on_tx_ack(self, env: Envelope[BaseMessage]) -> None:
        msg = env.message
        assert isinstance(msg, GatewayTxAck)
        local = self._inflight.pop(msg.downlink_id, None)
        context = self._context_of(msg)
        now = asyncio.get_running_loop().time()
        if context is not None:  # from the message alone: the same outcome on any instance
            in_time = self._wall_ms() < context.deadline_ms
        elif local is not None:  # a bridge that does not echo the context: the sender only
            context = rc.RetryContext(
                kind=local.kind,
                dev_eui=local.dev_eui,
                deadline_ms=local.deadline_ms,
                request_id=local.request_id,
                f_cnt_down=local.f_cnt_down,
                phy_payload=local.phy_payload,
                fallback=local.fallback,
            )
            in_time = now < local.deadline
        else:
            log.debug("ns.tx_ack.unknown downlink_id=%s gw_eui=%s", msg.downlink_id, msg.gw_eui)
            return
        error = None if msg.error in (None, "", "NONE") else msg.error
        if error is not None:
            self.counters.tx_ack_errors += 1
            metrics.TX_ACK_ERRORS.labels(error).inc()
            if context.fallback is not None and in_time:
                log.info(
                    "ns.downlink.retry_rx2 dev_eui=%s gw_eui=%s error=%s downlink_id=%s",
                    context.dev_eui,
                    msg.gw_eui,
                    error,
                    msg.downlink_id,
                )
                retry = InFlight(
                    kind=context.kind,
                    dev_eui=context.dev_eui,
                    phy_payload=context.phy_payload,
                    tx=context.fallback,
                    fallback=None,
                    deadline=local.deadline if local is not None else now,
                    created=now,
                    request_id=context.request_id,
                    f_cnt_down=context.f_cnt_down,
                    deadline_ms=context.deadline_ms,
                )
                await self._publish_inflight(retry, msg.downlink_id + RX2_RETRY_SUFFIX)
                return
            log.warning(
                "ns.downlink.failed dev_eui=%s gw_eui=%s error=%s downlink_id=%s in_time=%s",
                context.dev_eui,
                msg.gw_eui,
                error,
                msg.downlink_id,
                in_time,
            )
        await self.bus.publish(
            Topic.NS_TX_ACK,
            context.dev_eui,
            DownlinkTxAck(
                dev_eui=context.dev_eui,
                request_id=context.request_id,
                downlink_id=msg.downlink_id,
                gw_eui=msg.gw_eui,
                f_cnt_down=context.f_cnt_down,
                error=error,
            ),
        )
