"""Payload codecs: Cayenne LPP (published examples, every type, round trips) and raw."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.app_handler.codecs import (
    CayenneLppCodec,
    codec_names,
    decode_payload,
    encode_payload,
    get_codec,
    register_codec,
)
from services.app_handler.codecs.cayenne_lpp import TYPES
from services.app_handler.errors import CodecError, UnknownCodec

LPP = get_codec("cayenne_lpp")

# The examples of the Cayenne LPP documentation (myDevices, "Cayenne Low Power Payload",
# https://developers.mydevices.com/cayenne/docs/lora/#lora-cayenne-low-power-payload).
PUBLISHED = [
    (
        "03670110056700FF",  # device with 2 temperature sensors
        [
            {"channel": 3, "type": "temperature", "value": 27.2},
            {"channel": 5, "type": "temperature", "value": 25.5},
        ],
    ),
    (
        "0167FFD7067104D2FB2E0000",  # temperature sensor and accelerometer
        [
            {"channel": 1, "type": "temperature", "value": -4.1},
            {"channel": 6, "type": "accelerometer", "value": {"x": 1.234, "y": -1.234, "z": 0.0}},
        ],
    ),
    (
        "018806765FF2960A0003E8",  # GPS
        [
            {
                "channel": 1,
                "type": "gps",
                "value": {"latitude": 42.3519, "longitude": -87.9094, "altitude": 10.0},
            }
        ],
    ),
]

# One record of every type (type id, hex of the value, decoded value).
EVERY_TYPE = [
    ("digital_input", "0000", "01", 1),
    ("digital_output", "0001", "FF", 255),
    ("analog_input", "0002", "FF9C", -1.0),
    ("analog_output", "0003", "04D2", 12.34),
    ("illuminance", "0065", "FFFF", 65535),
    ("presence", "0066", "01", 1),
    ("temperature", "0067", "8000", -3276.8),
    ("humidity", "0068", "61", 48.5),
    ("accelerometer", "0071", "0001FFFF03E8", {"x": 0.001, "y": -0.001, "z": 1.0}),
    ("barometer", "0073", "275C", 1007.6),
    ("gyrometer", "0086", "00640000FF38", {"x": 1.0, "y": 0.0, "z": -2.0}),
    (
        "gps",
        "0088",
        "FFFFFF000001000064",
        {"latitude": -0.0001, "longitude": 0.0001, "altitude": 1.0},
    ),
]


@pytest.mark.parametrize(("payload", "measurements"), PUBLISHED)
def test_cayenne_published_examples(payload: str, measurements: list[dict[str, Any]]) -> None:
    raw = bytes.fromhex(payload)
    assert LPP.decode(1, raw) == {"measurements": measurements}
    assert LPP.encode(1, {"measurements": measurements}) == raw


@pytest.mark.parametrize(("name", "head", "value_hex", "value"), EVERY_TYPE)
def test_cayenne_every_type(name: str, head: str, value_hex: str, value: Any) -> None:
    channel_and_type = bytes.fromhex(head)
    raw = bytes([7, channel_and_type[1]]) + bytes.fromhex(value_hex)
    decoded = LPP.decode(2, raw)
    assert decoded == {"measurements": [{"channel": 7, "type": name, "value": value}]}
    assert LPP.encode(2, decoded) == raw
    # a type may also be named by its number when encoding
    by_id = [{"channel": 7, "type": channel_and_type[1], "value": value}]
    assert LPP.encode(2, {"measurements": by_id}) == raw


def test_cayenne_all_types_covered() -> None:
    assert {t.name for t in TYPES} == {row[0] for row in EVERY_TYPE}


def test_cayenne_empty_and_bare_list() -> None:
    assert LPP.decode(1, b"") == {"measurements": []}
    assert LPP.encode(1, {"measurements": []}) == b""
    assert (
        CayenneLppCodec().encode(1, [{"channel": 1, "type": "presence", "value": True}])
        == b"\x01\x66\x01"
    )


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        ("03", "truncated record header"),
        ("0367", "needs 2 bytes"),
        ("036701", "needs 2 bytes"),
        ("03FF0000", "unknown data type 255"),
        ("0367011005", "truncated record header"),
        ("018806765FF2960A0003", "needs 9 bytes"),
    ],
)
def test_cayenne_decode_errors(payload: str, message: str) -> None:
    with pytest.raises(CodecError, match=message):
        LPP.decode(1, bytes.fromhex(payload))


@pytest.mark.parametrize(
    ("obj", "message"),
    [
        ({"measurements": [{"channel": 1, "type": "temperature", "value": 3276.8}]}, "range"),
        ({"measurements": [{"channel": 1, "type": "humidity", "value": -0.5}]}, "range"),
        ({"measurements": [{"channel": 1, "type": "temperature", "value": "hot"}]}, "number"),
        ({"measurements": [{"channel": 1, "type": "temperature", "value": float("nan")}]}, "num"),
        ({"measurements": [{"channel": 256, "type": "temperature", "value": 1}]}, "channel"),
        ({"measurements": [{"channel": 1, "type": "weather", "value": 1}]}, "unknown data type"),
        ({"measurements": [{"channel": 1, "type": "gps", "value": {"latitude": 1}}]}, "longitude"),
        ({"measurements": ["x"]}, "not an object"),
        ({"values": []}, "measurements"),
    ],
)
def test_cayenne_encode_errors(obj: dict[str, Any], message: str) -> None:
    with pytest.raises(CodecError, match=message):
        LPP.encode(1, obj)


_record = st.sampled_from(TYPES).flatmap(
    lambda t: st.tuples(
        st.integers(0, 255),
        st.just(t),
        st.tuples(*(st.integers(*f.bounds) for f in t.fields)),
    )
)


@settings(max_examples=300, deadline=None)
@given(st.lists(_record, max_size=8))
def test_cayenne_bytes_round_trip(records: list[Any]) -> None:
    raw = b"".join(
        bytes((ch, t.type_id))
        + b"".join(
            v.to_bytes(f.size, "big", signed=f.signed) for f, v in zip(t.fields, vs, strict=True)
        )
        for ch, t, vs in records
    )
    decoded = LPP.decode(1, raw)
    assert len(decoded["measurements"]) == len(records)
    assert LPP.encode(1, decoded) == raw


@pytest.mark.parametrize("data", [b"", b"\x00", bytes(range(40))])
def test_raw_codec(data: bytes) -> None:
    decoded = decode_payload("raw", 5, data)
    assert decoded == {"hex": data.hex(), "base64": base64.b64encode(data).decode()}
    assert encode_payload("raw", 5, {"hex": data.hex()}) == data
    assert encode_payload("raw", 5, {"base64": decoded["base64"]}) == data


@pytest.mark.parametrize(
    "obj", [{}, {"hex": "zz"}, {"hex": 12}, {"base64": "***"}, {"base64": None}]
)
def test_raw_codec_errors(obj: dict[str, Any]) -> None:
    with pytest.raises(CodecError):
        encode_payload("raw", 1, obj)


def test_unknown_codec_is_a_clear_error() -> None:
    with pytest.raises(UnknownCodec, match=r"unknown payload codec 'js'.*cayenne_lpp, raw"):
        decode_payload("js", 1, b"\x01")
    assert {"raw", "cayenne_lpp"} <= set(codec_names())


def test_register_a_plugin() -> None:
    class Upper:
        name = "test_upper"

        def decode(self, f_port: int | None, data: bytes) -> dict[str, Any]:
            return {"text": data.decode().upper()}

        def encode(self, f_port: int | None, obj: Any) -> bytes:
            return str(obj["text"]).lower().encode()

    register_codec(Upper(), replace=True)
    assert decode_payload("test_upper", 1, b"abc") == {"text": "ABC"}
    with pytest.raises(ValueError, match="already registered"):
        register_codec(Upper())
