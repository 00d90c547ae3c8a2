"""A data-frame description shared by the cross-checks: hypothesis strategy, the arguments for
the lora-packet bridge, and the checks of lora-packet's decoding of a frame.
"""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import strategies as st

from tests.interop.lorapacket import LoraPacket
from tests.interop.strategies import (
    app_ports,
    dev_addrs,
    f_cnts,
    key_dict,
    keys,
    mac_commands,
    payloads,
)

MTYPES = {
    "unconfirmed_data_up": 2,
    "unconfirmed_data_down": 3,
    "confirmed_data_up": 4,
    "confirmed_data_down": 5,
}
MAC_VERSIONS = ["1.0.3", "1.1.0"]


@dataclass
class DataFrame:
    """Plaintext fields and session keys of one data frame."""

    mtype: str
    mac_version: str
    dev_addr: bytes
    f_cnt: int  # the full 32-bit counter
    f_port: int | None
    payload: bytes  # plaintext FRMPayload (MAC commands on FPort 0)
    f_opts: bytes  # plaintext FOpts (MAC commands)
    ack: bool
    adr: bool
    conf_f_cnt: int  # any 32-bit value: both sides must ignore it where the spec says so
    tx_dr: int
    tx_ch: int
    keys: dict[str, bytes]

    @property
    def uplink(self) -> bool:
        return self.mtype.endswith("_up")

    @property
    def v11(self) -> bool:
        return self.mac_version.startswith("1.1")

    @property
    def spec_conf_f_cnt(self) -> int:
        """ConfFCnt as the MIC uses it: LoRaWAN 1.1 with the ACK bit set, else 0.

        Passed to lora-packet already reduced (it keeps ConfFCnt on FPort-0 uplinks without ACK,
        see test_lorapacket_deviations.py); HyperLoRa gets the raw value and must reduce it."""
        return self.conf_f_cnt & 0xFFFF if (self.ack and self.v11) else 0

    @property
    def net_enc_key(self) -> bytes:
        """NwkSEncKey (1.1) or NwkSKey (1.0): FOpts and FPort-0 FRMPayload encryption."""
        return self.keys["nwk_s_enc_key"] if self.v11 else self.keys["nwk_s_key"]

    @property
    def frm_key(self) -> bytes:
        return self.net_enc_key if self.f_port == 0 else self.keys["app_s_key"]

    @property
    def f_int_key(self) -> bytes:
        return self.keys["f_nwk_s_int_key"] if self.v11 else self.keys["nwk_s_key"]

    @property
    def s_int_key(self) -> bytes:
        return self.keys["s_nwk_s_int_key"] if self.v11 else self.keys["nwk_s_key"]

    @property
    def a_f_cnt_down(self) -> bool:
        return not self.uplink and self.f_port is not None and self.f_port > 0

    def bridge_args(self) -> dict[str, object]:
        return {
            "mtype": self.mtype,
            "mac_version": self.mac_version,
            "dev_addr": self.dev_addr,
            "f_cnt": self.f_cnt,
            "f_port": self.f_port,
            "payload": self.payload,
            "f_opts": self.f_opts,
            "ack": self.ack,
            "adr": self.adr,
            "conf_f_cnt": self.spec_conf_f_cnt,
            "tx_dr": self.tx_dr,
            "tx_ch": self.tx_ch,
            **self.keys,
        }

    def decode_args(self) -> dict[str, object]:
        return {
            "mac_version": self.mac_version,
            "f_cnt_msb": self.f_cnt >> 16,
            "conf_f_cnt": self.spec_conf_f_cnt,
            "tx_dr": self.tx_dr,
            "tx_ch": self.tx_ch,
            **self.keys,
        }


@st.composite
def data_frames(draw: st.DrawFn, mtype: str, mac_version: str) -> DataFrame:
    """Application frames (with or without FOpts), FPort-0 MAC-command frames, and FHDR-only
    frames (FOpts without FPort), with random keys, DevAddr and 32-bit counters."""
    uplink = mtype.endswith("_up")
    v11 = mac_version.startswith("1.1")
    port_kind = draw(st.sampled_from(["app", "app", "app", "mac", "none"]))
    f_opts = draw(mac_commands(uplink)) if port_kind != "mac" else b""
    f_port: int | None
    if port_kind == "app":
        f_port, payload = draw(app_ports), draw(payloads)
    elif port_kind == "mac":
        f_port, payload = 0, draw(mac_commands(uplink, limit=64).filter(bool))
    else:
        f_port, payload = None, b""
    return DataFrame(
        mtype=mtype,
        mac_version=mac_version,
        dev_addr=draw(dev_addrs),
        f_cnt=draw(f_cnts),
        f_port=f_port,
        payload=payload,
        f_opts=f_opts,
        ack=draw(st.booleans()),
        adr=draw(st.booleans()),
        conf_f_cnt=draw(st.integers(0, 0xFFFFFFFF)),
        tx_dr=draw(st.integers(0, 15)) if v11 else 0,
        tx_ch=draw(st.integers(0, 255)) if v11 else 0,
        keys=key_dict(mac_version, draw(st.lists(keys, min_size=4, max_size=4, unique=True))),
    )


def check_lora_packet_decodes(lp: LoraPacket, frame: DataFrame, wire: bytes) -> None:
    """lora-packet parses ``wire``, finds its MIC valid and decrypts the frame's plaintext."""
    out = lp.decode_data(wire, **frame.decode_args())
    assert out["mic_valid"] is True, f"MIC {out['mic']} != lora-packet's {out['mic_expected']}"
    assert out["mtype"] == frame.mtype
    assert out["dev_addr"] == frame.dev_addr.hex()
    assert out["f_cnt"] == frame.f_cnt
    assert out["f_port"] == frame.f_port
    assert (out["ack"], out["adr"]) == (frame.ack, frame.adr)
    assert out["f_opts"] == frame.f_opts.hex()
    if frame.f_port is not None:
        assert out["payload"] == frame.payload.hex()
