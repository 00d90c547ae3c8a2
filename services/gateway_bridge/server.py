"""The gateway bridge adapter: one asyncio UDP server speaking Semtech UDP to gateways, and
the bus on the other side.

* PUSH_DATA -> one gw.up per rxpk whose CRC is OK (others counted and dropped) and one
  gw.stats per stat object, then PUSH_ACK — only if every uplink of the datagram found room in
  the publish buffer: a datagram whose uplinks cannot be handed to the bus is not
  acknowledged (its uplinks are counted as dropped, reason ``queue_full``);
* PULL_DATA -> PULL_ACK, and the gateway's address is kept for PULL_RESP;
* gw.down -> PULL_RESP to that address with a fresh token, tracked until its TX_ACK;
* TX_ACK -> gw.tx_ack for the downlink with the same token, carrying the downlink's retry
  context back unchanged (gateways speaking protocol version 1 send no TX_ACK: their
  downlinks are acknowledged as sent at once);
* a datagram that does not decode is logged with the peer address and counted; the server
  keeps serving.

Datagrams are handled synchronously (decode, translate, acknowledge) and the bus messages go
through one bounded buffer to a publisher task, so a slow bus never delays an acknowledgement
and the publish order is the arrival order; up to ``publish_in_flight`` publishes await their
acknowledgement at once (the bound of the buffer counts them). A failed publish is retried
with backoff (``publish_attempts``; the buffer keeps filling meanwhile, and once it is full
datagrams are no longer acknowledged); a message still unpublished after the last attempt is
dropped and counted (``uplinks_dropped{reason="publish_failed"}`` for gw.up), as are messages
still buffered or being published when the bridge stops after its drain timeout (reason
``stopped``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import socket
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from services.bus.base import Bus, Envelope
from services.bus.keys import key_for_uplink_or
from services.bus.messages import BaseMessage, GatewayDownlink, GatewayTxAck, GatewayUplink
from services.bus.topics import Topic
from services.lorawan.errors import MalformedPacket
from services.lorawan.types import EUI64

from . import metrics
from .core import downlink_to_txpk, drop_reason, rxpk_to_uplink, stat_to_stats, tx_ack_to_message
from .errors import InvalidDownlink, NoDownlinkRoute, TranslationError, UnsupportedUplink
from .metrics import BridgeCounters
from .registry import Address, DownlinkTracker, GatewayRegistry, GatewayState
from .semtech import (
    PullAck,
    PullData,
    PullResp,
    PushAck,
    PushData,
    TxAck,
    decode_packet,
)
from .settings import GatewayBridgeSettings

log = logging.getLogger("hyperlora.gateway_bridge")

# gw.tx_ack errors raised by the bridge itself (beside the gateway's TxAckError values)
ERROR_NO_ROUTE = "NO_ROUTE"  # the gateway never sent PULL_DATA (or too long ago)
ERROR_INVALID_DOWNLINK = "INVALID_DOWNLINK"  # the gw.down message cannot become a txpk
ERROR_SEND = "SEND_ERROR"  # the UDP send failed
MAX_PUBLISH_BACKOFF_S = 2.0

IsKnown = Callable[[EUI64], bool]
ZoneOf = Callable[[EUI64], str | None]


def _utc_now() -> datetime:
    return datetime.now(UTC)


def _random_token() -> int:
    return secrets.randbits(16)


def _new_id() -> str:
    return uuid.uuid4().hex


def _hex(gw_eui: EUI64) -> str:
    return gw_eui.value.hex().upper()


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, bridge: GatewayBridge) -> None:
        self._bridge = bridge

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self._bridge.handle_datagram(data, (str(addr[0]), int(addr[1])))

    def error_received(self, exc: Exception) -> None:
        log.warning("gateway_bridge.socket_error error=%r", exc)


class GatewayBridge:
    """The Semtech UDP server. ``subscribe()`` before the bus starts, then ``start()``."""

    def __init__(
        self,
        bus: Bus,
        settings: GatewayBridgeSettings | None = None,
        *,
        is_known: IsKnown | None = None,
        zone_of: ZoneOf | None = None,
        clock: Callable[[], datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        token_source: Callable[[], int] = _random_token,
        id_source: Callable[[], str] = _new_id,
    ) -> None:
        self.bus = bus
        self.settings = settings or GatewayBridgeSettings()
        self._is_known = is_known
        self._zone_of = zone_of
        self._clock = clock
        self._monotonic = monotonic
        self._new_id = id_source
        self.registry = GatewayRegistry(self.settings.downlink_route_ttl_s)
        self.tracker = DownlinkTracker(token_source, ttl_s=self.settings.tx_ack_timeout_s)
        self.counters = BridgeCounters()
        self._transport: asyncio.DatagramTransport | None = None
        self._queue: asyncio.Queue[tuple[str, str, BaseMessage]] | None = None
        self._tasks: list[asyncio.Task[None]] = []
        # publishes under way (at most settings.publish_in_flight), each a (topic, key)
        self._in_flight: dict[asyncio.Task[None], tuple[str, str]] = {}

    # ------------------------------------------------------------------ lifecycle

    def subscribe(self) -> None:
        """Consume gw.down (call before the bus starts)."""
        self.bus.subscribe(Topic.GW_DOWN, self.settings.consumer_group, self.handle_downlink)

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._queue = asyncio.Queue(maxsize=self.settings.publish_queue_size)
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(self),
            local_addr=(self.settings.bind_host, self.settings.bind_port),
        )
        self._transport = transport
        self._set_receive_buffer(transport)
        self._tasks = [
            asyncio.create_task(self._publisher(), name="gateway_bridge:publisher"),
            asyncio.create_task(self._housekeeping(), name="gateway_bridge:housekeeping"),
        ]
        host, port = self.address
        log.info("gateway_bridge.started host=%s port=%d", host, port)

    def _set_receive_buffer(self, transport: asyncio.DatagramTransport) -> None:
        size = self.settings.udp_receive_buffer_bytes
        sock = transport.get_extra_info("socket")
        if not size or sock is None:
            return
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)
            got = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)
        except OSError as exc:
            log.warning("gateway_bridge.receive_buffer_failed bytes=%d error=%r", size, exc)
            return
        log.info("gateway_bridge.receive_buffer requested=%d granted=%d", size, got)

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Stop reading datagrams, publish what is queued (bounded wait), stop the tasks."""
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._queue is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._queue.join(), timeout=drain_timeout_s)
        tasks = [*self._tasks, *self._in_flight]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks.clear()
        for topic, key in self._in_flight.values():  # cancelled while publishing or retrying
            self._count_unpublished(topic, key, "stopped", None)
        self._in_flight.clear()
        if self._queue is not None:  # what the drain timeout left: lost, counted
            while not self._queue.empty():
                topic, key, _ = self._queue.get_nowait()
                self._queue.task_done()
                self._count_unpublished(topic, key, "stopped", None)
        log.info("gateway_bridge.stopped")

    @property
    def address(self) -> Address:
        """The bound (host, port), e.g. to learn the port chosen for port 0."""
        if self._transport is None:
            raise RuntimeError("the gateway bridge is not started")
        host, port = self._transport.get_extra_info("sockname")[:2]
        return str(host), int(port)

    async def __aenter__(self) -> GatewayBridge:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ upstream

    def handle_datagram(self, data: bytes, addr: Address) -> None:
        """Decode, acknowledge and translate one datagram (never raises)."""
        try:
            packet = decode_packet(data)
        except MalformedPacket as exc:
            self._count_malformed("decode")
            log.warning(
                "gateway_bridge.malformed_datagram peer=%s:%d size=%d error=%s",
                addr[0], addr[1], len(data), exc,
                extra={"peer": f"{addr[0]}:{addr[1]}"},
            )  # fmt: skip
            return
        kind = packet.packet_type.name
        metrics.DATAGRAMS.labels(kind).inc()
        self.counters.add(f"datagrams.{kind}")
        if isinstance(packet, PushData):
            self._on_push_data(packet, addr)
        elif isinstance(packet, PullData):
            self._on_pull_data(packet, addr)
        elif isinstance(packet, TxAck):
            self._on_tx_ack(packet, addr)
        else:  # PUSH_ACK, PULL_ACK, PULL_RESP travel server -> gateway, never to us
            self._count_malformed("wrong_direction")
            log.warning("gateway_bridge.wrong_direction peer=%s:%d type=%s", addr[0], addr[1], kind)

    def _admit(self, gw_eui: EUI64, addr: Address, kind: str) -> bool | None:
        """True known, False unknown but allowed, None refused."""
        if self._is_known is None:
            return True
        try:
            known = bool(self._is_known(gw_eui))
        except Exception as exc:  # an injected lookup failing must not stop the server
            log.error("gateway_bridge.is_known_failed gw_eui=%s error=%r", _hex(gw_eui), exc)
            known = False
        if known:
            return True
        allowed = self.settings.allow_unknown_gateways
        action = "accepted" if allowed else "rejected"
        metrics.UNKNOWN_GATEWAYS.labels(action).inc()
        self.counters.add(f"unknown_gateway.{action}")
        log.log(
            logging.INFO if allowed else logging.WARNING,
            "gateway_bridge.unknown_gateway gw_eui=%s peer=%s:%d type=%s action=%s",
            _hex(gw_eui), addr[0], addr[1], kind, action,
            extra={"gw_eui": _hex(gw_eui)},
        )  # fmt: skip
        return False if allowed else None

    def _zone(self, gw_eui: EUI64) -> str | None:
        if self._zone_of is not None:
            zone = self._zone_of(gw_eui)
            if zone is not None:
                return zone
        return self.settings.zone

    def _on_push_data(self, packet: PushData, addr: Address) -> None:
        gw_eui = packet.gw_eui
        admitted = self._admit(gw_eui, addr, "PUSH_DATA")
        if admitted is None:
            return
        state = self.registry.on_push_data(
            gw_eui, addr, self._monotonic(), packet.version, admitted
        )
        gw_hex = _hex(gw_eui)
        now = self._clock()
        zone = self._zone(gw_eui)
        uplinks: list[tuple[str, GatewayUplink]] = []
        for rxpk in packet.rxpk:
            reason = drop_reason(rxpk)
            if reason is None:
                try:
                    uplink = rxpk_to_uplink(rxpk, gw_eui, now, self._new_id(), zone)
                except UnsupportedUplink as exc:
                    log.info("gateway_bridge.uplink_unsupported gw_eui=%s error=%s", gw_hex, exc)
                    self._drop_uplink(state, exc.reason)
                else:
                    uplinks.append((key_for_uplink_or(uplink.phy_payload, gw_hex), uplink))
            else:
                self._drop_uplink(state, reason.value)
        if uplinks and not self._has_room(len(uplinks)):
            # not handed to the bus: no PUSH_ACK (the gateway sees the datagram as lost)
            metrics.PUBLISH_ERRORS.labels(Topic.GW_UP).inc()
            self.counters.add("publish_queue_full")
            self.counters.add("push_data_not_acked")
            log.error(
                "gateway_bridge.publish_queue_full gw_eui=%s uplinks=%d (not acknowledged)",
                gw_hex, len(uplinks),
            )  # fmt: skip
            for _ in uplinks:
                self._drop_uplink(state, "queue_full")
            return
        for key, uplink in uplinks:
            self._enqueue(Topic.GW_UP, key, uplink)
            state.rx_count += 1
            metrics.UPLINKS.inc()
            self.counters.add("uplinks")
            if log.isEnabledFor(logging.DEBUG):
                log.debug(
                    "gateway_bridge.uplink gw_eui=%s uplink_id=%s size=%d",
                    gw_hex, uplink.uplink_id, len(uplink.phy_payload),
                    extra={"gw_eui": gw_hex},
                )  # fmt: skip
        self._send(PushAck(token=packet.token, version=packet.version).to_bytes(), addr)
        if packet.stat is not None:
            try:
                stats = stat_to_stats(packet.stat, gw_eui, now, ip=addr[0], zone=zone)
            except TranslationError as exc:
                self.counters.add(f"stats_dropped.{exc.reason}")
                log.warning("gateway_bridge.stats_invalid gw_eui=%s error=%s", gw_hex, exc)
                return
            state.last_stats = stats
            if self._enqueue(Topic.GW_STATS, gw_hex, stats):
                state.stats_count += 1
                metrics.STATS.inc()
                self.counters.add("stats")
                log.info(
                    "gateway_bridge.stats gw_eui=%s rxnb=%d rxok=%d txnb=%d",
                    gw_hex, stats.rx_received, stats.rx_ok, stats.tx_emitted,
                    extra={"gw_eui": gw_hex},
                )  # fmt: skip

    def _drop_uplink(self, state: GatewayState, reason: str) -> None:
        state.rx_dropped += 1
        metrics.UPLINKS_DROPPED.labels(reason).inc()
        self.counters.add(f"uplinks_dropped.{reason}")

    def _has_room(self, n: int) -> bool:
        """Room for ``n`` more messages: the buffer bound counts those being published."""
        queue = self._queue
        return queue is not None and queue.maxsize - queue.qsize() - len(self._in_flight) >= n

    def _on_pull_data(self, packet: PullData, addr: Address) -> None:
        admitted = self._admit(packet.gw_eui, addr, "PULL_DATA")
        if admitted is None:
            return
        self._send(PullAck(token=packet.token, version=packet.version).to_bytes(), addr)
        state = self.registry.on_pull_data(
            packet.gw_eui, addr, self._monotonic(), packet.version, admitted
        )
        if state.pull_count == 1:
            log.info(
                "gateway_bridge.gateway_connected gw_eui=%s peer=%s:%d version=%d",
                _hex(packet.gw_eui), addr[0], addr[1], packet.version,
                extra={"gw_eui": _hex(packet.gw_eui)},
            )  # fmt: skip

    def _on_tx_ack(self, packet: TxAck, addr: Address) -> None:
        gw_eui = packet.gw_eui
        if self._admit(gw_eui, addr, "TX_ACK") is None:
            return
        gw_hex = _hex(gw_eui)
        self.registry.seen(gw_eui, self._monotonic(), packet.version)
        pending = self.tracker.resolve(gw_eui, packet.token)
        if pending is None:
            metrics.TX_ACKS_UNMATCHED.inc()
            self.counters.add("tx_acks_unmatched")
            log.warning(
                "gateway_bridge.tx_ack_unmatched gw_eui=%s token=%d error=%s",
                gw_hex, packet.token, packet.error.value,
                extra={"gw_eui": gw_hex},
            )  # fmt: skip
            return
        message = tx_ack_to_message(
            packet, gw_eui, pending.downlink_id, self._clock(), pending.retry
        )
        error = packet.error.value
        metrics.TX_ACKS.labels(error).inc()
        self.counters.add(f"tx_acks.{error}")
        if not packet.ok:
            state = self.registry.get(gw_eui)
            if state is not None:
                state.tx_ack_errors += 1
        warn = packet.txpk_ack.warn if packet.txpk_ack is not None else None
        log.log(
            logging.INFO if packet.ok else logging.WARNING,
            "gateway_bridge.tx_ack gw_eui=%s downlink_id=%s error=%s warn=%s",
            gw_hex, pending.downlink_id, error, None if warn is None else warn.value,
            extra={"gw_eui": gw_hex, "dev_eui": pending.dev_eui},
        )  # fmt: skip
        self._enqueue(Topic.GW_TX_ACK, gw_hex, message)

    # ------------------------------------------------------------------ downstream

    async def handle_downlink(self, envelope: Envelope[BaseMessage]) -> None:
        """gw.down handler: send the frame as PULL_RESP to the gateway's PULL_DATA address."""
        msg = envelope.message
        if not isinstance(msg, GatewayDownlink):  # pragma: no cover - the bus checks models
            return
        gw_eui = EUI64.from_hex(msg.gw_eui)
        if self.tracker.already_sent(msg.downlink_id):
            self._count_downlink("duplicate")
            log.info("gateway_bridge.downlink_duplicate downlink_id=%s", msg.downlink_id)
            return
        try:
            txpk = downlink_to_txpk(msg)
            state = self.registry.downlink_route(gw_eui, self._monotonic())
        except InvalidDownlink as exc:
            await self._downlink_failed(msg, "invalid", ERROR_INVALID_DOWNLINK, exc)
            return
        except NoDownlinkRoute as exc:
            await self._downlink_failed(msg, "no_route", ERROR_NO_ROUTE, exc)
            return
        assert state.pull_addr is not None  # downlink_route guarantees it
        pending = self.tracker.issue(
            gw_eui, msg.downlink_id, self._monotonic(), msg.dev_eui, bytes(msg.retry)
        )
        packet = PullResp(token=pending.token, txpk=txpk, version=state.version)
        if not self._send(packet.to_bytes(), state.pull_addr):
            self.tracker.resolve(gw_eui, pending.token)
            await self._downlink_failed(msg, "send_error", ERROR_SEND, None)
            return
        state.tx_count += 1
        self._count_downlink("sent")
        log.info(
            "gateway_bridge.downlink gw_eui=%s downlink_id=%s token=%d freq=%s datr=%s",
            msg.gw_eui, msg.downlink_id, pending.token, txpk.freq, txpk.datr,
            extra={"gw_eui": msg.gw_eui, "dev_eui": msg.dev_eui},
        )  # fmt: skip
        if state.version < 2:  # protocol v1 has no TX_ACK: report the downlink as sent
            self.tracker.resolve(gw_eui, pending.token)
            await self._publish(
                Topic.GW_TX_ACK,
                msg.gw_eui,
                GatewayTxAck(
                    downlink_id=msg.downlink_id,
                    gw_eui=msg.gw_eui,
                    received_at=self._clock(),
                    retry=msg.retry,
                ),
            )

    async def _downlink_failed(
        self, msg: GatewayDownlink, result: str, error: str, exc: Exception | None
    ) -> None:
        self._count_downlink(result)
        log.warning(
            "gateway_bridge.downlink_failed gw_eui=%s downlink_id=%s error=%s detail=%s",
            msg.gw_eui, msg.downlink_id, error, exc,
            extra={"gw_eui": msg.gw_eui, "dev_eui": msg.dev_eui},
        )  # fmt: skip
        ack = GatewayTxAck(
            downlink_id=msg.downlink_id,
            gw_eui=msg.gw_eui,
            error=error,
            received_at=self._clock(),
            retry=msg.retry,
        )
        await self._publish(Topic.GW_TX_ACK, msg.gw_eui, ack)

    # ------------------------------------------------------------------ plumbing

    def _send(self, data: bytes, addr: Address) -> bool:
        if self._transport is None:
            return False
        try:
            self._transport.sendto(data, addr)
        except OSError as exc:
            log.warning("gateway_bridge.send_failed peer=%s:%d error=%r", addr[0], addr[1], exc)
            return False
        return True

    def _enqueue(self, topic: str, key: str, message: BaseMessage) -> bool:
        if self._queue is None:
            return False
        try:
            self._queue.put_nowait((topic, key, message))
        except asyncio.QueueFull:
            metrics.PUBLISH_ERRORS.labels(topic).inc()
            self.counters.add("publish_queue_full")
            log.error("gateway_bridge.publish_queue_full topic=%s key=%s", topic, key)
            return False
        return True

    async def _publish(self, topic: str, key: str, message: BaseMessage) -> None:
        try:
            await self.bus.publish(topic, key, message)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # the adapter edge: a bus failure is logged and counted
            metrics.PUBLISH_ERRORS.labels(topic).inc()
            self.counters.add("publish_errors")
            log.error("gateway_bridge.publish_failed topic=%s key=%s error=%r", topic, key, exc)

    async def _publisher(self) -> None:
        """Start the buffered publishes in arrival order, up to ``publish_in_flight`` at once:
        the bus enqueues them in that order (the Kafka adapter's FIFO enqueue), and their
        acknowledgements are awaited side by side, so the rate is not one broker round trip
        per message. A publish that fails is retried on its own, so after a broker failure a
        retried message can land behind later ones (the network server's dedup and counter
        checks take frames in any order within the window)."""
        assert self._queue is not None
        slots = asyncio.Semaphore(self.settings.publish_in_flight)
        while True:
            await slots.acquire()  # first: a message is either buffered or in flight
            topic, key, message = await self._queue.get()
            task = asyncio.create_task(self._publish_one(topic, key, message, slots))
            self._in_flight[task] = (topic, key)

    async def _publish_one(
        self, topic: str, key: str, message: BaseMessage, slots: asyncio.Semaphore
    ) -> None:
        assert self._queue is not None
        try:
            await self._publish_retrying(topic, key, message)
            self._in_flight.pop(asyncio.current_task(), None)  # type: ignore[arg-type]
        finally:
            slots.release()
            self._queue.task_done()

    async def _publish_retrying(self, topic: str, key: str, message: BaseMessage) -> bool:
        """Publish, retrying failures with backoff; False (counted) once every attempt failed."""
        attempts = self.settings.publish_attempts
        delay = self.settings.publish_retry_backoff_s
        for attempt in range(1, attempts + 1):
            try:
                await self.bus.publish(topic, key, message)
                return True
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the adapter edge: a bus failure is retried, then counted
                metrics.PUBLISH_ERRORS.labels(topic).inc()
                self.counters.add("publish_errors")
                if attempt == attempts:
                    self._count_unpublished(topic, key, "publish_failed", exc)
                    return False
                log.warning(
                    "gateway_bridge.publish_retry topic=%s key=%s attempt=%d delay_s=%.2f "
                    "error=%r",
                    topic, key, attempt, delay, exc,
                )  # fmt: skip
                await asyncio.sleep(delay)
                delay = min(delay * 2, MAX_PUBLISH_BACKOFF_S)
        return False  # pragma: no cover - the loop returns

    def _count_unpublished(
        self, topic: str, key: str, reason: str, exc: BaseException | None
    ) -> None:
        """A buffered message is finally lost (every attempt failed, or the bridge stopped)."""
        if topic == Topic.GW_UP:
            metrics.UPLINKS_DROPPED.labels(reason).inc()
            self.counters.add(f"uplinks_dropped.{reason}")
        else:
            self.counters.add(f"publish_dropped.{reason}")
        log.error(
            "gateway_bridge.publish_dropped topic=%s key=%s reason=%s error=%r",
            topic, key, reason, exc,
        )  # fmt: skip

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(self.settings.housekeeping_interval_s)
            self.expire_downlinks()

    def expire_downlinks(self) -> int:
        """Forget PULL_RESPs whose TX_ACK never came; returns how many."""
        expired = self.tracker.expire(self._monotonic())
        for p in expired:
            metrics.TX_ACK_TIMEOUTS.inc()
            self.counters.add("tx_ack_timeouts")
            log.warning(
                "gateway_bridge.tx_ack_timeout gw_eui=%s downlink_id=%s token=%d",
                _hex(p.gw_eui), p.downlink_id, p.token,
                extra={"gw_eui": _hex(p.gw_eui), "dev_eui": p.dev_eui},
            )  # fmt: skip
        return len(expired)

    def _count_malformed(self, reason: str) -> None:
        metrics.MALFORMED.labels(reason).inc()
        self.counters.add(f"malformed.{reason}")

    def _count_downlink(self, result: str) -> None:
        metrics.DOWNLINKS.labels(result).inc()
        self.counters.add(f"downlinks.{result}")
