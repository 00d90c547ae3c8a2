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
import json
import os
import re
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

import httpx
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
# Every wait is bounded, and each fault test has a budget well under the 300 s pytest-timeout
# (a slower CI machine has margin): a test that runs out names the phase and shows the
# testbed's state instead of hanging.
DELIVERY_TIMEOUT_S = 60.0
WARMUP_TIMEOUT_S = 45.0  # every device's first uplink reaches MQTT (the pipeline flows)
FAULT_TIMEOUT_S = 120.0  # stop/kill and restart an engine or service, and wait until it answers
TEST_BUDGET_S = 240.0


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
        try:
            return subprocess.run(
                ["bash", str(TESTBED), *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"testbed.sh {' '.join(args)} took more than {timeout} s") from exc

    def must(self, *args: str, timeout: float = 180) -> str:
        proc = self.sh(*args, timeout=timeout)
        assert proc.returncode == 0, f"testbed.sh {' '.join(args)}: {proc.stderr[-3000:]}"
        return proc.stdout

    def engine(self, name: str, *args: str, timeout: float = 90) -> float:
        """Run deploy/NAME/NAME.sh ARGS (bounded); returns the seconds it took."""
        started = time.monotonic()
        try:
            proc = subprocess.run(
                ["bash", str(ROOT / "deploy" / name / f"{name}.sh"), *args],
                env=self.env,
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise AssertionError(f"{name}.sh {' '.join(args)} took more than {timeout} s") from exc
        assert proc.returncode == 0, f"{name}.sh {' '.join(args)}: {proc.stderr[-3000:]}"
        return time.monotonic() - started

    def diagnose(self) -> str:
        """The testbed's status and the last warnings/errors of each service (for messages)."""
        out = []
        with contextlib.suppress(Exception):
            out.append(self.sh("status", timeout=30).stdout.strip())
        for log in sorted((self.state_dir / "testbed" / "logs").glob("*.log")):
            lines = log.read_text(errors="replace").splitlines()
            bad = [
                ln
                for ln in lines
                if ("WARNING" in ln or "ERROR" in ln) and "CoordinatorNotAvailable" not in ln
            ][-5:]
            if bad:
                out.append(f"--- {log.name} (last warnings/errors):\n" + "\n".join(bad))
        return "\n" + "\n".join(out)[-6000:]

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
        for what, closing in (
            ("gateway 1", gw1.close()), ("gateway 2", gw2.close()),
            ("the MQTT subscriber", mqtt.stop()), ("the API client", api.close()),
        ):  # fmt: skip
            await bounded(asyncio.ensure_future(closing), 10, what)


async def bounded(task: asyncio.Future[Any], timeout: float, what: str) -> None:
    """Wait for ``task`` (already asked to end) at most ``timeout`` s; its errors, or its
    cancellation, are not the caller's. Not ``await task`` / wait_for: a swallowed
    cancellation must not hang the test."""
    done, _ = await asyncio.wait({task}, timeout=timeout)
    if not done:
        task.cancel()
        raise AssertionError(f"{what} did not stop within {timeout} s")
    if not task.cancelled():
        task.exception()  # retrieved: an error while closing is not the test's result


def check_mqtt(mqtt: MqttSubscriber) -> None:
    """The test's MQTT subscriber still runs (else nothing could ever count as delivered)."""
    task = mqtt._task
    if task is not None and task.done():
        exc = None if task.cancelled() else task.exception()
        raise AssertionError(f"the test's MQTT subscriber stopped: {exc!r}")


async def warm_up(
    net: Net, devices: list[Device], timeout: float = WARMUP_TIMEOUT_S, both: bool = False
) -> None:
    """Send uplinks of every device (together) until one of each comes out on MQTT — the
    device's session reached the network server and its AppSKey the app handler; bounded.
    ``both``: through both gateways (the network server learns that both hear the device, so
    its dedup window waits for the second copy instead of closing after the first)."""
    deadline = time.monotonic() + timeout
    pending = list(devices)
    while pending:
        check_mqtt(net.mqtt)
        for dev in pending:
            frame, t = dev.frame(b"warm"), next(net.tmst)
            for gw in (net.gw1, net.gw2) if both else (net.gw1,):
                with contextlib.suppress(TimeoutError):
                    await gw.push(frame, tmst=t, timeout=1.0)
        round_end = min(deadline, time.monotonic() + 2.0)
        while pending and time.monotonic() < round_end:
            pending = [d for d in pending if not net.ups(d.dev_eui)]
            await asyncio.sleep(0.05)
        if pending and time.monotonic() >= deadline:
            raise AssertionError(
                f"no uplink of {[d.dev_eui for d in pending]} reached MQTT within {timeout} s"
                f" (the pipeline is not flowing){net.tb.diagnose()}"
            )


async def first_uplink_delivered(net: Net, dev: Device) -> None:
    await warm_up(net, [dev])


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
    await warm_up(net, [dev], both=True)
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


async def test_api_event_stream_carries_the_app_handlers_uplinks(testbed: Bed, net: Net) -> None:
    """GET /api/events in the API process streams the uplink the app handler (another
    process) emitted: it travels on as.event."""
    dev = await net.abp_device()
    await first_uplink_delivered(net, dev)
    events: list[dict[str, Any]] = []
    opened = asyncio.Event()

    async def listen() -> None:
        headers = {"Authorization": f"Bearer {testbed.admin_key}"}
        async with (
            httpx.AsyncClient(base_url=testbed.api_url, timeout=30) as http,
            http.stream("GET", f"/api/events?dev_eui={dev.dev_eui}", headers=headers) as r,
        ):
            assert r.status_code == 200
            opened.set()
            async for line in r.aiter_lines():
                if line.startswith("data:"):
                    events.append(json.loads(line[5:]))

    task = asyncio.create_task(listen())
    try:
        await asyncio.wait_for(opened.wait(), 10)
        await asyncio.sleep(0.5)  # the subscription is registered in the hub
        await net.gw1.push(dev.frame(b"to the stream", f_port=9), tmst=next(net.tmst))
        deadline = time.monotonic() + 20
        while not any(e.get("f_cnt") == dev.f_cnt for e in events):
            assert not task.done(), f"the event stream ended: {task.exception()!r}"
            assert time.monotonic() < deadline, (
                f"uplink f_cnt={dev.f_cnt} not on GET /api/events within 20 s; got {events}"
                f"{testbed.diagnose()}"
            )
            await asyncio.sleep(0.1)
    finally:
        task.cancel()
        await bounded(task, 10, "the event stream listener")
    (event,) = [e for e in events if e.get("f_cnt") == dev.f_cnt]
    assert event["dev_eui"].upper() == dev.dev_eui and event["f_port"] == 9
    assert base64.b64decode(event["data"]) == b"to the stream"


JOIN_EUI = "70B3D57ED0000000"
APP_KEY = bytes.fromhex("2B7E151628AED2A6ABF7158809CF4F3C")


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


async def test_downlink_queued_through_either_instance_goes_out_on_the_next_uplink(
    testbed: Bed, net: Net
) -> None:
    """The application queues a downlink (API -> app handler -> as.down.request, keyed by
    DevEUI) for devices whose uplinks (gw.up, keyed by DevAddr) the OTHER network-server
    instance handles, and for one where both are the same instance: each device's very next
    uplink carries it (the queueing instance announces the change on ns.session_changed and
    the other drops its cached session; issue 4)."""
    from services.bus.keys import partition_for

    partitions = bus_partitions(testbed)
    gw_up = ns_assignments(testbed, "gw.up")
    down = ns_assignments(testbed, "as.down.request")
    crossed, same = pick_devices(
        2,
        lambda d: (
            gw_up[partition_for(d.dev_addr, partitions)]
            != down[partition_for(d.dev_eui, partitions)]
        ),
        wanted=3,
        others=1,
    )
    devices = crossed + same
    for dev in devices:
        await net.api.device(dev.dev_eui, net.application_id, net.abp_profile, name="queue")
        await net.api.activate(dev.dev_eui, dev.dev_addr, dev.nwk_s_key, dev.app_s_key)
    await warm_up(net, devices)  # every instance has the sessions cached now
    for dev in devices:
        await net.api.queue(dev.dev_eui, b"\x42" + bytes.fromhex(dev.dev_addr), f_port=9)

    async def all_queued() -> bool:
        for dev in devices:
            page = await net.api.get(f"/api/devices/{dev.dev_eui}/queue")
            if not page["items"]:
                return False
        return True

    await eventually(all_queued, timeout=20)
    await asyncio.sleep(1.0)  # the announcement's transit (milliseconds) with a wide margin
    for dev in devices:
        tmst = next(net.tmst)
        await net.gw1.push(dev.frame(b"next"), tmst=tmst)
        got = await net.gw1.pull_resp(timeout=10)
        phy = PhyPayload.from_bytes(got.phy_payload)
        macp = phy.mac_payload()
        assert str(macp.fhdr.dev_addr) == dev.dev_addr, f"{dev.dev_eui}: not its downlink"
        assert macp.f_port == 9 and got.txpk["tmst"] == tmst + 1_000_000
        phy.decrypt_frm_payload(AES128Key(dev.app_s_key))
        assert phy.mac_payload().frm_payload == b"\x42" + bytes.fromhex(dev.dev_addr)


class RetryingGateway(SimGateway):
    """A gateway that refuses every RX1 downlink (TX_ACK ``TOO_LATE``) and takes RX2 ones
    (EU868 RX2: 869.525 MHz)."""

    def _received(self, data: bytes) -> None:
        if len(data) > 4 and data[3] == 3:  # PULL_RESP
            freq = json.loads(data[4:])["txpk"]["freq"]
            self.tx_ack_error = "NONE" if abs(freq - 869.525) < 1e-6 else "TOO_LATE"
        super()._received(data)


def ns_assignments(tb: Bed, topic: str) -> dict[int, str]:
    """partition of ``topic`` -> the network-server instance holding it (its last logged
    assignment; the range assignor gives every instance its whole share at each rebalance)."""
    owner: dict[int, str] = {}
    for proc in ("network_server-1", "network_server-2"):
        lines = [
            ln
            for ln in tb.log(proc).splitlines()
            if "bus.kafka.assigned" in ln and f"topic='{topic}'" in ln  # its group's last one
        ]
        assert lines, f"{proc} logged no partition assignment of {topic}{tb.diagnose()}"
        for p in re.findall(rf"topic='{re.escape(topic)}', partition=(\d+)", lines[-1]):
            owner[int(p)] = proc
    return owner


def bus_partitions(tb: Bed) -> int:
    """The partition count of the testbed's topics (the services' HYPERLORA_BUS_PARTITIONS)."""
    found = re.search(r"HYPERLORA_BUS_PARTITIONS=(\d+)", tb.must("env", "network_server-1"))
    assert found is not None
    return int(found[1])


def pick_devices(
    tag: int, which: Callable[[Device], bool], wanted: int, others: int
) -> tuple[list[Device], list[Device]]:
    """New ABP devices (DevEUI 70B3D57ED<tag>..., DevAddr 0<tag>...): ``wanted`` for which
    ``which`` holds and ``others`` for which it does not."""
    yes: list[Device] = []
    no: list[Device] = []
    while len(yes) < wanted or len(no) < others:
        n = next(_n)
        nwk_s_key = bytes([n % 251]) * 15 + bytes([2 * tag + 1])
        app_s_key = bytes([n % 241]) * 15 + bytes([2 * tag + 2])
        dev = Device(f"70B3D57ED{tag}{n:06X}", f"0{tag}{n:06X}", nwk_s_key, app_s_key)
        bucket, limit = (yes, wanted) if which(dev) else (no, others)
        if len(bucket) < limit:
            bucket.append(dev)
    return yes, no


GW3 = bytes.fromhex("AA555A00000000D3")


async def test_tx_ack_errors_are_retried_in_rx2_by_whichever_instance_gets_them(
    testbed: Bed, net: Net
) -> None:
    """gw.tx_ack is keyed by gateway, so one network-server instance receives every TX_ACK of
    GW3, also for the downlinks the other instance sent. Each confirmed uplink's RX1 answer
    is refused by the gateway: the downlink must be retried in RX2 and acknowledged on
    ns.tx_ack exactly once, whichever instance sent it (issue 4)."""
    from aiokafka import AIOKafkaConsumer

    from services.bus.keys import partition_for
    from services.bus.messages import DownlinkTxAck

    partitions = bus_partitions(testbed)
    gw_up, gw_tx_ack = ns_assignments(testbed, "gw.up"), ns_assignments(testbed, "gw.tx_ack")
    assert len(gw_up) == len(gw_tx_ack) == partitions, (gw_up, gw_tx_ack)
    acker = gw_tx_ack[partition_for(GW3.hex().upper(), partitions)]
    # devices whose uplinks the other instance handles (it sends their downlinks), and two
    # handled by the instance that receives GW3's TX_ACKs
    same, others = pick_devices(
        1, lambda d: gw_up[partition_for(d.dev_addr, partitions)] == acker, wanted=2, others=3
    )
    devices = others + same
    for dev in devices:
        await net.api.device(dev.dev_eui, net.application_id, net.abp_profile, name="rx2")
        await net.api.activate(dev.dev_eui, dev.dev_addr, dev.nwk_s_key, dev.app_s_key)
    await net.api.gateway(GW3.hex().upper(), net.tenant_id)
    await warm_up(net, devices)

    gw3 = await RetryingGateway.connect(GW3, testbed.udp)
    consumer = AIOKafkaConsumer(
        "ns.tx_ack", bootstrap_servers=testbed.kafka, group_id=None,
        auto_offset_reset="earliest", enable_auto_commit=False,
    )  # fmt: skip
    await consumer.start()
    wanted = {d.dev_eui for d in devices}
    tx_acks: list[DownlinkTxAck] = []

    async def collect(seconds: float) -> None:
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            batch = await consumer.getmany(timeout_ms=200)
            for records in batch.values():
                for r in records:
                    ack = DownlinkTxAck.model_validate_json(r.value)
                    if ack.dev_eui in wanted:
                        tx_acks.append(ack)
            if seconds > 5 and {a.dev_eui for a in tx_acks} == wanted:
                return

    try:
        for dev in devices:
            await gw3.push(dev.frame(b"rx2?", confirmed=True), tmst=next(net.tmst))
        await collect(30.0)
        missing = wanted - {a.dev_eui for a in tx_acks}
        assert not missing, f"no ns.tx_ack within 30 s for {sorted(missing)}{testbed.diagnose()}"
        await collect(1.5)  # a second ns.tx_ack of any downlink would have come by now
        downs = []
        while gw3.pending_downlinks():
            downs.append(await gw3.pull_resp())
    finally:
        await consumer.stop()
        await bounded(asyncio.ensure_future(gw3.close()), 10, "gateway 3")

    by_dev = Counter(a.dev_eui for a in tx_acks)
    assert all(v == 1 for v in by_dev.values()), f"ns.tx_ack not exactly once: {by_dev}"
    logs = {p: testbed.log(p) for p in ("network_server-1", "network_server-2")}
    retried_by_other = 0
    for dev in devices:
        (ack,) = [a for a in tx_acks if a.dev_eui == dev.dev_eui]
        mine = [d for d in downs if d.phy_payload[1:5] == bytes.fromhex(dev.dev_addr)[::-1]]
        windows = [round(d.txpk["freq"], 3) for d in mine]
        if windows == [868.1, 869.525]:  # RX1 refused, then RX2: the retry path
            assert ack.error is None and ack.downlink_id.endswith("-rx2"), ack
            assert mine[0].phy_payload == mine[1].phy_payload
            retriers = [p for p, text in logs.items()
                        if f"ns.downlink.retry_rx2 dev_eui={dev.dev_eui}" in text]  # fmt: skip
            assert retriers == [acker], (dev.dev_eui, retriers, acker)
            retried_by_other += dev in others
        elif windows == [869.525]:  # handled too late for RX1: sent in RX2 at once
            assert ack.error is None, ack
        else:  # RX1 refused after the RX2 deadline: a failed tx_ack, no retry
            assert windows == [868.1] and ack.error == "TOO_LATE", (dev.dev_eui, windows, ack)
    assert retried_by_other >= 1, (
        f"no downlink sent by the other instance was retried in RX2 (PULL_RESPs: "
        f"{[(d.phy_payload[1:5].hex(), d.txpk['freq']) for d in downs]}){testbed.diagnose()}"
    )


# ------------------------------------------------------------------------------ faults


class Phases:
    """Bounded, timed phases of one test within its budget; a phase that runs out fails with
    its name, the phases before it and the testbed's state (never a pytest-timeout)."""

    def __init__(self, tb: Bed, budget_s: float = TEST_BUDGET_S) -> None:
        self.tb = tb
        self.budget_s = budget_s
        self.started = time.monotonic()
        self.done: list[tuple[str, float]] = []

    def summary(self) -> str:
        return ", ".join(f"{what} {took:.1f} s" for what, took in self.done)

    @contextlib.asynccontextmanager
    async def __call__(self, what: str, limit_s: float) -> AsyncIterator[None]:
        left = self.budget_s - (time.monotonic() - self.started)
        limit = max(1.0, min(limit_s, left))
        t0 = time.monotonic()
        try:
            async with asyncio.timeout(limit):
                yield
        except TimeoutError as exc:
            raise AssertionError(
                f"{what}: not done within {limit:.0f} s (before: {self.summary() or '-'})"
                f"{self.tb.diagnose()}"
            ) from exc
        finally:
            self.done.append((what, time.monotonic() - t0))
            print(f"phase {what}: {time.monotonic() - t0:.1f} s")


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
    _stop: asyncio.Event = field(default_factory=asyncio.Event)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run())

    async def stop(self) -> None:
        """Ask the loop to end after its current uplink (each push is bounded), and wait for
        it, bounded. Not task.cancel(): on Python 3.11 asyncio.wait_for (inside
        SimGateway.push) can swallow a cancellation that races with its own completion, and
        the generator then runs on while the test waits for it forever — the pytest-timeout
        of the CI run of 2026-11-22 (main thread idle in the event loop's select)."""
        assert self._task is not None
        self._stop.set()
        done, _ = await asyncio.wait({self._task}, timeout=10)
        if not done:
            self._task.cancel()
            raise AssertionError("the traffic generator did not stop within 10 s")
        self._task.result()  # its own errors surface here

    async def _run(self) -> None:
        for k in itertools.count():
            if self._stop.is_set():
                return
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
    await warm_up(net, devices)
    return devices


async def exactly_once_through(
    net: Net,
    fault: Callable[[], Awaitable[None]],
    *,
    before_s: float = 2.0,
    after_s: float = 4.0,
    devices: list[Device] | None = None,
    fault_timeout_s: float = FAULT_TIMEOUT_S,
) -> Traffic:
    phase = Phases(net.tb)
    if devices is None:
        async with phase("warm-up", WARMUP_TIMEOUT_S + 15):
            devices = await traffic_devices(net)
    traffic = Traffic(net, devices)
    traffic.start()
    try:
        await asyncio.sleep(before_s)
        async with phase("fault", fault_timeout_s):
            await fault()
        await asyncio.sleep(after_s)
    finally:
        await traffic.stop()
    assert len(traffic.accepted) >= 20, f"too little traffic: {len(traffic.accepted)} accepted"
    euis = {d.dev_eui for d in devices}

    def delivered() -> Counter[tuple[str, int]]:
        # An event the app handler sent again after a crash (between the broker's PUBACK and
        # its outbox delete) has the same dedup_id, and counts once: that is the consumer's
        # contract (docs/distributed.md, "Fault behaviour"). One frame under two dedup ids
        # would be an uplink doubled by the network side, and fails the test.
        events = {
            (e["dev_eui"], int(e["f_cnt"]), e["dedup_id"])
            for e in net.ups()
            if e["dev_eui"] in euis
        }
        return Counter((dev_eui, f_cnt) for dev_eui, f_cnt, _ in events)

    t0 = time.monotonic()
    deadline = t0 + DELIVERY_TIMEOUT_S
    while time.monotonic() < deadline:
        check_mqtt(net.mqtt)
        if all(k in delivered() for k in traffic.accepted):
            break
        await asyncio.sleep(0.25)
    phase.done.append(("delivery", time.monotonic() - t0))
    await asyncio.sleep(2.0)  # late duplicates, if any, show up now
    got = delivered()
    missing = sorted(k for k in traffic.accepted if k not in got)
    doubled = sorted(k for k, c in got.items() if c > 1)
    resent = sum(1 for e in net.ups() if e["dev_eui"] in euis) - sum(got.values())
    print(
        f"phases: {phase.summary()}; accepted {len(traffic.accepted)}; MQTT events sent again "
        f"after a crash (same dedup_id): {resent}"
    )
    assert not missing, (
        f"{len(missing)} of {len(traffic.accepted)} accepted uplinks never delivered within "
        f"{DELIVERY_TIMEOUT_S} s: {missing[:10]} (phases: {phase.summary()}){net.tb.diagnose()}"
    )
    assert not doubled, f"{len(doubled)} uplinks delivered more than once: {doubled[:10]}"
    for e in net.ups():  # every copy carries the payload that was sent
        k = (e["dev_eui"], int(e["f_cnt"]))
        if k in traffic.accepted:
            data = base64.b64decode(e["data"])
            assert data == traffic.accepted[k], f"{k}: {data!r} != {traffic.accepted[k]!r}"
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


async def test_kill_9_one_network_server_instance(testbed: Bed, net: Net) -> None:
    async def kill() -> None:
        await asyncio.to_thread(testbed.must, "kill", "network_server-1")

    try:
        await exactly_once_through(net, kill, after_s=15.0)  # > the 10 s session timeout
    finally:
        await asyncio.to_thread(testbed.must, "start", "network_server-1")


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


async def test_restart_postgresql(testbed: Bed, net: Net) -> None:
    async def restart() -> None:
        await asyncio.to_thread(testbed.engine, "postgres", "stop")
        await asyncio.sleep(1.0)
        await asyncio.to_thread(testbed.engine, "postgres", "start")

    await exactly_once_through(net, restart)


async def test_restart_kafka_broker(testbed: Bed, net: Net) -> None:
    took: dict[str, float] = {}

    async def restart() -> None:
        for step, limit in (("stop", 45.0), ("start", 30.0), ("wait", 60.0)):
            took[step] = await asyncio.to_thread(testbed.engine, "kafka", step, timeout=limit)
        print("kafka restart: " + ", ".join(f"{k} {v:.1f} s" for k, v in took.items()))

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
