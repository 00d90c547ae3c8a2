"""Cross-checks with lora-packet (tests/interop), an independent LoRaWAN implementation:
uplinks it builds pass the network server's steps; downlinks the server builds verify there."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from services.lorawan.maccommand import DevStatusReq, LinkCheckAns, LinkCheckReq
from services.lorawan.region import get_region
from services.network_server.core import downlink as dl
from services.network_server.core import maccommands as mac
from services.network_server.core import uplink as up
from tests.interop.lorapacket import LoraPacket, LoraPacketNotInstalled, NodeNotFound

from .helpers import KEY_B, T0, frame, rx, session

EU = get_region("EU868")


@pytest.fixture(scope="module")
def lora_packet() -> Iterator[LoraPacket]:
    try:
        client = LoraPacket()
    except NodeNotFound as exc:
        pytest.skip(f"interop: {exc}")
    except LoraPacketNotInstalled as exc:
        pytest.fail(str(exc), pytrace=False)
    try:
        yield client
    finally:
        client.close()


def _keys(s) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    if s.mac_version.startswith("1.1"):
        return {
            "f_nwk_s_int_key": s.f_nwk_s_int_key.value,
            "s_nwk_s_int_key": s.s_nwk_s_int_key.value,
            "nwk_s_enc_key": s.nwk_s_enc_key.value,
            "app_s_key": KEY_B.value,
        }
    return {"nwk_s_key": s.f_nwk_s_int_key.value, "app_s_key": KEY_B.value}


@pytest.mark.parametrize(
    ("mac_version", "last", "f_cnt", "ack", "conf"),
    [("1.0.3", 0x1FFFE, 0x20001, False, 0), ("1.1", 7, 8, True, 0x1234)],
)
def test_their_uplink_passes_our_steps(
    lora_packet: LoraPacket, mac_version: str, last: int, f_cnt: int, ack: bool, conf: int
) -> None:
    s = session(
        mac_version="1.1.0" if mac_version == "1.1" else mac_version, f_cnt_up=last, conf_f_cnt=conf
    )
    wire = lora_packet.build_data(
        mtype="confirmed_data_up",
        dev_addr=str(s.dev_addr),
        f_cnt=f_cnt,
        f_port=2,
        payload=b"\x01\x02",
        f_opts=LinkCheckReq().to_bytes(),
        ack=ack,
        mac_version=mac_version,
        conf_f_cnt=conf,
        tx_dr=5,
        tx_ch=1,
        **_keys(s),
    )
    ctx = up.decode(frame(wire, rx(freq_hz=868_300_000)), EU, T0)
    up.select_session(ctx, [s])
    up.check_f_cnt(ctx)
    up.process(ctx)
    assert ctx.f_cnt == f_cnt and not ctx.retransmission
    assert ctx.mac_commands == [LinkCheckReq()]


@pytest.mark.parametrize("mac_version", ["1.0.3", "1.1.0"])
def test_our_downlink_verifies_in_lora_packet(lora_packet: LoraPacket, mac_version: str) -> None:
    s = session(mac_version=mac_version, n_f_cnt_down=0x10003)
    mac.queue_request(s, [DevStatusReq()])
    answers = [LinkCheckAns(margin=9, gw_cnt=3)]
    built = dl.build_data_downlink(
        s, ack=True, conf_f_cnt=0x2345, answers=answers, pending=s.pending_mac_commands
    )
    decoded = lora_packet.decode_data(
        built.phy_payload,
        f_cnt=0x10003,
        mac_version="1.1" if mac_version == "1.1.0" else mac_version,
        conf_f_cnt=0x2345,
        **_keys(s),
    )
    assert decoded["mic_valid"] is True
    expected = (LinkCheckAns(margin=9, gw_cnt=3).to_bytes() + DevStatusReq().to_bytes()).hex()
    assert decoded["f_opts"] == expected
