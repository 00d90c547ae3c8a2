"""The network server adapter: consumes the bus, loads and saves through the repositories,
runs the pure core and publishes what it returns.

Topics in: gw.up, js.join.accept, gw.tx_ack, as.down.request, drcc.link_adr.
Topics out: js.join.request, ns.up, ns.up.meta, ns.join, ns.ack, ns.tx_ack, gw.down.

One class assembled from one module per flow (TTS style, one file per peer):
uplinks.py (data uplinks), joins.py (join requests and accepts), transmit.py (gw.down and
gw.tx_ack, RX2 retry), device_requests.py (device queue and LinkADRReq decisions); shared
state in adapter_base.py.

Every rejection of a frame (undecodable, unknown DevAddr, bad MIC, replayed counter) is a
services.lorawan error caught here, logged with its context, counted, and dropped: the
service keeps serving and the bus does not retry it.
"""

from __future__ import annotations

import logging

from services.bus import Envelope
from services.bus.base import Completion
from services.bus.messages import BaseMessage, GatewayUplink

from . import metrics
from .adapter_base import Clock, log
from .core.dedup import AddResult, DedupGroup
from .device_requests import RequestFlow
from .joins import JoinFlow
from .uplinks import UplinkFlow

__all__ = ["Clock", "NetworkServerAdapter"]

_JOIN_MTYPES = (0, 6)  # JoinRequest, RejoinRequest
_DATA_UP_MTYPES = (2, 4)


class NetworkServerAdapter(UplinkFlow, JoinFlow, RequestFlow):
    """The bus handlers of the network server (subscribed by NetworkServerService)."""

    async def on_gw_up(self, env: Envelope[BaseMessage]) -> Completion | None:
        """Add the copy to its dedup group; return the group's completion (None for a copy
        rejected at once: not an uplink, bad CRC, or a late duplicate)."""
        msg = env.message
        assert isinstance(msg, GatewayUplink)
        data = bytes(msg.phy_payload)
        mtype = data[0] >> 5 if data else -1
        if mtype not in _JOIN_MTYPES and mtype not in _DATA_UP_MTYPES:
            self._malformed("not_an_uplink", gw_eui=msg.rx.gw_eui, mtype=mtype)
            return None
        if not msg.rx.crc_ok:
            self._malformed("crc", gw_eui=msg.rx.gw_eui)
            return None
        result, completion = self.runner.add(msg)
        if result is not AddResult.FIRST:
            self.counters.duplicates += 1
            metrics.DUPLICATES.inc()
        if result is AddResult.LATE:
            self.counters.late_duplicates += 1
            metrics.LATE_DUPLICATES.inc()
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "ns.uplink.late_duplicate gw_eui=%s uplink_id=%s",
                    msg.rx.gw_eui,
                    msg.uplink_id,
                )
        return completion

    async def _on_group(self, group: DedupGroup) -> None:
        if group.key[0] >> 5 in _JOIN_MTYPES:
            await self.handle_join_group(group)
        else:
            await self.handle_data_group(group)
