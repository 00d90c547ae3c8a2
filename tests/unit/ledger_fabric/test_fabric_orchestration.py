"""deploy/fabric/fabric.sh up/status/down driven against stand-ins for the Fabric binaries
(tests/unit/ledger_fabric/fabric_stub.py): the processes, the idempotent joins and chaincode
lifecycle, the client profile, and the real chaincode server serving TLS."""

from __future__ import annotations

import json
import os
import random
import socket
import ssl
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "deploy" / "fabric" / "fabric.sh"
STUB = Path(__file__).with_name("fabric_stub.py")
TOOLS = ("peer", "orderer", "configtxgen", "cryptogen", "osnadmin")

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[dict[str, str]]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    for tool in TOOLS:
        wrapper = bindir / tool
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{STUB}" {tool} "$@"\n')
        wrapper.chmod(0o755)
    builder = tmp_path / "builder" / "bin"
    builder.mkdir(parents=True)
    for step in ("detect", "build", "release"):
        (builder / step).write_text("#!/bin/sh\nexit 0\n")
        (builder / step).chmod(0o755)
    config = tmp_path / "config"
    config.mkdir()
    (config / "core.yaml").write_text(
        "chaincode:\n  externalBuilders:\n    - name: ccaas_builder\n"
        "      path: /opt/hyperledger/ccaas_builder\n"
    )
    (config / "orderer.yaml").write_text("General:\n  ListenAddress: 127.0.0.1\n")
    e = {
        **os.environ,
        "HYPERLORA_STATE_DIR": str(tmp_path / "state"),
        "HYPERLORA_CACHE_DIR": str(tmp_path / "cache"),
        "HYPERLORA_PYTHON": sys.executable,
        "FABRIC_BIN_DIR": str(bindir),
        "FABRIC_CONFIG_DIR": str(config),
        "FABRIC_CCAAS_BUILDER_DIR": str(tmp_path / "builder"),
        "FABRIC_PORT_BASE": str(random.randrange(20000, 40000, 1000)),
        "FABRIC_WAIT_TIMEOUT": "30",
        "STUB_STATE": str(tmp_path / "stub"),
    }
    yield e
    subprocess.run(["bash", str(SCRIPT), "down", "--wipe"], env=e, capture_output=True, timeout=120)


def fabric(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=env, capture_output=True, text=True, timeout=240
    )


def calls(env: dict[str, str]) -> list[list[str]]:
    path = Path(env["STUB_STATE"]) / "calls.log"
    return [json.loads(line) for line in path.read_text().splitlines()]


def count(cs: list[list[str]], *prefix: str) -> int:
    return sum(1 for c in cs if c[: len(prefix)] == list(prefix))


def test_up_status_down(env: dict[str, str]) -> None:
    assert fabric(env, "build").returncode == 0  # prebuilt binaries: nothing to build
    up = fabric(env, "up")
    assert up.returncode == 0, up.stderr
    state = Path(env["HYPERLORA_STATE_DIR"]) / "fabric"
    base = int(env["FABRIC_PORT_BASE"])

    cs = calls(env)
    # two orderers (one per zone) and two peers started; 4 channels on the orderers:
    # device/network/app-zone-a on zone-a's orderer, app-zone-b on zone-b's
    assert count(cs, "orderer") == 2 and count(cs, "peer", "node", "start") == 2
    assert count(cs, "osnadmin", "channel", "join") == 4
    assert count(cs, "configtxgen") == 4
    # peer joins: zone-a peer on 3 channels, zone-b peer on 3
    assert count(cs, "peer", "channel", "join") == 6
    assert count(cs, "peer", "lifecycle", "chaincode", "install") == 2
    # approvals: device + network by both zone orgs, each app channel by its zone org
    assert count(cs, "peer", "lifecycle", "chaincode", "approveformyorg") == 6
    assert count(cs, "peer", "lifecycle", "chaincode", "commit") == 4
    # each contract's access configuration, set once per channel (as the embedded genesis)
    assert count(cs, "peer", "chaincode", "invoke") == 4
    stub_peers = json.loads((Path(env["STUB_STATE"]) / "peers.json").read_text())
    configs = {k: json.loads(v) for k, v in stub_peers["configs"].items()}
    assert configs == {
        "device-ledger/device": {
            "writers": ["OperatorMSP", "ZoneAMSP", "ZoneBMSP"],
            "admins": ["OperatorMSP"],
        },
        "network-ledger/network": {
            "writers": ["OperatorMSP", "ZoneAMSP", "ZoneBMSP"],
            "admins": ["OperatorMSP"],
        },
        "app-zone-a/application": {
            "writers": ["OperatorMSP", "ZoneAMSP"],
            "admins": ["OperatorMSP"],
        },
        "app-zone-b/application": {
            "writers": ["OperatorMSP", "ZoneBMSP"],
            "admins": ["OperatorMSP"],
        },
    }

    profile = json.loads((state / "connection.json").read_text())
    assert profile["client"]["msp_id"] == "OperatorMSP"
    assert Path(profile["client"]["msp_dir"], "keystore", "priv_sk").exists()
    assert profile["peers"]["zone-a"]["address"] == f"127.0.0.1:{base + 81}"
    assert profile["peers"]["zone-b"]["address"] == f"127.0.0.1:{base + 181}"
    assert {c: v["gateway_zone"] for c, v in profile["channels"].items()} == {
        "device-ledger": "zone-a",
        "network-ledger": "zone-a",
        "app-zone-a": "zone-a",
        "app-zone-b": "zone-b",
    }

    # the chaincode package points at the chaincode server, which serves TLS
    conn = json.loads((state / "chaincode" / "connection.json").read_text())
    assert conn["address"] == f"127.0.0.1:{base + 90}" and conn["tls_required"] is True
    ctx = ssl.create_default_context(cadata=conn["root_cert"])
    with (
        socket.create_connection(("127.0.0.1", base + 90), timeout=10) as raw,
        ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        assert tls.version() in ("TLSv1.2", "TLSv1.3")

    status = fabric(env, "status")
    assert status.returncode == 0, status.stderr
    for name in ("orderer0-zone-a", "orderer0-zone-b", "peer0-zone-a", "peer0-zone-b", "chaincode"):
        assert any(
            line.startswith(name) and "running" in line for line in status.stdout.splitlines()
        )
    assert "device-ledger: 4" in status.stdout  # the stub's height after one commit

    # a second up changes nothing
    again = fabric(env, "up")
    assert again.returncode == 0, again.stderr
    cs2 = calls(env)
    assert count(cs2, "osnadmin", "channel", "join") == 4
    assert count(cs2, "peer", "channel", "join") == 6
    assert count(cs2, "peer", "lifecycle", "chaincode", "commit") == 4
    assert count(cs2, "peer", "chaincode", "invoke") == 4
    assert count(cs2, "orderer") == 2

    pids = [int(p.read_text()) for p in (state / "run").glob("*.pid")]
    assert len(pids) == 5
    down = fabric(env, "down")
    assert down.returncode == 0, down.stderr
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
    assert fabric(env, "status").returncode == 3
    assert (state / "crypto").is_dir()  # plain down keeps the state
    assert fabric(env, "down", "--wipe").returncode == 0
    assert not state.exists()
