"""Requests for a device: application downlinks into the queue (as.down.request) and
link-adaptation decisions queued as LinkADRReq (drcc.link_adr)."""

from __future__ import annotations

from services.bus import Envelope, Topic
from services.bus.messages import BaseMessage, DownlinkAck, DownlinkRequest, LinkAdrDecision
from services.lorawan.errors import LoRaWANError
from services.lorawan.types import EUI64
from services.storage.domain import DeviceSession, QueueItem
from services.storage.errors import AlreadyExists, NotFound, StaleVersion

from .adapter_base import AdapterBase, log
from .core import downlink as dl
from .core import maccommands as mac
from .support import item_id_for, put_queue_meta


class RequestFlow(AdapterBase):
    async def on_down_request(self, env: Envelope[BaseMessage]) -> None:
        msg = env.message
        assert isinstance(msg, DownlinkRequest)
        if not msg.encrypted or msg.f_cnt_down is None:
            await self._nack(msg, "not_encrypted")
            return
        dev_eui = EUI64.from_hex(msg.dev_eui)
        item_id = item_id_for(msg.request_id)
        counter = msg.f_cnt_down
        async with self._locks.hold(msg.dev_eui):
            if await self.storage.queue.get(item_id) is not None:
                return  # redelivery: already queued
            for _ in range(self.settings.save_retries):
                session = await self.storage.sessions.get_by_dev_eui(dev_eui)
                if session is None:
                    await self._nack(msg, "no_session")
                    return
                if msg.session_id and msg.session_id != str(session.session_id):
                    await self._nack(msg, "session_changed", session)
                    return
                if not dl.item_counter_ok(session, counter):
                    await self._nack(msg, "f_cnt_stale", session)
                    return
                put_queue_meta(session, item_id, msg.request_id, counter)
                try:
                    await self.storage.sessions.save(session)
                    break
                except StaleVersion:
                    self.counters.save_conflicts += 1
            else:
                log.error("ns.queue.save_failed dev_eui=%s", msg.dev_eui)
                return
            try:
                await self.storage.queue.enqueue(
                    QueueItem(
                        id=item_id,
                        dev_eui=dev_eui,
                        f_port=msg.f_port,
                        frm_payload=msg.frm_payload,
                        confirmed=msg.confirmed,
                    )
                )
            except AlreadyExists:
                return
            except (NotFound, LoRaWANError) as exc:
                log.warning("ns.queue.refused dev_eui=%s error=%s", msg.dev_eui, exc)
                return
            # the session (queue counter) and the item are committed: other instances drop
            # their cached copy, so the next uplink sends it whichever instance handles it
            await self.announce_session_change(dev_eui, session.dev_addr)
        log.info(
            "ns.queue.enqueued dev_eui=%s request_id=%s f_cnt_down=%d confirmed=%s",
            msg.dev_eui,
            msg.request_id,
            counter,
            msg.confirmed,
        )

    async def _nack(
        self, msg: DownlinkRequest, reason: str, session: DeviceSession | None = None
    ) -> None:
        log.info(
            "ns.queue.nack dev_eui=%s request_id=%s reason=%s", msg.dev_eui, msg.request_id, reason
        )
        ack = DownlinkAck(
            dev_eui=msg.dev_eui,
            request_id=msg.request_id,
            acknowledged=False,
            session_id=None if session is None else str(session.session_id),
            f_cnt_down=msg.f_cnt_down,
            reason=reason,
            current_f_cnt_down=None if session is None else dl.next_counter(session),
        )
        await self.bus.publish(Topic.NS_ACK, ack.dev_eui, ack)

    async def on_link_adr(self, env: Envelope[BaseMessage]) -> None:
        msg = env.message
        assert isinstance(msg, LinkAdrDecision)
        if not self.settings.allow_adr:
            return
        dev_eui = EUI64.from_hex(msg.dev_eui)
        source = f"{msg.policy}:{msg.decision_id}"

        def mutate(session: DeviceSession) -> bool:
            if any(e.get("source") == source for e in session.pending_mac_commands):
                return False  # redelivery
            entry = mac.queue_link_adr(
                session,
                self.region,
                msg.dr,
                msg.tx_power_index,
                msg.channels,
                msg.nb_trans,
                source=source,
            )
            return entry is not None

        try:
            changed = await self._update_session(dev_eui, mutate)
        except LoRaWANError as exc:
            log.warning("ns.link_adr.invalid dev_eui=%s error=%s", msg.dev_eui, exc)
            return
        log.info(
            "ns.link_adr.%s dev_eui=%s dr=%d tx_power_index=%d channels=%d policy=%s",
            "queued" if changed else "skipped",
            msg.dev_eui,
            msg.dr,
            msg.tx_power_index,
            len(msg.channels),
            msg.policy,
        )
