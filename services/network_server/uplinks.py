"""The data-uplink flow: dedup group -> core steps -> storage -> ns.up / ns.up.meta / gw.down."""

from __future__ import annotations

import logging
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from services.bus import Topic
from services.bus.messages import DownlinkAck
from services.lorawan.errors import FrameCounterReplay, LoRaWANError, MicMismatch
from services.storage.domain import DeviceSession, QueueItem
from services.storage.errors import NotFound, StaleVersion
from services.storage.repositories.session_batch import SessionWrite

from . import metrics
from .adapter_base import log
from .core import downlink as dl
from .core import maccommands as mac
from .core import uplink as up
from .core.dedup import DedupGroup
from .errors import DownlinkNotPossible, UnknownDevAddr
from .support import QUEUE_META, drop_queue_meta, get_queue_meta, new_id
from .transmit import TransmitFlow


@dataclass(slots=True)
class _Plan:
    frame: dl.DataDownlinkFrame
    rx1: dl.TxParams | None
    rx2: dl.TxParams


class UplinkFlow(TransmitFlow):
    async def handle_data_group(self, group: DedupGroup) -> None:
        started = time.perf_counter()
        rx = tuple(group.rx)
        frame = up.UplinkFrame(
            dedup_id=new_id(),
            phy_payload=group.key,
            rx=rx,
            received_at=min(r.received_at for r in rx),
        )
        gws = ",".join(r.gw_eui for r in rx)
        dev_addr = group.key[1:5][::-1].hex().upper()
        # Frames of one DevAddr are processed one at a time in arrival order (asyncio locks
        # are FIFO and the groups' tasks start in deadline order): a device's next frame never
        # overtakes the previous one and fails the counter check.
        async with self._addr_locks.hold(dev_addr), self._uplink_slots:
            await self._handle_data_frame(frame, dev_addr, gws, group.opened_at)
        metrics.UPLINK_LATENCY.observe(time.perf_counter() - started)

    async def _handle_data_frame(
        self, frame: up.UplinkFrame, dev_addr: str, gws: str, opened_at: float
    ) -> None:
        try:
            ctx = up.decode(frame, self.region, self.clock())
            await self._select_session(ctx)
            session = ctx.require_session()
            async with self._locks.hold(str(session.dev_eui)):
                await self._complete_uplink(ctx, opened_at)
        except UnknownDevAddr as exc:
            self.counters.unknown_dev_addr += 1
            metrics.UNKNOWN_DEV_ADDR.inc()
            log.info(
                "ns.uplink.unknown_dev_addr dev_addr=%s gw_eui=%s error=%s", dev_addr, gws, exc
            )
        except MicMismatch as exc:
            self.counters.mic_mismatch += 1
            metrics.MIC_MISMATCH.inc()
            log.warning("ns.uplink.mic_mismatch dev_addr=%s gw_eui=%s error=%s", dev_addr, gws, exc)
        except FrameCounterReplay as exc:
            self.counters.f_cnt_replay += 1
            metrics.F_CNT_REPLAY.inc()
            log.warning("ns.uplink.f_cnt_replay dev_addr=%s gw_eui=%s error=%s", dev_addr, gws, exc)
        except LoRaWANError as exc:
            self._malformed(type(exc).__name__, dev_addr=dev_addr, gw_eui=gws, error=str(exc))
        except NotFound as exc:  # the session vanished between lookup and update
            log.warning("ns.uplink.session_gone dev_addr=%s error=%s", dev_addr, exc)

    async def _candidates(self, ctx: up.UplinkContext) -> tuple[list[DeviceSession], bool]:
        """The sessions of the frame's DevAddr: cached (True) or read and cached (False)."""
        cached = self.session_cache.get(ctx.dev_addr)
        if cached is not None:
            return cached, True
        epoch = self.session_cache.epoch
        fresh = await self.storage.sessions.candidates_by_dev_addr(ctx.dev_addr)
        self.session_cache.put(ctx.dev_addr, fresh, epoch)
        return fresh, False

    async def _select_session(self, ctx: up.UplinkContext) -> None:
        """Session, full FCnt, MIC and counter checks; a frame refused on cached sessions is
        checked again on the stored ones before it is rejected (the cache may be stale)."""
        tx_ch = ctx.tx_ch
        candidates, cached = await self._candidates(ctx)
        try:
            up.select_session(ctx, candidates)
            up.check_f_cnt(ctx)
        except (UnknownDevAddr, MicMismatch, FrameCounterReplay):
            if not cached:
                raise
            self.session_cache.invalidate_dev_addr(ctx.dev_addr)
            ctx.tx_ch, ctx.retransmission = tx_ch, False
            candidates, _ = await self._candidates(ctx)
            up.select_session(ctx, candidates)
            up.check_f_cnt(ctx)

    async def _write_session(self, ctx: up.UplinkContext, s: DeviceSession) -> None:
        """The session (and, for a new frame, its counter: written only if greater than the
        stored one) in the next group commit; returns once that transaction committed."""
        s.version = await self.session_writer.submit(
            SessionWrite(s, advance=not ctx.retransmission and not ctx.f_cnt_advanced)
        )
        self.session_cache.update(s)

    async def _complete_uplink(self, ctx: up.UplinkContext, opened_at: float) -> None:
        s0 = ctx.require_session()
        dev_eui = s0.dev_eui
        now = self.clock()
        acks: list[DownlinkAck] = []
        resolved: list[uuid.UUID] = []
        # Every item this server queued has its counter in the session (support.QUEUE_META):
        # without one there is nothing to send or to await, and the queue is not read.
        has_queue = bool(s0.mac_command_state.get(QUEUE_META))
        if has_queue and not ctx.retransmission:
            # the queue is touched below: the counter must be ours first (exact, atomic)
            try:
                await self.storage.sessions.advance_f_cnt_up(
                    dev_eui, ctx.f_cnt, session_id=s0.session_id
                )
            except (FrameCounterReplay, NotFound):
                self.session_cache.invalidate_dev_eui(dev_eui)
                raise
            ctx.f_cnt_advanced = True
        pending_item = await self.storage.queue.get_pending(dev_eui) if has_queue else None
        if pending_item is not None and not ctx.retransmission:
            acks.append(await self._resolve_pending(s0, pending_item, ctx.ack))
            resolved.append(pending_item.id)
            pending_item = None
        item: dl.QueuedPayload | None = None
        more = False
        if pending_item is None and has_queue:
            item, more = await self._next_item(s0, now, acks, resolved)

        plan: _Plan | None = None
        for _attempt in range(self.settings.save_retries):
            up.process(
                ctx,
                allow_adr=self.settings.allow_adr,
                max_retries=self.settings.mac_command_max_retries,
            )
            s = ctx.require_session()
            for rid in resolved:
                drop_queue_meta(s, rid)
            plan = self._plan_downlink(ctx, s, item, more)
            try:
                await self._write_session(ctx, s)
                break
            except StaleVersion:
                self.counters.save_conflicts += 1
                self.session_cache.invalidate_dev_eui(dev_eui)
                fresh = await self.storage.sessions.get_by_dev_eui(dev_eui)
                if fresh is None or fresh.session_id != s0.session_id:
                    log.warning("ns.uplink.session_replaced dev_eui=%s", dev_eui)
                    return
                up.rebase_checked(ctx, fresh)
            except (FrameCounterReplay, NotFound):
                self.session_cache.invalidate_dev_eui(dev_eui)
                raise
        else:
            log.error("ns.uplink.save_failed dev_eui=%s f_cnt=%d", dev_eui, ctx.f_cnt)
            return

        s = ctx.require_session()
        if plan is not None and plan.frame.item is not None:
            queued = plan.frame.item
            try:
                await self.storage.queue.mark_sent(
                    uuid.UUID(queued.item_id),
                    f_cnt_down=plan.frame.f_cnt,
                    sent_at=now,
                    pending=queued.confirmed,
                )
            except (StaleVersion, NotFound) as exc:
                log.warning("ns.downlink.queue_item_taken dev_eui=%s error=%s", dev_eui, exc)
                plan = None

        for ack in acks:
            await self.bus.publish(Topic.NS_ACK, ack.dev_eui, ack)
        again = ctx.retransmission and self._forwarded.get(str(dev_eui)) != ctx.f_cnt
        app_up = up.application_uplink(ctx, await self._application_id(dev_eui), again=again)
        if app_up is not None:
            await self.bus.publish(Topic.NS_UP, app_up.dev_eui, app_up)
            self._remember_forwarded(str(dev_eui), ctx.f_cnt)
        meta = up.uplink_meta(ctx)
        if meta is not None:
            await self.bus.publish(Topic.NS_UP_META, meta.dev_eui, meta)
        if ctx.retransmission:
            self.counters.retransmissions += 1
            metrics.RETRANSMISSIONS.inc()
        else:
            self.counters.uplinks += 1
            metrics.UPLINKS.inc()
        if log.isEnabledFor(logging.INFO):  # the event dict costs more than the check
            event = up.uplink_event(ctx)
            log.info(
                "ns.%s dev_eui=%s dev_addr=%s f_cnt=%d f_port=%s dr=%d gw_eui=%s mac=%s",
                event["kind"],
                event["dev_eui"],
                event["dev_addr"],
                ctx.f_cnt,
                ctx.f_port,
                ctx.dr,
                ",".join(event["gw_eui"]),
                ",".join(event["mac_commands"]),
                extra={"event": event},
            )
        if plan is not None:
            frame = plan.frame
            await self._transmit(
                kind="data",
                dev_eui=str(s.dev_eui),
                phy_payload=frame.phy_payload,
                rx1=plan.rx1,
                rx2=plan.rx2,
                opened_at=opened_at,
                request_id=None if frame.item is None else frame.item.request_id,
                f_cnt_down=frame.f_cnt,
            )

    async def _resolve_pending(
        self, session: DeviceSession, item: QueueItem, acked: bool
    ) -> DownlinkAck:
        await self.storage.queue.mark_acked(item.id, acked=acked)
        meta = get_queue_meta(session, item) or {}
        return DownlinkAck(
            dev_eui=str(session.dev_eui),
            request_id=str(meta.get("request_id", item.id)),
            acknowledged=acked,
            session_id=str(session.session_id),
            f_cnt_down=item.f_cnt_down,
            reason=None if acked else "no_ack",
        )

    async def _next_item(
        self,
        session: DeviceSession,
        now: datetime,
        acks: list[DownlinkAck],
        resolved: list[uuid.UUID],
    ) -> tuple[dl.QueuedPayload | None, bool]:
        """The queue head usable with this session; stale items are dropped (ns.ack)."""
        for _ in range(16):
            item = await self.storage.queue.peek_next(session.dev_eui, now=now)
            if item is None:
                return None, False
            meta = get_queue_meta(session, item)
            counter = None if meta is None else meta.get("f_cnt_down")
            if counter is not None and dl.item_counter_ok(session, int(counter)):
                more = await self.storage.queue.count_queued(session.dev_eui, now=now) > 1
                return (
                    dl.QueuedPayload(
                        item_id=str(item.id),
                        request_id=str(meta.get("request_id", item.id)) if meta else str(item.id),
                        f_port=item.f_port,
                        frm_payload=item.frm_payload,
                        f_cnt_down=int(counter),
                        confirmed=item.confirmed,
                    ),
                    more,
                )
            reason = "f_cnt_stale" if counter is not None else "no_f_cnt_down"
            try:
                await self.storage.queue.mark_sent(
                    item.id, f_cnt_down=int(counter or 0), sent_at=now, pending=False
                )
                await self.storage.queue.mark_acked(item.id, acked=False)
            except (StaleVersion, NotFound):
                continue
            self.counters.stale_queue_items += 1
            metrics.STALE_QUEUE_ITEMS.inc()
            resolved.append(item.id)
            acks.append(
                DownlinkAck(
                    dev_eui=str(session.dev_eui),
                    request_id=str(meta.get("request_id", item.id)) if meta else str(item.id),
                    acknowledged=False,
                    session_id=str(session.session_id),
                    f_cnt_down=None if counter is None else int(counter),
                    reason=reason,
                    current_f_cnt_down=dl.next_counter(session),
                )
            )
            log.info(
                "ns.queue.dropped dev_eui=%s item=%s reason=%s", session.dev_eui, item.id, reason
            )
        return None, False

    def _plan_downlink(
        self,
        ctx: up.UplinkContext,
        s: DeviceSession,
        item: dl.QueuedPayload | None,
        more: bool,
    ) -> _Plan | None:
        """The class A answer to this uplink, built on the working session copy (pure)."""
        if item is not None and not dl.item_counter_ok(s, item.f_cnt_down):
            item = None  # counters moved meanwhile; dropped at the next uplink
        retrans = ctx.retransmission
        answers = [] if retrans else ctx.mac_result.answers
        pending = [] if retrans else list(s.pending_mac_commands)
        reasons = dl.downlink_reasons(
            confirmed_uplink=ctx.confirmed,
            adr_ack_req=ctx.adr_ack_req and not retrans,
            mac_answers=answers,
            pending_mac=pending,
            queued_item=item is not None,
        )
        if not reasons:
            return None
        try:
            gw = dl.select_gateway(ctx.frame.rx)
            rx1, rx2 = dl.class_a_windows(
                self.region,
                gw,
                uplink_dr=ctx.dr,
                rx1_delay=self.settings.rx1_delay or s.rx1_delay,
                rx1_dr_offset=s.rx1_dr_offset,
                rx2_dr=self.settings.rx2_dr if self.settings.rx2_dr is not None else s.rx2_dr,
                rx2_freq_hz=self.settings.rx2_freq_hz or s.rx2_freq,
                power_override=self.settings.downlink_tx_power_dbm,
            )
        except (DownlinkNotPossible, LoRaWANError) as exc:
            log.warning("ns.downlink.impossible dev_eui=%s error=%s", s.dev_eui, exc)
            return None
        first = rx1 or rx2
        frame = dl.build_data_downlink(
            s,
            ack=ctx.confirmed,
            conf_f_cnt=ctx.f_cnt,
            adr=s.adr and self.settings.allow_adr,
            more_queued=more,
            answers=answers,
            pending=pending,
            item=item,
            f_opts_max=self.settings.f_opts_max_len,
            max_frm_payload=dl.max_frm_payload(self.region, first.dr),
        )
        mac.mark_sent(s, frame.sent_entries, frame.f_cnt)
        if item is not None and not item.confirmed:
            drop_queue_meta(s, item.item_id)
        log.debug("ns.downlink.planned dev_eui=%s reasons=%s", s.dev_eui, ",".join(reasons))
        return _Plan(frame, rx1, rx2)
