"""Fixtures of the bus tests: one valid message per topic, uplink builders, a fast retry policy."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from services.bus.base import RetryPolicy
from services.bus.messages import (
    ApplicationEvent,
    ApplicationUplink,
    AppSKeyDelivery,
    BaseMessage,
    DownlinkAck,
    DownlinkRequest,
    DownlinkTxAck,
    GatewayDownlink,
    GatewayStats,
    GatewayTxAck,
    GatewayUplink,
    GwSignal,
    JoinAccept,
    JoinEvent,
    JoinRequest,
    LedgerRecord,
    LinkAdrDecision,
    RxMetadata,
    SessionChanged,
    UplinkMeta,
)
from services.bus.topics import Topic

T0 = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
GW = "0102030405060708"
DEV_EUI = "70B3D57ED0000001"
JOIN_EUI = "70B3D57ED0000000"
DEV_ADDR = "26011BDA"
KEY = "2B7E151628AED2A6ABF7158809CF4F3C"


def rx(gw: str = GW, **kw: object) -> RxMetadata:
    fields: dict[str, object] = dict(
        gw_eui=gw,
        tmst=3_512_348_611,
        time=T0,
        freq_hz=868_100_000,
        chan=2,
        rf_chain=0,
        crc_ok=True,
        modulation="LORA",
        sf=7,
        bw_hz=125_000,
        dr="SF7BW125",
        code_rate="4/5",
        rssi=-35.0,
        snr=5.1,
        size=23,
        received_at=T0,
        zone="zone-a",
        context=b"\x00\x01\xff",
    )
    fields.update(kw)
    return RxMetadata.model_validate(fields)


def gateway_uplink(phy: bytes, n: int = 0, gw: str = GW) -> GatewayUplink:
    return GatewayUplink(uplink_id=f"u{n}", phy_payload=phy, rx=rx(gw, size=len(phy)))


def sample_messages() -> dict[Topic, BaseMessage]:
    phy = bytes.fromhex("40DA1B0126800100016FE8B9A1C4D1E2F3")
    return {
        Topic.GW_UP: gateway_uplink(phy),
        Topic.GW_DOWN: GatewayDownlink(
            downlink_id="d1",
            gw_eui=GW,
            phy_payload=b"\x60" + bytes(11),
            tmst=3_513_348_611,
            freq_hz=868_100_000,
            power_dbm=14,
            sf=7,
            bw_hz=125_000,
            dr="SF7BW125",
            dev_eui=DEV_EUI,
            created_at=T0,
        ),
        Topic.GW_TX_ACK: GatewayTxAck(
            downlink_id="d1", gw_eui=GW, error="TOO_LATE", received_at=T0
        ),
        Topic.GW_STATS: GatewayStats(
            gw_eui=GW,
            time=T0,
            latitude=46.24,
            longitude=3.2523,
            altitude_m=145,
            rx_received=2,
            rx_ok=2,
            rx_forwarded=2,
            ack_ratio_pct=100.0,
            received_at=T0,
        ),
        Topic.JS_JOIN_REQUEST: JoinRequest(
            dedup_id="j1",
            phy_payload=bytes(23),
            dev_eui=DEV_EUI,
            join_eui=JOIN_EUI,
            dev_nonce=0x1234,
            net_id="000013",
            region="EU868",
            dr=5,
            freq_hz=868_100_000,
            rx=[rx(), rx("0102030405060709", rssi=-90.0)],
            received_at=T0,
        ),
        Topic.JS_JOIN_ACCEPT: JoinAccept(
            dedup_id="j1",
            dev_eui=DEV_EUI,
            join_eui=JOIN_EUI,
            accepted=True,
            dev_addr=DEV_ADDR,
            session_id="s1",
            phy_payload=bytes(17),
            mac_version="1.0.3",
            dev_nonce=0x1234,
            join_nonce=7,
            f_nwk_s_int_key=KEY,
            s_nwk_s_int_key=KEY,
            nwk_s_enc_key=KEY,
            rx1_dr_offset=0,
            rx2_dr=0,
            decided_at=T0,
        ),
        Topic.JS_APP_S_KEY: AppSKeyDelivery(
            dev_eui=DEV_EUI,
            join_eui=JOIN_EUI,
            dev_addr=DEV_ADDR,
            session_id="s1",
            mac_version="1.0.3",
            kek_label="kek-1",
            app_s_key_wrapped="AB" * 24,
            created_at=T0,
        ),
        Topic.NS_UP: ApplicationUplink(
            dedup_id="x1",
            dev_eui=DEV_EUI,
            dev_addr=DEV_ADDR,
            f_cnt=70_000,
            f_port=1,
            frm_payload=b"\x01\x02",
            confirmed=True,
            adr=True,
            dr=5,
            freq_hz=868_100_000,
            rx=[rx()],
            received_at=T0,
        ),
        Topic.NS_UP_META: UplinkMeta(
            dedup_id="x1",
            dev_eui=DEV_EUI,
            dev_addr=DEV_ADDR,
            f_cnt=70_000,
            dr=5,
            tx_power_index=1,
            freq_hz=868_100_000,
            channel=0,
            signals=[GwSignal(gw_eui=GW, rssi=-35, snr=5.1)],
            gw_count=1,
            received_at=T0,
        ),
        Topic.NS_JOIN: JoinEvent(
            dedup_id="j1",
            dev_eui=DEV_EUI,
            join_eui=JOIN_EUI,
            dev_addr=DEV_ADDR,
            session_id="s1",
            mac_version="1.1.0",
            received_at=T0,
        ),
        Topic.NS_ACK: DownlinkAck(
            dev_eui=DEV_EUI, request_id="r1", acknowledged=True, f_cnt_down=3, at=T0
        ),
        Topic.NS_TX_ACK: DownlinkTxAck(
            dev_eui=DEV_EUI, request_id="r1", downlink_id="d1", gw_eui=GW, at=T0
        ),
        Topic.NS_SESSION_CHANGED: SessionChanged(
            dev_eui=DEV_EUI, dev_addr="26011BDA", origin="ns-a1b2c3", changed_at=T0
        ),
        Topic.AS_DOWN_SUBMIT: DownlinkRequest(
            request_id="r1", dev_eui=DEV_EUI, f_port=10, frm_payload=b"on", requested_at=T0
        ),
        Topic.AS_DOWN_REQUEST: DownlinkRequest(
            request_id="r1",
            dev_eui=DEV_EUI,
            f_port=10,
            frm_payload=b"\xde\xad",
            encrypted=True,
            f_cnt_down=4,
            session_id="s1",
            confirmed=True,
            requested_at=T0,
        ),
        Topic.AS_EVENT: ApplicationEvent(
            dev_eui="70B3D57ED0000001",
            event={"event": "up", "dev_eui": "70B3D57ED0000001", "f_cnt": 7, "data": "AQI="},
            emitted_at=T0,
        ),
        Topic.DRCC_LINK_ADR: LinkAdrDecision(
            decision_id="a1",
            dev_eui=DEV_EUI,
            dr=5,
            tx_power_index=2,
            channels=[0, 1, 2],
            nb_trans=1,
            policy="drcc",
            reason="der below target",
            decided_at=T0,
        ),
        Topic.LEDGER_TX: LedgerRecord(
            idempotency_key=f"up:{DEV_EUI}:70000",
            channel="application",
            kind="uplink",
            zone="zone-a",
            key=f"{DEV_EUI}/70000",
            payload={"f_cnt": 70000, "gws": [GW], "ok": True},
            created_at=T0,
        ),
    }


@pytest.fixture
def samples() -> dict[Topic, BaseMessage]:
    return sample_messages()


@pytest.fixture
def fast_retry() -> RetryPolicy:
    return RetryPolicy(max_attempts=3, backoff_initial_s=0.001, backoff_max_s=0.005)


@pytest.fixture
def make_uplink():  # type: ignore[no-untyped-def]
    return gateway_uplink
