"""A downlink's TX_ACK can be finished by any network-server instance (issue 4).

gw.tx_ack is keyed by gateway, so with two instances in one consumer group it often reaches
the instance that did not send the downlink. The retry context on gw.down, echoed by the
bridge on gw.tx_ack, lets that instance retry in RX2 or publish ns.tx_ack from the message
alone; a TX_ACK without a context (an older bridge) is still finished by the sender.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bus import Topic
from services.bus.base import Envelope
from services.bus.messages import (
    BaseMessage,
    DownlinkTxAck,
    GatewayDownlink,
    GatewayTxAck,
)
from services.lorawan.region import get_region
from services.network_server import NetworkServerSettings
from services.network_server.adapter import NetworkServerAdapter
from services.network_server.core import downlink as dl
from services.network_server.core import retry_context as rc
from services.network_server.metrics import NsCounters

from .helpers import T0, rx

GW = "AA555A0000000001"
DEV_EUI = "0102030405060708"
PHY = bytes.fromhex("6004030201a00100cafe1234")


@dataclass
class RecordingBus:
    """Both instances publish here; the test plays the gateway bridge."""

    published: list[tuple[str, str, BaseMessage]] = field(default_factory=list)

    async def publish(
        self,
        topic: str,
        key: str,
        message: BaseMessage,
        *,
        headers: Mapping[str, bytes] | None = None,
    ) -> None:
        self.published.append((str(topic), key, message))

    def on(self, topic: str) -> list[Any]:
        return [m for t, _, m in self.published if t == topic]


class Clock:
    def __init__(self, at: datetime = T0) -> None:
        self.at = at

    def __call__(self) -> datetime:
        return self.at


def _adapter(bus: RecordingBus, clock: Clock) -> NetworkServerAdapter:
    storage = SimpleNamespace(
        sessions=SimpleNamespace(on_change=lambda cb: None, save_many=None),
    )
    return NetworkServerAdapter(
        NetworkServerSettings(),
        bus,
        storage,
        clock,
        NsCounters(),  # type: ignore[arg-type]
    )


@dataclass
class Pair:
    bus: RecordingBus
    sender: NetworkServerAdapter
    other: NetworkServerAdapter
    sender_clock: Clock
    other_clock: Clock

    async def send(self, *, rx1: bool = True, **kw: Any) -> GatewayDownlink:
        """The sender transmits a confirmed application downlink (RX1, RX2 as fallback)."""
        w1, w2 = dl.class_a_windows(
            get_region("EU868"),
            rx(GW, tmst=1_000_000),
            uplink_dr=5,
            rx1_delay=1,
            rx1_dr_offset=0,
            rx2_dr=0,
            rx2_freq_hz=869_525_000,
        )
        args: dict[str, Any] = dict(
            kind="data",
            dev_eui=DEV_EUI,
            phy_payload=PHY,
            rx1=w1 if rx1 else None,
            rx2=w2,
            opened_at=asyncio.get_running_loop().time(),
            request_id="req-7",
            f_cnt_down=7,
        )
        args.update(kw)
        downlink_id = await self.sender._transmit(**args)
        assert downlink_id is not None
        down = self.bus.on(Topic.GW_DOWN)[-1]
        assert isinstance(down, GatewayDownlink) and down.downlink_id == downlink_id
        return down


def _ack(down: GatewayDownlink, error: str | None = None, *, echo: bool = True) -> Envelope[Any]:
    """What the bridge publishes for ``down``'s TX_ACK (``echo`` False: an older bridge)."""
    msg = GatewayTxAck(
        downlink_id=down.downlink_id,
        gw_eui=down.gw_eui,
        error=error,
        retry=down.retry if echo else b"",
    )
    return Envelope(Topic.GW_TX_ACK, down.gw_eui, 0, 0, {}, msg, b"")


@pytest.fixture
def pair() -> Pair:
    bus = RecordingBus()
    c1, c2 = Clock(), Clock()
    return Pair(bus, _adapter(bus, c1), _adapter(bus, c2), c1, c2)


async def test_tx_ack_error_at_the_other_instance_retries_in_rx2(pair: Pair) -> None:
    first = await pair.send()
    assert first.retry and first.tmst == 2_000_000 and first.freq_hz == 868_100_000
    await pair.other.on_tx_ack(_ack(first, "TOO_LATE"))
    downs = pair.bus.on(Topic.GW_DOWN)
    assert len(downs) == 2, "the instance that did not send must retry in RX2"
    second = downs[1]
    assert second.downlink_id == first.downlink_id + "-rx2"
    assert second.phy_payload == PHY and second.gw_eui == GW and second.dev_eui == DEV_EUI
    assert (second.tmst, second.freq_hz, second.sf, second.power_dbm) == (
        3_000_000,
        869_525_000,
        12,
        27,
    )
    assert pair.bus.on(Topic.NS_TX_ACK) == []
    assert pair.other.counters.tx_ack_errors == 1

    # the RX2 transmission's TX_ACK, at either instance, is the application's tx_ack
    await pair.sender.on_tx_ack(_ack(second))
    (tx,) = pair.bus.on(Topic.NS_TX_ACK)
    assert isinstance(tx, DownlinkTxAck)
    assert (tx.dev_eui, tx.request_id, tx.f_cnt_down, tx.error, tx.downlink_id) == (
        DEV_EUI,
        "req-7",
        7,
        None,
        second.downlink_id,
    )


async def test_success_at_the_other_instance_gives_ns_tx_ack(pair: Pair) -> None:
    first = await pair.send()
    await pair.other.on_tx_ack(_ack(first))
    (tx,) = pair.bus.on(Topic.NS_TX_ACK)
    assert (tx.request_id, tx.f_cnt_down, tx.error, tx.gw_eui) == ("req-7", 7, None, GW)
    assert len(pair.bus.on(Topic.GW_DOWN)) == 1


async def test_deadline_passed_gives_a_failed_ns_tx_ack_and_no_retry(pair: Pair) -> None:
    first = await pair.send()
    context = rc.decode(first.retry)
    # RX2 opens 2 s after the uplink; the other instance gets the error 2 s later
    assert 1900 <= context.deadline_ms - int(T0.timestamp() * 1000) <= 1950
    pair.other_clock.at = T0 + timedelta(seconds=2)
    await pair.other.on_tx_ack(_ack(first, "COLLISION_PACKET"))
    assert len(pair.bus.on(Topic.GW_DOWN)) == 1, "no RX2 retry after its deadline"
    (tx,) = pair.bus.on(Topic.NS_TX_ACK)
    assert (tx.request_id, tx.f_cnt_down, tx.error) == ("req-7", 7, "COLLISION_PACKET")


async def test_rx2_error_is_final(pair: Pair) -> None:
    only_rx2 = await pair.send(rx1=False)
    assert only_rx2.freq_hz == 869_525_000
    await pair.other.on_tx_ack(_ack(only_rx2, "TX_FREQ"))
    assert len(pair.bus.on(Topic.GW_DOWN)) == 1
    (tx,) = pair.bus.on(Topic.NS_TX_ACK)
    assert tx.error == "TX_FREQ"


async def test_redelivered_error_ack_retries_under_the_same_downlink_id(pair: Pair) -> None:
    """A gw.tx_ack delivered twice (to both instances after a rebalance): the second RX2
    gw.down has the id of the first, which the bridge drops as already sent."""
    first = await pair.send()
    await pair.other.on_tx_ack(_ack(first, "TOO_LATE"))
    await pair.sender.on_tx_ack(_ack(first, "TOO_LATE"))
    ids = [d.downlink_id for d in pair.bus.on(Topic.GW_DOWN)]
    assert ids == [first.downlink_id, first.downlink_id + "-rx2", first.downlink_id + "-rx2"]


@pytest.mark.parametrize("retry", [b"", orjson.dumps({"v": 99, "kind": "data"}), b"\xffjunk"])
async def test_ack_without_a_readable_context_is_finished_by_the_sender(
    pair: Pair, retry: bytes
) -> None:
    """An older bridge (no context) or a context of an unknown version: only the sender
    knows the downlink; it still retries in RX2 from memory, the other instance drops it."""
    first = await pair.send()
    old = GatewayTxAck(downlink_id=first.downlink_id, gw_eui=GW, error="TOO_LATE", retry=retry)
    env = Envelope(Topic.GW_TX_ACK, GW, 0, 0, {}, old, b"")
    await pair.other.on_tx_ack(env)
    assert len(pair.bus.on(Topic.GW_DOWN)) == 1 and pair.bus.on(Topic.NS_TX_ACK) == []
    await pair.sender.on_tx_ack(env)
    downs = pair.bus.on(Topic.GW_DOWN)
    assert len(downs) == 2 and downs[1].freq_hz == 869_525_000 and downs[1].phy_payload == PHY
    await pair.sender.on_tx_ack(_ack(downs[1], echo=False))
    (tx,) = pair.bus.on(Topic.NS_TX_ACK)
    assert (tx.request_id, tx.f_cnt_down, tx.error) == ("req-7", 7, None)
    assert pair.sender._inflight == {}


async def test_join_accept_context_has_no_request(pair: Pair) -> None:
    first = await pair.send(kind="join_accept", request_id=None, f_cnt_down=None)
    await pair.other.on_tx_ack(_ack(first))
    (tx,) = pair.bus.on(Topic.NS_TX_ACK)
    assert tx.request_id is None and tx.f_cnt_down is None and tx.dev_eui == DEV_EUI


# --------------------------------------------------------------------------- the context


_tx = st.builds(
    dl.TxParams,
    window=st.sampled_from(["RX1", "RX2"]),
    gw_eui=st.just(GW),
    tmst=st.integers(0, 2**32 - 1),
    delay_s=st.integers(1, 15),
    freq_hz=st.integers(0, 2_000_000_000),
    dr=st.integers(0, 15),
    power_dbm=st.integers(-10, 36),
    context=st.binary(max_size=32),
)


@settings(max_examples=200, deadline=None)
@given(
    kind=st.sampled_from(["data", "join_accept"]),
    deadline_ms=st.integers(0, 2**53),
    request_id=st.none() | st.text(max_size=40),
    f_cnt_down=st.none() | st.integers(0, 2**32 - 1),
    phy=st.binary(min_size=1, max_size=255),
    fallback=st.none() | _tx,
)
def test_context_round_trips(
    kind: str,
    deadline_ms: int,
    request_id: str | None,
    f_cnt_down: int | None,
    phy: bytes,
    fallback: dl.TxParams | None,
) -> None:
    ctx = rc.RetryContext(
        kind=kind,
        dev_eui=DEV_EUI,
        deadline_ms=deadline_ms,
        request_id=request_id,
        f_cnt_down=f_cnt_down,
        phy_payload=phy if fallback is not None else b"",
        fallback=fallback,
    )
    assert rc.decode(rc.encode(ctx)) == ctx


_ANY_FIELDS = {
    k: st.none() | st.integers(-(2**63), 2**63 - 1) | st.text(max_size=8) | st.lists(st.none())
    for k in ("kind", "dev_eui", "deadline_ms", "request_id", "f_cnt_down", "phy_payload", "rx2")
}


@settings(max_examples=300, deadline=None)
@given(
    raw=st.binary(max_size=200)
    | st.builds(orjson.dumps, st.dictionaries(st.text(), st.integers(-(2**63), 2**63 - 1)))
)
def test_damaged_context_raises_only_unknown_retry_context(raw: bytes) -> None:
    with contextlib.suppress(rc.UnknownRetryContext):
        rc.decode(raw)


def test_messages_stay_compatible_both_ways() -> None:
    """Additive fields: a build without ``retry`` reads the new messages (the field is
    ignored), and the new build reads the old ones (empty context)."""

    class OldTxAck(BaseMessage):  # gw.tx_ack as the previous release defined it
        downlink_id: str
        gw_eui: str
        error: str | None = None

    new = GatewayTxAck(downlink_id="d", gw_eui=GW, error="TOO_LATE", retry=b"\x01ctx")
    old = OldTxAck.model_validate_json(new.model_dump_json())
    assert (old.downlink_id, old.error) == ("d", "TOO_LATE")
    back = GatewayTxAck.model_validate_json(old.model_dump_json())
    assert back.retry == b"" and back.error == "TOO_LATE"

    down = GatewayDownlink(
        downlink_id="d", gw_eui=GW, phy_payload=PHY, freq_hz=868_100_000, power_dbm=14
    )
    raw = orjson.loads(down.model_dump_json())
    assert raw["retry"] == ""
    del raw["retry"]
    assert GatewayDownlink.model_validate(raw).retry == b""
