"""The join server's adapter: js.join.request in; js.join.accept and js.app_s_key out.

For each JoinRequest it loads the device and its profile, lets the pure core verify the
request, records the DevNonce (only after the MIC holds), takes the next JoinNonce, allocates
a DevAddr under the configured NetID (random, avoiding addresses of current sessions when a
few tries find one), remembers the answer (see answers.py for the redelivery rules) and
publishes the AppSKey (to the application handler) then the JoinAccept (to the network server).

Errors: a refused request is never an exception: it is answered with ``accepted=False`` and
its reason, logged with dev_eui/join_eui and counted. Storage or bus failures are counted,
logged and re-raised on purpose: the bus retries the record (then parks it on the DLQ), and
the idempotency rules make the retry safe. Swallowing them would silently lose a join.
"""

from __future__ import annotations

import logging
import random
import uuid
from collections.abc import Callable
from datetime import datetime

from services.bus.base import Bus, Envelope
from services.bus.messages import BaseMessage, JoinAccept, JoinRequest, utc_now
from services.bus.topics import Topic
from services.lorawan.errors import DevNonceReused, InvalidParameter
from services.lorawan.types import EUI64, DevAddr, NetID
from services.storage.errors import NotFound
from services.storage.storage import Storage

from . import metrics
from .answers import AnswerStore
from .channel_plan import RxDefaults
from .core import (
    DevAddrAllocator,
    JoinOutcome,
    JoinRecord,
    JoinServerCore,
    RandomBits,
    VerifiedJoin,
)
from .errors import JoinRejected, RejectReason
from .keywrap import AppSKeyWrapper
from .settings import JoinServerSettings

log = logging.getLogger("hyperlora.join_server")


class JoinServerService:
    def __init__(
        self,
        settings: JoinServerSettings,
        bus: Bus,
        storage: Storage,
        clock: Callable[[], datetime] = utc_now,
        rng: RandomBits | None = None,
        new_session_id: Callable[[], uuid.UUID] = uuid.uuid4,
    ) -> None:
        self.settings = settings
        self._bus = bus
        self._storage = storage
        self.net_id = NetID.from_hex(settings.net_id)
        self.wrapper = AppSKeyWrapper(settings.kek_label, settings.kek_bytes)
        self.core = JoinServerCore(
            net_id=self.net_id,
            wrapper=self.wrapper,
            clock=clock,
            new_session_id=new_session_id,
            rx_defaults=RxDefaults(
                settings.rx1_delay_s, settings.rx1_dr_offset, settings.rx2_dr, settings.rx2_freq_hz
            ),
            cf_list_frequencies=settings.cf_list_frequencies,
            sub_bands=settings.sub_bands,
        )
        self.allocator = DevAddrAllocator(self.net_id, rng or random.SystemRandom())
        self.answers = AnswerStore(
            storage.events,
            size=settings.answer_cache_size,
            lookup_events=settings.answer_lookup_events,
        )
        self.counters = metrics.JoinServerCounters()
        self._started = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Subscribe to js.join.request (call before ``bus.start()``)."""
        if self._started:
            return
        self._bus.subscribe(
            Topic.JS_JOIN_REQUEST.value,
            self.settings.consumer_group,
            self._on_record,
            concurrency=self.settings.concurrency,
        )
        self._started = True
        log.info("join_server.started net_id=%s kek_label=%r", self.net_id, self.wrapper.kek_label)

    async def stop(self) -> None:
        """Nothing of its own to release: the bus drains in-flight handlers on its stop()."""
        self._started = False

    async def _on_record(self, envelope: Envelope[BaseMessage]) -> None:
        message = envelope.message
        if not isinstance(message, JoinRequest):  # the topic table guarantees it; be explicit
            log.error("join_server.unexpected_message type=%s", type(message).__name__)
            return
        await self.handle(message)

    # ------------------------------------------------------------------ one request

    async def handle(self, req: JoinRequest) -> JoinAccept:
        """Answer one JoinRequest (publishing the answer); returns the published JoinAccept.

        Refusals are answers, never exceptions; storage and bus errors are counted, logged and
        re-raised for the bus to retry (the redelivery rules make the retry safe)."""
        self.counters.add("join_requests")
        metrics.JOIN_REQUESTS.inc()
        try:
            try:
                outcome, redelivered = await self._process(req)
            except JoinRejected as rejected:
                return await self._reject(req, rejected)
            # The AppSKey first: the app handler holds it before the first uplink can come.
            await self._bus.publish(Topic.JS_APP_S_KEY.value, req.dev_eui, outcome.app_s_key)
            await self._bus.publish(Topic.JS_JOIN_ACCEPT.value, req.dev_eui, outcome.accept)
        except Exception as exc:
            self.counters.add("errors")
            metrics.ERRORS.labels(type(exc).__name__).inc()
            log.exception(
                "join_server.error dev_eui=%s join_eui=%s dedup_id=%s error=%s",
                req.dev_eui,
                req.join_eui,
                req.dedup_id,
                type(exc).__name__,
            )
            raise
        what = "redelivered" if redelivered else "accepted"
        self.counters.add(what)
        (metrics.REDELIVERED if redelivered else metrics.ACCEPTED).inc()
        log.info(
            "join_server.%s dev_eui=%s join_eui=%s dev_addr=%s dev_nonce=%d join_nonce=%d "
            "mac_version=%s session_id=%s",
            what,
            req.dev_eui,
            req.join_eui,
            outcome.record.dev_addr,
            outcome.record.dev_nonce,
            outcome.record.join_nonce,
            outcome.record.mac_version,
            outcome.record.session_id,
        )
        return outcome.accept

    async def _reject(self, req: JoinRequest, rejected: JoinRejected) -> JoinAccept:
        reason = rejected.reason
        self.counters.add(f"rejected:{reason.value}")
        metrics.REJECTED.labels(reason.value).inc()
        log.warning(
            "join_server.rejected dev_eui=%s join_eui=%s dev_nonce=%d dedup_id=%s reason=%s %s",
            req.dev_eui,
            req.join_eui,
            req.dev_nonce,
            req.dedup_id,
            reason.value,
            rejected.detail,
        )
        answer = self.core.reject(req, reason)
        await self._bus.publish(Topic.JS_JOIN_ACCEPT.value, req.dev_eui, answer)
        return answer

    async def _process(self, req: JoinRequest) -> tuple[JoinOutcome, bool]:
        """(outcome, True if it is the earlier answer to a redelivered request)."""
        dev_eui = EUI64.from_hex(req.dev_eui)
        devices = self._storage.devices
        device = await devices.get(dev_eui, tenant_id=None)
        profile = None
        if device is not None:
            profile = await self._storage.device_profiles.get(
                device.device_profile_id, tenant_id=None
            )
        v = self.core.verify(req, device, profile)
        assert device is not None
        current_join_nonce = device.join_nonce

        cached = self.answers.cached(req.dedup_id)
        if cached is not None:
            return self._redeliver(v, cached, current_join_nonce), True
        try:
            await devices.check_and_record_dev_nonce(
                dev_eui, v.dev_nonce, strict_increasing=v.strict_increasing
            )
        except NotFound as exc:
            raise JoinRejected(RejectReason.UNKNOWN_DEVICE, "deleted meanwhile") from exc
        except DevNonceReused as exc:
            record = await self.answers.find(req.dedup_id, dev_eui)
            if record is not None:
                return self._redeliver(v, record, current_join_nonce), True
            if not self.answers.owns(req.dedup_id, dev_eui, v.dev_nonce):
                rule = "not increasing" if v.strict_increasing else "already used"
                raise JoinRejected(
                    RejectReason.DEV_NONCE_REUSED, f"DevNonce {v.dev_nonce} {rule}"
                ) from exc
            # our own earlier attempt recorded it and then failed: carry on with it
        self.answers.claim(req.dedup_id, dev_eui, v.dev_nonce)
        try:
            join_nonce = await devices.next_join_nonce(dev_eui)
        except NotFound as exc:
            raise JoinRejected(RejectReason.UNKNOWN_DEVICE, "deleted meanwhile") from exc
        except InvalidParameter as exc:
            raise JoinRejected(RejectReason.JOIN_NONCE_EXHAUSTED, str(exc)) from exc
        dev_addr = await self._allocate_dev_addr()
        outcome = self.core.accept(v, join_nonce=join_nonce, dev_addr=dev_addr)
        await self.answers.remember(outcome.record)
        return outcome, False

    def _redeliver(
        self, v: VerifiedJoin, record: JoinRecord, current_join_nonce: int
    ) -> JoinOutcome:
        if (
            record.dev_eui != str(v.dev_eui)
            or record.dev_nonce != v.dev_nonce
            or record.join_eui != str(v.join_eui)
        ):
            raise JoinRejected(RejectReason.MALFORMED, "dedup_id reused for another JoinRequest")
        if record.join_nonce != current_join_nonce:
            raise JoinRejected(
                RejectReason.STALE_REDELIVERY,
                f"JoinNonce {record.join_nonce} superseded by {current_join_nonce}",
            )
        return self.core.replay(v, record)

    async def _allocate_dev_addr(self) -> DevAddr:
        """A random DevAddr of the NetID, preferring one no current session uses. Collisions
        are legal in LoRaWAN (the MIC tells sessions apart); avoiding them saves MIC checks."""
        addr = self.allocator.propose()
        for _ in range(self.settings.dev_addr_attempts):
            if not await self._storage.sessions.candidates_by_dev_addr(addr):
                return addr
            addr = self.allocator.propose()
        return addr
