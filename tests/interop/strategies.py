"""Hypothesis strategies and settings shared by the lora-packet cross-checks.

Settings are deterministic (derandomize=True) so CI runs the same examples every time.
"""

from __future__ import annotations

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

INTEROP = settings(
    max_examples=150,
    derandomize=True,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)

KEYS_10 = ("nwk_s_key", "app_s_key")
KEYS_11 = ("f_nwk_s_int_key", "s_nwk_s_int_key", "nwk_s_enc_key", "app_s_key")

keys = st.binary(min_size=16, max_size=16)
dev_addrs = st.binary(min_size=4, max_size=4)
euis = st.binary(min_size=8, max_size=8)
net_ids = st.binary(min_size=3, max_size=3)
dev_nonces = st.integers(0, 0xFFFF)
join_nonces = st.integers(0, 0xFFFFFF)

# 32-bit frame counters, with the 16-bit rollover region and values above 0xFFFF well covered.
f_cnts = st.one_of(
    st.sampled_from([0, 1, 0xFFFF, 0x10000, 0x10001, 0x1FFFF, 0x7FFFFFFF, 0xFFFFFFFF]),
    st.integers(0, 0xFFFF),
    st.integers(0x10000, 0xFFFFFFFF),
)
app_ports = st.integers(1, 255)
payloads = st.one_of(st.binary(max_size=48), st.binary(min_size=49, max_size=222))

# Well-formed MAC commands (CID + payload) per direction, for FOpts and FPort-0 payloads.
_UPLINK_COMMANDS = st.one_of(
    st.just(b"\x02"),  # LinkCheckReq
    st.builds(lambda s: b"\x03" + bytes([s & 0x07]), st.integers(0, 7)),  # LinkADRAns
    st.just(b"\x04"),  # DutyCycleAns
    st.builds(lambda s: b"\x05" + bytes([s & 0x07]), st.integers(0, 7)),  # RXParamSetupAns
    st.builds(  # DevStatusAns: battery, 6-bit signed margin
        lambda b, m: b"\x06" + bytes([b, m & 0x3F]), st.integers(0, 255), st.integers(-32, 31)
    ),
    st.builds(lambda s: b"\x07" + bytes([s & 0x03]), st.integers(0, 3)),  # NewChannelAns
    st.just(b"\x08"),  # RXTimingSetupAns
    st.just(b"\x0d"),  # DeviceTimeReq
)
_DOWNLINK_COMMANDS = st.one_of(
    st.builds(  # LinkCheckAns: margin, gateway count
        lambda m, g: b"\x02" + bytes([m, g]), st.integers(0, 254), st.integers(0, 255)
    ),
    st.builds(  # LinkADRReq: DR/TXPower, ChMask (LE), Redundancy (ChMaskCntl 0, NbTrans 1..15)
        lambda d, p, mask, n: (
            b"\x03" + bytes([d << 4 | p]) + mask.to_bytes(2, "little") + bytes([n])
        ),
        st.integers(0, 5),
        st.integers(0, 7),
        st.integers(1, 0xFFFF),
        st.integers(1, 15),
    ),
    st.builds(lambda v: b"\x04" + bytes([v]), st.integers(0, 15)),  # DutyCycleReq
    st.just(b"\x06"),  # DevStatusReq
    st.builds(lambda d: b"\x08" + bytes([d]), st.integers(0, 15)),  # RXTimingSetupReq
)


def _fit(commands: list[bytes], limit: int) -> bytes:
    out = b""
    for cmd in commands:
        if len(out) + len(cmd) > limit:
            break
        out += cmd
    return out


def mac_commands(uplink: bool, limit: int = 15) -> st.SearchStrategy[bytes]:
    """Concatenated well-formed MAC commands of at most ``limit`` bytes (possibly empty)."""
    one = _UPLINK_COMMANDS if uplink else _DOWNLINK_COMMANDS
    return st.lists(one, max_size=6).map(lambda cmds: _fit(cmds, limit))


def key_dict(mac_version: str, values: list[bytes]) -> dict[str, bytes]:
    """Session keys named for the bridge: 1.0 uses 2 keys, 1.1 uses 4 (all distinct draws)."""
    names = KEYS_11 if mac_version.startswith("1.1") else KEYS_10
    return dict(zip(names, values, strict=False))
