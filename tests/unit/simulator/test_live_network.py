"""Live mode end to end against a small fake network server on a local UDP socket.

The fake speaks Semtech UDP through the gateway bridge's codec and LoRaWAN through the join
server's JoinAccept builder and the network server's downlink builder: it acknowledges
PUSH_DATA / PULL_DATA, answers each JoinRequest at tmst + 5 s and (optionally) each confirmed
uplink at tmst + 1 s with an ACK and a LinkADRReq, and records every frame it heard.
"""

from __future__ import annotations

import socket
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import pytest

from services.gateway_bridge.semtech import (
    PullAck,
    PullData,
    PullResp,
    PushAck,
    PushData,
    TxAck,
    TxPk,
    decode_packet,
)
from services.gateway_bridge.semtech.radio import Modulation
from services.join_server.core import build_join_accept
from services.lorawan import (
    EUI64,
    CFList,
    DevAddr,
    DLSettings,
    JoinAcceptPayload,
    MType,
    NetID,
    PhyPayload,
    derive_session_keys_10,
)
from services.lorawan.maccommand import LinkADRAns, LinkADRReq, parse_mac_commands
from services.network_server.core.downlink import build_data_downlink
from services.storage.domain import DeviceSession
from simulator.live import LiveOptions, run_live
from simulator.live.device import derive_root_key
from simulator.scenario import Scenario

SECRET = "unit-test"
NET_ID = NetID.from_hex("000000")


@dataclass
class _Dev:
    dev_addr: DevAddr
    session: DeviceSession
    app_s_key: bytes
    f_cnts: list[int] = field(default_factory=list)
    answers: list[Any] = field(default_factory=list)
    drs: list[str] = field(default_factory=list)


class FakeServer:
    def __init__(
        self,
        *,
        join_delay_wall_s: float = 0.0,
        ack_confirmed: bool = False,
        link_adr: LinkADRReq | None = None,
        stray_pull_resp: bool = False,
    ) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.05)
        self.addr = self.sock.getsockname()
        self.join_delay = join_delay_wall_s
        self.ack_confirmed = ack_confirmed
        self.link_adr = link_adr
        self.stray = stray_pull_resp
        self.pull_addr: dict[str, tuple[str, int]] = {}
        self.devs: dict[str, _Dev] = {}
        self.by_addr: dict[DevAddr, str] = {}
        self.rxpks: list[Any] = []
        self.tx_acks: list[str] = []
        self.frames: set[tuple[str, int]] = set()
        self.frames_join: set[tuple[str, int]] = set()
        self._next_addr = 0x00000100
        self._stop = threading.Event()
        self._later: list[tuple[float, bytes, tuple[str, int]]] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self._stop.set()
        self.thread.join(5)
        self.sock.close()

    def _send_resp(self, gw: str, txpk: TxPk) -> None:
        data = PullResp(len(self._later) + 1, txpk).to_bytes()
        delay = self.join_delay if txpk.size in (17, 33) else 0.0
        self._later.append((time.monotonic() + delay, data, self.pull_addr[gw]))

    def _run(self) -> None:
        while not self._stop.is_set():
            now = time.monotonic()
            for item in [x for x in self._later if x[0] <= now]:
                self._later.remove(item)
                self.sock.sendto(item[1], item[2])
            try:
                data, addr = self.sock.recvfrom(65535)
            except TimeoutError:
                continue
            pkt = decode_packet(data)
            if isinstance(pkt, PullData):
                self.pull_addr[str(pkt.gw_eui)] = addr
                self.sock.sendto(PullAck(pkt.token).to_bytes(), addr)
            elif isinstance(pkt, PushData):
                self.sock.sendto(PushAck(pkt.token).to_bytes(), addr)
                for rx in pkt.rxpk:
                    self.rxpks.append(rx)
                    self._on_rxpk(str(pkt.gw_eui), rx)
            elif isinstance(pkt, TxAck):
                self.tx_acks.append(pkt.error.value)

    def _on_rxpk(self, gw: str, rx: Any) -> None:
        phy = PhyPayload.from_bytes(rx.data)
        if phy.mhdr.m_type is MType.JOIN_REQUEST:
            jr = phy.to_dict()["payload"]
            if (jr["dev_eui"], jr["dev_nonce"]) in self.frames_join:
                return  # the other gateway's copy: answered once, by the first gateway
            self.frames_join.add((jr["dev_eui"], jr["dev_nonce"]))
            dev_eui = EUI64.from_hex(jr["dev_eui"])
            nwk_key = derive_root_key(SECRET, str(dev_eui), "nwk_key")
            assert phy.validate_join_request_mic(nwk_key.value)
            addr = DevAddr(self._next_addr.to_bytes(4, "big"))
            self._next_addr += 1
            keys = derive_session_keys_10(nwk_key, 7, NET_ID, jr["dev_nonce"])
            sess = DeviceSession(
                dev_eui=dev_eui,
                dev_addr=addr,
                mac_version="1.0.3",
                f_nwk_s_int_key=keys.f_nwk_s_int_key,
                s_nwk_s_int_key=keys.s_nwk_s_int_key,
                nwk_s_enc_key=keys.nwk_s_enc_key,
            )
            self.devs[str(dev_eui)] = _Dev(addr, sess, keys.app_s_key.value)
            self.by_addr[addr] = str(dev_eui)
            accept = build_join_accept(
                nwk_key=nwk_key,
                dev_eui=dev_eui,
                join_eui=EUI64.from_hex(jr["join_eui"]),
                dev_nonce=jr["dev_nonce"],
                payload=JoinAcceptPayload(
                    7,
                    NET_ID,
                    addr,
                    DLSettings(),
                    1,
                    CFList(0, frequencies=(867_100_000, 867_300_000)),
                ),
            )
            self._send_resp(gw, self._txpk(accept, rx.tmst + 5_000_000, rx))
            if self.stray:
                self._send_resp(gw, self._txpk(accept, rx.tmst + 3_000_000, rx))
            return
        p = phy.mac_payload()
        dev = self.devs[self.by_addr[p.fhdr.dev_addr]]
        s = dev.session
        assert phy.validate_uplink_data_mic("1.0.3", 0, 0, 0, s.f_nwk_s_int_key.value)
        dev.drs.append(str(rx.datr))
        key = (str(s.dev_eui), p.fhdr.f_cnt)
        if key in self.frames:
            return  # another gateway's copy or a retransmission
        self.frames.add(key)
        dev.f_cnts.append(p.fhdr.f_cnt)
        dev.answers.extend(parse_mac_commands(p.fhdr.f_opts, True))
        if self.ack_confirmed and phy.mhdr.m_type is MType.CONFIRMED_DATA_UP:
            answers = [self.link_adr] if self.link_adr is not None and len(dev.f_cnts) == 1 else []
            frame = build_data_downlink(s, ack=True, conf_f_cnt=p.fhdr.f_cnt, answers=answers)
            self._send_resp(gw, self._txpk(frame.phy_payload, rx.tmst + 1_000_000, rx))

    @staticmethod
    def _txpk(data: bytes, tmst: int, rx: Any) -> TxPk:
        return TxPk(
            data=data,
            tmst=tmst % 2**32,
            freq=rx.freq,
            rfch=0,
            powe=14,
            modu=Modulation.LORA,
            datr=rx.datr,
            codr="4/5",
            ipol=True,
        )


def _scenario(**devices: Any) -> Scenario:
    dev: dict[str, Any] = {
        "count": 3,
        "sf": 7,
        "otaa": True,
        "join_spread_s": 10,
        "traffic": {"period_s": 20, "payload_bytes": 12},
    }
    dev.update(devices)
    return Scenario.model_validate(
        {
            "name": "unit-live",
            "duration_s": 90,
            "seed": 11,
            "area": {"radius_m": 60},
            "devices": dev,
            "gateways": {"count": 2, "placement": "random"},
            "duty_cycle": False,
        }
    )


@pytest.fixture
def fake() -> Any:
    servers: list[FakeServer] = []

    def make(**kw: Any) -> FakeServer:
        s = FakeServer(**kw)
        servers.append(s)
        return s

    yield make
    for s in servers:
        s.close()


def _opts(**kw: Any) -> LiveOptions:
    base: dict[str, Any] = {
        "speed": 40.0,
        "key_secret": SECRET,
        "dev_nonce_start": 1,
        "drain_s": 0.3,
        "keepalive_s": 0.5,
    }
    base.update(kw)
    return LiveOptions(**base)


def test_devices_join_and_every_forwarded_frame_reaches_the_server(fake: Any) -> None:
    srv = fake()
    res = run_live(_scenario(), srv.addr, _opts())
    st = res.live
    assert st.joined == 3 and st.join_accepts_received == 3
    assert st.uplinks_forwarded > 0
    assert len(srv.frames) == st.uplinks_forwarded  # the fake saw every counted frame, once
    for dev_eui, n in st.forwarded_per_device.items():
        assert len(srv.devs[dev_eui].f_cnts) == n
        assert srv.devs[dev_eui].f_cnts == sorted(srv.devs[dev_eui].f_cnts)
        assert srv.devs[dev_eui].f_cnts[0] == 0  # LoRaWAN counters start at 0 after a join
    # rxpk metadata of the radio model
    tmsts = {rx.tmst for rx in srv.rxpks}
    assert len(tmsts) > 1 and all(rx.rssi is not None and rx.rssi < 0 for rx in srv.rxpks)
    assert all(rx.freq in (868.1, 868.3, 868.5) for rx in srv.rxpks)
    assert srv.tx_acks.count("NONE") == 3
    gw = res.gateways
    assert sum(g["push_acks"] for g in gw.values()) == sum(g["push_data"] for g in gw.values())  # type: ignore[misc]
    assert all(g["pull_acks"] >= 1 for g in gw.values())  # type: ignore[operator]


def test_confirmed_uplinks_get_their_ack_and_link_adr_req_is_applied(fake: Any) -> None:
    req = LinkADRReq(data_rate=3, tx_power=2, ch_mask=0b111, ch_mask_cntl=0, nb_trans=1)
    srv = fake(ack_confirmed=True, link_adr=req)
    sc = _scenario(count=2, traffic={"period_s": 15, "payload_bytes": 5, "confirmed": True})
    res = run_live(sc, srv.addr, _opts(speed=20.0))
    st = res.live
    assert st.joined == 2
    assert st.acks_received == st.uplinks_forwarded > 2
    assert st.link_adr_applied == 2 and st.mac_commands_received == {"LinkADRReq": 2}
    assert res.result.retransmissions == 0  # every ACK came in time (holds)
    for dev in srv.devs.values():
        assert dev.answers == [LinkADRAns(True, True, True)]  # in the next uplink's FOpts
        assert dev.drs[0] == "SF7BW125" and dev.drs[-1] == "SF9BW125"  # DR3 from then on


def test_a_late_answer_still_lands_in_its_window_by_tmst(fake: Any) -> None:
    # The JoinAccepts leave the server 1.2 wall seconds late: 48 simulated seconds at x40,
    # long after JOIN_ACCEPT_DELAY1. Without a hold the device keeps running; the tmst still
    # names RX1 of the request, so the device takes it (if it has not sent a newer request).
    srv = fake(join_delay_wall_s=0.12)
    res = run_live(_scenario(count=2), srv.addr, _opts(hold="none"))
    st = res.live
    assert st.downlinks_late >= 1
    assert st.joined == 2


def test_a_downlink_for_no_window_is_not_delivered(fake: Any) -> None:
    srv = fake(stray_pull_resp=True)  # a second JoinAccept at tmst + 3 s: no window
    res = run_live(_scenario(count=1), srv.addr, _opts())
    st = res.live
    assert st.joined == 1 and st.join_accepts_received == 1
    assert sum(st.downlinks_unmatched.values()) == st.join_requests_forwarded
    assert st.downlinks_unmatched.get("no_window", 0) >= 1
    assert len(srv.tx_acks) == st.pull_resps
