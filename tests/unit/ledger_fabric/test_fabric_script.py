"""deploy/fabric/fabric.sh without Fabric binaries: the generated channel configuration and
crypto layout (``render``), and the process commands on an empty state."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
import yaml

SCRIPT = Path(__file__).resolve().parents[3] / "deploy" / "fabric" / "fabric.sh"


def run(tmp_path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    full_env = {
        **os.environ,
        "HYPERLORA_STATE_DIR": str(tmp_path / "state"),
        "HYPERLORA_CACHE_DIR": str(tmp_path / "cache"),
        **env,
    }
    return subprocess.run(
        ["bash", str(SCRIPT), *args], env=full_env, capture_output=True, text=True, timeout=60
    )


def render(tmp_path: Path, **env: str) -> tuple[dict, dict]:  # type: ignore[type-arg]
    res = run(tmp_path, "render", **env)
    assert res.returncode == 0, res.stderr
    base = tmp_path / "state" / "fabric"
    configtx = yaml.safe_load((base / "configtx" / "configtx.yaml").read_text())
    crypto = yaml.safe_load((base / "crypto-config.yaml").read_text())
    return configtx, crypto


@pytest.mark.parametrize(("profile", "consenters"), [("two-zones", 1), ("three-orderers", 3)])
def test_render_channels(tmp_path: Path, profile: str, consenters: int) -> None:
    configtx, crypto = render(tmp_path, FABRIC_PROFILE=profile, FABRIC_PORT_BASE="17000")
    profiles = configtx["Profiles"]
    assert set(profiles) == {"device-ledger", "network-ledger", "app-zone-a", "app-zone-b"}
    members = {
        name: sorted(org["Name"] for org in p["Application"]["Organizations"])
        for name, p in profiles.items()
    }
    assert members["device-ledger"] == ["OperatorMSP", "ZoneAMSP", "ZoneBMSP"]
    assert members["network-ledger"] == ["OperatorMSP", "ZoneAMSP", "ZoneBMSP"]
    assert members["app-zone-a"] == ["OperatorMSP", "ZoneAMSP"]
    assert members["app-zone-b"] == ["OperatorMSP", "ZoneBMSP"]
    for name, p in profiles.items():
        assert p["Capabilities"] == {"V3_0": True}
        assert p["Orderer"]["Capabilities"] == {"V2_0": True}
        assert p["Application"]["Capabilities"] == {"V2_5": True}
        assert p["Orderer"]["OrdererType"] == "etcdraft"
        assert p["Orderer"]["BatchTimeout"] == "250ms"
        cons = p["Orderer"]["EtcdRaft"]["Consenters"]
        assert len(cons) == consenters
        assert all(c["Host"] == "127.0.0.1" for c in cons)
        zone = "zone-b" if name == "app-zone-b" else "zone-a"
        base = 17000 + (100 if zone == "zone-b" else 0)
        assert [c["Port"] for c in cons] == [base + 50 + i for i in range(consenters)]
        assert all(f"ord.{zone}.hyperlora.local" in c["ServerTLSCert"] for c in cons)
        (orderer_org,) = p["Orderer"]["Organizations"]
        assert orderer_org["OrdererEndpoints"] == [f"127.0.0.1:{c['Port']}" for c in cons]
    orderer_specs = {o["Name"]: len(o["Specs"]) for o in crypto["OrdererOrgs"]}
    assert orderer_specs == {"ZoneAOrderer": consenters, "ZoneBOrderer": consenters}
    for org in crypto["PeerOrgs"]:
        sans = org.get("Template", {}).get("SANS") or org["Specs"][0]["SANS"]
        assert "127.0.0.1" in sans and "localhost" in sans


def test_render_batch_settings(tmp_path: Path) -> None:
    configtx, _ = render(tmp_path, FABRIC_BATCH_TIMEOUT="1s", FABRIC_BATCH_MAX_MESSAGES="7")
    orderer = configtx["Profiles"]["app-zone-a"]["Orderer"]
    assert orderer["BatchTimeout"] == "1s"
    assert orderer["BatchSize"]["MaxMessageCount"] == 7


def test_unknown_profile_refused(tmp_path: Path) -> None:
    res = run(tmp_path, "render", FABRIC_PROFILE="nine-zones")
    assert res.returncode == 1 and "unknown FABRIC_PROFILE" in res.stderr


def test_status_and_down_on_empty_state(tmp_path: Path) -> None:
    assert run(tmp_path, "status").returncode == 3
    assert run(tmp_path, "down", "--wipe").returncode == 0
    assert not (tmp_path / "state" / "fabric").exists()


def test_up_without_binaries_says_build_first(tmp_path: Path) -> None:
    res = run(tmp_path, "up")
    assert res.returncode == 1 and "run" in res.stderr and "build" in res.stderr


def test_usage(tmp_path: Path) -> None:
    assert run(tmp_path).returncode == 2
