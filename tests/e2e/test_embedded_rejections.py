"""End-to-end: bad input is rejected and counted (/metrics) while the server keeps serving —
a replayed frame counter, a bad MIC, a malformed datagram and a truncated frame (a reused
DevNonce is in test_embedded_otaa.py)."""

from __future__ import annotations

import asyncio
import base64

import pytest

from tests.e2e.conftest import Net
from tests.e2e.support import delta, eventually, scrape_metrics
from tests.e2e.test_embedded_uplink import abp_device
from tests.interop.lorapacket import LoraPacket

pytestmark = pytest.mark.e2e

PAST_DEDUP_S = 0.5  # the dedup window (200 ms) and its late margin (200 ms) are over


def _sum(metrics: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in metrics.items() if k.startswith(prefix))


async def test_bad_input_is_rejected_counted_and_serving_goes_on(
    net: Net, lora_packet: LoraPacket
) -> None:
    dev = await abp_device(net)
    old = dev.uplink(lora_packet, b"one")
    await net.gw1.push(old, tmst=1)
    await net.gw1.push(dev.uplink(lora_packet, b"two"), tmst=2)
    await eventually(lambda: _count(net, dev.dev_eui, 2))
    before = await scrape_metrics(net.base_url)

    # 1. replayed frame counter: frame 1 again, after frame 2 was accepted
    await asyncio.sleep(PAST_DEDUP_S)
    await net.gw1.push(old, tmst=3)
    # 2. bad MIC: a good frame with its last MIC byte flipped
    good = dev.uplink(lora_packet, b"three")
    await net.gw1.push(good[:-1] + bytes([good[-1] ^ 0xFF]), tmst=4)
    # 3. malformed datagrams: not Semtech UDP at all, and PUSH_DATA with broken JSON
    net.gw1.send_raw(b"\x00garbage")
    net.gw1.send_raw(b"\x02\x12\x34\x00" + net.gw1.gw_eui + b'{"rxpk": [')
    # 4. a truncated frame (MHDR + half a FHDR) in a well-formed rxpk
    await net.gw1.push(good[:6], tmst=5)

    async def all_counted() -> dict[str, float] | None:
        m = await scrape_metrics(net.base_url)
        ok = (
            delta(m, before, "hyperlora_network_server_f_cnt_replay_total") == 1
            and delta(m, before, "hyperlora_network_server_mic_mismatch_total") == 1
            and _sum(m, "hyperlora_gateway_bridge_malformed_datagrams_total")
            - _sum(before, "hyperlora_gateway_bridge_malformed_datagrams_total")
            == 2
            and _sum(m, "hyperlora_network_server_malformed_total")
            - _sum(before, "hyperlora_network_server_malformed_total")
            == 1
        )
        return m if ok else None

    after = await eventually(all_counted)
    assert delta(after, before, "hyperlora_network_server_uplinks_total") == 0

    # 5. the server still serves: the device's next good frame goes through
    await net.gw2.push(dev.uplink(lora_packet, b"four"), tmst=6)
    ups = await eventually(lambda: _count(net, dev.dev_eui, 3))
    assert [base64.b64decode(u["data"]) for u in ups] == [b"four", b"two", b"one"]
    assert [u["f_cnt"] for u in ups] == [4, 2, 1]
    assert net.gw1.pending_downlinks() == 0


async def _count(net: Net, dev_eui: str, n: int) -> list[dict[str, object]] | None:
    ups = await net.api.uplinks(dev_eui)
    return ups if len(ups) >= n else None
