"""MAC commands against published known-answer vectors (tests/vectors/maccommand_published.json:
the test tables of ChirpStack's lrwn crate and of The Things Stack, sources named in the file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.lorawan.maccommand import (
    ALL_COMMANDS,
    DevStatusAns,
    encode_mac_commands,
    mac_command_from_dict,
    parse_mac_commands,
)

VECTORS = Path(__file__).resolve().parents[2] / "vectors" / "maccommand_published.json"
DATA: dict[str, Any] = json.loads(VECTORS.read_text())
CASES: list[dict[str, Any]] = DATA["cases"]


def _case_id(case: dict[str, Any]) -> str:
    direction = "up" if case["uplink"] else "down"
    return f"{case['source']}-{case['command']['cid']}-{direction}-{case['hex']}"


def test_vector_file_names_its_sources() -> None:
    assert {case["source"] for case in CASES} == set(DATA["sources"])
    for source in DATA["sources"].values():
        assert source["url"].startswith("https://github.com/")
    assert len(CASES) >= 90


def test_vectors_cover_every_command() -> None:
    names = {(case["command"]["cid"], case["uplink"]) for case in CASES}
    assert {(cls.name(), cls.UPLINK) for cls in ALL_COMMANDS} <= names


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_decode_published_bytes(case: dict[str, Any]) -> None:
    raw = bytes.fromhex(case["hex"])
    (cmd,) = parse_mac_commands(raw, case["uplink"])
    assert cmd.to_dict() == case["command"]


@pytest.mark.parametrize("case", CASES, ids=_case_id)
def test_encode_to_published_bytes(case: dict[str, Any]) -> None:
    cmd = mac_command_from_dict(case["command"])
    assert cmd.is_uplink is case["uplink"]
    assert encode_mac_commands([cmd]).hex() == case["hex"]


def test_excluded_vectors_behave_as_documented() -> None:
    reasons = {entry["hex"]: entry for entry in DATA["excluded"]}
    # 2410 MHz is not representable in LoRaWAN 1.0.4/1.1 100 Hz steps: it decodes to the
    # 100 Hz reading of the same 24-bit value instead.
    (new_channel,) = parse_mac_commands(bytes.fromhex("070350deb750"), uplink=False)
    assert new_channel.to_dict()["freq"] == 0xB7DE50 * 100
    assert "070350deb750" in reasons
    # Two's complement margin: 0x2F is -17, and -16 encodes as 0x30.
    assert parse_mac_commands(bytes.fromhex("06422f"), uplink=True) == [DevStatusAns(0x42, -17)]
    assert DevStatusAns(0x42, -16).to_bytes().hex() == "064230"
    assert "06422f" in reasons


def test_conflicting_vectors_are_documented() -> None:
    (conflict,) = DATA["conflicts"]
    assert conflict["hex"] == "0e251c"
    chirpstack_view = mac_command_from_dict(conflict["command"])
    # Same fields, bytes swapped: HyperLoRa puts Period | Max_Retries first.
    assert chirpstack_view.to_bytes().hex() == "0e1c25"
    (ours,) = parse_mac_commands(bytes.fromhex("0e251c"), uplink=False)
    assert ours.to_dict() == {
        "cid": "ForceRejoinReq",
        "period": 4,
        "max_retries": 5,
        "rejoin_type": 1,
        "dr": 12,
    }
