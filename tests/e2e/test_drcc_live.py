"""End-to-end (live mode): standard ADR through the real network server.

The embedded platform runs in this process (DRCC service with the ``lorawan-adr`` policy, its
minimum history lowered to 3 uplinks through HYPERLORA_DRCC_ADR_MIN_HISTORY so it acts within
the test). Simulated devices close to the gateway (strong SNR) join over the air and send at
SF12 (DR0) with the ADR bit set. The chain under test:

ns.up.meta -> DRCC decision (recorded, and written to the network ledger) -> drcc.link_adr ->
the network server queues a LinkADRReq and sends it in a class A window -> the simulated
device applies it (faster data rate) and answers LinkADRAns in its next uplink -> the network
server takes the answer (session data rate updated).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from services.ledger.channels import CONTRACT_OF, NETWORK_CHANNEL
from services.ledger.errors import RecordNotFound
from services.lorawan.types import EUI64
from services.platform import EmbeddedPlatform, PlatformSettings
from simulator.live import ApiTarget, LiveOptions, run_live
from simulator.scenario import Scenario

pytestmark = pytest.mark.e2e

ADMIN_KEY = "e2e-drcc-admin-key-0123456789abcdef"
DEVICES = 8


def _scenario() -> dict[str, Any]:
    """A few devices within 100 m of one gateway, all starting at SF12 (DR0): far slower than
    their SNR needs, so ADR raises them to DR5 (SF7)."""
    return {
        "name": "drcc-live-e2e",
        "duration_s": 540,
        "seed": 7,
        "area": {"radius_m": 100},
        "devices": {
            "count": DEVICES,
            "sf_assignment": "fixed",
            "sf": 12,
            "otaa": True,
            "join_spread_s": 30,
            "traffic": {"period_s": 45, "jitter_s": 5, "payload_bytes": 10},
        },
        "gateways": {"count": 1, "placement": "center"},
        # dense-urban log-distance path loss: about 85 dB at 100 m, an SNR far above SF7's
        "path_loss": {"d0_m": 1, "pl_d0_db": 7.7, "gamma": 3.76, "sigma_db": 2},
        "duty_cycle": False,
    }


@pytest.fixture
async def platform(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[EmbeddedPlatform]:
    # the platform builds DrccSettings() from the environment
    monkeypatch.setenv("HYPERLORA_DRCC_DEFAULT_POLICY", "lorawan-adr")
    monkeypatch.setenv("HYPERLORA_DRCC_ADR_MIN_HISTORY", "3")
    p = EmbeddedPlatform(
        PlatformSettings(
            data_dir=tmp_path / "data",
            udp_port=0,
            http_port=0,
            admin_api_key=SecretStr(ADMIN_KEY),
            mqtt_enabled=False,
            log_level="WARNING",
        )
    )
    await p.start()
    try:
        yield p
    finally:
        await p.stop()


async def _eventually(check: Any, timeout: float = 10.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        got = await check()
        if got or time.monotonic() > deadline:
            return got
        await asyncio.sleep(0.2)


async def test_adr_raises_the_data_rate_of_devices_near_the_gateway(
    platform: EmbeddedPlatform,
) -> None:
    ep, storage = platform.endpoints, platform.storage
    assert ep is not None and storage is not None and platform.drcc is not None
    assert platform.drcc.settings.adr_min_history == 3
    sc = Scenario.model_validate(_scenario())
    t0 = time.monotonic()
    res = await asyncio.to_thread(
        run_live,
        sc,
        (ep.udp_host, ep.udp_port),
        LiveOptions(speed=20.0),
        ApiTarget(ep.api_url, ADMIN_KEY),
    )
    wall = time.monotonic() - t0
    st = res.live
    assert st.joined == DEVICES, st.to_dict()

    # the devices received LinkADRReq through the real server and applied them
    assert st.mac_commands_received.get("LinkADRReq", 0) >= DEVICES, st.to_dict()
    assert st.link_adr_applied >= DEVICES and st.link_adr_rejected == 0, st.to_dict()
    assert st.downlinks_wrong_params == 0
    # every device started at SF12; at the end they send at SF7 (DR5)
    dist = res.result.sf_distribution
    assert dist.get("7", 0) == DEVICES, dist
    assert res.result.downlinks["link_adr_applied"] >= DEVICES

    # the network server took the LinkADRAns: its sessions say DR5
    async def sessions_at_dr5() -> list[str]:
        done = []
        for eui in res.dev_euis:
            s = await storage.sessions.get_by_dev_eui(EUI64.from_hex(eui))
            if s is not None and s.dr == 5:
                done.append(eui)
        return done if len(done) == DEVICES else []

    assert len(await _eventually(sessions_at_dr5)) == DEVICES

    # every device's ADR decision was recorded (DRCC storage) ...
    decisions = {}
    for eui in res.dev_euis:
        page = await storage.drcc.list_decisions(EUI64.from_hex(eui), tenant_id=None)
        assert page.total >= 1, eui
        decisions[eui] = page.items
        assert any(d.policy == "lorawan-adr" and d.dr == 5 for d in page.items), page.items
    assert platform.drcc.counters.decisions >= DEVICES
    assert platform.drcc.counters.skipped.get("adr_bit_off", 0) == 0

    # ... and committed to the network ledger (kind link_adr, key <dev_eui>/<decision id>)
    ledger = platform.ledger
    assert ledger is not None
    eui = res.dev_euis[0]
    first = decisions[eui][-1] if decisions[eui] else None
    assert first is not None
    key = f"{eui}/{first.details['decision_id']}"

    async def on_ledger() -> dict[str, Any] | None:
        try:
            raw = await ledger.evaluate(
                NETWORK_CHANNEL, f"{CONTRACT_OF['network']}:read", ["link_adr", key]
            )
        except RecordNotFound:  # not committed yet (the writer batches)
            return None
        return json.loads(raw)

    doc = await _eventually(on_ledger, timeout=15.0)
    assert doc is not None, "decision not on the network ledger"
    assert doc["kind"] == "link_adr" and doc["key"] == key
    assert doc["idempotency_key"] == f"adr:{eui}:{first.details['decision_id']}"
    body = doc["payload"]
    assert (body["dev_eui"], body["algorithm"], body["dr"]) == (eui, "lorawan-adr", first.dr)
    assert body["reason"].startswith("adr:")
    assert wall < 90, f"live run took {wall:.1f} s"
