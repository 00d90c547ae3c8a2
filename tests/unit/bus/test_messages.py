"""Message models: JSON round-trip with schema_version, base64 bytes, hex ids, registry."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.bus import codec
from services.bus.errors import DecodeError, TopicMismatch, UnknownTopic, UnsupportedSchemaVersion
from services.bus.messages import BaseMessage, DeadLetter, GatewayUplink, JoinAccept, RxMetadata
from services.bus.topics import TOPICS, Topic, all_topics, dlq_topic, model_for


def test_every_topic_has_a_sample_and_a_model(samples: dict[Topic, BaseMessage]) -> None:
    assert set(samples) == set(Topic)
    for topic in Topic:
        assert TOPICS[topic].model is topic.model
        assert isinstance(samples[topic], topic.model)


@pytest.mark.parametrize("topic", list(Topic))
def test_round_trip_through_json(topic: Topic, samples: dict[Topic, BaseMessage]) -> None:
    message = samples[topic]
    raw = codec.encode(topic, message)
    doc = orjson.loads(raw)
    assert doc["schema_version"] == 1
    back = codec.decode(topic, raw)
    assert back == message
    assert type(back) is type(message)
    assert codec.encode(topic, back) == raw  # stable


def test_bytes_are_base64_in_json(samples: dict[Topic, BaseMessage]) -> None:
    up = samples[Topic.GW_UP]
    assert isinstance(up, GatewayUplink)
    doc = orjson.loads(codec.encode(Topic.GW_UP, up))
    assert base64.b64decode(doc["phy_payload"]) == up.phy_payload
    assert base64.b64decode(doc["rx"]["context"]) == b"\x00\x01\xff"
    assert doc["rx"]["gw_eui"] == "0102030405060708"
    assert up.gw_eui == up.rx.gw_eui


def test_newer_schema_version_is_refused(samples: dict[Topic, BaseMessage]) -> None:
    doc = orjson.loads(codec.encode(Topic.NS_UP, samples[Topic.NS_UP]))
    doc["schema_version"] = 2
    with pytest.raises(UnsupportedSchemaVersion):
        codec.decode(Topic.NS_UP, orjson.dumps(doc))
    doc["schema_version"] = 0
    with pytest.raises(UnsupportedSchemaVersion):
        codec.decode(Topic.NS_UP, orjson.dumps(doc))


def test_unknown_fields_are_ignored(samples: dict[Topic, BaseMessage]) -> None:
    doc = orjson.loads(codec.encode(Topic.GW_TX_ACK, samples[Topic.GW_TX_ACK]))
    doc["added_in_a_later_release"] = {"x": 1}
    assert codec.decode(Topic.GW_TX_ACK, orjson.dumps(doc)) == samples[Topic.GW_TX_ACK]


@pytest.mark.parametrize(
    "raw",
    [b"", b"not json", b"[]", b"{}", b'{"schema_version": 1}', b"\xff\xfe", b'{"phy_payload": 1}'],
)
def test_garbage_raises_decode_error(raw: bytes) -> None:
    with pytest.raises(DecodeError):
        codec.decode(Topic.GW_UP, raw)


def test_wrong_model_for_topic(samples: dict[Topic, BaseMessage]) -> None:
    with pytest.raises(TopicMismatch):
        codec.encode(Topic.GW_DOWN, samples[Topic.GW_UP])
    with pytest.raises(UnknownTopic):
        codec.encode("no.such.topic", samples[Topic.GW_UP])


def test_dlq_topics_carry_dead_letters() -> None:
    assert model_for("gw.up.dlq") is DeadLetter
    assert dlq_topic(Topic.NS_UP) == "ns.up.dlq" == Topic.NS_UP.dlq
    with pytest.raises(UnknownTopic):
        model_for("nope.dlq")
    names = all_topics()
    assert len(names) == 2 * len(Topic) and "ledger.tx.dlq" in names
    assert all(type(n) is str for n in names)


def test_topic_names_are_component_entity_action() -> None:
    for topic in Topic:
        parts = topic.value.split(".")
        assert 2 <= len(parts) <= 3 and all(p and p == p.lower() for p in parts)


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("70b3d57ed0000001", "70B3D57ED0000001"),
        ("70:B3:D5:7E:D0:00:00:01", "70B3D57ED0000001"),
        ("0x70b3d57ed0000001", "70B3D57ED0000001"),
        (bytes.fromhex("70B3D57ED0000001"), "70B3D57ED0000001"),
    ],
)
def test_eui_normalisation(given: object, stored: str) -> None:
    assert (
        RxMetadata.model_validate(
            {
                "gw_eui": given,
                "freq_hz": 1,
                "rssi": 0,
                "size": 0,
                "received_at": "2026-01-01T00:00Z",
            }
        ).gw_eui
        == stored
    )


def test_lorawan_types_are_accepted() -> None:
    from services.lorawan.types import EUI64

    m = RxMetadata(
        gw_eui=EUI64.from_hex("0102030405060708"),
        freq_hz=1,
        rssi=0,
        size=0,
        received_at="2026-01-01T00:00Z",
    )  # type: ignore[arg-type]
    assert m.gw_eui == "0102030405060708"


@pytest.mark.parametrize("bad", ["0102", "GG02030405060708", "01020304050607080A", 12])
def test_bad_eui_rejected(bad: object) -> None:
    with pytest.raises(ValueError):
        RxMetadata.model_validate(
            {"gw_eui": bad, "freq_hz": 1, "rssi": 0, "size": 0, "received_at": "2026-01-01T00:00Z"}
        )


def test_naive_datetime_rejected() -> None:
    with pytest.raises(ValueError):
        RxMetadata.model_validate(
            {
                "gw_eui": "0102030405060708",
                "freq_hz": 1,
                "rssi": 0,
                "size": 0,
                "received_at": "2026-01-01T00:00:00",
            }
        )


def test_messages_are_frozen(samples: dict[Topic, BaseMessage]) -> None:
    with pytest.raises(ValueError):
        samples[Topic.NS_UP].f_cnt = 1  # type: ignore[attr-defined,misc]


def test_join_accept_keys_are_hex_and_rejection_has_none() -> None:
    rejected = JoinAccept(
        dedup_id="j",
        dev_eui="70B3D57ED0000001",
        join_eui="70B3D57ED0000000",
        accepted=False,
        reason="dev_nonce_reused",
    )
    assert rejected.f_nwk_s_int_key is None and rejected.phy_payload is None
    assert "app_s_key" not in JoinAccept.model_fields
    with pytest.raises(ValueError):
        JoinAccept(
            dedup_id="j",
            dev_eui="70B3D57ED0000001",
            join_eui="70B3D57ED0000000",
            accepted=True,
            nwk_s_enc_key="00" * 15,
        )


@settings(max_examples=300, deadline=None)
@given(
    phy=st.binary(max_size=255),
    context=st.binary(max_size=32),
    tmst=st.none() | st.integers(0, 2**32 - 1),
    rssi=st.floats(-150, 10, allow_nan=False),
    snr=st.none() | st.floats(-30, 20, allow_nan=False),
    gw=st.binary(min_size=8, max_size=8),
    at=st.datetimes(timezones=st.just(UTC)),
)
def test_gateway_uplink_round_trip_property(
    phy: bytes,
    context: bytes,
    tmst: int | None,
    rssi: float,
    snr: float | None,
    gw: bytes,
    at: datetime,
) -> None:
    up = GatewayUplink(
        uplink_id="u",
        phy_payload=phy,
        rx=RxMetadata(
            gw_eui=gw,
            tmst=tmst,
            freq_hz=868_100_000,
            rssi=rssi,
            snr=snr,
            size=len(phy),
            received_at=at,
            context=context,
        ),
    )
    raw = codec.encode(Topic.GW_UP, up)
    assert codec.decode(Topic.GW_UP, raw) == up
    assert base64.b64decode(orjson.loads(raw)["phy_payload"], validate=True) == phy


def test_non_finite_floats_refused() -> None:
    with pytest.raises(ValueError):
        RxMetadata(
            gw_eui="0102030405060708",
            freq_hz=1,
            rssi=float("nan"),
            size=0,
            received_at=datetime.now(UTC),
        )
