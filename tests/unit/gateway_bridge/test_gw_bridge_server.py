"""The UDP server on a real socket (127.0.0.1, port 0) with an in-memory fake bus.

Each test plays a packet forwarder: it sends datagrams from its own UDP socket and reads what
the bridge answers. Everything started is stopped by the fixtures.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from typing import Any, cast

import orjson
import pytest

from services.bus.base import Bus, BusCounters, Envelope, Handler
from services.bus.memory import MemoryBus
from services.bus.messages import (
    BaseMessage,
    GatewayDownlink,
    GatewayStats,
    GatewayTxAck,
    GatewayUplink,
)
from services.gateway_bridge.semtech import (
    PullAck,
    PullData,
    PullResp,
    PushAck,
    TxAck,
    TxAckError,
    TxPkAck,
    decode_packet,
)
from services.gateway_bridge.server import GatewayBridge
from services.gateway_bridge.settings import GatewayBridgeSettings
from services.lorawan.types import EUI64

GW = EUI64.from_hex("AA555A0000000001")
NOW = datetime(2026, 11, 22, 1, 0, tzinfo=UTC)
DATA_UP = bytes.fromhex("40040302018000010001020304")  # DevAddr 01020304, unconfirmed up
PROPRIETARY = bytes.fromhex("e0010203")  # proprietary frame: no DevAddr or DevEUI
TIMEOUT = 2.0


class FakeBus(Bus):
    """Records publishes; ``deliver`` hands a message to the subscribed handler."""

    def __init__(self) -> None:
        self.counters = BusCounters()
        self.published: list[tuple[str, str, BaseMessage]] = []
        self.handlers: dict[str, Handler] = {}
        self._changed = asyncio.Event()
        self._running = False

    async def start(self) -> None:
        self._running = True

    async def stop(self) -> None:
        self._running = False

    @property
    def running(self) -> bool:
        return self._running

    async def publish(
        self,
        topic: str,
        key: str,
        message: BaseMessage,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        self.published.append((str(topic), key, message))
        self._changed.set()

    async def publish_raw(
        self, topic: str, key: str, raw: bytes, *, headers: Mapping[str, bytes] | None = None
    ) -> None:  # pragma: no cover - unused by the bridge
        raise NotImplementedError

    def subscribe(self, topic: str, group: str, handler: Handler, concurrency: int = 4) -> None:
        self.handlers[str(topic)] = handler

    async def deliver(self, topic: str, message: BaseMessage) -> None:
        envelope = Envelope(topic, "k", 0, 0, {}, message, b"")
        await self.handlers[topic](envelope)

    def on(self, topic: str) -> list[Any]:
        return [m for t, _, m in self.published if t == topic]

    async def wait_for(self, topic: str, count: int) -> list[Any]:
        async def _wait() -> list[Any]:
            while len(self.on(topic)) < count:
                self._changed.clear()
                await self._changed.wait()
            return self.on(topic)

        return await asyncio.wait_for(_wait(), TIMEOUT)


class Forwarder(asyncio.DatagramProtocol):
    """A fake packet forwarder: one UDP socket, received datagrams queued."""

    def __init__(self) -> None:
        self.inbox: asyncio.Queue[bytes] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Any) -> None:
        self.inbox.put_nowait(data)

    def send(self, data: bytes) -> None:
        assert self.transport is not None
        self.transport.sendto(data)

    async def receive(self) -> Any:
        return decode_packet(await asyncio.wait_for(self.inbox.get(), TIMEOUT))

    async def nothing_within(self, seconds: float = 0.2) -> bool:
        try:
            await asyncio.wait_for(self.inbox.get(), seconds)
        except TimeoutError:
            return True
        return False


async def _forwarder(addr: tuple[str, int]) -> Forwarder:
    loop = asyncio.get_running_loop()
    _, proto = await loop.create_datagram_endpoint(Forwarder, remote_addr=addr)
    return proto


Factory = Callable[..., Any]


@pytest.fixture
async def make_bridge() -> AsyncIterator[Factory]:
    started: list[tuple[GatewayBridge, Bus]] = []
    forwarders: list[Forwarder] = []

    async def make(bus: Bus | None = None, **kw: Any) -> tuple[GatewayBridge, Any, Forwarder]:
        bus = bus or FakeBus()
        settings = GatewayBridgeSettings(bind_port=0, **kw.pop("settings", {}))
        tokens = itertools.count(0x1000)
        ids = (f"uid-{i}" for i in itertools.count())
        bridge = GatewayBridge(
            bus,
            settings,
            clock=lambda: NOW,
            token_source=lambda: next(tokens),
            id_source=lambda: next(ids),
            **kw,
        )
        bridge.subscribe()
        await bus.start()
        await bridge.start()
        started.append((bridge, bus))
        fwd = await _forwarder(bridge.address)
        forwarders.append(fwd)
        return bridge, bus, fwd

    yield make
    for fwd in forwarders:
        if fwd.transport is not None:
            fwd.transport.close()
    for bridge, bus in started:
        await bridge.stop()
        await bus.stop()


def _rxpk(stat: int = 1, data: bytes = DATA_UP) -> dict[str, Any]:
    import base64

    return {
        "time": "2026-11-22T01:00:00.000001Z", "tmst": 1000, "chan": 0, "rfch": 0,
        "freq": 868.1, "stat": stat, "modu": "LORA", "datr": "SF9BW125", "codr": "4/5",
        "rssi": -60, "lsnr": 7.5, "size": len(data), "data": base64.b64encode(data).decode(),
    }  # fmt: skip


def _push(token: int, body: dict[str, Any]) -> bytes:
    return bytes([2]) + token.to_bytes(2, "big") + b"\x00" + GW.value + orjson.dumps(body)


def _downlink(downlink_id: str = "dl-1", **kw: Any) -> GatewayDownlink:
    base: dict[str, Any] = dict(
        downlink_id=downlink_id, gw_eui=str(GW), phy_payload=b"\x60\x04\x03\x02\x01\x00\x00\x00",
        tmst=1_000_000 + 1000, freq_hz=868_100_000, power_dbm=14, dr="SF9BW125",
        dev_eui="0102030405060708",
    )  # fmt: skip
    base.update(kw)
    return GatewayDownlink(**base)


async def test_push_data_is_acked_and_published(make_bridge: Factory) -> None:
    bridge, bus, fwd = await make_bridge()
    body = {
        "rxpk": [_rxpk(1), _rxpk(-1), _rxpk(0), _rxpk(1, PROPRIETARY)],
        "stat": {"time": "2026-11-22 01:00:00 GMT", "rxnb": 4, "rxok": 2, "rxfw": 2,
                 "ackr": 100.0, "dwnb": 0, "txnb": 0},
    }  # fmt: skip
    fwd.send(_push(0xBEEF, body))
    ack = await fwd.receive()
    assert ack == PushAck(token=0xBEEF)

    ups: list[GatewayUplink] = await bus.wait_for("gw.up", 2)
    stats: list[GatewayStats] = await bus.wait_for("gw.stats", 1)
    assert [u.phy_payload for u in ups] == [DATA_UP, PROPRIETARY]
    assert ups[0].rx.gw_eui == str(GW) and ups[0].rx.sf == 9 and ups[0].rx.snr == 7.5
    assert ups[0].rx.freq_hz == 868_100_000 and ups[0].rx.received_at == NOW
    keys = [k for t, k, _ in bus.published if t == "gw.up"]
    assert keys == ["01020304", str(GW)]  # DevAddr; the gateway EUI when unroutable
    assert stats[0].rx_received == 4 and stats[0].ip == "127.0.0.1"
    assert [k for t, k, _ in bus.published if t == "gw.stats"] == [str(GW)]
    assert bridge.counters["uplinks"] == 2
    assert bridge.counters["uplinks_dropped.crc_fail"] == 1
    assert bridge.counters["uplinks_dropped.no_crc"] == 1
    state = bridge.registry.get(GW)
    assert state is not None and state.rx_count == 2 and state.rx_dropped == 2
    assert state.last_stats == stats[0] and state.push_addr == ("127.0.0.1", state.push_addr[1])


async def test_pull_data_downlink_and_tx_ack(make_bridge: Factory) -> None:
    bridge, bus, fwd = await make_bridge()
    fwd.send(PullData(token=0x0101, gw_eui=GW).to_bytes())
    assert await fwd.receive() == PullAck(token=0x0101)

    await bus.deliver("gw.down", _downlink("dl-1"))
    resp = await fwd.receive()
    assert isinstance(resp, PullResp) and resp.token == 0x1000
    assert resp.txpk.tmst == 1_001_000 and resp.txpk.datr == "SF9BW125"
    assert resp.txpk.freq == 868.1 and resp.txpk.powe == 14 and resp.txpk.ipol is True
    assert resp.txpk.data == b"\x60\x04\x03\x02\x01\x00\x00\x00"

    await bus.deliver("gw.down", _downlink("dl-2"))
    resp2 = await fwd.receive()
    assert resp2.token == 0x1001

    # TX_ACKs in the other order, one failing: each matched to its downlink by token
    fwd.send(TxAck(token=0x1001, gw_eui=GW, txpk_ack=TxPkAck(error=TxAckError.TOO_LATE)).to_bytes())
    fwd.send(TxAck(token=0x1000, gw_eui=GW).to_bytes())
    acks: list[GatewayTxAck] = await bus.wait_for("gw.tx_ack", 2)
    assert [(a.downlink_id, a.error) for a in acks] == [("dl-2", "TOO_LATE"), ("dl-1", None)]
    assert all(a.gw_eui == str(GW) for a in acks)
    assert bridge.counters["tx_acks.NONE"] == 1 and bridge.counters["tx_acks.TOO_LATE"] == 1
    assert len(bridge.tracker) == 0

    # a TX_ACK nobody waits for is counted, not published
    fwd.send(TxAck(token=0x4242, gw_eui=GW).to_bytes())
    fwd.send(PullData(token=0x0102, gw_eui=GW).to_bytes())  # a later datagram as a barrier
    assert await fwd.receive() == PullAck(token=0x0102)
    assert bridge.counters["tx_acks_unmatched"] == 1
    assert len(bus.on("gw.tx_ack")) == 2

    # a redelivered gw.down (at-least-once bus) is not transmitted twice
    await bus.deliver("gw.down", _downlink("dl-1"))
    assert await fwd.nothing_within()
    assert bridge.counters["downlinks.duplicate"] == 1
    assert bridge.counters["downlinks.sent"] == 2


async def test_downlink_without_route_is_reported(make_bridge: Factory) -> None:
    bridge, bus, fwd = await make_bridge()
    await bus.deliver("gw.down", _downlink("dl-x"))
    await bus.deliver("gw.down", _downlink("dl-y", tmst=None))  # no timing: invalid
    acks = await bus.wait_for("gw.tx_ack", 2)
    assert [(a.downlink_id, a.error) for a in acks] == [
        ("dl-x", "NO_ROUTE"),
        ("dl-y", "INVALID_DOWNLINK"),
    ]
    assert bridge.counters["downlinks.no_route"] == 1
    assert bridge.counters["downlinks.invalid"] == 1
    assert await fwd.nothing_within()


async def test_retry_context_is_echoed_unchanged_on_every_tx_ack(make_bridge: Factory) -> None:
    """The network server's opaque retry context comes back on gw.tx_ack byte for byte:
    after the gateway's TX_ACK (v2), the bridge's own failures, and the v1 immediate ack;
    a gw.down without one gives a gw.tx_ack without one."""
    bridge, bus, fwd = await make_bridge()
    await bus.deliver("gw.down", _downlink("dl-noroute", retry=b"\x00ctx-a\xff"))
    fwd.send(PullData(token=1, gw_eui=GW).to_bytes())
    assert await fwd.receive() == PullAck(token=1)
    await bus.deliver("gw.down", _downlink("dl-ctx", retry=b'{"v":1,"k":"\xc3\xa9"}'))
    await bus.deliver("gw.down", _downlink("dl-old"))
    for _ in range(2):
        assert isinstance(await fwd.receive(), PullResp)
    fwd.send(TxAck(token=0x1000, gw_eui=GW, txpk_ack=TxPkAck(error=TxAckError.TOO_LATE)).to_bytes())
    fwd.send(TxAck(token=0x1001, gw_eui=GW).to_bytes())
    acks: list[GatewayTxAck] = await bus.wait_for("gw.tx_ack", 3)
    assert [(a.downlink_id, a.error, a.retry) for a in acks] == [
        ("dl-noroute", "NO_ROUTE", b"\x00ctx-a\xff"),
        ("dl-ctx", "TOO_LATE", b'{"v":1,"k":"\xc3\xa9"}'),
        ("dl-old", None, b""),
    ]
    # and through JSON (the Kafka codec) as well
    again = GatewayTxAck.model_validate_json(acks[1].model_dump_json())
    assert again.retry == acks[1].retry

    fwd1 = await _forwarder(bridge.address)
    try:
        gw1 = EUI64.from_hex("AA555A00000000F1")
        fwd1.send(PullData(token=2, gw_eui=gw1, version=1).to_bytes())
        assert await fwd1.receive() == PullAck(token=2, version=1)
        await bus.deliver("gw.down", _downlink("dl-v1", gw_eui=str(gw1), retry=b"v1-ctx"))
        acks = await bus.wait_for("gw.tx_ack", 4)
        assert (acks[3].downlink_id, acks[3].error, acks[3].retry) == ("dl-v1", None, b"v1-ctx")
    finally:
        if fwd1.transport is not None:
            fwd1.transport.close()


async def test_malformed_datagrams_counted_and_server_keeps_serving(make_bridge: Factory) -> None:
    bridge, bus, fwd = await make_bridge()
    bridge.handle_datagram(b"", ("127.0.0.1", 9))  # asyncio does not send empty datagrams
    garbage = [
        b"\x02",
        b"\x07\x00\x00\x00",  # bad version
        b"\x02\x00\x00\x09",  # unknown identifier
        _push(1, {})[:-2] + b"{",  # bad JSON
        _push(2, {"rxpk": [{"data": "!!"}]}),  # bad base64
        PushAck(token=3).to_bytes(),  # server -> gateway packet sent to the server
    ]
    for g in garbage:
        fwd.send(g)
    fwd.send(_push(0x0A0A, {"rxpk": [_rxpk()]}))
    assert await fwd.receive() == PushAck(token=0x0A0A)  # no answer to any garbage before it
    await bus.wait_for("gw.up", 1)
    assert bridge.counters["malformed.decode"] == 6
    assert bridge.counters["malformed.wrong_direction"] == 1
    assert await fwd.nothing_within(0.1)


@pytest.mark.parametrize("allow", [True, False])
async def test_unknown_gateways(make_bridge: Factory, allow: bool) -> None:
    known = {EUI64.from_hex("0000000000000001")}
    bridge, bus, fwd = await make_bridge(
        is_known=lambda gw: gw in known, settings={"allow_unknown_gateways": allow}
    )
    fwd.send(PullData(token=5, gw_eui=GW).to_bytes())
    fwd.send(_push(6, {"rxpk": [_rxpk()]}))
    if allow:
        assert await fwd.receive() == PullAck(token=5)
        assert await fwd.receive() == PushAck(token=6)
        assert len(await bus.wait_for("gw.up", 1)) == 1
        assert bridge.counters["unknown_gateway.accepted"] == 2
        state = bridge.registry.get(GW)
        assert state is not None and not state.known
    else:
        assert await fwd.nothing_within()
        assert bus.on("gw.up") == []
        assert bridge.counters["unknown_gateway.rejected"] == 2
        assert bridge.registry.get(GW) is None


async def test_protocol_v1_gateway_gets_v1_answers_and_immediate_tx_ack(
    make_bridge: Factory,
) -> None:
    bridge, bus, fwd = await make_bridge()
    fwd.send(PullData(token=9, gw_eui=GW, version=1).to_bytes())
    assert await fwd.receive() == PullAck(token=9, version=1)
    await bus.deliver("gw.down", _downlink("dl-v1"))
    resp = await fwd.receive()
    assert isinstance(resp, PullResp) and resp.version == 1
    acks = await bus.wait_for("gw.tx_ack", 1)
    assert (acks[0].downlink_id, acks[0].error) == ("dl-v1", None)
    assert len(bridge.tracker) == 0


async def test_tx_ack_timeout_expires_pending(make_bridge: Factory) -> None:
    clock = [0.0]
    bridge, bus, fwd = await make_bridge(
        monotonic=lambda: clock[0], settings={"tx_ack_timeout_s": 10.0}
    )
    fwd.send(PullData(token=1, gw_eui=GW).to_bytes())
    await fwd.receive()
    await bus.deliver("gw.down", _downlink("dl-lost"))
    await fwd.receive()
    clock[0] = 11.0
    assert bridge.expire_downlinks() == 1
    assert bridge.counters["tx_ack_timeouts"] == 1
    fwd.send(TxAck(token=0x1000, gw_eui=GW).to_bytes())  # too late: unmatched
    fwd.send(PullData(token=2, gw_eui=GW).to_bytes())
    await fwd.receive()
    assert bridge.counters["tx_acks_unmatched"] == 1


async def test_with_the_in_process_bus(make_bridge: Factory) -> None:
    """The same flow through services.bus.MemoryBus: gw.down in, PULL_RESP out, gw.up out."""
    bus = MemoryBus(partitions=2)
    seen: list[GatewayUplink] = []
    got_up = asyncio.Event()

    async def on_up(envelope: Envelope[BaseMessage]) -> None:
        assert isinstance(envelope.message, GatewayUplink)
        seen.append(envelope.message)
        got_up.set()

    bus.subscribe("gw.up", "test_ns", on_up)
    _, _, fwd = await make_bridge(bus)
    fwd.send(PullData(token=1, gw_eui=GW).to_bytes())
    await fwd.receive()
    fwd.send(_push(2, {"rxpk": [_rxpk()]}))
    assert await fwd.receive() == PushAck(token=2)
    await asyncio.wait_for(got_up.wait(), TIMEOUT)
    assert seen[0].phy_payload == DATA_UP
    await bus.publish("gw.down", str(GW), _downlink("dl-mem"))
    resp = await fwd.receive()
    assert isinstance(resp, PullResp) and resp.txpk.tmst == 1_001_000
