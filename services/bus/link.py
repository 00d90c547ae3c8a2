"""The linked bus: the in-process bus of one process joined to the in-process bus of another.

The two-process embedded mode (``HYPERLORA_PROCESSES=2``, services.platform) runs the radio
side (gateway bridge, network server, join server) in a child process so that one uplink's
work is shared between two interpreters, and so two cores. Each process has a ``LinkedBus``:
a MemoryBus (same partitions, per-key order, backpressure, retries, dead letters) that also
holds one end of a stream socket to the other process.

* at ``start()`` each side tells the other which topics it has consumer groups for (HELLO);
* a record published here goes to this process's groups, and, if the other process has
  groups for its topic, over the socket (its bytes as encoded for the bus, its key, headers
  and timestamp). A consumer group lives in one process only, so every group still gets every
  record once;
* a record received is decoded once and queued for this process's groups (never sent back).
  One that cannot be decoded is queued undecoded, so each group dead-letters it as usual;
* backpressure crosses the socket: a full queue stops the reader, the socket fills, and the
  sender's publish waits once more than ``high_water`` bytes are unsent;
* control frames (small JSON objects) carry the platform's own conversation (the radio side's
  UDP address, "stop") to the ``on_control`` callback;
* when the other side goes away (EOF, a reset), ``peer_gone`` is set; later records for its
  topics are counted as ``dropped`` and logged, never silently.

Nothing survives a crash of either process, exactly as with the in-process bus: the platform
stops as a whole if its radio process dies (see services.platform.platform).

Frame: ``!IB`` (length of what follows the length field, kind), then for a record ``!HHIq``
(topic, key and headers lengths, timestamp in ms), topic, key, headers (JSON, values latin-1)
and the record's bytes; for HELLO and control frames, a JSON object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson

from . import codec
from .dispatch import Record
from .errors import BusError, DecodeError
from .memory import MemoryBus
from .messages import BaseMessage

log = logging.getLogger("hyperlora.bus.link")

FRAME = struct.Struct("!IB")
RECORD = struct.Struct("!HHIq")
K_HELLO = 1
K_RECORD = 2
K_CONTROL = 3
MAX_FRAME = 64 * 1024 * 1024
HIGH_WATER = 1 << 20  # bytes unsent before publish waits
READ_LIMIT = 1 << 16  # the reader stops reading (backpressure) at twice this

Control = Callable[[dict[str, Any]], None]


class LinkError(BusError):
    """The other process broke the link protocol."""


@dataclass(slots=True)
class LinkCounters:
    sent: int = 0  # records sent to the other process
    received: int = 0  # records received from it and queued here
    dropped: int = 0  # records for the other process after it went away
    unreadable: int = 0  # received records of an unknown topic, or without local groups
    controls_sent: int = 0
    controls_received: int = 0


def _frame(kind: int, body: bytes) -> bytes:
    return FRAME.pack(len(body) + 1, kind) + body


class LinkedBus(MemoryBus):
    """A MemoryBus joined to the MemoryBus of one other process over ``sock``."""

    def __init__(
        self,
        sock: socket.socket,
        *,
        name: str = "link",
        on_control: Control | None = None,
        high_water: int = HIGH_WATER,
        **memory: Any,
    ) -> None:
        super().__init__(**memory)
        self._sock = sock
        self.name = name
        self.on_control = on_control
        self._high_water = high_water
        self._reader: asyncio.StreamReader | None = None
        self._writer: asyncio.StreamWriter | None = None
        self._read_task: asyncio.Task[None] | None = None
        self.peer_topics: frozenset[str] = frozenset()
        self.peer_name = ""
        self.peer_gone = asyncio.Event()
        self.link_counters = LinkCounters()
        self._warned_drop = False

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Exchange HELLO with the other process (waits for it), then start the bus."""
        await self._handshake()
        await super().start()
        self._read_task = asyncio.create_task(self._read_loop(), name=f"bus-link:{self.name}")

    async def reattach(self, sock: socket.socket) -> None:
        """Join a new peer process on ``sock`` (the old one is gone: a restart), keeping this
        bus, its queues and subscriptions. Records for the peer's topics published in between
        were counted as ``dropped``."""
        if not self.running:
            raise LinkError(f"link {self.name}: reattach() needs a running bus")
        await self._drop_link()
        self._sock = sock
        await self._handshake()
        self.peer_gone.clear()
        self._warned_drop = False
        self._read_task = asyncio.create_task(self._read_loop(), name=f"bus-link:{self.name}")

    async def _handshake(self) -> None:
        self._reader, self._writer = await asyncio.open_connection(
            sock=self._sock, limit=READ_LIMIT
        )
        hello = {"name": self.name, "topics": sorted(self._groups)}
        self._writer.write(_frame(K_HELLO, orjson.dumps(hello)))
        await self._writer.drain()
        while True:
            kind, body = await self._read_frame()
            if kind == K_HELLO:
                break
            if kind == K_CONTROL:
                self._control(body)
            else:
                raise LinkError(f"link {self.name}: a record arrived before HELLO")
        peer = orjson.loads(body)
        self.peer_topics = frozenset(peer.get("topics", ()))
        self.peer_name = str(peer.get("name", "?"))
        log.info(
            "bus.link.up name=%s peer=%s peer_topics=%s",
            self.name, self.peer_name, ",".join(sorted(self.peer_topics)),
        )  # fmt: skip

    async def stop(self) -> None:
        """Drain this process's queues (records received meanwhile included), then close
        the socket: the other side reads everything sent before it sees the end."""
        await super().stop()
        await self.close_link()

    async def close_link(self) -> None:
        await self._drop_link()
        self.peer_gone.set()

    async def _drop_link(self) -> None:
        writer = self._writer
        if writer is not None and not writer.is_closing():
            with contextlib.suppress(ConnectionError, OSError):
                await writer.drain()
            writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await writer.wait_closed()
        if self._read_task is not None:
            self._read_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._read_task
            self._read_task = None

    # ------------------------------------------------------------------ control frames

    async def send_control(self, message: dict[str, Any]) -> bool:
        """Send a small JSON object to the other process's ``on_control``; False if it is
        gone."""
        writer = self._writer
        if writer is None or writer.is_closing() or self.peer_gone.is_set():
            return False
        writer.write(_frame(K_CONTROL, orjson.dumps(message)))
        self.link_counters.controls_sent += 1
        try:
            await writer.drain()
        except (ConnectionError, OSError):
            return False
        return True

    def _control(self, body: bytes) -> None:
        self.link_counters.controls_received += 1
        try:
            message = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            log.warning("bus.link.bad_control name=%s error=%s", self.name, exc)
            return
        if self.on_control is None or not isinstance(message, dict):
            log.warning("bus.link.unhandled_control name=%s message=%r", self.name, message)
            return
        self.on_control(message)

    # ------------------------------------------------------------------ records out

    async def _forward(self, record: Record) -> bool:
        if record.topic not in self.peer_topics:
            return False
        writer = self._writer
        if writer is None or writer.is_closing() or self.peer_gone.is_set():
            self.link_counters.dropped += 1
            if not self._warned_drop:
                self._warned_drop = True
                log.warning(
                    "bus.link.peer_gone_dropping name=%s topic=%s key=%s (further drops "
                    "counted only)", self.name, record.topic, record.key,
                )  # fmt: skip
            return True  # not "unrouted": it had consumers, now gone (counted as dropped)
        topic = record.topic.encode()
        key = record.key.encode()
        headers = orjson.dumps({k: v.decode("latin-1") for k, v in record.headers.items()})
        raw = record.raw
        head = RECORD.pack(len(topic), len(key), len(headers), record.timestamp_ms or 0)
        size = 1 + RECORD.size + len(topic) + len(key) + len(headers) + len(raw)
        writer.write(b"".join((FRAME.pack(size, K_RECORD), head, topic, key, headers, raw)))
        self.link_counters.sent += 1
        transport = writer.transport
        if transport.get_write_buffer_size() > self._high_water:
            with contextlib.suppress(ConnectionError, OSError):  # the read loop notices
                await writer.drain()
        return True

    # ------------------------------------------------------------------ records in

    async def _read_frame(self) -> tuple[int, bytes]:
        assert self._reader is not None
        head = await self._reader.readexactly(FRAME.size)
        size, kind = FRAME.unpack(head)
        if size < 1 or size > MAX_FRAME:
            raise LinkError(f"link {self.name}: frame of {size} bytes")
        body = await self._reader.readexactly(size - 1) if size > 1 else b""
        return kind, body

    async def _read_loop(self) -> None:
        reason = "closed"
        try:
            while True:
                kind, body = await self._read_frame()
                if kind == K_RECORD:
                    await self._receive(body)
                elif kind == K_CONTROL:
                    self._control(body)
                else:
                    raise LinkError(f"link {self.name}: unknown frame kind {kind}")
        except asyncio.IncompleteReadError:
            reason = "eof"
        except (ConnectionError, OSError) as exc:
            reason = repr(exc)
        except LinkError as exc:
            reason = str(exc)
            log.error("bus.link.protocol_error name=%s error=%s", self.name, exc)
        finally:
            self.peer_gone.set()
            log.info(
                "bus.link.down name=%s peer=%s reason=%s sent=%d received=%d",
                self.name, self.peer_name, reason,
                self.link_counters.sent, self.link_counters.received,
            )  # fmt: skip

    async def _receive(self, body: bytes) -> None:
        tl, kl, hl, ts = RECORD.unpack_from(body)
        o = RECORD.size
        topic = body[o : o + tl].decode()
        o += tl
        key = body[o : o + kl].decode()
        o += kl
        headers = {k: str(v).encode("latin-1") for k, v in orjson.loads(body[o : o + hl]).items()}
        raw = body[o + hl :]
        groups = self._groups.get(topic)
        if not groups or self._state == "stopped":
            self.link_counters.unreadable += 1
            log.warning(
                "bus.link.unroutable name=%s topic=%s key=%s state=%s",
                self.name, topic, key, self._state,
            )  # fmt: skip
            return
        message: BaseMessage | None
        try:
            message = codec.decode(topic, raw)
        except DecodeError:
            message = None  # each group dead-letters it (services.bus.dispatch)
        record = self._record(topic, key, raw, headers, message, ts or None)
        self.link_counters.received += 1
        await self._enqueue(record, groups)
