"""services.bus.kafka.KafkaBus against a real Apache Kafka broker (KRaft, deploy/kafka/kafka.sh).

Every test uses its own consumer groups and its own keys (a fresh run tag), and only counts
records carrying that tag, so tests sharing the session's broker and topics cannot see each
other's records. Every wait is bounded.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from aiokafka.admin import AIOKafkaAdminClient  # type: ignore[import-untyped]
from aiokafka.errors import KafkaError  # type: ignore[import-untyped]

from services.bus.base import Envelope
from services.bus.errors import BusError
from services.bus.kafka import KafkaBus
from services.bus.keys import partition_for
from services.bus.messages import BaseMessage, DeadLetter, GatewayStats
from services.bus.settings import BusSettings, KafkaSettings
from services.bus.topics import Topic, all_topics, dlq_topic

from .conftest import KafkaBroker

# The generous timeout covers a cold first run (Maven download and broker start in the setup
# of the first test); every wait inside a test is bounded much tighter.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PARTITIONS = 4
TOPIC = Topic.GW_STATS.value
DLQ = dlq_topic(TOPIC)
GW_EUI = "0102030405060708"
WAIT_S = 30.0


def bus_settings(bootstrap: str, **overrides: Any) -> BusSettings:
    values: dict[str, Any] = {
        "backend": "kafka",
        "partitions": PARTITIONS,
        "max_attempts": 3,
        "retry_backoff_initial_s": 0.01,
        "retry_backoff_max_s": 0.05,
        "drain_timeout_s": 5.0,
        "kafka": KafkaSettings(
            bootstrap_servers=bootstrap,
            session_timeout_ms=6000,
            heartbeat_interval_ms=500,
            fetch_timeout_ms=100,
            commit_interval_s=0.2,
            request_timeout_ms=10000,
        ),
    }
    values.update(overrides)
    return BusSettings(**values)


BusFactory = Callable[..., KafkaBus]


@pytest.fixture
async def new_bus(kafka_broker: KafkaBroker) -> AsyncIterator[BusFactory]:
    """Make KafkaBus instances on the session broker; all are stopped after the test."""
    made: list[KafkaBus] = []

    def make(**overrides: Any) -> KafkaBus:
        bus = KafkaBus(bus_settings(kafka_broker.bootstrap_servers, **overrides))
        made.append(bus)
        return bus

    yield make
    for bus in made:
        await asyncio.wait_for(bus.stop(), timeout=30)


@pytest.fixture
def tag() -> str:
    return uuid.uuid4().hex[:10]


def stats(seq: int, tag: str) -> GatewayStats:
    return GatewayStats(gw_eui=GW_EUI, rx_received=seq, zone=tag)


def seq_of(env: Envelope[BaseMessage]) -> int:
    msg = env.message
    assert isinstance(msg, GatewayStats)
    return msg.rx_received


def keys_covering_partitions(tag: str, per_partition: int = 1) -> list[str]:
    """Keys of this run, ``per_partition`` landing on each of the PARTITIONS partitions."""
    found: dict[int, list[str]] = defaultdict(list)
    i = 0
    while any(len(found[p]) < per_partition for p in range(PARTITIONS)):
        key = f"{tag}-k{i}"
        p = partition_for(key, PARTITIONS)
        if len(found[p]) < per_partition:
            found[p].append(key)
        i += 1
    return [k for p in range(PARTITIONS) for k in found[p]]


async def eventually(predicate: Callable[[], bool], what: str, timeout: float = WAIT_S) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        await asyncio.sleep(0.05)


class Collector:
    """A handler that records the envelopes of this run (by key prefix) and ignores the rest."""

    def __init__(self, tag: str) -> None:
        self.tag = tag
        self.got: list[Envelope[BaseMessage]] = []

    async def __call__(self, env: Envelope[BaseMessage]) -> None:
        if env.key.startswith(self.tag):
            self.got.append(env)

    def seqs(self, key: str | None = None) -> list[int]:
        return [seq_of(e) for e in self.got if key is None or e.key == key]


# ------------------------------------------------------------------------------ topics


async def test_start_creates_every_topic_and_dlq_with_n_partitions(
    kafka_broker: KafkaBroker, new_bus: BusFactory
) -> None:
    bus = new_bus()
    await bus.start()
    assert await bus.ensure_topics() == []  # idempotent: everything exists now
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_broker.bootstrap_servers)
    await admin.start()
    try:
        wanted = all_topics(include_dlq=True)
        assert set(wanted) <= set(await admin.list_topics())
        described = await admin.describe_topics(wanted)
    finally:
        await admin.close()
    counts = {t["topic"]: len(t["partitions"]) for t in described}
    assert counts == {name: PARTITIONS for name in wanted}
    assert len(wanted) == 2 * len(Topic)


# ------------------------------------------------------------------------ round trip


async def test_publish_subscribe_round_trip(new_bus: BusFactory, tag: str) -> None:
    got = Collector(tag)
    consumer = new_bus()
    consumer.subscribe(TOPIC, f"{tag}-rt", got)
    producer = new_bus()
    await consumer.start()
    await producer.start()
    keys = keys_covering_partitions(tag, per_partition=2)
    sent = {key: stats(i, tag) for i, key in enumerate(keys)}
    for key, msg in sent.items():
        await producer.publish(TOPIC, key, msg, headers={"trace-id": key.encode()})
    await eventually(lambda: len(got.got) >= len(sent), f"{len(sent)} records")
    assert len(got.got) == len(sent)
    for env in got.got:
        assert env.topic == TOPIC
        assert env.message == sent[env.key]
        assert env.partition == partition_for(env.key, PARTITIONS)
        assert env.headers["trace-id"] == env.key.encode()
        assert env.headers["content-type"] == b"application/json"
        assert env.attempt == 1 and env.offset >= 0 and env.timestamp_ms
    assert {e.partition for e in got.got} == set(range(PARTITIONS))
    assert producer.counters.published == len(sent)
    assert consumer.counters.handled >= len(sent)


async def test_every_group_gets_every_record(new_bus: BusFactory, tag: str) -> None:
    a, b = Collector(tag), Collector(tag)
    bus = new_bus()
    bus.subscribe(TOPIC, f"{tag}-ga", a)
    bus.subscribe(TOPIC, f"{tag}-gb", b)
    await bus.start()
    for i in range(10):
        await bus.publish(TOPIC, f"{tag}-{i % 3}", stats(i, tag))
    await eventually(lambda: len(a.got) >= 10 and len(b.got) >= 10, "both groups")
    assert sorted(a.seqs()) == sorted(b.seqs()) == list(range(10))


# ------------------------------------------------------------------------- ordering


async def test_per_key_order_is_kept(new_bus: BusFactory, tag: str) -> None:
    got = Collector(tag)

    async def slow_sometimes(env: Envelope[BaseMessage]) -> None:
        if seq_of(env) % 7 == 0:
            await asyncio.sleep(0.01)  # a slow record must not let later ones overtake it
        await got(env)

    consumer = new_bus()
    consumer.subscribe(TOPIC, f"{tag}-order", slow_sometimes, concurrency=4)
    producer = new_bus(
        kafka=KafkaSettings(
            bootstrap_servers=consumer.settings.kafka.bootstrap_servers, linger_ms=20
        )
    )
    await consumer.start()
    await producer.start()
    keys = keys_covering_partitions(tag, per_partition=2)
    per_key = 30

    async def publish_key(key: str) -> None:
        for seq in range(per_key):
            await producer.publish(TOPIC, key, stats(seq, tag))

    await asyncio.gather(*(publish_key(k) for k in keys))
    total = per_key * len(keys)
    await eventually(lambda: len(got.got) >= total, f"{total} records")
    for key in keys:
        assert got.seqs(key) == list(range(per_key)), key
        offsets = [e.offset for e in got.got if e.key == key]
        assert offsets == sorted(offsets)


# --------------------------------------------------------------- consumer groups


async def test_group_members_share_partitions_and_one_takes_over(
    new_bus: BusFactory, tag: str
) -> None:
    group = f"{tag}-share"
    got_a, got_b = Collector(tag), Collector(tag)
    bus_a, bus_b = new_bus(), new_bus()
    bus_a.subscribe(TOPIC, group, got_a)
    bus_b.subscribe(TOPIC, group, got_b)
    producer = new_bus()
    await producer.start()
    await bus_a.start()
    await bus_b.start()
    keys = keys_covering_partitions(tag, per_partition=2)

    # Phase 1: keep publishing until the rebalance has settled and both members consume.
    seq = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_S
    while not (got_a.got and got_b.got):
        assert loop.time() < deadline, "both members never received records"
        for key in keys:
            await producer.publish(TOPIC, key, stats(seq, tag))
            seq += 1
        await asyncio.sleep(0.2)
    phase1 = seq
    await eventually(lambda: len(got_a.got) + len(got_b.got) >= phase1, "phase 1 records")
    parts_a = {e.partition for e in got_a.got}
    parts_b = {e.partition for e in got_b.got}
    all_seqs = got_a.seqs() + got_b.seqs()
    assert set(all_seqs) == set(range(phase1))  # nothing lost while the group formed

    # Once settled, each partition belongs to one member: the last records of every key were
    # handled by exactly one of them.
    last_round = set(range(phase1 - len(keys), phase1))
    owners = {e.partition: "a" for e in got_a.got if seq_of(e) in last_round}
    owners_b = {e.partition: "b" for e in got_b.got if seq_of(e) in last_round}
    assert not set(owners) & set(owners_b), "a partition consumed by both members"
    owners.update(owners_b)
    assert set(owners) == set(range(PARTITIONS))
    assert "a" in owners.values() and "b" in owners.values(), (parts_a, parts_b)

    # Phase 2: B leaves; A takes over B's partitions and gets every new record.
    await bus_b.stop()
    before_a = len(got_a.got)
    for key in keys:
        await producer.publish(TOPIC, key, stats(seq, tag))
        seq += 1
    phase2 = set(range(phase1, seq))
    await eventually(lambda: phase2 <= {seq_of(e) for e in got_a.got[before_a:]}, "takeover by A")
    assert {e.partition for e in got_a.got[before_a:] if seq_of(e) in phase2} == set(
        range(PARTITIONS)
    )
    assert not phase2 & set(got_b.seqs())


# ---------------------------------------------------------------------- dead letters


async def test_failing_handler_is_retried_then_dead_lettered(new_bus: BusFactory, tag: str) -> None:
    key = f"{tag}-dlq"
    attempts: dict[int, int] = defaultdict(int)
    handled: list[int] = []

    async def handler(env: Envelope[BaseMessage]) -> None:
        if not env.key.startswith(tag):
            return
        s = seq_of(env)
        attempts[s] += 1
        if s == 1:
            raise ValueError(f"cannot handle {s}")
        handled.append(s)

    dead = Collector(tag)
    bus = new_bus()
    bus.subscribe(TOPIC, f"{tag}-fail", handler)
    bus.subscribe(DLQ, f"{tag}-dlq-reader", dead)
    await bus.start()
    for s in range(3):
        await bus.publish(TOPIC, key, stats(s, tag))
    await eventually(lambda: len(dead.got) >= 1 and len(handled) >= 2, "DLQ record and 0, 2")
    assert handled == [0, 2]  # the partition moved on past the failure, in order
    assert attempts[1] == 3  # max_attempts
    letter = dead.got[0].message
    assert isinstance(letter, DeadLetter)
    assert (letter.topic, letter.key, letter.reason) == (TOPIC, key, "handler")
    assert letter.error_type == "ValueError" and "cannot handle 1" in letter.error
    assert letter.attempts == 3 and letter.group == f"{tag}-fail"
    assert GatewayStats.model_validate_json(letter.raw).rx_received == 1
    assert dead.got[0].key == key
    assert bus.counters.dead_lettered == 1 and bus.counters.retried == 2


async def test_poison_record_is_parked_and_later_records_flow(
    new_bus: BusFactory, tag: str
) -> None:
    key = f"{tag}-poison"
    got, dead = Collector(tag), Collector(tag)
    bus = new_bus()
    bus.subscribe(TOPIC, f"{tag}-poison", got)
    bus.subscribe(DLQ, f"{tag}-poison-dlq", dead)
    await bus.start()
    poison = b"\xff\x00 this is not JSON"
    await bus.publish(TOPIC, key, stats(0, tag))
    await bus.publish_raw(TOPIC, key, poison, headers={"origin": b"test"})
    await bus.publish(TOPIC, key, stats(2, tag))
    await eventually(lambda: len(got.got) >= 2 and len(dead.got) >= 1, "records and DLQ")
    assert got.seqs() == [0, 2]
    letter = dead.got[0].message
    assert isinstance(letter, DeadLetter)
    assert letter.reason == "decode" and letter.attempts == 0
    assert letter.raw == poison and letter.headers == {"origin": b"test"}
    assert letter.offset == got.got[0].offset + 1
    assert bus.counters.decode_errors == 1


# ------------------------------------------------------------------- at-least-once


async def test_offsets_committed_only_after_handling(new_bus: BusFactory, tag: str) -> None:
    """A consumer stops while a handler is stuck: the stuck record and everything after it
    are delivered to the next member; what was handled before is not redelivered."""
    group = f"{tag}-commit"
    key = f"{tag}-one-partition"
    total, stuck_at = 20, 7
    first: list[int] = []
    stuck = asyncio.Event()

    async def first_handler(env: Envelope[BaseMessage]) -> None:
        if not env.key.startswith(tag):
            return
        s = seq_of(env)
        if s == stuck_at:
            stuck.set()
            await asyncio.Event().wait()  # never finishes: cancelled at stop
        first.append(s)

    bus1 = new_bus(drain_timeout_s=1.0)
    bus1.subscribe(TOPIC, group, first_handler, concurrency=1)
    await bus1.start()
    for s in range(total):
        await bus1.publish(TOPIC, key, stats(s, tag))
    await asyncio.wait_for(stuck.wait(), WAIT_S)
    await asyncio.sleep(0.6)  # > commit_interval_s: 0..6 committed by the commit loop
    await asyncio.wait_for(bus1.stop(), 15)
    assert first == list(range(stuck_at))

    second = Collector(tag)
    bus2 = new_bus()
    bus2.subscribe(TOPIC, group, second)
    await bus2.start()
    await eventually(lambda: len(second.got) >= total - stuck_at, "redelivery")
    await asyncio.sleep(0.5)  # nothing more should come
    assert second.seqs() == list(range(stuck_at, total))  # nothing lost, nothing handled twice


async def test_deferred_completions_commit_only_finished_records(
    new_bus: BusFactory, tag: str
) -> None:
    """Handlers return completions: the partition moves on at once, a failed completion is
    parked on the DLQ, and at stop the first unfinished record and everything after it stay
    uncommitted, so the next member gets exactly those again (nothing before them)."""
    group = f"{tag}-deferred"
    key = f"{tag}-one-partition"
    total, open_at, fail_at = 20, 12, 5
    loop = asyncio.get_running_loop()
    taken: list[int] = []
    never: asyncio.Future[None] = loop.create_future()

    async def fails() -> None:
        raise RuntimeError(f"{tag} completion failed")

    async def first_handler(env: Envelope[BaseMessage]) -> Any:
        if not env.key.startswith(tag):
            return None
        s = seq_of(env)
        taken.append(s)
        if s == open_at:
            return never  # never finishes
        if s == fail_at:
            return fails()
        return asyncio.sleep(0.05)  # finishes a little later

    bus1 = new_bus(drain_timeout_s=1.0)
    bus1.subscribe(TOPIC, group, first_handler, concurrency=1)
    await bus1.start()
    for s in range(total):
        await bus1.publish(TOPIC, key, stats(s, tag))
    # every record is taken although record 12 never finishes: the partition moved on
    await eventually(lambda: len(taken) == total, "all records taken")
    await asyncio.sleep(0.6)  # > commit_interval_s
    await asyncio.wait_for(bus1.stop(), 15)
    assert not never.cancelled()

    second = Collector(tag)
    bus2 = new_bus()
    bus2.subscribe(TOPIC, group, second)
    await bus2.start()
    await eventually(lambda: len(second.got) >= total - open_at, "redelivery")
    await asyncio.sleep(0.5)  # nothing more should come
    assert second.seqs() == list(range(open_at, total))

    letters: list[DeadLetter] = []
    dlq_seen = Collector(tag)

    async def dlq_handler(env: Envelope[BaseMessage]) -> None:
        if isinstance(env.message, DeadLetter) and env.message.key == key:
            letters.append(env.message)
        await dlq_seen(env)

    bus3 = new_bus()
    bus3.subscribe(DLQ, f"{tag}-dlq", dlq_handler)
    await bus3.start()
    await eventually(lambda: bool(letters), "the failed completion on the DLQ")
    assert letters[0].reason == "handler" and letters[0].error_type == "RuntimeError"
    assert f"{tag} completion failed" in letters[0].error


async def test_graceful_stop_mid_stream_loses_nothing(new_bus: BusFactory, tag: str) -> None:
    group = f"{tag}-restart"
    keys = keys_covering_partitions(tag, per_partition=2)
    total = 160
    seen1 = Collector(tag)

    async def slow(env: Envelope[BaseMessage]) -> None:
        await asyncio.sleep(0.02)
        await seen1(env)

    producer = new_bus()
    await producer.start()
    bus1 = new_bus()
    bus1.subscribe(TOPIC, group, slow)
    await bus1.start()
    for s in range(total):
        await producer.publish(TOPIC, keys[s % len(keys)], stats(s, tag))
    await eventually(lambda: len(seen1.got) >= total // 4, "a quarter handled")
    await asyncio.wait_for(bus1.stop(), 15)
    handled_first = set(seen1.seqs())
    assert len(handled_first) < total  # it really stopped mid-way

    seen2 = Collector(tag)
    bus2 = new_bus()
    bus2.subscribe(TOPIC, group, seen2)
    await bus2.start()
    await eventually(lambda: handled_first | set(seen2.seqs()) == set(range(total)), "the rest")
    await asyncio.sleep(0.5)
    # Committed on stop: nothing the first consumer finished is handled again.
    assert not handled_first & set(seen2.seqs())
    for key in keys:  # and each key still in order across the restart
        order = [seq_of(e) for e in seen1.got + seen2.got if e.key == key]
        assert order == sorted(order)


async def test_backpressure_pauses_and_resumes_without_loss(
    kafka_broker: KafkaBroker, new_bus: BusFactory, tag: str
) -> None:
    """A tiny max_poll_records makes the fetch loop pause the partition again and again."""
    key = f"{tag}-bp"
    total = 40  # each pause -> resume costs up to aiokafka's fetch_max_wait_ms (500 ms)
    got = Collector(tag)

    async def slow(env: Envelope[BaseMessage]) -> None:
        await asyncio.sleep(0.005)
        await got(env)

    small = KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        max_poll_records=4,
        fetch_timeout_ms=50,
        commit_interval_s=0.2,
        heartbeat_interval_ms=500,
        session_timeout_ms=6000,
    )
    bus = new_bus(kafka=small)
    bus.subscribe(TOPIC, f"{tag}-bp", slow)
    producer = new_bus()
    await producer.start()
    for s in range(total):
        await producer.publish(TOPIC, key, stats(s, tag))
    await bus.start()
    await eventually(lambda: len(got.got) >= total, f"{total} records")
    await asyncio.sleep(0.3)
    assert got.seqs() == list(range(total))


# ------------------------------------------------------------------- broker restart
# Last in the file: it restarts the session's broker (the next test module finds it up again).


async def test_bus_survives_a_broker_restart(
    kafka_broker: KafkaBroker, new_bus: BusFactory, tag: str
) -> None:
    key = f"{tag}-restart"
    got = Collector(tag)
    bus = new_bus()
    bus.subscribe(TOPIC, f"{tag}-restart", got)
    await bus.start()
    for s in range(5):
        await bus.publish(TOPIC, key, stats(s, tag))
    await eventually(lambda: len(got.got) >= 5, "records before the restart")

    await asyncio.to_thread(kafka_broker.restart)

    for s in range(5, 10):
        await asyncio.wait_for(bus.publish(TOPIC, key, stats(s, tag)), WAIT_S)
    await eventually(lambda: set(got.seqs()) >= set(range(10)), "records after the restart")
    seqs = got.seqs()
    assert seqs[:5] == list(range(5))
    assert sorted(set(seqs[5:])) == list(range(5, 10))  # redelivery allowed, loss is not


async def test_rebalance_mid_stream_hands_over_without_loss_or_duplicates(
    new_bus: BusFactory, tag: str
) -> None:
    """B joins while A is busy: A finishes its in-flight records and commits before giving
    partitions up, so B starts exactly where A stopped. Records keep coming until B has
    handled some (A alone, handling 16 keys at once, could otherwise finish a fixed backlog
    before the rebalance completes, and B would get nothing to take over)."""
    group = f"{tag}-handover"
    keys = keys_covering_partitions(tag, per_partition=2)
    got_a, got_b = Collector(tag), Collector(tag)

    async def slow_a(env: Envelope[BaseMessage]) -> None:
        await asyncio.sleep(0.03)
        await got_a(env)

    producer = new_bus()
    await producer.start()
    total = 0

    async def publish(n: int) -> None:
        nonlocal total
        for s in range(total, total + n):
            await producer.publish(TOPIC, keys[s % len(keys)], stats(s, tag))
        total += n

    await publish(200)
    bus_a = new_bus()
    bus_a.subscribe(TOPIC, group, slow_a)
    await bus_a.start()
    await eventually(lambda: len(got_a.got) >= 20, "A under way")
    bus_b = new_bus()
    bus_b.subscribe(TOPIC, group, got_b)
    await bus_b.start()
    deadline = asyncio.get_running_loop().time() + 60
    while not got_b.got and asyncio.get_running_loop().time() < deadline:
        await publish(len(keys))  # one record per key: every partition keeps receiving
        await asyncio.sleep(0.2)
    await eventually(
        lambda: set(got_a.seqs()) | set(got_b.seqs()) == set(range(total)), "every record"
    )
    await asyncio.sleep(0.5)
    assert got_b.got, "B never got a partition"
    assert not set(got_a.seqs()) & set(got_b.seqs()), "records handled by both members"
    for key in keys:  # one key's records stay in order across the handover
        order = [seq_of(e) for e in got_a.got + got_b.got if e.key == key]
        assert order == sorted(order), key


async def test_publish_and_stop_are_bounded_while_the_broker_is_down(
    kafka_broker: KafkaBroker, new_bus: BusFactory, tag: str
) -> None:
    """A Kafka outage must not hang a service: publish fails (the caller retries or does not
    commit) and stop() returns, both within bounded time."""
    got = Collector(tag)
    settings = KafkaSettings(
        bootstrap_servers=kafka_broker.bootstrap_servers,
        request_timeout_ms=5000,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
        commit_interval_s=0.2,
    )
    bus = new_bus(kafka=settings, drain_timeout_s=3.0)
    bus.subscribe(TOPIC, f"{tag}-outage", got)
    await bus.start()
    await bus.publish(TOPIC, f"{tag}-o", stats(0, tag))
    await eventually(lambda: len(got.got) >= 1, "the record before the outage")
    await asyncio.to_thread(kafka_broker.script.run, "stop", timeout=60)
    try:
        publish = asyncio.create_task(bus.publish(TOPIC, f"{tag}-o", stats(1, tag)))
        done, _ = await asyncio.wait({publish}, timeout=15)
        if not done:
            publish.cancel()
        assert done, "publish() still blocked 15 s after the broker went away"
        assert isinstance(publish.exception(), KafkaError | BusError), publish.exception()

        stop = asyncio.create_task(bus.stop())
        done, _ = await asyncio.wait({stop}, timeout=15)
        if not done:
            stop.cancel()
        assert done, "stop() still blocked 15 s after the broker went away"
        assert stop.exception() is None, repr(stop.exception())
    finally:
        await asyncio.to_thread(kafka_broker.script.run, "start", timeout=120)
        await asyncio.to_thread(kafka_broker.script.run, "wait", timeout=120)
