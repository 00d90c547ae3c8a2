"""Durable integration events: the outbox relay of the application handler.

An event's deliveries (one MQTT publish, one POST per webhook) are rows of the storage's
integration outbox (``services.storage.repositories.outbox``), written in the transaction that
decides the event: an uplink's with its uplink-log row, so a crash between the commit and the
publish cannot lose the event, and a redelivered ``ns.up`` (the row is already there) adds
nothing. The relay delivers them and deletes each row once the broker (MQTT PUBACK, QoS >= 1)
or the endpoint (2xx) has acknowledged it. Delivery is at least once: the only window for a
duplicate is a crash between that acknowledgement and the delete. Every event carries a
stable id (``dedup_id`` of an uplink or join, ``request_id`` / ``downlink_id`` of an ack) for
consumers that want exactly once.

Rows written by this process carry this relay's lease from the start and are handed to it in
memory, so they go out at once, without a read. The relay also claims, every
``poll_interval_s``, due rows no live lease holds: retries whose time has come, and rows of a
relay that died (its lease ran out; a relay restarted under the same ``instance_id`` takes its
own back at start). MQTT deliveries are retried while the broker is away (capped exponential
backoff, never given up); webhook deliveries follow the webhook retry policy and a delivery
given up is kept, marked failed, for operators (``Storage.outbox.failed()``).
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import socket
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import orjson

from services.bus.messages import utc_now
from services.lorawan.types import EUI64
from services.storage import OutboxEntry
from services.storage.batching import GroupCommitter
from services.storage.repositories.outbox import OutboxRepo

from . import metrics
from .core.events import DeviceInfo
from .errors import DeliveryRefused, DeliveryRetry
from .integrations.webhook import WebhookIntegration
from .settings import OutboxSettings

log = logging.getLogger("hyperlora.app_handler.outbox")

Clock = Callable[[], datetime]
COUNT_EVERY_S = 10.0  # how often the outbox's rows are counted for the gauge


class MqttDelivery(Protocol):
    """What the relay needs of the MQTT integration (MqttIntegration)."""

    def is_connected(self) -> bool: ...

    async def deliver(
        self, application_id: str, dev_eui: str, event: Mapping[str, Any]
    ) -> None: ...


def default_instance_id(consumer_group: str) -> str:
    """``<host>:<consumer group>``: stable over restarts of the same service on a host."""
    return f"{socket.gethostname()}:{consumer_group}"[:100]


def deliveries(
    key: str,
    event: Mapping[str, Any],
    device: DeviceInfo | None,
    *,
    mqtt: bool,
    lease_owner: str | None,
    lease_until: datetime | None,
) -> list[OutboxEntry]:
    """The deliveries of one event (``key``: its stable id) to ``device``'s integrations:
    MQTT when the integration runs here and the device's application uses it, one POST per
    webhook. Leased to ``lease_owner`` (the relay of the process that writes them; None: to
    whichever relay claims them first)."""
    if device is None:
        return []
    eui = EUI64.from_hex(device.dev_eui)
    kind = str(event.get("event", ""))
    out: list[OutboxEntry] = []
    if mqtt and device.mqtt_enabled and device.application_id:
        out.append(
            OutboxEntry(
                key=f"{key}:mqtt",
                dev_eui=eui,
                target="mqtt",
                event=kind,
                body={"application_id": device.application_id, "event": dict(event)},
                lease_owner=lease_owner,
                lease_until=lease_until,
            )
        )
    for hook in device.webhooks:
        digest = hashlib.sha256(hook.url.encode()).hexdigest()[:16]
        out.append(
            OutboxEntry(
                key=f"{key}:webhook:{digest}",
                dev_eui=eui,
                target="webhook",
                event=kind,
                body={"url": hook.url, "headers": dict(hook.headers), "event": dict(event)},
                lease_owner=lease_owner,
                lease_until=lease_until,
            )
        )
    return out


@dataclass(slots=True)
class RelayCounters:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    claimed: int = 0
    parked: int = 0  # MQTT deliveries left in the outbox while the broker was away
    expired: int = 0
    by_target: dict[str, int] = field(default_factory=dict)


class OutboxRelay:
    """Delivers the integration outbox's rows (see the module docstring)."""

    def __init__(
        self,
        repo: OutboxRepo,
        settings: OutboxSettings,
        *,
        owner: str,
        mqtt: MqttDelivery | None,
        webhooks: WebhookIntegration,
        clock: Clock = utc_now,
    ) -> None:
        self._repo = repo
        self._settings = settings
        self.owner = owner
        self._mqtt = mqtt
        self._webhooks = webhooks
        self._clock = clock
        self._ready: deque[OutboxEntry] = deque()
        self._busy: set[str] = set()  # keys being delivered (or queued) here
        self._slots = asyncio.Semaphore(settings.concurrency)
        self._tasks: set[asyncio.Task[None]] = set()
        self._wake = asyncio.Event()
        self._idle = asyncio.Event()
        self._idle.set()
        self._runner: asyncio.Task[None] | None = None
        self._next_poll = 0.0  # loop time of the next claim (0: at once)
        self._mqtt_parked = False  # MQTT rows left waiting for the broker
        self._deletes: GroupCommitter[str, None] = GroupCommitter(repo.delete_many, max_batch=256)
        self.counters = RelayCounters()

    # ------------------------------------------------------------------ producers

    def lease(self) -> tuple[str, datetime]:
        """(owner, lease end) for rows this process writes now."""
        return self.owner, self._clock() + timedelta(seconds=self._settings.lease_s)

    def hand_over(self, entries: Iterable[OutboxEntry]) -> None:
        """Deliver rows this process has just committed (leased to this relay)."""
        for entry in entries:
            if entry.key not in self._busy:
                self._busy.add(entry.key)
                self._ready.append(entry)
                self._idle.clear()
        self._wake.set()

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        if self._runner is None:
            self._runner = asyncio.create_task(self._run(), name="app_handler:outbox")

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is in hand (up to ``drain_timeout_s``), then stop. What is left stays
        in the outbox, leased to this relay's identity, and goes out after a restart."""
        if self._runner is None:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._idle.wait(), timeout=drain_timeout_s)
        self._runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._runner
        self._runner = None
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await self._deletes.close()

    async def drain(self) -> None:
        """Wait until every row in hand was delivered, rescheduled or given up."""
        await self._idle.wait()

    # ------------------------------------------------------------------ the loop

    def _poll_in(self, delay_s: float) -> None:
        """Claim again in ``delay_s`` at the latest (a retry falls due then)."""
        at = asyncio.get_running_loop().time() + delay_s
        if at < self._next_poll:
            self._next_poll = at
            self._wake.set()

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        self._next_poll = 0.0  # claim at once: rows left by an earlier run of this identity
        first = True
        next_count = next_expiry = 0.0
        while True:
            mqtt_up = self._mqtt_up()
            if mqtt_up and self._mqtt_parked:  # the broker is back: take the parked rows now
                self._next_poll, first = 0.0, True
            if loop.time() >= self._next_poll:
                self._next_poll = loop.time() + self._settings.poll_interval_s
                try:
                    await self._claim(reclaim_own=first, mqtt_up=mqtt_up)
                    first = False
                    if mqtt_up:
                        self._mqtt_parked = False
                    if loop.time() >= next_count:
                        next_count = loop.time() + COUNT_EVERY_S
                        waiting, failed = await self._repo.counts()
                        metrics.OUTBOX_ROWS.labels("waiting").set(waiting)
                        metrics.OUTBOX_ROWS.labels("failed").set(failed)
                    if loop.time() >= next_expiry:
                        next_expiry = loop.time() + self._settings.expire_every_s
                        await self._expire()
                except Exception as exc:  # storage away: log, keep running, try again
                    log.warning("app_handler.outbox.claim_failed error=%r", exc)
            while self._ready:
                entry = self._ready.popleft()
                await self._slots.acquire()
                task = asyncio.create_task(self._deliver(entry))
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)
            self._check_idle()
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                timeout = max(0.0, self._next_poll - loop.time())
                await asyncio.wait_for(self._wake.wait(), timeout)

    def _mqtt_up(self) -> bool:
        return self._mqtt is not None and self._mqtt.is_connected()

    async def _claim(self, *, reclaim_own: bool, mqtt_up: bool) -> None:
        claimed = await self._repo.claim(
            self.owner,
            lease_s=self._settings.lease_s,
            limit=self._settings.claim_batch,
            reclaim_own=reclaim_own,
            skip_target=None if mqtt_up else "mqtt",  # wait for the broker, untouched
        )
        fresh = [e for e in claimed if e.key not in self._busy]
        if fresh:
            self.counters.claimed += len(fresh)
            log.info("app_handler.outbox.claimed rows=%d owner=%s", len(fresh), self.owner)
            self.hand_over(fresh)

    async def _expire(self) -> None:
        s = self._settings
        now = self._clock()
        gone = await self._repo.expire(
            target="mqtt",
            created_before=now - timedelta(seconds=s.mqtt_max_age_s),
            failed_before=now - timedelta(seconds=s.failed_retention_s),
        )
        if gone:
            self.counters.expired += gone
            metrics.OUTBOX.labels("any", "expired").inc(gone)
            log.warning(
                "app_handler.outbox.expired rows=%d (MQTT events older than %.0f s whose "
                "broker never came back, or deliveries given up over %.0f s ago)",
                gone,
                s.mqtt_max_age_s,
                s.failed_retention_s,
            )

    def _check_idle(self) -> None:
        if not self._busy and not self._ready:
            self._idle.set()

    async def _deliver(self, entry: OutboxEntry) -> None:
        try:
            if entry.target == "mqtt" and not self._mqtt_up():
                # broker away: leave the row as it is (no write per row while it waits); it
                # is claimed again when the broker is back
                self._mqtt_parked = True
                self.counters.parked += 1
                return
            try:
                await self._send(entry)
            except DeliveryRetry as exc:
                await self._retry(entry, str(exc))
            except DeliveryRefused as exc:
                await self._give_up(entry, str(exc))
            else:
                await self._deletes.submit(entry.key)
                self.counters.delivered += 1
                self.counters.by_target[entry.target] = (
                    self.counters.by_target.get(entry.target, 0) + 1
                )
                metrics.OUTBOX.labels(entry.target, "delivered").inc()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # storage failed on the way: the lease brings it back
            log.warning(
                "app_handler.outbox.bookkeeping_failed key=%s error=%r (redelivered after the "
                "lease)",
                entry.key,
                exc,
            )
        finally:
            self._busy.discard(entry.key)
            self._slots.release()
            self._check_idle()

    async def _send(self, entry: OutboxEntry) -> None:
        body = entry.body
        event = body.get("event", {})
        if entry.target == "mqtt":
            if self._mqtt is None:
                raise DeliveryRetry("the MQTT integration is not enabled in this process")
            await self._mqtt.deliver(str(body["application_id"]), str(entry.dev_eui), event)
        elif entry.target == "webhook":
            await self._webhooks.deliver(
                str(body["url"]),
                dict(body.get("headers", {})),
                orjson.dumps(event),
                entry.event,
                str(entry.dev_eui),
            )
        else:
            raise DeliveryRefused(f"unknown outbox target {entry.target!r}")

    def _backoff(self, entry: OutboxEntry, attempts: int) -> float:
        if entry.target == "webhook":
            return self._webhooks.backoff(attempts)
        s = self._settings
        return float(min(s.retry_max_s, s.retry_initial_s * 2 ** min(attempts - 1, 30)))

    async def _retry(self, entry: OutboxEntry, error: str) -> None:
        attempts = entry.attempts + 1
        if entry.target == "webhook" and attempts > self._webhooks.max_retries:
            await self._give_up(entry, error)
            return
        delay = self._backoff(entry, attempts)
        await self._repo.reschedule(
            entry.key,
            attempts=attempts,
            next_attempt_at=self._clock() + timedelta(seconds=delay),
            error=error,
        )
        self._poll_in(delay)
        self.counters.retried += 1
        metrics.OUTBOX.labels(entry.target, "retried").inc()
        log.info(
            "app_handler.outbox.retry key=%s target=%s dev_eui=%s attempt=%d in_s=%.2f error=%s",
            entry.key,
            entry.target,
            entry.dev_eui,
            attempts,
            delay,
            error,
        )

    async def _give_up(self, entry: OutboxEntry, error: str) -> None:
        attempts = entry.attempts + 1
        await self._repo.fail(entry.key, attempts=attempts, error=error)
        self.counters.failed += 1
        metrics.OUTBOX.labels(entry.target, "failed").inc()
        log.warning(
            "app_handler.outbox.failed key=%s target=%s dev_eui=%s attempts=%d error=%s "
            "(kept in the outbox, marked failed)",
            entry.key,
            entry.target,
            entry.dev_eui,
            attempts,
            error,
        )
