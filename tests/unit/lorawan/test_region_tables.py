"""Region data tables against the published RP002-1.0.4 tables (tests/vectors/region_rp002.json)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from services.lorawan.errors import InvalidParameter, UnsupportedRegion
from services.lorawan.region import (
    ADR_ACK_DELAY,
    ADR_ACK_LIMIT,
    JOIN_ACCEPT_DELAY1_S,
    JOIN_ACCEPT_DELAY2_S,
    MAX_FCNT_GAP,
    RECEIVE_DELAY1_S,
    RECEIVE_DELAY2_S,
    Modulation,
    get_region,
    list_regions,
)

VECTORS = json.loads((Path(__file__).parents[2] / "vectors" / "region_rp002.json").read_text())[
    "regions"
]


def _cases(key: str) -> list[tuple[str, Any]]:
    return [(name, spec[key]) for name, spec in VECTORS.items() if key in spec]


@pytest.mark.parametrize(("name", "rows"), _cases("data_rates"))
def test_data_rates(name: str, rows: list[list[Any]]) -> None:
    region = get_region(name)
    assert [d.index for d in region.data_rates] == [r[0] for r in rows]
    for dr, mod, sf, bw, bitrate, up, down in rows:
        d = region.data_rate(dr)
        assert (d.modulation, d.sf, d.bw_hz, d.uplink, d.downlink) == (
            Modulation(mod),
            sf,
            bw,
            up,
            down,
        )
        if mod == "FSK":
            assert d.bitrate == bitrate
            assert region.dr_for_fsk(bitrate) == dr


@pytest.mark.parametrize(("name", "rows"), _cases("max_payload"))
def test_max_payload(name: str, rows: list[list[int | None]]) -> None:
    region = get_region(name)
    for dr, m, m_rep, m_dwell, m_dwell_rep in rows:
        assert dr is not None and m is not None and m_rep is not None
        assert region.max_payload(dr).m == m
        assert region.max_payload(dr).n == m - 8
        assert region.max_payload(dr, repeater=True).m == m_rep
        assert region.data_rate(dr).max_payload == m
        for rep, expected in ((False, m_dwell), (True, m_dwell_rep)):
            if m_dwell is None and m_dwell_rep is None and all(r[3] is None for r in rows):
                # no dwell-time table: the flag changes nothing
                assert region.max_payload(dr, rep, dwell_time=True).m == (m_rep if rep else m)
            elif expected is None:
                with pytest.raises(InvalidParameter):
                    region.max_payload(dr, rep, dwell_time=True)
            else:
                assert region.max_payload(dr, rep, dwell_time=True).m == expected


@pytest.mark.parametrize(("name", "table"), _cases("rx1_dr"))
def test_rx1_dr_offset_table(name: str, table: dict[str, list[int]]) -> None:
    region = get_region(name)
    for uplink_dr, row in table.items():
        assert [region.rx1_dr(int(uplink_dr), off) for off in range(len(row))] == row
        with pytest.raises(InvalidParameter):
            region.rx1_dr(int(uplink_dr), len(row))
        with pytest.raises(InvalidParameter):
            region.rx1_dr(int(uplink_dr), -1)
    assert list(region.rx1_dr_offsets()) == list(range(len(next(iter(table.values())))))


@pytest.mark.parametrize(("name", "table"), _cases("rx1_dr_dwell"))
def test_rx1_dr_offset_table_with_downlink_dwell_time(
    name: str, table: dict[str, list[int]]
) -> None:
    region = get_region(name)
    for uplink_dr, row in table.items():
        got = [region.rx1_dr(int(uplink_dr), off, dwell_time=True) for off in range(len(row))]
        assert got == row


@pytest.mark.parametrize("name", list(VECTORS))
def test_rx2_defaults_channels_and_beacon(name: str) -> None:
    spec = VECTORS[name]
    region = get_region(name)
    assert (region.rx2_frequency_hz, region.rx2_dr) == tuple(spec["rx2"])
    assert (region.beacon_frequency_hz, region.beacon_dr) == tuple(spec["beacon"])
    if "ping_slot" in spec:
        assert (region.ping_slot_frequency_hz, region.ping_slot_dr) == tuple(spec["ping_slot"])
    if "default_channels" in spec:
        got = [[c.frequency_hz, c.min_dr, c.max_dr] for c in region.default_channels()]
        assert got == spec["default_channels"]
        assert [c.index for c in region.default_channels()] == list(range(len(got)))
        assert region.join_channels() == region.default_channels()
    if "cflist_type" in spec:
        assert region.cflist_type == spec["cflist_type"]


@pytest.mark.parametrize(("name", "count"), _cases("tx_power_indices"))
def test_tx_power_table(name: str, count: int) -> None:
    region = get_region(name)
    max_eirp = VECTORS[name]["max_eirp_dbm"]
    assert region.max_eirp_dbm == max_eirp
    for i in range(count):
        assert region.tx_power_offset(i) == -2 * i
        assert region.tx_power_dbm(i) == max_eirp - 2 * i
        assert region.tx_power_dbm(i, max_eirp_dbm=20) == 20 - 2 * i
    for bad in (-1, count):
        with pytest.raises(InvalidParameter):
            region.tx_power_offset(bad)


@pytest.mark.parametrize("name", list_regions())
def test_default_timings(name: str) -> None:
    region = get_region(name)
    assert (RECEIVE_DELAY1_S, RECEIVE_DELAY2_S) == (1, 2)
    assert (JOIN_ACCEPT_DELAY1_S, JOIN_ACCEPT_DELAY2_S) == (5, 6)
    assert (MAX_FCNT_GAP, ADR_ACK_LIMIT, ADR_ACK_DELAY) == (16384, 64, 32)
    assert (region.receive_delay1_s, region.receive_delay2_s) == (1, 2)
    assert (region.join_accept_delay1_s, region.join_accept_delay2_s) == (5, 6)
    assert (region.max_fcnt_gap, region.adr_ack_limit, region.adr_ack_delay) == (16384, 64, 32)


def test_list_regions() -> None:
    assert list_regions() == [
        "EU868",
        "US915",
        "AU915",
        "AS923",
        "AS923-2",
        "AS923-3",
        "AS923-4",
        "IN865",
        "KR920",
    ]
    assert set(list_regions()) == set(VECTORS)


@pytest.mark.parametrize(
    ("alias", "name"),
    [
        ("EU868", "EU868"),
        ("eu868", "EU868"),
        (" Eu868 ", "EU868"),
        ("EU863-870", "EU868"),
        ("us915", "US915"),
        ("US902-928", "US915"),
        ("au915", "AU915"),
        ("as923", "AS923"),
        ("AS923-1", "AS923"),
        ("as923_2", "AS923-2"),
        ("AS923-3", "AS923-3"),
        ("as923-4", "AS923-4"),
        ("in865", "IN865"),
        ("kr920", "KR920"),
    ],
)
def test_get_region_names(alias: str, name: str) -> None:
    assert get_region(alias).name == name


@pytest.mark.parametrize("bad", ["", "EU433X", "CN470", "US", "EU-868", "AS923-5"])
def test_unknown_region(bad: str) -> None:
    with pytest.raises(UnsupportedRegion):
        get_region(bad)


@pytest.mark.parametrize("name", list_regions())
def test_unknown_data_rate_and_uplink_only_rules(name: str) -> None:
    region = get_region(name)
    with pytest.raises(InvalidParameter):
        region.data_rate(15)
    with pytest.raises(InvalidParameter):
        region.max_payload(15)
    for dr in region.downlink_data_rates():
        if dr not in region.uplink_data_rates():
            with pytest.raises(InvalidParameter):
                region.rx1_dr(dr, 0)
    # every RX1 result is a data rate the region can send downlink
    down = set(region.downlink_data_rates())
    for table in filter(None, (region.rx1_dr_table, region.rx1_dr_table_dwell)):
        for dr, row in table.items():
            assert dr in region.uplink_data_rates()
            assert set(row) <= down
    assert region.rx2_dr in down
    assert region.beacon_dr in down


@pytest.mark.parametrize(
    ("name", "sf", "bw", "uplink", "dr"),
    [
        ("EU868", 12, 125_000, True, 0),
        ("EU868", 7, 125_000, True, 5),
        ("EU868", 7, 250_000, True, 6),
        ("EU868", 9, 125_000, False, 3),
        ("US915", 10, 125_000, True, 0),
        ("US915", 7, 125_000, True, 3),
        ("US915", 8, 500_000, True, 4),
        ("US915", 8, 500_000, False, 12),
        ("US915", 12, 500_000, False, 8),
        ("AU915", 8, 500_000, True, 6),
        ("AU915", 12, 125_000, True, 0),
        ("AS923", 10, 125_000, True, 2),
        ("KR920", 7, 125_000, True, 5),
    ],
)
def test_dr_for(name: str, sf: int, bw: int, uplink: bool, dr: int) -> None:
    assert get_region(name).dr_for(sf, bw, uplink=uplink) == dr


@pytest.mark.parametrize(
    ("name", "sf", "bw", "uplink"),
    [
        ("EU868", 7, 500_000, True),
        ("US915", 12, 125_000, True),
        ("US915", 10, 125_000, False),
        ("US915", 12, 500_000, True),
        ("KR920", 7, 250_000, True),
    ],
)
def test_dr_for_unknown(name: str, sf: int, bw: int, uplink: bool) -> None:
    with pytest.raises(InvalidParameter):
        get_region(name).dr_for(sf, bw, uplink=uplink)


@pytest.mark.parametrize(
    ("name", "dr", "snr"),
    [
        ("EU868", 0, -20.0),
        ("EU868", 1, -17.5),
        ("EU868", 2, -15.0),
        ("EU868", 3, -12.5),
        ("EU868", 4, -10.0),
        ("EU868", 5, -7.5),
        ("EU868", 6, -7.5),
        ("US915", 0, -15.0),
        ("US915", 3, -7.5),
        ("US915", 4, -10.0),
        ("US915", 8, -20.0),
    ],
)
def test_required_snr(name: str, dr: int, snr: float) -> None:
    assert get_region(name).required_snr(dr) == snr


def test_required_snr_rejects_fsk() -> None:
    with pytest.raises(InvalidParameter):
        get_region("EU868").required_snr(7)
