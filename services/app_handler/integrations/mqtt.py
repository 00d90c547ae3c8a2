"""The MQTT integration: events out, downlink commands in (aiomqtt).

Topics (``<prefix>`` is "application" by default; DevEUIs upper-case hex):

* ``<prefix>/<application_id>/device/<dev_eui>/event/{up,join,ack,txack}`` — JSON events;
* ``<prefix>/<application_id>/device/<dev_eui>/command/down`` — subscribed; JSON
  ``{"f_port": 10, "data": "<base64>", "confirmed": false}`` (or ``"object"`` instead of
  ``"data"``, encoded with the application's codec) becomes a DownlinkRequest.

:meth:`MqttIntegration.publish` never blocks: events wait in a bounded queue while the broker
is away (when it is full, new events are dropped and counted). The connection is kept by one
task that reconnects with exponential backoff; a command that is not valid is logged and
counted, never raised.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiomqtt
import orjson

from .. import metrics
from ..errors import DeliveryRetry, InvalidCommand
from ..settings import MqttSettings

log = logging.getLogger("hyperlora.app_handler.mqtt")

EVENT_TYPES = ("up", "join", "ack", "txack")
_HEX = set("0123456789ABCDEF")


@dataclass(frozen=True, slots=True)
class DownCommand:
    """A parsed ``command/down`` message (not yet checked against the device registry)."""

    application_id: str
    dev_eui: str  # upper-case hex
    f_port: int
    data: bytes | None  # None when ``object`` is given instead
    object: dict[str, Any] | None = None
    confirmed: bool = False


CommandHandler = Callable[[DownCommand], Awaitable[None]]


def event_topic(prefix: str, application_id: str, dev_eui: str, event: str) -> str:
    return f"{prefix}/{application_id}/device/{dev_eui}/event/{event}"


def command_subscription(prefix: str) -> str:
    return f"{prefix}/+/device/+/command/down"


def parse_command(prefix: str, topic: str, payload: bytes) -> DownCommand:
    """Validate a ``command/down`` message; InvalidCommand with the reason otherwise."""
    parts = topic.split("/")
    if (
        len(parts) != 6
        or parts[0] != prefix
        or parts[2] != "device"
        or parts[4:] != ["command", "down"]
    ):
        raise InvalidCommand(f"not a command/down topic: {topic!r}")
    application_id, dev_eui = parts[1], parts[3].upper()
    if len(dev_eui) != 16 or not set(dev_eui) <= _HEX:
        raise InvalidCommand(f"DevEUI in topic is not 16 hex digits: {parts[3]!r}")
    try:
        application_id = str(uuid.UUID(application_id))
    except ValueError as exc:
        raise InvalidCommand(f"application id in topic is not a UUID: {parts[1]!r}") from exc
    try:
        body = json.loads(payload)
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidCommand(f"payload is not JSON: {exc}") from exc
    if not isinstance(body, Mapping):
        raise InvalidCommand("payload must be a JSON object")
    f_port = body.get("f_port")
    if isinstance(f_port, bool) or not isinstance(f_port, int) or not 1 <= f_port <= 223:
        raise InvalidCommand(f"f_port must be an integer 1..223, got {f_port!r}")
    confirmed = body.get("confirmed", False)
    if not isinstance(confirmed, bool):
        raise InvalidCommand("confirmed must be true or false")
    data: bytes | None = None
    obj = body.get("object")
    if "data" in body:
        text = body["data"]
        if not isinstance(text, str):
            raise InvalidCommand("data must be a base64 string")
        try:
            data = base64.b64decode(text, validate=True)
        except (binascii.Error, ValueError) as exc:
            raise InvalidCommand("data is not valid base64") from exc
    elif not isinstance(obj, dict):
        raise InvalidCommand("give data (base64) or object (for the application's codec)")
    return DownCommand(
        application_id=application_id,
        dev_eui=dev_eui,
        f_port=f_port,
        data=data,
        object=obj if data is None else None,
        confirmed=confirmed,
    )


@dataclass(slots=True)
class MqttCounters:
    published: int = 0
    dropped: int = 0
    publish_failed: int = 0
    commands: int = 0
    commands_rejected: int = 0
    connections: int = 0
    connection_failures: int = 0
    rejected_reasons: list[str] = field(default_factory=list)


class MqttIntegration:
    def __init__(
        self,
        settings: MqttSettings,
        *,
        on_command: CommandHandler | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._settings = settings
        self._on_command = on_command
        self._sleep = sleep
        self._queue: asyncio.Queue[tuple[str, bytes]] = asyncio.Queue(maxsize=settings.queue_size)
        self._inflight: tuple[str, bytes] | None = None  # taken from the queue, not yet sent
        self._task: asyncio.Task[None] | None = None
        self._client_now: aiomqtt.Client | None = None  # while connected and subscribed
        self._stopping = False
        self.connected = asyncio.Event()  # set once connected and subscribed
        self.counters = MqttCounters()
        self._client_id = settings.client_id or f"hyperlora-app-handler-{uuid.uuid4().hex[:12]}"

    @property
    def queue_depth(self) -> int:
        return self._queue.qsize() + (1 if self._inflight else 0)

    async def start(self) -> None:
        if self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name="app_handler:mqtt")

    async def stop(self, drain_timeout_s: float = 2.0) -> None:
        if self._task is None:
            return
        if self.connected.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained(), timeout=drain_timeout_s)
        self._stopping = True
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        self.connected.clear()

    async def _drained(self) -> None:
        while self.queue_depth and self.connected.is_set():
            await asyncio.sleep(0.01)

    def publish(self, application_id: str, dev_eui: str, event: Mapping[str, Any]) -> bool:
        """Queue ``event`` for its topic; False (dropped, counted) when the queue is full."""
        kind = str(event.get("event", ""))
        topic = event_topic(self._settings.topic_prefix, application_id, dev_eui, kind)
        payload = json.dumps(event, separators=(",", ":")).encode()
        try:
            self._queue.put_nowait((topic, payload))
        except asyncio.QueueFull:
            self.counters.dropped += 1
            metrics.MQTT_MESSAGES.labels("dropped").inc()
            log.warning(
                "app_handler.mqtt.dropped topic=%s dev_eui=%s reason=queue_full", topic, dev_eui
            )
            return False
        return True

    def is_connected(self) -> bool:
        """Connected to the broker and subscribed (deliveries can go out)."""
        return self._client_now is not None and self.connected.is_set()

    async def deliver(self, application_id: str, dev_eui: str, event: Mapping[str, Any]) -> None:
        """Publish ``event`` now and wait for the broker's acknowledgement (QoS 1 or 2; with
        QoS 0, until it is written to the connection): for the outbox relay.
        DeliveryRetry when the broker is away or does not answer in time."""
        client = self._client_now
        if client is None or not self.connected.is_set():
            raise DeliveryRetry("MQTT broker not connected")
        kind = str(event.get("event", ""))
        topic = event_topic(self._settings.topic_prefix, application_id, dev_eui, kind)
        payload = orjson.dumps(event)  # a JSON-ready dict (AppEvent.to_dict)
        try:
            await client.publish(
                topic, payload, qos=self._settings.qos, timeout=self._settings.publish_timeout_s
            )
        except aiomqtt.MqttError as exc:
            self.counters.publish_failed += 1
            metrics.MQTT_MESSAGES.labels("failed").inc()
            raise DeliveryRetry(f"MQTT publish to {topic}: {exc!r}") from exc
        self.counters.published += 1
        metrics.MQTT_MESSAGES.labels("published").inc()

    # ------------------------------------------------------------------ connection

    def _client(self) -> aiomqtt.Client:
        s = self._settings
        client = aiomqtt.Client(
            s.host,
            s.port,
            username=s.username,
            password=s.password,
            identifier=self._client_id,
            keepalive=s.keepalive_s,
            timeout=10.0,
            max_inflight_messages=s.max_inflight,
        )
        # aiomqtt warns above 10 pending publishes; up to max_inflight is the design (and a
        # warning per publish under load cost CPU: 1,700 lines a minute on the testbed)
        client.pending_calls_threshold = 2 * s.max_inflight
        return client

    async def _run(self) -> None:
        delay = self._settings.reconnect_initial_s
        was_connected = True  # log the first failure at warning level
        while not self._stopping:
            try:
                async with self._client() as client:
                    await client.subscribe(
                        command_subscription(self._settings.topic_prefix), qos=self._settings.qos
                    )
                    self.counters.connections += 1
                    metrics.MQTT_CONNECTIONS.labels("connected").inc()
                    log.info(
                        "app_handler.mqtt.connected host=%s port=%d",
                        self._settings.host,
                        self._settings.port,
                    )
                    self._client_now = client
                    self.connected.set()
                    delay = self._settings.reconnect_initial_s
                    was_connected = True
                    try:
                        await self._serve(client)
                    finally:
                        self._client_now = None
            except aiomqtt.MqttError as exc:
                self.connected.clear()
                self.counters.connection_failures += 1
                metrics.MQTT_CONNECTIONS.labels("failed").inc()
                level = logging.WARNING if was_connected else logging.DEBUG
                log.log(
                    level,
                    "app_handler.mqtt.disconnected host=%s port=%d error=%r retry_in_s=%.1f",
                    self._settings.host,
                    self._settings.port,
                    exc,
                    delay,
                )
                was_connected = False
            except Exception as exc:  # never let the integration task die: log and reconnect
                self.counters.connection_failures += 1
                metrics.MQTT_CONNECTIONS.labels("failed").inc()
                log.exception("app_handler.mqtt.error error=%r retry_in_s=%.1f", exc, delay)
            self.connected.clear()
            if self._stopping:
                return
            await self._sleep(delay)
            delay = min(delay * 2, self._settings.reconnect_max_s)

    async def _serve(self, client: aiomqtt.Client) -> None:
        """Publish queued events and read commands until the connection fails."""
        tasks = [
            asyncio.create_task(self._publisher(client), name="app_handler:mqtt:pub"),
            asyncio.create_task(self._receiver(client), name="app_handler:mqtt:sub"),
        ]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
        finally:
            for t in tasks:
                t.cancel()
            for t in tasks:
                with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                    await t
        for t in done:
            exc = t.exception()
            if exc is not None:
                raise exc
        raise aiomqtt.MqttError("MQTT session ended")

    async def _publisher(self, client: aiomqtt.Client) -> None:
        while True:
            if self._inflight is None:
                self._inflight = await self._queue.get()
            topic, payload = self._inflight
            await client.publish(topic, payload, qos=self._settings.qos)
            self._inflight = None
            self.counters.published += 1
            metrics.MQTT_MESSAGES.labels("published").inc()

    async def _receiver(self, client: aiomqtt.Client) -> None:
        async for message in client.messages:
            payload = message.payload
            raw = payload if isinstance(payload, bytes | bytearray) else str(payload).encode()
            await self.handle_command(message.topic.value, bytes(raw))

    async def handle_command(self, topic: str, payload: bytes) -> bool:
        """Parse and hand over one command; False (logged, counted) if it is refused."""
        try:
            command = parse_command(self._settings.topic_prefix, topic, payload)
            if self._on_command is None:
                raise InvalidCommand("downlink commands are not handled here")
            await self._on_command(command)
        except InvalidCommand as exc:
            self.counters.commands_rejected += 1
            self.counters.rejected_reasons.append(str(exc))
            del self.counters.rejected_reasons[:-100]
            metrics.MQTT_MESSAGES.labels("command_rejected").inc()
            log.warning("app_handler.mqtt.command_rejected topic=%s error=%s", topic, exc)
            return False
        except Exception as exc:  # the adapter edge: a failing handler must not end the loop
            self.counters.commands_rejected += 1
            metrics.MQTT_MESSAGES.labels("command_failed").inc()
            log.exception("app_handler.mqtt.command_failed topic=%s error=%r", topic, exc)
            return False
        self.counters.commands += 1
        metrics.MQTT_MESSAGES.labels("command").inc()
        return True
