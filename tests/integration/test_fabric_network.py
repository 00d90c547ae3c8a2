"""A real Fabric 3 network (deploy/fabric/fabric.sh build && up, profile two-zones): submit
and evaluate through services.ledger.fabric on every channel, then down --wipe.

The build is cached under HYPERLORA_CACHE_DIR; a cold build takes a few minutes. When the Go
module proxy refuses the pinned Fabric module (fabric.sh exits 69) there is no Fabric to run:
the test is skipped with that reason, unless HYPERLORA_REQUIRE_FABRIC=1 makes it a failure.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from services.ledger.fabric import FabricLedger, FabricLedgerConfig, GatewayClient, SigningIdentity
from services.ledger.fabric.client import GatewayEndpoint

pytestmark = [pytest.mark.integration, pytest.mark.timeout(3600)]

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "deploy" / "fabric" / "fabric.sh"
CONTRACT_OF = {
    "device-ledger": "device",
    "network-ledger": "network",
    "app-zone-a": "application",
    "app-zone-b": "application",
}
WRITERS = {
    "device-ledger": ["OperatorMSP", "ZoneAMSP", "ZoneBMSP"],
    "network-ledger": ["OperatorMSP", "ZoneAMSP", "ZoneBMSP"],
    "app-zone-a": ["OperatorMSP", "ZoneAMSP"],
    "app-zone-b": ["OperatorMSP", "ZoneBMSP"],
}
EX_UNAVAILABLE = 69


def _fabric(env: dict[str, str], *args: str, timeout: float) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def network(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    state = tmp_path_factory.mktemp("fabric-state")
    env = {
        **os.environ,
        "HYPERLORA_STATE_DIR": str(state),
        "FABRIC_PROFILE": "two-zones",
        "FABRIC_PORT_BASE": os.environ.get("FABRIC_TEST_PORT_BASE", "17000"),
    }
    t0 = time.monotonic()
    built = _fabric(env, "build", timeout=2400)
    if built.returncode == EX_UNAVAILABLE and os.environ.get("HYPERLORA_REQUIRE_FABRIC") != "1":
        pytest.skip("the Go module proxy refuses the pinned Fabric module: " + built.stderr[-400:])
    assert built.returncode == 0, built.stderr[-4000:]
    build_s = time.monotonic() - t0
    t1 = time.monotonic()
    try:
        up = _fabric(env, "up", timeout=900)
        assert up.returncode == 0, up.stderr[-4000:]
        print(f"\nfabric build {build_s:.1f}s, up {time.monotonic() - t1:.1f}s")
        yield state / "fabric"
    finally:
        down = _fabric(env, "down", "--wipe", timeout=300)
        assert down.returncode == 0, down.stderr[-2000:]


async def test_submit_and_evaluate_on_every_channel(network: Path) -> None:
    profile = network / "connection.json"
    config = FabricLedgerConfig.from_profile(profile)
    assert set(config.channels) == set(CONTRACT_OF)
    cfg = json.dumps({"writers": ["OperatorMSP"], "admins": ["OperatorMSP"]})
    latencies: list[float] = []
    async with FabricLedger(config) as ledger:
        for channel, contract in CONTRACT_OF.items():
            # fabric.sh up configured each contract: the operator and the channel's zone orgs
            initial = json.loads(await ledger.evaluate(channel, f"{contract}:get_config", []))
            assert initial == {"writers": WRITERS[channel], "admins": ["OperatorMSP"]}
            before = await ledger.height(channel)
            t0 = time.perf_counter()
            result = await ledger.submit(channel, f"{contract}:init_ledger", [cfg])
            latencies.append(time.perf_counter() - t0)
            assert result.status == "VALID", result
            assert result.block_number >= before
            assert await ledger.height(channel) > result.block_number
            stored = json.loads(await ledger.evaluate(channel, f"{contract}:get_config", []))
            assert stored == {"writers": ["OperatorMSP"], "admins": ["OperatorMSP"]}
            again = await ledger.submit(channel, f"{contract}:init_ledger", [cfg])
            assert again.status == "VALID" and again.block_number > result.block_number
        status = await ledger.status()
        assert status.healthy, status
    print("submit->commit (endorse included): " + ", ".join(f"{x:.3f}s" for x in latencies))


async def test_commit_latency_and_block_numbers(network: Path) -> None:
    doc = json.loads((network / "connection.json").read_text())
    peer = doc["peers"]["zone-b"]
    identity = SigningIdentity.from_msp_dir(doc["client"]["msp_id"], doc["client"]["msp_dir"])
    endpoint = GatewayEndpoint(
        peer["address"], Path(peer["tls_ca"]).read_bytes(), peer["server_name"]
    )
    cfg = json.dumps({"writers": ["OperatorMSP"], "admins": ["OperatorMSP"]})
    async with GatewayClient(endpoint, identity) as client:
        blocks, lat = [], []
        for _ in range(3):
            out = await client.submit("app-zone-b", "hyperlora", "application:init_ledger", [cfg])
            assert out.commit.ok, out.commit
            blocks.append(out.commit.block_number)
            lat.append(out.submit_to_commit_s)
    assert blocks == sorted(blocks) and len(set(blocks)) == 3
    print("submit->VALID on app-zone-b: " + ", ".join(f"{x:.3f}s" for x in lat))
    assert max(lat) < 10.0
