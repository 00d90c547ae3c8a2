"""The application handler service: the bus adapter around the pure core.

Consumes (group ``app_handler``): ns.up, ns.join, ns.ack, ns.tx_ack, js.app_s_key,
as.down.submit. Produces: as.down.request, ledger.tx, and events to MQTT, webhooks and the
in-process event hub.

Idempotency (delivery is at-least-once):

* ns.up: the uplink log insert is the dedup point, keyed by (dev_eui, session_id, f_cnt) and
  the dedup id. The event's integration deliveries (MQTT, webhooks) are outbox rows written in
  the same transaction, so only the first insert creates them, and a crash between the commit
  and the publish cannot lose them (the relay of services/app_handler/outbox.py sends them);
  the ledger record is published on every delivery (its idempotency key makes the ledger
  writer drop replays), so a crash between the insert and the publish cannot lose it;
* ns.join / ns.ack / ns.tx_ack: a bounded memory of handled ids suppresses repeated events;
  their deliveries are written to the outbox (keyed by the event's id) before the message is
  acknowledged;
* js.app_s_key: storing the same session twice keeps the first copy (and its counters);
* as.down.submit: a redelivered request is republished as encrypted the first time (same
  counter), from a bounded memory of pending downlinks, which also keeps the plain payload for
  re-encryption when the network server answers ns.ack reason "f_cnt_stale".

Call :meth:`AppHandlerService.start` before ``bus.start()`` and :meth:`stop` after
``bus.stop()`` (so handlers still running can hand their events to the integrations).
"""

from __future__ import annotations

import logging
import uuid
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from services.bus.base import Bus, Envelope
from services.bus.errors import PermanentFailure
from services.bus.messages import (
    ApplicationUplink,
    AppSKeyDelivery,
    BaseMessage,
    DownlinkAck,
    DownlinkRequest,
    DownlinkTxAck,
    JoinEvent,
    LedgerRecord,
    utc_now,
)
from services.bus.topics import Topic
from services.lorawan.errors import InvalidKey
from services.lorawan.types import EUI64, AES128Key, DevAddr
from services.storage import NotFound, OutboxEntry, Storage, UplinkRecord
from services.storage.batching import GroupCommitter
from services.storage.repositories.app_session import AppSession, NsCounterReport

from . import sessions
from .codecs import encode_payload
from .core.counters import next_f_cnt_down, reported_counter, uses_a_f_cnt_down
from .core.events import (
    AppEvent,
    DeviceInfo,
    ack_event,
    join_event,
    tx_ack_event,
    uplink_event,
)
from .core.frm import decrypt_uplink, encrypt_downlink
from .core.keys import session_uuid, unwrap_app_s_key
from .core.ledger import join_record, uplink_record
from .directory import DeviceDirectory
from .errors import (
    AppHandlerError,
    CodecError,
    CounterExhausted,
    InvalidCommand,
    InvalidDownlink,
    UnknownAppSession,
)
from .integrations.mqtt import DownCommand, MqttIntegration
from .integrations.webhook import WebhookIntegration
from .metrics import AppHandlerCounters
from .outbox import OutboxRelay, default_instance_id, deliveries
from .retention import HistoryRetention
from .settings import AppHandlerSettings

log = logging.getLogger("hyperlora.app_handler")

Clock = Callable[[], datetime]
RESERVE_ATTEMPTS = 8


class EventSink(Protocol):
    """What the service needs of services.api.events.EventHub."""

    def publish(self, event: Mapping[str, Any]) -> Any: ...


def _advances(reported: int | None, stored: int | None) -> bool:
    return reported is not None and (stored is None or reported > stored)


@dataclass(slots=True)
class _Pending:
    """A downlink handed to the network server: the plain request and what was sent."""

    request: DownlinkRequest  # plain, as submitted
    sent: DownlinkRequest  # encrypted, as published on as.down.request
    resubmits: int = 0


class AppHandlerService:
    def __init__(
        self,
        settings: AppHandlerSettings,
        bus: Bus,
        storage: Storage,
        event_hub: EventSink | None = None,
        clock: Clock = utc_now,
        *,
        mqtt: MqttIntegration | None = None,
        webhooks: WebhookIntegration | None = None,
    ) -> None:
        self.settings = settings
        self._bus = bus
        self._storage = storage
        self._hub = event_hub
        self._clock = clock
        self.counters = AppHandlerCounters()
        self.directory = DeviceDirectory(storage, settings.device_cache_ttl_s)
        if mqtt is None and settings.mqtt.enabled:
            mqtt = MqttIntegration(settings.mqtt, on_command=self.handle_command)
        self.mqtt = mqtt
        self.webhooks = webhooks or WebhookIntegration(settings.webhook)
        # integration deliveries are outbox rows, written with what decides the event
        self.outbox = OutboxRelay(
            storage.outbox,
            settings.outbox,
            owner=settings.outbox.instance_id or default_instance_id(settings.consumer_group),
            mqtt=mqtt,
            webhooks=self.webhooks,
        )
        self.retention = HistoryRetention(storage, settings.retention, clock)
        # AppSKeys of recently active devices, for the uplink path (verified against each
        # uplink's session id and DevAddr; re-read from storage on any mismatch)
        self._sessions: OrderedDict[str, AppSession] = OrderedDict()
        self._pending: OrderedDict[str, _Pending] = OrderedDict()
        self._seen: OrderedDict[str, None] = OrderedDict()
        # uplink log inserts of concurrent handlers (with their integration deliveries) share
        # one transaction (group commit); each handler returns (and its record is
        # acknowledged) only after its commit
        self._uplink_log: GroupCommitter[tuple[UplinkRecord, list[OutboxEntry]], bool] = (
            GroupCommitter(
                storage.uplinks.insert_many_with_outbox,
                max_batch=settings.commit_max_batch,
                linger_s=settings.commit_linger_ms / 1000.0,
            )
        )
        # the NS's downlink counters reported with uplinks: group-committed the same way
        self._ns_counters: GroupCommitter[NsCounterReport, None] = GroupCommitter(
            storage.app_sessions.record_ns_counters_many,
            max_batch=settings.commit_max_batch,
            linger_s=settings.commit_linger_ms / 1000.0,
        )
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Subscribe to the bus (before ``bus.start()``) and start the integrations."""
        if self._started:
            return
        group, n = self.settings.consumer_group, self.settings.concurrency
        self._bus.subscribe(Topic.NS_UP, group, self._on_up, n)
        self._bus.subscribe(Topic.NS_JOIN, group, self._on_join, n)
        self._bus.subscribe(Topic.NS_ACK, group, self._on_ack, n)
        self._bus.subscribe(Topic.NS_TX_ACK, group, self._on_tx_ack, n)
        self._bus.subscribe(Topic.JS_APP_S_KEY, group, self._on_app_s_key, n)
        self._bus.subscribe(Topic.AS_DOWN_SUBMIT, group, self._on_down_submit, n)
        await self.webhooks.start()
        if self.mqtt is not None:
            await self.mqtt.start()
        await self.outbox.start()
        self.retention.start()
        self._started = True
        log.info("app_handler.started mqtt=%s group=%s", self.mqtt is not None, group)

    async def stop(self) -> None:
        """Flush and stop the integrations (call after ``bus.stop()``)."""
        if not self._started:
            return
        self._started = False
        await self.retention.stop()
        await self._uplink_log.close()
        await self._ns_counters.close()
        await self.outbox.stop()
        if self.mqtt is not None:
            await self.mqtt.stop()
        await self.webhooks.stop()
        log.info("app_handler.stopped")

    # ------------------------------------------------------------------ sessions

    async def activate_abp(
        self,
        *,
        dev_eui: EUI64,
        dev_addr: DevAddr,
        app_s_key: AES128Key,
        mac_version: str,
        session_id: uuid.UUID | None = None,
        join_eui: EUI64 | None = None,
    ) -> AppSession:
        """Store the application session of an ABP device (see sessions.activate_abp)."""
        stored = await sessions.activate_abp(
            self._storage.app_sessions,
            dev_eui=dev_eui,
            dev_addr=dev_addr,
            app_s_key=app_s_key,
            mac_version=mac_version,
            session_id=session_id,
            join_eui=join_eui,
        )
        self._cache_session(stored)
        self.counters.app_session("abp")
        return stored

    async def _on_app_s_key(self, env: Envelope[BaseMessage]) -> None:
        d = env.message
        assert isinstance(d, AppSKeyDelivery)
        try:
            key = unwrap_app_s_key(
                d.kek_label,
                d.app_s_key_wrapped,
                my_kek_label=self.settings.kek_label,
                my_kek=self.settings.kek_bytes,
                allow_clear=self.settings.environment == "development",
            )
        except InvalidKey as exc:
            self.counters.app_session("invalid_key")
            log.error(
                "app_handler.app_s_key_refused dev_eui=%s session_id=%s kek_label=%r error=%s",
                d.dev_eui,
                d.session_id,
                d.kek_label,
                exc,
            )
            raise PermanentFailure(f"AppSKey of {d.dev_eui}: {exc}") from exc
        try:
            stored = await self._storage.app_sessions.create(
                sessions.app_session_from_delivery(d, key)
            )
        except NotFound as exc:
            self.counters.app_session("unknown_device")
            log.error("app_handler.app_s_key_unknown_device dev_eui=%s", d.dev_eui)
            raise PermanentFailure(f"AppSKey for unknown device {d.dev_eui}") from exc
        self._cache_session(stored)
        self.counters.app_session("join")
        log.info(
            "app_handler.app_session dev_eui=%s dev_addr=%s session_id=%s",
            d.dev_eui,
            d.dev_addr,
            d.session_id,
        )

    # ------------------------------------------------------------------ uplinks

    @staticmethod
    def _same_session(session: AppSession, session_id: str | None, dev_addr: str) -> bool:
        if str(session.dev_addr) != dev_addr:
            return False
        return session_id is None or session_uuid(session_id) == session.session_id

    async def _on_up(self, env: Envelope[BaseMessage]) -> None:
        up = env.message
        assert isinstance(up, ApplicationUplink)
        eui = EUI64.from_hex(up.dev_eui)
        session = self._sessions.get(up.dev_eui)
        if session is None or not self._same_session(session, up.session_id, up.dev_addr):
            # not cached, or cached before a new join / activation (maybe by another instance)
            session = await self._storage.app_sessions.get(eui)
            if session is not None:
                self._cache_session(session)
        if session is None or not self._same_session(session, up.session_id, up.dev_addr):
            self.counters.uplink("unknown_session")
            log.warning(
                "app_handler.uplink_unknown_session dev_eui=%s dev_addr=%s session_id=%s "
                "f_cnt=%d stored_session=%s",
                up.dev_eui,
                up.dev_addr,
                up.session_id,
                up.f_cnt,
                None if session is None else session.session_id,
            )
            # Retryable: after an ABP activation or a join, the AppSKey travels on js.app_s_key,
            # another topic than ns.up, and may arrive just after the first uplinks. The bus
            # retries with backoff, then parks the uplink on ns.up.dlq.
            raise UnknownAppSession(
                f"no application session {up.session_id} for {up.dev_eui} (AppSKey missing)"
            )
        sid = session.session_id
        payload = decrypt_uplink(
            session.app_s_key, session.dev_addr, up.f_cnt, up.f_port, up.frm_payload
        )
        if _advances(up.n_f_cnt_down, session.n_f_cnt_down) or _advances(
            up.a_f_cnt_down, session.a_f_cnt_down
        ):
            await self._ns_counters.submit(
                NsCounterReport(
                    eui, sid, n_f_cnt_down=up.n_f_cnt_down, a_f_cnt_down=up.a_f_cnt_down
                )
            )
            if _advances(up.n_f_cnt_down, session.n_f_cnt_down):
                session.n_f_cnt_down = up.n_f_cnt_down
            if _advances(up.a_f_cnt_down, session.a_f_cnt_down):
                session.a_f_cnt_down = up.a_f_cnt_down
        device = await self.directory.get(up.dev_eui)
        event = uplink_event(up, device, str(sid), payload)
        data = event.to_dict()
        entries = self._deliveries(f"up:{up.dedup_id}", data, device)
        record = UplinkRecord(
            id=session_uuid(up.dedup_id),
            dev_eui=eui,
            dev_addr=session.dev_addr,
            session_id=sid,
            f_cnt=up.f_cnt,
            f_port=up.f_port,
            payload=payload,
            dr=up.dr,
            freq=up.freq_hz,
            rx_metadata=[r.model_dump(mode="json", exclude={"context"}) for r in up.rx],
            received_at=up.received_at,
            confirmed=up.confirmed,
        )
        try:
            inserted = await self._uplink_log.submit((record, entries))
        except NotFound as exc:
            self.counters.uplink("unknown_device")
            log.warning("app_handler.uplink_unknown_device dev_eui=%s", up.dev_eui)
            raise PermanentFailure(f"uplink of unknown device {up.dev_eui}") from exc
        if inserted:
            if event.codec_error is not None:
                self.counters.codec_error(event.codec or "")
                log.warning(
                    "app_handler.codec_error dev_eui=%s f_cnt=%d codec=%s error=%s",
                    up.dev_eui,
                    up.f_cnt,
                    event.codec,
                    event.codec_error,
                )
            self._announce(event.event, data, entries)
            self.counters.uplink("new")
        else:
            self.counters.uplink("duplicate")
            log.info(
                "app_handler.uplink_duplicate dev_eui=%s f_cnt=%d session_id=%s",
                up.dev_eui,
                up.f_cnt,
                sid,
            )
        await self._publish_ledger(uplink_record(up, str(sid), payload, self.settings.default_zone))

    async def _on_join(self, env: Envelope[BaseMessage]) -> None:
        join = env.message
        assert isinstance(join, JoinEvent)
        self.directory.invalidate(join.dev_eui)
        device = await self.directory.get(join.dev_eui)
        key = f"join:{join.dev_eui}:{join.session_id}"
        if self._first_time(key):
            await self._emit(key, join_event(join, device), device)
        await self._publish_ledger(join_record(join, self.settings.default_zone))

    # ------------------------------------------------------------------ downlinks

    async def _on_down_submit(self, env: Envelope[BaseMessage]) -> None:
        req = env.message
        assert isinstance(req, DownlinkRequest)
        if req.encrypted:
            self.counters.downlink("invalid")
            log.warning(
                "app_handler.downlink_invalid dev_eui=%s request_id=%s reason=already_encrypted",
                req.dev_eui,
                req.request_id,
            )
            raise PermanentFailure(f"downlink {req.request_id}: already encrypted")
        pending = self._pending.get(req.request_id)
        if pending is not None:  # redelivered: send exactly what was sent
            await self._bus.publish(Topic.AS_DOWN_REQUEST, req.dev_eui, pending.sent)
            self.counters.downlink("republished")
            return
        session = await self._storage.app_sessions.get(EUI64.from_hex(req.dev_eui))
        if session is None:
            self.counters.downlink("unknown_session")
            log.warning(
                "app_handler.downlink_unknown_session dev_eui=%s request_id=%s",
                req.dev_eui,
                req.request_id,
            )
            raise PermanentFailure(f"downlink for {req.dev_eui}: no application session")
        sent = await self._encrypt_and_send(req, session, floor=None)
        self._remember(req.request_id, _Pending(req, sent))
        self.counters.downlink("encrypted")

    async def _encrypt_and_send(
        self, req: DownlinkRequest, session: AppSession, floor: int | None
    ) -> DownlinkRequest:
        try:
            f_cnt_down = await self._reserve(session, floor)
            frm = encrypt_downlink(
                session.app_s_key, session.dev_addr, f_cnt_down, req.f_port, req.frm_payload
            )
        except (CounterExhausted, InvalidDownlink) as exc:
            self.counters.downlink(
                "counter_exhausted" if isinstance(exc, CounterExhausted) else "invalid"
            )
            log.error(
                "app_handler.downlink_refused dev_eui=%s request_id=%s error=%s",
                req.dev_eui,
                req.request_id,
                exc,
            )
            raise PermanentFailure(f"downlink {req.request_id}: {exc}") from exc
        sent = req.model_copy(
            update={
                "frm_payload": frm,
                "encrypted": True,
                "f_cnt_down": f_cnt_down,
                "session_id": str(session.session_id),
            }
        )
        await self._bus.publish(Topic.AS_DOWN_REQUEST, req.dev_eui, sent)
        log.info(
            "app_handler.downlink dev_eui=%s request_id=%s f_cnt_down=%d f_port=%d",
            req.dev_eui,
            req.request_id,
            f_cnt_down,
            req.f_port,
        )
        return sent

    async def _reserve(self, session: AppSession, floor: int | None) -> int:
        """Reserve the next downlink counter of ``session`` (compare-and-set in storage)."""
        repo = self._storage.app_sessions
        for _ in range(RESERVE_ATTEMPTS):
            reported = reported_counter(
                session.mac_version, session.n_f_cnt_down, session.a_f_cnt_down
            )
            if floor is not None:
                reported = max(reported, floor)
            last = session.last_a_f_cnt_down_reserved
            f_cnt_down = next_f_cnt_down(reported, last)
            if await repo.reserve_f_cnt_down(
                session.dev_eui, session.session_id, expected_last=last, f_cnt_down=f_cnt_down
            ):
                return f_cnt_down
            fresh = await repo.get(session.dev_eui)
            if fresh is None or fresh.session_id != session.session_id:
                raise UnknownAppSession(f"session of {session.dev_eui} replaced meanwhile")
            session = fresh
        raise AppHandlerError(f"counter reservation of {session.dev_eui}: too much contention")

    async def _on_ack(self, env: Envelope[BaseMessage]) -> None:
        ack = env.message
        assert isinstance(ack, DownlinkAck)
        if not ack.acknowledged and ack.reason == "f_cnt_stale":
            await self._resubmit(ack)
            return
        device = await self.directory.get(ack.dev_eui)
        key = f"ack:{ack.request_id}:{ack.acknowledged}:{ack.reason}:{ack.f_cnt_down}"
        if self._first_time(key):
            await self._emit(key, ack_event(ack, device), device)
        self._pending.pop(ack.request_id, None)

    async def _resubmit(self, ack: DownlinkAck) -> None:
        pending = self._pending.get(ack.request_id)
        if pending is None:
            self.counters.downlink("resubmit_unknown")
            log.warning(
                "app_handler.resubmit_unknown dev_eui=%s request_id=%s (plain payload not "
                "kept: restarted or forgotten)",
                ack.dev_eui,
                ack.request_id,
            )
            await self._give_up(ack)
            return
        if ack.f_cnt_down is not None and ack.f_cnt_down != pending.sent.f_cnt_down:
            self.counters.downlink("stale_ack_ignored")  # an older copy, already handled
            return
        if pending.resubmits >= self.settings.max_resubmits:
            self.counters.downlink("resubmit_exhausted")
            log.warning(
                "app_handler.resubmit_exhausted dev_eui=%s request_id=%s resubmits=%d",
                ack.dev_eui,
                ack.request_id,
                pending.resubmits,
            )
            self._pending.pop(ack.request_id, None)
            await self._give_up(ack)
            return
        eui = EUI64.from_hex(ack.dev_eui)
        repo = self._storage.app_sessions
        session = await repo.get(eui)
        if session is None:
            self.counters.downlink("unknown_session")
            self._pending.pop(ack.request_id, None)
            await self._give_up(ack)
            return
        floor = None
        same = pending.sent.session_id == str(session.session_id) and (
            ack.session_id is None or session_uuid(ack.session_id) == session.session_id
        )
        if same and ack.current_f_cnt_down is not None:
            floor = ack.current_f_cnt_down
            a_cnt = uses_a_f_cnt_down(session.mac_version)
            await repo.record_ns_counters(
                eui,
                session.session_id,
                n_f_cnt_down=None if a_cnt else floor,
                a_f_cnt_down=floor if a_cnt else None,
            )
        pending.sent = await self._encrypt_and_send(pending.request, session, floor)
        pending.resubmits += 1
        self.counters.downlink("resubmitted")

    async def _give_up(self, ack: DownlinkAck) -> None:
        device = await self.directory.get(ack.dev_eui)
        key = f"ack:{ack.request_id}:stale:{ack.f_cnt_down}"
        if self._first_time(key):
            await self._emit(key, ack_event(ack, device), device)

    async def _on_tx_ack(self, env: Envelope[BaseMessage]) -> None:
        tx = env.message
        assert isinstance(tx, DownlinkTxAck)
        if tx.request_id is None:  # a network-server frame (MAC only, join accept)
            return
        device = await self.directory.get(tx.dev_eui)
        key = f"txack:{tx.downlink_id}:{tx.error}"
        if self._first_time(key):
            await self._emit(key, tx_ack_event(tx, device), device)
        pending = self._pending.get(tx.request_id)
        if tx.error is None and pending is not None and not pending.request.confirmed:
            self._pending.pop(tx.request_id, None)

    # ------------------------------------------------------------------ MQTT commands

    async def handle_command(self, command: DownCommand) -> None:
        """An MQTT ``command/down``: check the device belongs to the application, encode the
        payload (``object`` with the application's codec) and submit it on as.down.submit."""
        device = await self.directory.get(command.dev_eui)
        if device is None:
            raise InvalidCommand(f"unknown device {command.dev_eui}")
        if device.application_id != command.application_id:
            raise InvalidCommand(
                f"device {command.dev_eui} is not in application {command.application_id}"
            )
        data = command.data
        if data is None:
            if not device.codec:
                raise InvalidCommand("'object' given but the application has no codec")
            try:
                data = encode_payload(device.codec, command.f_port, command.object or {})
            except CodecError as exc:
                raise InvalidCommand(f"object cannot be encoded: {exc}") from exc
        request = DownlinkRequest(
            request_id=uuid.uuid4().hex,
            dev_eui=command.dev_eui,
            f_port=command.f_port,
            frm_payload=data,
            confirmed=command.confirmed,
            encrypted=False,
            requested_at=self._clock(),
        )
        await self._bus.publish(Topic.AS_DOWN_SUBMIT, command.dev_eui, request)

    # ------------------------------------------------------------------ outputs

    def _deliveries(
        self, key: str, data: Mapping[str, Any], device: DeviceInfo | None
    ) -> list[OutboxEntry]:
        owner, until = self.outbox.lease()
        return deliveries(
            key, data, device, mqtt=self.mqtt is not None, lease_owner=owner, lease_until=until
        )

    async def _emit(self, key: str, event: AppEvent, device: DeviceInfo | None) -> None:
        """An event decided outside the uplink log's transaction (join, ack, txack): its
        deliveries are written to the outbox (before the bus message is acknowledged), then
        sent. ``key``: the event's stable id."""
        data = event.to_dict()
        entries = self._deliveries(key, data, device)
        if entries:
            written = set(await self._storage.outbox.add_many(entries))
            entries = [e for e in entries if e.key in written]  # others: already there
        self._announce(event.event, data, entries)

    def _announce(self, kind: str, data: Mapping[str, Any], entries: list[OutboxEntry]) -> None:
        """Count the event, show it on the live event hub (best effort, in memory) and hand
        its committed outbox rows to the relay."""
        self.counters.event(kind)
        if self._hub is not None:
            self._hub.publish(data)
        if entries:
            self.outbox.hand_over(entries)

    async def _publish_ledger(self, record: LedgerRecord) -> None:
        await self._bus.publish(Topic.LEDGER_TX, record.zone, record)
        self.counters.ledger(record.channel)

    def _first_time(self, key: str) -> bool:
        if key in self._seen:
            return False
        self._seen[key] = None
        while len(self._seen) > self.settings.seen_events:
            self._seen.popitem(last=False)
        return True

    def _cache_session(self, session: AppSession) -> None:
        key = str(session.dev_eui)
        self._sessions[key] = session
        self._sessions.move_to_end(key)
        while len(self._sessions) > self.settings.session_cache_size:
            self._sessions.popitem(last=False)

    def _remember(self, request_id: str, pending: _Pending) -> None:
        self._pending[request_id] = pending
        while len(self._pending) > self.settings.pending_downlinks:
            self._pending.popitem(last=False)
