"""DRCC decisions on the network ledger (ledger.tx, kind "link_adr") and the optional
ns.up.meta fields (enabled channels, PHYPayload size) the service takes into account."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chaincode.errors import InvalidInput
from chaincode.network import NetworkContract
from services.bus import MemoryBus, Topic
from services.bus.base import Envelope
from services.bus.messages import BaseMessage, LedgerRecord, LinkAdrDecision, UplinkMeta
from services.drcc.core import DeviceView, DrccCore, UplinkInput
from services.drcc.plugin import GatewaySignal
from services.drcc.service import DrccService, ledger_record, uplink_input
from services.drcc.settings import DrccSettings
from services.storage import Storage
from tests.unit.drcc.test_service import (  # noqa: F401  (storage: fixture re-exported)
    ADR_DEV,
    DRCC_DEV,
    SETTINGS,
    Rig,
    meta,
    storage,
)

VALIDATE = NetworkContract.KINDS["link_adr"].validate


async def start_with_ledger(
    storage: Storage,  # noqa: F811
    settings: DrccSettings,
) -> tuple[Rig, list[LedgerRecord]]:
    bus = MemoryBus(partitions=2)
    rig = Rig(storage, bus, DrccService(settings, bus, storage))
    records: list[LedgerRecord] = []

    async def on_decision(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, LinkAdrDecision)
        rig.decisions.append(env.message)

    async def on_record(env: Envelope[BaseMessage]) -> None:
        assert isinstance(env.message, LedgerRecord)
        records.append(env.message)

    await rig.service.start()
    bus.subscribe(Topic.DRCC_LINK_ADR, "test", on_decision)
    bus.subscribe(Topic.LEDGER_TX, "ledger-test", on_record)
    await bus.start()
    return rig, records


def decision(**kw: object) -> LinkAdrDecision:
    base: dict[str, object] = {
        "decision_id": "0f" * 16,
        "dev_eui": DRCC_DEV,
        "dr": 5,
        "tx_power_index": 1,
        "channels": [0, 1, 2],
        "nb_trans": 1,
        "policy": "drcc",
        "reason": "healthy: der 1.00 over 4",
        "based_on_f_cnt": 4,
        "decided_at": datetime(2026, 1, 1, tzinfo=UTC),
    }
    base.update(kw)
    return LinkAdrDecision.model_validate(base)


@pytest.mark.parametrize(
    ("kw", "der"),
    [
        ({}, 0.93),
        ({"reason": ""}, None),  # an empty reason still makes a valid record
        ({"policy": "lorawan-adr", "channels": list(range(8)), "nb_trans": 3}, None),
        ({"dr": 0, "tx_power_index": 7, "channels": []}, 1.0),
    ],
)
def test_ledger_record_is_what_the_network_chaincode_accepts(
    kw: dict[str, object], der: float | None
) -> None:
    d = decision(**kw)
    r = ledger_record(d, "zone-a", der)
    assert (r.channel, r.kind, r.zone) == ("network", "link_adr", "zone-a")
    assert r.idempotency_key == f"adr:{DRCC_DEV}:{d.decision_id}"
    assert r.key == f"{DRCC_DEV}/{d.decision_id}"
    key, body = VALIDATE(r.key, dict(r.payload))
    assert key == r.key
    assert body["dr"] == d.dr and body["algorithm"] == d.policy
    assert body["channels"] == d.channels
    assert body["details"]["decision_id"] == d.decision_id
    assert body["reason"] == (d.reason or "unspecified")
    assert body.get("der") == der


def test_ledger_record_key_names_the_device() -> None:
    r = ledger_record(decision(), "default")
    with pytest.raises(InvalidInput):
        VALIDATE(f"0102030405060799/{'0f' * 16}", dict(r.payload))


async def test_each_published_decision_goes_to_the_network_ledger(storage: Storage) -> None:  # noqa: F811
    rig, records = await start_with_ledger(
        storage, SETTINGS.model_copy(update={"ledger_zone": "z1"})
    )
    try:
        await rig.send(*(meta(c) for c in range(1, 5)))
        assert len(rig.decisions) == 1
        d = rig.decisions[0]
        await rig.send(meta(5))  # same as pending: no decision, no record
        assert len(records) == 1 and rig.service.counters.ledger_records == 1
        r = records[0]
        assert r.idempotency_key == f"adr:{DRCC_DEV}:{d.decision_id}"
        assert (r.channel, r.kind, r.zone, r.key) == (
            "network",
            "link_adr",
            "z1",
            f"{DRCC_DEV}/{d.decision_id}",
        )
        _, body = VALIDATE(r.key, dict(r.payload))
        assert body["dr"] == d.dr == 5 and body["algorithm"] == "drcc"
        assert body["der"] == pytest.approx(1.0)  # the drcc policy measured it
        assert body["details"]["based_on_f_cnt"] == 4
    finally:
        await rig.close()


async def test_ledger_records_can_be_switched_off(storage: Storage) -> None:  # noqa: F811
    rig, records = await start_with_ledger(
        storage, SETTINGS.model_copy(update={"ledger_enabled": False})
    )
    try:
        await rig.send(*(meta(c) for c in range(1, 5)))
        assert len(rig.decisions) == 1
        assert records == [] and rig.service.counters.ledger_records == 0
    finally:
        await rig.close()


# ----------------------------------------------------------- optional ns.up.meta fields


def test_uplink_meta_new_fields_are_optional_and_round_trip() -> None:
    m = meta(1)
    assert m.enabled_channels is None and m.size is None
    m2 = m.model_copy(update={"enabled_channels": [0, 2, 4], "size": 33})
    back = UplinkMeta.model_validate_json(m2.model_dump_json())
    assert back.enabled_channels == [0, 2, 4] and back.size == 33
    up = uplink_input(back)
    assert up.enabled_channels == (0, 2, 4) and up.size == 33
    assert uplink_input(m).enabled_channels is None and uplink_input(m).size is None


async def test_enabled_channels_from_the_network_server_are_the_device_channels(
    storage: Storage,  # noqa: F811
) -> None:
    # lorawan-adr keeps the device's channels: the decision names exactly the reported ones
    settings = SETTINGS.model_copy(update={"adr_min_history": 3})
    rig, _records = await start_with_ledger(storage, settings)
    try:
        msgs = [
            meta(c, dev_eui=ADR_DEV).model_copy(update={"enabled_channels": [0, 1, 2, 9]})
            for c in range(1, 4)
        ]
        await rig.send(*msgs)
        assert len(rig.decisions) == 1
        d = rig.decisions[0]
        assert d.policy == "lorawan-adr"
        assert d.channels == [0, 1, 2]  # 9 is outside the 8-channel plan: dropped
    finally:
        await rig.close()


def _input(f_cnt: int, size: int | None, enabled: tuple[int, ...] | None = None) -> UplinkInput:
    return UplinkInput(
        dev_eui=DRCC_DEV,
        f_cnt=f_cnt,
        time_s=1000.0 + f_cnt,
        dr=0,
        freq_hz=868_100_000,
        adr=False,
        tx_power_index=1,
        nb_trans=1,
        signals=(GatewaySignal("AA555A0000000001", 5.0, -100.0),),
        region="EU868",
        size=size,
        enabled_channels=enabled,
    )


@pytest.mark.parametrize(("size", "bigger"), [(None, False), (13 + 20, False), (200, True)])
def test_phy_payload_size_sets_the_airtime_counted_in_channel_usage(
    size: int | None, bigger: bool
) -> None:
    ref, core = DrccCore(DrccSettings()), DrccCore(DrccSettings())
    ref.handle(DeviceView(), _input(1, None), "static")
    core.handle(DeviceView(), _input(1, size), "static")
    a = ref.usage.channel_load(1002.0)[868_100_000.0]
    b = core.usage.channel_load(1002.0)[868_100_000.0]
    assert (b > a * 1.5) if bigger else b == pytest.approx(a)


@pytest.mark.parametrize(
    ("enabled", "want"),
    [
        (None, list(range(8))),
        ((), list(range(8))),
        ((1, 0, 0, 5), [0, 1, 5]),
        ((42,), list(range(8))),
    ],
)
def test_enabled_channels_replace_the_whole_plan_guess(
    enabled: tuple[int, ...] | None, want: list[int]
) -> None:
    out = DrccCore(DrccSettings()).handle(DeviceView(), _input(1, None, enabled), "static")
    assert out.view.channels == want
