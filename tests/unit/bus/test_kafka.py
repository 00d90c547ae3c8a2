"""The Kafka adapter without a broker: its configuration, record mapping, and its consumer
logic (commit after handling, in order; DLQ; drain; rebalance; pause) against an in-test fake
of the three aiokafka clients it uses. The real broker is exercised by tests/integration."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from aiokafka import ConsumerRecord, TopicPartition
from prometheus_client import REGISTRY

from services.bus import codec
from services.bus import kafka as kafka_mod
from services.bus.base import Envelope
from services.bus.errors import BusClosed
from services.bus.factory import make_bus
from services.bus.kafka import (
    KafkaBus,
    consumer_config,
    encode_headers,
    producer_config,
    to_record,
    topics_to_create,
)
from services.bus.keys import partition_for
from services.bus.memory import MemoryBus
from services.bus.messages import BaseMessage, DeadLetter, DownlinkAck, GatewayStats
from services.bus.settings import BusSettings, KafkaSettings
from services.bus.topics import Topic, all_topics

T = Topic.NS_ACK
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def ack(dev: int, n: int) -> DownlinkAck:
    return DownlinkAck(dev_eui=f"{dev:016X}", request_id=str(n), acknowledged=True, at=T0)


def seq(env: Envelope[BaseMessage]) -> int:
    assert isinstance(env.message, DownlinkAck)
    return int(env.message.request_id)


# ------------------------------------------------------------------ pure helpers


KEY_PARALLELISM = [1]  # set per test by the ``key_parallelism`` fixture


@pytest.fixture(autouse=True, params=[1, 4], ids=["one-at-a-time", "key-parallel"])
def key_parallelism(request: pytest.FixtureRequest) -> int:
    """Every test runs with a partition's records handled one at a time, and with records
    of different keys handled side by side (the contract is the same: per-key order,
    commits of finished records only, in order)."""
    KEY_PARALLELISM[0] = request.param
    return int(request.param)


def settings(**kw: Any) -> BusSettings:
    base: dict[str, Any] = dict(
        backend="kafka",
        partitions=2,
        max_attempts=2,
        retry_backoff_initial_s=0.001,
        retry_backoff_max_s=0.001,
        drain_timeout_s=1.0,
        kafka=KafkaSettings(
            commit_interval_s=0.01,
            fetch_timeout_ms=2,
            lag_interval_s=0.01,
            key_parallelism=KEY_PARALLELISM[0],
        ),
    )
    base.update(kw)
    return BusSettings(**base)


def test_producer_is_idempotent_with_acks_all() -> None:
    cfg = producer_config(settings())
    assert cfg["acks"] == "all" and cfg["enable_idempotence"] is True
    assert cfg["bootstrap_servers"] == "127.0.0.1:9092"


def test_consumer_commits_manually() -> None:
    cfg = consumer_config(settings(), "network_server")
    assert cfg["enable_auto_commit"] is False
    assert cfg["group_id"] == "network_server"
    assert cfg["auto_offset_reset"] == "earliest"


def test_topics_to_create_skips_existing_and_sizes_partitions() -> None:
    s = settings(partitions=6, partitions_per_topic={"gw.up": 12})
    new = topics_to_create(s, existing=["gw.down", "gw.down.dlq"])
    names = {t.name: t for t in new}
    assert set(names) == set(all_topics()) - {"gw.down", "gw.down.dlq"}
    assert names["gw.up"].num_partitions == 12
    assert names["gw.up.dlq"].num_partitions == 6
    assert names["ns.up"].replication_factor == 1


def test_record_mapping() -> None:
    msg = ConsumerRecord(
        "ns.ack",
        3,
        42,
        1700,
        0,
        b"70B3D57ED0000001",
        b"{}",
        None,
        16,
        2,
        [("schema", b"DownlinkAck")],
    )
    rec = to_record(msg)
    assert (rec.topic, rec.partition, rec.offset, rec.key) == ("ns.ack", 3, 42, "70B3D57ED0000001")
    assert rec.headers == {"schema": b"DownlinkAck"} and rec.raw == b"{}"
    assert rec.message is None and rec.timestamp_ms == 1700
    tomb = to_record(ConsumerRecord("ns.ack", 0, 0, 0, 0, None, None, None, 0, 0, []))
    assert tomb.key == "" and tomb.raw == b""
    assert encode_headers({"a": b"1"}) == [("a", b"1")]


def test_settings_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLORA_BUS_BACKEND", "kafka")
    monkeypatch.setenv("HYPERLORA_BUS_PARTITIONS", "16")
    monkeypatch.setenv("HYPERLORA_BUS_KAFKA__BOOTSTRAP_SERVERS", "127.0.0.1:19092")
    s = BusSettings()
    assert s.backend == "kafka" and s.partitions == 16
    assert s.kafka.bootstrap_servers == "127.0.0.1:19092"
    assert isinstance(make_bus(s), KafkaBus)
    monkeypatch.setenv("HYPERLORA_BUS_BACKEND", "memory")
    monkeypatch.setenv("HYPERLORA_BUS_MAX_ATTEMPTS", "7")
    bus = make_bus()
    assert isinstance(bus, MemoryBus) and bus.partitions_of("gw.up") == 16
    assert BusSettings().retry_policy().max_attempts == 7


async def test_publish_needs_a_started_bus() -> None:
    with pytest.raises(BusClosed):
        await KafkaBus(settings()).publish(T, "k", ack(1, 1))


# ------------------------------------------------------------------ fake aiokafka


class FakeBroker:
    def __init__(self) -> None:
        self.logs: dict[str, list[list[ConsumerRecord[bytes, bytes]]]] = {}
        self.committed: dict[tuple[str, TopicPartition], int] = {}
        self.commit_log: list[tuple[str, TopicPartition, int]] = []
        self.producer_config: dict[str, Any] = {}
        self.consumers: list[FakeConsumer] = []
        self.ack_delay_s = 0.0
        self.sends_in_flight = 0
        self.max_sends_in_flight = 0
        self.fail_next: BaseException | None = None
        self.held_acks: list[Any] | None = None  # a list: acks wait until the test calls them
        self.hold_topic = ""  # ... for this topic only

    def create(self, name: str, n: int) -> None:
        self.logs.setdefault(name, [[] for _ in range(n)])

    def records(self, topic: str) -> list[ConsumerRecord[bytes, bytes]]:
        return [r for part in self.logs.get(topic, []) for r in part]


class FakeAdmin:
    broker: FakeBroker

    def __init__(self, **kw: Any) -> None:
        pass

    async def start(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def list_topics(self) -> list[str]:
        return list(self.broker.logs)

    async def create_topics(self, new: Sequence[Any]) -> Any:
        for t in new:
            self.broker.create(t.name, t.num_partitions)
        return SimpleNamespace(topic_errors=[(t.name, 0) for t in new])


class FakeProducer:
    broker: FakeBroker

    def __init__(self, **kw: Any) -> None:
        self.broker.producer_config = kw

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send(
        self, topic: str, value: bytes, key: bytes, headers: list[tuple[str, bytes]]
    ) -> asyncio.Future[None]:
        """Appends at once; the returned delivery future resolves a little later (or fails
        with ``self.broker.fail_next`` for the next send)."""
        parts = self.broker.logs[topic]
        p = partition_for(key, len(parts))
        log = parts[p]
        delivery: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self.broker.fail_next is not None:
            delivery.set_exception(self.broker.fail_next)
            self.broker.fail_next = None
            return delivery
        log.append(
            ConsumerRecord(
                topic, p, len(log), 0, 0, key, value, None, len(key), len(value), headers
            )
        )
        self.broker.sends_in_flight += 1
        self.broker.max_sends_in_flight = max(
            self.broker.max_sends_in_flight, self.broker.sends_in_flight
        )

        def acked() -> None:
            self.broker.sends_in_flight -= 1
            delivery.set_result(None)

        if self.broker.held_acks is not None and topic == self.broker.hold_topic:
            self.broker.held_acks.append(acked)
        else:
            asyncio.get_running_loop().call_later(self.broker.ack_delay_s, acked)
        return delivery


class FakeConsumer:
    broker: FakeBroker

    def __init__(self, **kw: Any) -> None:
        self.group = kw["group_id"]
        self.config = kw
        self.assigned: set[TopicPartition] = set()
        self.positions: dict[TopicPartition, int] = {}
        self._paused: set[TopicPartition] = set()
        self.ever_paused: set[TopicPartition] = set()
        self.stopped = False
        self.broker.consumers.append(self)

    def subscribe(self, topics: list[str], listener: Any) -> None:
        self.topics, self.listener = topics, listener
        self.pending_assign = True

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        self.stopped = True

    def assignment(self) -> set[TopicPartition]:
        return set(self.assigned)

    async def getmany(self, timeout_ms: int, max_records: int) -> dict[Any, Any]:
        if self.pending_assign:
            self.pending_assign = False
            tps = {
                TopicPartition(t, p) for t in self.topics for p in range(len(self.broker.logs[t]))
            }
            self.assigned = tps
            for tp in tps:
                self.positions[tp] = self.broker.committed.get((self.group, tp), 0)
            await self.listener.on_partitions_assigned(tps)
        out = {}
        for tp in sorted(self.assigned - self._paused):
            log = self.broker.logs[tp.topic][tp.partition]
            pos = self.positions[tp]
            recs = log[pos : pos + max_records]
            if recs:
                out[tp] = recs
                self.positions[tp] = pos + len(recs)
        await asyncio.sleep(timeout_ms / 1000 if not out else 0)
        return out

    def pause(self, *tps: TopicPartition) -> None:
        self._paused.update(tps)
        self.ever_paused.update(tps)

    def resume(self, *tps: TopicPartition) -> None:
        self._paused.difference_update(tps)

    def paused(self) -> set[TopicPartition]:
        return set(self._paused)

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        for tp, off in offsets.items():
            assert tp in self.assigned, "commit of a partition not owned"
            self.broker.committed[(self.group, tp)] = off
            self.broker.commit_log.append((self.group, tp, off))

    def highwater(self, tp: TopicPartition) -> int:
        return len(self.broker.logs[tp.topic][tp.partition])

    async def revoke(self, tps: set[TopicPartition]) -> None:
        await self.listener.on_partitions_revoked(tps)
        self.assigned -= tps


@pytest.fixture
def broker(monkeypatch: pytest.MonkeyPatch) -> FakeBroker:
    b = FakeBroker()
    for fake, name in (
        (FakeAdmin, "AIOKafkaAdminClient"),
        (FakeProducer, "AIOKafkaProducer"),
        (FakeConsumer, "AIOKafkaConsumer"),
    ):
        monkeypatch.setattr(fake, "broker", b, raising=False)
        monkeypatch.setattr(kafka_mod, name, fake)
    return b


async def until(cond: Any, timeout: float = 2.0) -> None:
    async def wait() -> None:
        while not cond():
            await asyncio.sleep(0.002)

    await asyncio.wait_for(wait(), timeout)


def committed(broker: FakeBroker, group: str, topic: str = T) -> dict[int, int]:
    return {
        tp.partition: off
        for (g, tp), off in broker.committed.items()
        if g == group and tp.topic == topic
    }


async def test_start_creates_topics_and_consumes_in_order(broker: FakeBroker) -> None:
    bus = KafkaBus(settings())
    seen: dict[str, list[int]] = {}

    async def handler(env: Envelope[BaseMessage]) -> None:
        seen.setdefault(env.key, []).append(seq(env))

    bus.subscribe(T, "app", handler, concurrency=2)
    await bus.start()
    assert set(broker.logs) == set(all_topics())
    assert all(len(parts) == 2 for parts in broker.logs.values())
    assert broker.producer_config["acks"] == "all"
    for n in range(30):
        for dev in range(4):
            await bus.publish(T, f"{dev:016X}", ack(dev, n))
    await until(lambda: sum(map(len, seen.values())) == 120)
    await bus.stop()
    assert seen == {f"{d:016X}": list(range(30)) for d in range(4)}
    sizes = {p: len(log) for p, log in enumerate(broker.logs[T])}
    assert committed(broker, "app") == {p: n for p, n in sizes.items() if n}
    by_tp: dict[TopicPartition, list[int]] = {}
    for _, tp, off in broker.commit_log:
        by_tp.setdefault(tp, []).append(off)
    assert all(offs == sorted(offs) for offs in by_tp.values())  # committed in order
    assert all(c.stopped for c in broker.consumers)


async def test_lag_metric(broker: FakeBroker) -> None:
    bus = KafkaBus(settings(partitions=1))
    gate = asyncio.Event()

    async def handler(env: Envelope[BaseMessage]) -> None:
        await gate.wait()

    bus.subscribe(T, "lagged", handler)
    await bus.start()
    for n in range(4):
        await bus.publish(T, "k", ack(1, n))

    def lag() -> float | None:
        labels = {"topic": T.value, "group": "lagged", "partition": "0"}
        return REGISTRY.get_sample_value("hyperlora_bus_consumer_lag_messages", labels)

    await until(lambda: lag() == 4)  # nothing committed yet
    gate.set()
    await until(lambda: lag() == 0)
    await bus.stop()


async def test_commit_only_after_handler_finished(broker: FakeBroker) -> None:
    bus = KafkaBus(settings(partitions=1))
    gate = asyncio.Event()
    started = asyncio.Event()

    async def handler(env: Envelope[BaseMessage]) -> None:
        started.set()
        await gate.wait()

    bus.subscribe(T, "app", handler)
    await bus.start()
    await bus.publish(T, "k", ack(1, 0))
    await started.wait()
    await asyncio.sleep(0.05)  # several commit intervals
    assert committed(broker, "app") == {}
    gate.set()
    await until(lambda: committed(broker, "app") == {0: 1})
    await bus.stop()


async def test_failures_and_poison_go_to_dlq_and_offsets_move_on(broker: FakeBroker) -> None:
    bus = KafkaBus(settings(partitions=1))
    ok: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        if seq(env) == 1:
            raise RuntimeError("boom")
        ok.append(seq(env))

    bus.subscribe(T, "app", handler)
    await bus.start()
    await bus.publish(T, "k", ack(1, 0))
    await bus.publish(T, "k", ack(1, 1))
    await bus.publish_raw(T, "k", b"\x00poison")
    await bus.publish(T, "k", ack(1, 3))
    await until(lambda: committed(broker, "app") == {0: 4})
    await bus.stop()
    assert ok == [0, 3]
    letters = [codec.decode(T.dlq, r.value) for r in broker.records(T.dlq)]
    assert all(isinstance(d, DeadLetter) for d in letters)
    assert [(d.offset, d.reason, d.attempts) for d in letters] == [  # type: ignore[attr-defined]
        (1, "handler", 2),
        (2, "decode", 0),
    ]
    assert broker.records(T.dlq)[0].key == b"k"
    assert bus.counters.decode_errors == 1 and bus.counters.dead_lettered == 2


async def test_stop_drains_in_flight_and_leaves_the_rest_uncommitted(broker: FakeBroker) -> None:
    bus = KafkaBus(settings(partitions=1))
    started = asyncio.Event()
    done: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        started.set()
        await asyncio.sleep(0.05)
        done.append(seq(env))

    bus.subscribe(T, "app", handler)
    await bus.start()
    for n in range(5):
        await bus.publish(T, "k", ack(1, n))
    await started.wait()
    await bus.stop()
    assert done == [0]  # the in-flight handler finished, nothing new started
    assert committed(broker, "app") == {0: 1}  # the rest is redelivered to the next owner


async def test_revoke_waits_for_in_flight_and_commits(broker: FakeBroker) -> None:
    bus = KafkaBus(settings(partitions=1))
    started = asyncio.Event()
    done: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        started.set()
        await asyncio.sleep(0.03)
        done.append(seq(env))

    bus.subscribe(T, "app", handler)
    await bus.start()
    for n in range(3):
        await bus.publish(T, "k", ack(1, n))
    await started.wait()
    consumer = broker.consumers[0]
    await consumer.revoke({TopicPartition(T, 0)})
    assert done == [0]
    assert committed(broker, "app") == {0: 1}
    await asyncio.sleep(0.03)
    assert done == [0]  # nothing handled after the partition was taken away
    await bus.stop()


async def test_slow_partition_is_paused(broker: FakeBroker) -> None:
    s = settings(partitions=1)
    s.kafka.max_poll_records = 2
    bus = KafkaBus(s)
    gate = asyncio.Event()
    handled: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        await gate.wait()
        handled.append(seq(env))

    bus.subscribe(T, "app", handler)
    await bus.start()
    for n in range(10):
        await bus.publish(T, "k", ack(1, n))
    tp = TopicPartition(T, 0)
    consumer = broker.consumers[0]
    await until(lambda: tp in consumer.paused())
    assert consumer.positions[tp] < 10  # not everything was pulled into memory
    gate.set()
    await until(lambda: len(handled) == 10)
    assert handled == list(range(10))
    await bus.stop()


# ------------------------------------------------------------------ deferred completions


async def test_completions_let_the_partition_move_on_and_commit_the_lowest_unfinished(
    broker: FakeBroker,
) -> None:
    bus = KafkaBus(settings(partitions=1))
    loop = asyncio.get_running_loop()
    futures: dict[int, asyncio.Future[None]] = {}

    async def handler(env: Envelope[BaseMessage]) -> asyncio.Future[None]:
        futures[seq(env)] = fut = loop.create_future()
        return fut

    bus.subscribe(T, "ns", handler)
    await bus.start()
    for n in range(4):
        await bus.publish(T, "k", ack(1, n))
    await until(lambda: len(futures) == 4)  # taken without waiting for the completions
    await asyncio.sleep(0.05)
    assert committed(broker, "ns").get(0, 0) == 0  # record 0 is unfinished
    futures[1].set_result(None)
    futures[2].set_result(None)
    await asyncio.sleep(0.05)
    assert committed(broker, "ns").get(0, 0) == 0  # 1 and 2 finished, but 0 is not
    futures[0].set_result(None)
    await until(lambda: committed(broker, "ns") == {0: 3})  # 3 is still open
    futures[3].set_result(None)
    await until(lambda: committed(broker, "ns") == {0: 4})
    await bus.stop()
    offs = [off for _, _, off in broker.commit_log]
    assert offs == sorted(offs)


async def test_a_failed_completion_parks_its_record_and_the_offset_moves_on(
    broker: FakeBroker,
) -> None:
    bus = KafkaBus(settings(partitions=1))

    async def fails() -> None:
        await asyncio.sleep(0.01)
        raise RuntimeError("group handling failed")

    async def handler(env: Envelope[BaseMessage]) -> Any:
        return fails() if seq(env) == 1 else None

    bus.subscribe(T, "ns", handler)
    await bus.start()
    for n in range(3):
        await bus.publish(T, "k", ack(1, n))
    await until(lambda: committed(broker, "ns") == {0: 3})
    await bus.stop()
    (letter,) = [codec.decode(T.dlq, r.value) for r in broker.records(T.dlq)]
    assert isinstance(letter, DeadLetter)
    assert (letter.offset, letter.reason, letter.group) == (1, "handler", "ns")
    assert letter.error_type == "RuntimeError" and "group handling failed" in letter.error
    assert bus.counters.dead_lettered == 1 and bus.counters.handled == 3


async def test_stop_awaits_pending_completions_then_leaves_the_unfinished_uncommitted(
    broker: FakeBroker,
) -> None:
    bus = KafkaBus(settings(partitions=1, drain_timeout_s=0.3))
    loop = asyncio.get_running_loop()
    never: asyncio.Future[None] = loop.create_future()
    finished: list[int] = []

    async def soon(n: int) -> None:
        await asyncio.sleep(0.05)
        finished.append(n)

    async def handler(env: Envelope[BaseMessage]) -> Any:
        return never if seq(env) == 2 else soon(seq(env))

    bus.subscribe(T, "ns", handler)
    await bus.start()
    for n in range(4):
        await bus.publish(T, "k", ack(1, n))
    await until(lambda: broker.consumers[0].positions.get(TopicPartition(T, 0)) == 4)
    await asyncio.sleep(0.01)
    started = loop.time()
    await bus.stop()
    assert loop.time() - started < 1.0  # bounded by the drain timeout
    assert sorted(finished) == [0, 1, 3]  # pending completions were awaited
    assert committed(broker, "ns") == {0: 2}  # 2 never finished: redelivered from there
    assert not never.cancelled()  # the handler's own future is not cancelled by the bus


async def test_revoke_waits_for_pending_completions(broker: FakeBroker) -> None:
    bus = KafkaBus(settings(partitions=1))
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[None]] = []

    async def handler(env: Envelope[BaseMessage]) -> asyncio.Future[None]:
        futures.append(fut := loop.create_future())
        loop.call_later(0.05, fut.set_result, None)
        return fut

    bus.subscribe(T, "ns", handler)
    await bus.start()
    for n in range(3):
        await bus.publish(T, "k", ack(1, n))
    await until(lambda: len(futures) == 3)
    await broker.consumers[0].revoke({TopicPartition(T, 0)})
    assert all(f.done() for f in futures)
    assert committed(broker, "ns") == {0: 3}
    await bus.stop()


async def test_too_many_pending_completions_hold_the_partition(broker: FakeBroker) -> None:
    s = settings(partitions=1)
    s.kafka.max_pending_completions = 2
    bus = KafkaBus(s)
    loop = asyncio.get_running_loop()
    futures: list[asyncio.Future[None]] = []

    async def handler(env: Envelope[BaseMessage]) -> asyncio.Future[None]:
        futures.append(fut := loop.create_future())
        return fut

    bus.subscribe(T, "ns", handler)
    await bus.start()
    for n in range(5):
        await bus.publish(T, "k", ack(1, n))
    await until(lambda: len(futures) == 2)
    await asyncio.sleep(0.05)
    assert len(futures) == 2  # waits for room
    futures[0].set_result(None)
    await until(lambda: len(futures) == 3)
    for f in futures:
        f.set_result(None) if not f.done() else None
    await until(lambda: len(futures) == 5)
    for f in futures:
        f.set_result(None) if not f.done() else None
    await until(lambda: committed(broker, "ns") == {0: 5})
    await bus.stop()


# ------------------------------------------------------------------ producer pipelining


async def test_concurrent_publishes_are_pipelined_and_keep_their_order(broker: FakeBroker) -> None:
    broker.ack_delay_s = 0.05
    bus = KafkaBus(settings(partitions=1))
    await bus.start()

    async def one(n: int) -> None:
        await bus.publish(T, "k", ack(1, n))

    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(one(n) for n in range(50)))
    elapsed = loop.time() - started
    await bus.stop()
    assert elapsed < 2.0  # 50 serial round trips would take 2.5 s
    assert broker.max_sends_in_flight > 1  # several records awaited their ack together
    order = [int(codec.decode(T, r.value).request_id) for r in broker.records(T)]  # type: ignore[attr-defined]
    assert order == list(range(50))
    assert bus.counters.published == 50


async def test_a_failed_delivery_raises_from_publish(broker: FakeBroker) -> None:
    from aiokafka.errors import KafkaTimeoutError

    bus = KafkaBus(settings(partitions=1))
    await bus.start()
    broker.fail_next = KafkaTimeoutError()
    with pytest.raises(KafkaTimeoutError):
        await bus.publish(T, "k", ack(1, 0))
    await bus.publish(T, "k", ack(1, 1))
    await bus.stop()
    assert bus.counters.published == 1


async def test_a_broken_idempotent_producer_is_replaced_and_the_retry_goes_through(
    broker: FakeBroker,
) -> None:
    """OutOfOrderSequenceNumber (seen after a Kafka restart) breaks the producer for good: the
    publish raises, a new producer replaces the old one, and the caller's retry is stored."""
    from aiokafka.errors import OutOfOrderSequenceNumber

    created: list[object] = []
    original_init = FakeProducer.__init__

    def counting_init(self: FakeProducer, **kw: Any) -> None:
        created.append(self)
        original_init(self, **kw)

    FakeProducer.__init__ = counting_init  # type: ignore[method-assign]
    try:
        bus = KafkaBus(settings(partitions=1))
        await bus.start()
        assert len(created) == 1
        broker.fail_next = OutOfOrderSequenceNumber()
        with pytest.raises(OutOfOrderSequenceNumber):
            await bus.publish(T, "k", ack(1, 0))
        await until(lambda: bus.producer_resets == 1)
        assert len(created) == 2 and bus._producer is created[1]
        await bus.publish(T, "k", ack(1, 1))
        assert bus.counters.published == 1
        # an ordinary delivery failure keeps the producer
        from aiokafka.errors import KafkaTimeoutError

        broker.fail_next = KafkaTimeoutError()
        with pytest.raises(KafkaTimeoutError):
            await bus.publish(T, "k", ack(1, 2))
        await asyncio.sleep(0.01)
        assert bus.producer_resets == 1 and len(created) == 2
        await bus.stop()
    finally:
        FakeProducer.__init__ = original_init  # type: ignore[method-assign]


async def test_one_consumer_per_group_whatever_the_number_of_topics(broker: FakeBroker) -> None:
    bus = KafkaBus(settings(partitions=1))
    got: list[tuple[str, int]] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        got.append((env.topic, seq(env) if env.topic == T else 0))

    bus.subscribe(T, "app_handler", handler)
    bus.subscribe(Topic.NS_UP, "app_handler", handler)
    bus.subscribe(T, "other", handler)
    await bus.start()
    assert sorted(c.group for c in broker.consumers) == ["app_handler", "other"]
    (member,) = [c for c in broker.consumers if c.group == "app_handler"]
    assert sorted(member.topics) == sorted([T, Topic.NS_UP])
    await bus.publish(T, "k", ack(1, 5))
    await until(lambda: len(got) == 2)  # once per group
    await bus.stop()


def test_a_revoke_fits_well_inside_the_rebalance_timeout() -> None:
    s = settings(drain_timeout_s=60.0)
    cfg = consumer_config(s, "g")
    assert cfg["rebalance_timeout_ms"] == s.kafka.rebalance_timeout_ms
    assert [a.name for a in cfg["partition_assignment_strategy"]] == ["range"]  # co-partitioned
    assert kafka_mod.revoke_budget_s(s) <= cfg["rebalance_timeout_ms"] / 1000 / 2


async def test_a_stuck_handler_does_not_hold_a_revoke_past_its_budget(broker: FakeBroker) -> None:
    s = settings(partitions=1, drain_timeout_s=60.0)
    s.kafka.rebalance_timeout_ms = 2000  # revoke budget: 1 s
    bus = KafkaBus(s)
    stuck = asyncio.Event()

    async def handler(env: Envelope[BaseMessage]) -> None:
        stuck.set()
        await asyncio.Event().wait()

    bus.subscribe(T, "app", handler)
    await bus.start()
    await bus.publish(T, "k", ack(1, 0))
    await stuck.wait()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await broker.consumers[0].revoke({TopicPartition(T, 0)})
    assert loop.time() - started < 3.0  # the drain timeout alone is 60 s
    assert committed(broker, "app").get(0, 0) == 0  # the stuck record is redelivered
    await asyncio.wait_for(bus.stop(), 5)


# ------------------------------------------------------------------ a handler's publishes


def stats(n: int) -> GatewayStats:
    return GatewayStats(gw_eui="0102030405060708", rx_received=n)


async def test_a_handlers_publishes_do_not_hold_the_partition_but_hold_its_commit(
    broker: FakeBroker,
) -> None:
    bus = KafkaBus(settings(partitions=1))
    handled: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        await bus.publish(Topic.GW_STATS, "out", stats(seq(env)))  # returns once enqueued
        handled.append(seq(env))

    broker.held_acks, broker.hold_topic = [], Topic.GW_STATS  # not acknowledged for now
    bus.subscribe(T, "app", handler)
    await bus.start()
    await bus.publish(T, "k", ack(1, 0))
    await bus.publish(T, "k", ack(1, 1))
    await until(lambda: handled == [0, 1])  # the second did not wait for the first's ack
    await asyncio.sleep(0.05)  # several commit intervals
    assert committed(broker, "app").get(0, 0) == 0  # nothing acknowledged: nothing committed
    held, broker.held_acks = broker.held_acks, None
    assert len(held) == 2
    held[0]()
    await until(lambda: committed(broker, "app") == {0: 1})  # only the first is stored
    held[1]()
    await until(lambda: committed(broker, "app") == {0: 2})
    assert len(broker.records(Topic.GW_STATS)) == 2
    await bus.stop()


async def test_a_failed_delivery_of_a_handlers_publish_parks_the_record(
    broker: FakeBroker,
) -> None:
    from aiokafka.errors import KafkaTimeoutError

    bus = KafkaBus(settings(partitions=1))

    async def handler(env: Envelope[BaseMessage]) -> None:
        if seq(env) == 1:
            broker.fail_next = KafkaTimeoutError()
        await bus.publish(Topic.GW_STATS, "out", stats(seq(env)))

    bus.subscribe(T, "app", handler)
    await bus.start()
    for n in range(3):
        await bus.publish(T, "k", ack(1, n))
    await until(lambda: committed(broker, "app") == {0: 3})
    await bus.stop()
    (letter,) = [codec.decode(T.dlq, r.value) for r in broker.records(T.dlq)]
    assert isinstance(letter, DeadLetter) and letter.offset == 1
    assert letter.error_type == "KafkaTimeoutError"


async def test_publishes_outside_a_record_still_wait_for_their_ack(broker: FakeBroker) -> None:
    broker.ack_delay_s = 0.1
    bus = KafkaBus(settings(partitions=1))
    await bus.start()
    loop = asyncio.get_running_loop()
    started = loop.time()
    await bus.publish(T, "k", ack(1, 0))
    assert loop.time() - started >= 0.09
    await bus.stop()


# ------------------------------------------------------------------ key parallelism


async def test_different_keys_of_one_partition_are_handled_side_by_side(
    broker: FakeBroker, key_parallelism: int
) -> None:
    """One partition, keys A and B: with key parallelism, B's records are handled while A's
    first one is stuck, A's records keep their order, and the committed offset never passes
    A's unfinished record; one at a time, B waits behind A."""
    s = settings(partitions=1)
    s.kafka.key_parallelism = 3
    if key_parallelism == 1:
        s.kafka.key_parallelism = 1
    bus = KafkaBus(s)
    gate_a = asyncio.Event()
    order: dict[str, list[int]] = {"A": [], "B": []}
    running = 0
    most = 0

    async def handler(env: Envelope[BaseMessage]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        try:
            if env.key == "A" and seq(env) == 0:
                await gate_a.wait()
            await asyncio.sleep(0.001)
            order[env.key].append(seq(env))
        finally:
            running -= 1

    bus.subscribe(T, "app", handler)
    await bus.start()
    for n, key in enumerate("ABABBB"):
        await bus.publish(T, key, ack(1, n))
    if key_parallelism == 1:
        await asyncio.sleep(0.1)
        assert order == {"A": [], "B": []}, "one at a time: B waits behind A's first record"
    else:
        await until(lambda: order["B"] == [1, 3, 4, 5])
        assert order["A"] == [] and most <= 3
        await asyncio.sleep(0.05)
        assert committed(broker, "app").get(0, 0) == 0  # A's record 0 is unfinished
    gate_a.set()
    await until(lambda: order == {"A": [0, 2], "B": [1, 3, 4, 5]})
    await until(lambda: committed(broker, "app") == {0: 6})
    await bus.stop()
    offs = [off for _, _, off in broker.commit_log]
    assert offs == sorted(offs)


async def test_key_parallel_handlers_are_bounded_per_partition(broker: FakeBroker) -> None:
    s = settings(partitions=1)
    s.kafka.key_parallelism = 4
    bus = KafkaBus(s)
    running = 0
    most = 0
    done: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        nonlocal running, most
        running += 1
        most = max(most, running)
        await asyncio.sleep(0.01)
        running -= 1
        done.append(seq(env))

    bus.subscribe(T, "app", handler, concurrency=1)
    await bus.start()
    for n in range(20):
        await bus.publish(T, f"key-{n}", ack(1, n))
    await until(lambda: len(done) == 20)
    assert most == 4
    await until(lambda: committed(broker, "app") == {0: 20})
    await bus.stop()
