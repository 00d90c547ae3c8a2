"""The data-uplink steps: candidates, MIC (1.0 and 1.1), FCnt rules, MAC commands, outputs."""

from __future__ import annotations

import pytest

from services.lorawan.errors import FrameCounterReplay, MalformedPacket, MicMismatch
from services.lorawan.maccommand import DevStatusAns, LinkCheckAns, LinkCheckReq
from services.lorawan.region import get_region
from services.network_server.core import uplink as up
from services.network_server.errors import NotAnUplink, UnknownDevAddr

from .helpers import KEY_A, KEY_B, T0, frame, rx, session, uplink

EU = get_region("EU868")


def run(data: bytes, candidates, *rxs, region=EU):  # type: ignore[no-untyped-def]
    ctx = up.decode(frame(data, *rxs), region, T0)
    up.select_session(ctx, candidates)
    up.check_f_cnt(ctx)
    up.process(ctx)
    return ctx


# --------------------------------------------------------------------------- candidates


@pytest.mark.parametrize(("sender", "expected"), [(0, "0102030405060701"), (1, "0102030405060702")])
def test_two_devices_sharing_a_dev_addr(sender: int, expected: str) -> None:
    devs = [
        session("0102030405060701", key=KEY_A, f_cnt_up=3),
        session("0102030405060702", key=KEY_B, f_cnt_up=40),
    ]
    ctx = run(uplink(devs[sender], [4, 41][sender]), devs)
    assert str(ctx.require_session().dev_eui) == expected
    assert ctx.f_cnt == [4, 41][sender]


def test_no_candidate_is_unknown_dev_addr() -> None:
    with pytest.raises(UnknownDevAddr):
        run(uplink(session(), 1), [])


def test_no_valid_mic_is_mic_mismatch() -> None:
    signer = session(key=KEY_B)
    with pytest.raises(MicMismatch):
        run(uplink(signer, 1), [session(key=KEY_A)])


def test_tampered_payload_is_mic_mismatch() -> None:
    s = session()
    data = bytearray(uplink(s, 1))
    data[-5] ^= 0x01
    with pytest.raises(MicMismatch):
        run(bytes(data), [s])


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", MalformedPacket),
        (b"\x40\x01\x02", MalformedPacket),
        # a JoinRequest is not a data uplink
        (bytes.fromhex("00") + bytes(18) + bytes(4), NotAnUplink),
        # an unconfirmed data *down* frame
        (bytes.fromhex("60DA1B0126000100") + bytes(4), NotAnUplink),
    ],
)
def test_undecodable_or_wrong_frames(data: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        up.decode(frame(data), EU, T0)


# --------------------------------------------------------------------------- frame counters


@pytest.mark.parametrize(
    ("last", "sent", "outcome"),
    [
        (None, 0, "new"),
        (10, 11, "new"),
        (10, 500, "new"),  # gaps are allowed
        (10, 10, "retransmission"),
        (10, 9, "replay"),
        (10, 0, "replay"),
        (0xFFFE, 0x10002, "new"),  # rollover of the 16 wire bits
        (0xFFFF, 0x10000, "new"),
        (0x1FFFF, 0x20000, "new"),
        (0x10005, 0x10005, "retransmission"),
        (0x10005, 0x10003, "replay"),
        (0x10005, 0xFFF0, "replay"),  # from the previous 64K block
    ],
)
def test_f_cnt_rules(last: int | None, sent: int, outcome: str) -> None:
    s = session(f_cnt_up=last)
    data = uplink(s, sent)
    if outcome == "replay":
        with pytest.raises(FrameCounterReplay):
            run(data, [s])
        return
    ctx = run(data, [s])
    assert ctx.f_cnt == sent
    assert ctx.retransmission is (outcome == "retransmission")
    if outcome == "new":
        assert ctx.require_session().f_cnt_up == sent
        assert up.application_uplink(ctx) is not None
    else:
        assert up.application_uplink(ctx) is None
        assert up.uplink_meta(ctx) is None


# --------------------------------------------------------------------------- LoRaWAN 1.1 MIC


@pytest.mark.parametrize(
    ("ack", "stored_conf", "signed_conf", "freq", "signed_ch", "ok"),
    [
        (False, 0, 0, 868_100_000, 0, True),
        (False, 9, 123, 868_100_000, 0, True),  # ConfFCnt only enters when ACK is set
        (True, 7, 7, 868_100_000, 0, True),
        (True, 7, 8, 868_100_000, 0, False),
        (False, 0, 0, 868_300_000, 1, True),  # TxCh: channel index of the frequency
        (False, 0, 0, 868_300_000, 0, False),
    ],
)
def test_lorawan_11_mic_uses_conf_f_cnt_tx_dr_tx_ch(
    ack: bool, stored_conf: int, signed_conf: int, freq: int, signed_ch: int, ok: bool
) -> None:
    s = session(mac_version="1.1.0", f_cnt_up=1, conf_f_cnt=stored_conf)
    data = uplink(s, 2, ack=ack, conf_f_cnt=signed_conf, tx_dr=5, tx_ch=signed_ch)
    if ok:
        ctx = run(data, [s], rx(freq_hz=freq))
        assert ctx.f_cnt == 2 and ctx.ack is ack
    else:
        with pytest.raises(MicMismatch):
            run(data, [s], rx(freq_hz=freq))


def test_lorawan_11_mic_uses_tx_dr() -> None:
    s = session(mac_version="1.1.0")
    data = uplink(s, 1, tx_dr=4)  # signed as DR4 but received at SF7 = DR5
    with pytest.raises(MicMismatch):
        run(data, [s])
    assert run(data, [s], rx(sf=8)).dr == 4


# --------------------------------------------------------------------------- MAC commands


@pytest.mark.parametrize(
    ("mac_version", "where"),
    [("1.0.3", "f_opts"), ("1.0.3", "port0"), ("1.1.0", "f_opts"), ("1.1.0", "port0")],
)
def test_mac_commands_from_f_opts_or_port_0(mac_version: str, where: str) -> None:
    s = session(mac_version=mac_version)
    cmds = [LinkCheckReq(), DevStatusAns(battery=200, margin=5)]
    data = uplink(s, 1, f_opts=cmds, f_port=None) if where == "f_opts" else uplink(s, 1, port0=cmds)
    ctx = run(data, [s], rx(snr=2.5), rx("AA555A0000000002", snr=-1.0))
    assert ctx.mac_commands == cmds
    assert ctx.mac_result.answers == [LinkCheckAns(margin=10, gw_cnt=2)]  # 2.5 - (-7.5) at SF7
    assert ctx.require_session().mac_command_state["dev_status"]["battery"] == 200
    if where == "port0":
        assert up.application_uplink(ctx) is None  # MAC-only frames stay in the NS


def test_unknown_mac_command_is_recorded_not_fatal() -> None:
    s = session()
    from services.lorawan import FHDR, MHDR, FCtrl, MType, PhyPayload
    from services.lorawan.data import MACPayload

    phy = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_UP),
        MACPayload(FHDR(s.dev_addr, FCtrl(), 1, b"\x7f"), 1, b"\x00"),
    )
    phy.set_uplink_data_mic("1.0.3", 0, 5, 0, s.f_nwk_s_int_key)
    ctx = run(phy.to_bytes(), [s])
    assert ctx.mac_commands == []
    assert ctx.events[0]["kind"] == "mac_command_parse_error"
    assert up.application_uplink(ctx) is not None


# --------------------------------------------------------------------------- outputs


def test_outputs_keep_encrypted_payload_and_every_gateway() -> None:
    s = session(f_cnt_up=4, n_f_cnt_down=7, a_f_cnt_down=3)
    data = uplink(s, 5, payload=b"\xaa\xbb", confirmed=True, adr=True)
    g1, g2 = rx("AA555A0000000001", snr=3.0), rx("AA555A0000000002", snr=9.0)
    ctx = run(data, [s], g2, g1)
    msg = up.application_uplink(ctx, "app-1")
    assert msg is not None
    assert msg.frm_payload == ctx.mac.frm_payload  # still AppSKey-encrypted, as received
    assert msg.f_cnt == 5 and msg.f_port == 1 and msg.confirmed and msg.adr
    assert [r.gw_eui for r in msg.rx] == ["AA555A0000000002", "AA555A0000000001"]
    assert msg.dr == 5 and msg.region == "EU868" and msg.application_id == "app-1"
    assert (msg.n_f_cnt_down, msg.a_f_cnt_down) == (7, 3)
    meta = up.uplink_meta(ctx)
    assert meta is not None and meta.gw_count == 2 and meta.channel == 0
    assert [g.snr for g in meta.signals] == [9.0, 3.0]
    assert ctx.require_session().adr is True


def test_adr_off_tracks_the_data_rate_in_use() -> None:
    s = session(dr=5)
    ctx = run(uplink(s, 1, tx_dr=2), [s], rx(sf=10))
    assert ctx.require_session().dr == 2 and ctx.require_session().adr is False
