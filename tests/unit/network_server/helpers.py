"""Builders for the network server tests: sessions, gateway metadata, uplink frames."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from services.bus.messages import GatewayUplink, RxMetadata
from services.lorawan import FHDR, MHDR, FCtrl, MType, PhyPayload
from services.lorawan.data import MACPayload
from services.lorawan.maccommand import MacCommand, encode_mac_commands
from services.lorawan.types import EUI64, AES128Key, DevAddr
from services.network_server.core.uplink import UplinkFrame
from services.storage.domain import DeviceSession

T0 = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
DEV_ADDR = DevAddr.from_hex("26011BDA")
KEY_A = AES128Key.from_hex("2B7E151628AED2A6ABF7158809CF4F3C")
KEY_B = AES128Key.from_hex("000102030405060708090A0B0C0D0E0F")
KEY_C = AES128Key.from_hex("F0E0D0C0B0A090807060504030201000")
KEY_D = AES128Key.from_hex("0F1E2D3C4B5A69788796A5B4C3D2E1F0")


def session(
    dev_eui: str = "0102030405060708",
    *,
    key: AES128Key = KEY_A,
    mac_version: str = "1.0.3",
    f_cnt_up: int | None = None,
    dev_addr: DevAddr = DEV_ADDR,
    **kw: object,
) -> DeviceSession:
    """A 1.0.x session (one key for all three) or, for 1.1, three distinct network keys."""
    if mac_version.startswith("1.1"):
        keys = {"f_nwk_s_int_key": key, "s_nwk_s_int_key": KEY_C, "nwk_s_enc_key": KEY_D}
    else:
        keys = {"f_nwk_s_int_key": key, "s_nwk_s_int_key": key, "nwk_s_enc_key": key}
    return DeviceSession(
        dev_eui=EUI64.from_hex(dev_eui),
        dev_addr=dev_addr,
        mac_version=mac_version,
        f_cnt_up=f_cnt_up,
        **keys,  # type: ignore[arg-type]
        **kw,  # type: ignore[arg-type]
    )


def rx(
    gw: str = "AA555A0000000001",
    *,
    tmst: int | None = 1_000_000,
    snr: float | None = 5.0,
    rssi: float = -80.0,
    freq_hz: int = 868_100_000,
    sf: int = 7,
    bw_hz: int = 125_000,
    at: datetime = T0,
    **kw: object,
) -> RxMetadata:
    return RxMetadata(
        gw_eui=gw,
        tmst=tmst,
        freq_hz=freq_hz,
        sf=sf,
        bw_hz=bw_hz,
        dr=f"SF{sf}BW{bw_hz // 1000}",
        rssi=rssi,
        snr=snr,
        size=20,
        received_at=at,
        **kw,  # type: ignore[arg-type]
    )


def uplink(
    s: DeviceSession,
    f_cnt: int,
    *,
    f_port: int | None = 1,
    payload: bytes = b"\x01\x02\x03",
    confirmed: bool = False,
    adr: bool = False,
    adr_ack_req: bool = False,
    ack: bool = False,
    f_opts: list[MacCommand] | None = None,
    port0: list[MacCommand] | None = None,
    tx_dr: int = 5,
    tx_ch: int = 0,
    conf_f_cnt: int = 0,
) -> bytes:
    """An uplink data frame from the device of ``s``, MIC'd (and 1.1 FOpts encrypted)."""
    opts = encode_mac_commands(f_opts) if f_opts else b""
    fhdr = FHDR(s.dev_addr, FCtrl(adr=adr, adr_ack_req=adr_ack_req, ack=ack), f_cnt, opts)
    if port0 is not None:
        mac = MACPayload(fhdr, 0, encode_mac_commands(port0))
    else:
        mac = MACPayload(fhdr, f_port, payload if f_port is not None else b"")
    m_type = MType.CONFIRMED_DATA_UP if confirmed else MType.UNCONFIRMED_DATA_UP
    phy = PhyPayload(MHDR(m_type), mac)
    is_11 = s.mac_version.startswith("1.1")
    if port0 is not None:
        phy.encrypt_frm_payload(s.nwk_s_enc_key)
    if is_11 and opts:
        phy.encrypt_f_opts(s.nwk_s_enc_key)
    phy.set_uplink_data_mic(
        s.mac_version, conf_f_cnt, tx_dr, tx_ch, s.f_nwk_s_int_key, s.s_nwk_s_int_key
    )
    return phy.to_bytes()


def frame(data: bytes, *rxs: RxMetadata, dedup_id: str = "d-1") -> UplinkFrame:
    rx_list = rxs or (rx(),)
    return UplinkFrame(dedup_id, data, tuple(rx_list), min(r.received_at for r in rx_list))


def gw_uplink(data: bytes, meta: RxMetadata, uplink_id: str = "u") -> GatewayUplink:
    return GatewayUplink(uplink_id=uplink_id, phy_payload=data, rx=meta)


def later(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)
