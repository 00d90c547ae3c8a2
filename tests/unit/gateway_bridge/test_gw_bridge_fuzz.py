"""The datagram handler never raises, whatever arrives; every datagram is accounted for."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bus.memory import MemoryBus
from services.gateway_bridge.server import GatewayBridge
from services.gateway_bridge.settings import GatewayBridgeSettings

HEADERS = [bytes([2, 0, 1, t]) + bytes(8) for t in range(6)] + [bytes([2, 0, 1, 3])]
RXPK = st.fixed_dictionaries(
    {},
    optional={
        "stat": st.sampled_from([1, 0, -1, 2, "1"]),
        "modu": st.sampled_from(["LORA", "FSK", "LR-FHSS", 1]),
        "datr": st.sampled_from(["SF7BW125", 50000, "M0CW137", None]),
        "freq": st.sampled_from([868.1, -1, "x", 1e308, 100_000.0]),
        "rssi": st.sampled_from([-50, 1.5, None]),
        "rsig": st.sampled_from([[], [{"rssic": -3, "lsnr": 1}], [{}], 5]),
        "data": st.sampled_from(["", "QUJD", "QUJ", "!"]),
    },
)
BODIES = st.one_of(
    st.builds(lambda r, s: {"rxpk": r, "stat": s}, st.lists(RXPK, max_size=3), st.just({})),
    st.builds(lambda e: {"txpk_ack": {"error": e}}, st.sampled_from(["NONE", "TOO_LATE", "X"])),
    st.just({}),
)
DATAGRAMS = st.one_of(
    st.binary(max_size=40),
    st.builds(lambda h, b: h + orjson.dumps(b), st.sampled_from(HEADERS), BODIES),
)


@settings(max_examples=300, deadline=None)
@given(st.lists(DATAGRAMS, min_size=1, max_size=5))
def test_handle_datagram_never_raises(datagrams: list[bytes]) -> None:
    bridge = GatewayBridge(MemoryBus(), GatewayBridgeSettings(bind_port=0))
    for data in datagrams:
        bridge.handle_datagram(data, ("127.0.0.1", 1700))
    tally = bridge.counters.tally
    handled = sum(v for k, v in tally.items() if k.startswith(("datagrams.", "malformed.decode")))
    assert handled == len(datagrams)
