"""Property tests: every MAC command round-trips; parsing arbitrary bytes raises only
LoRaWANError subclasses; blocks of commands round-trip."""

from __future__ import annotations

import dataclasses

from hypothesis import given, settings
from hypothesis import strategies as st

from services.lorawan.errors import LoRaWANError
from services.lorawan.maccommand import (
    ALL_COMMANDS,
    FREQ_MAX_HZ,
    FREQ_STEP_HZ,
    MacCommand,
    ProprietaryMacCommand,
    encode_mac_commands,
    mac_command_from_dict,
    parse_mac_commands,
)
from services.lorawan.maccommand.base import field_bounds

FREQUENCIES = st.integers(0, FREQ_MAX_HZ // FREQ_STEP_HZ).map(lambda n: n * FREQ_STEP_HZ)


def _field_strategy(f: dataclasses.Field[object]) -> st.SearchStrategy[object]:
    kind, bounds = field_bounds(f)
    if kind == "bool":
        return st.booleans()
    if kind == "freq":
        return FREQUENCIES
    assert kind == "int" and bounds is not None, f.name
    return st.integers(bounds[0], bounds[1])


def _command_strategy(cls: type[MacCommand]) -> st.SearchStrategy[MacCommand]:
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    return st.builds(cls, **{f.name: _field_strategy(f) for f in fields})


def _commands(uplink: bool) -> st.SearchStrategy[MacCommand]:
    return st.one_of([_command_strategy(c) for c in ALL_COMMANDS if c.UPLINK is uplink])


ANY_COMMAND = st.one_of(_commands(True), _commands(False))


@settings(max_examples=400)
@given(ANY_COMMAND)
def test_every_command_round_trips(cmd: MacCommand) -> None:
    raw = cmd.to_bytes()
    assert len(raw) == 1 + type(cmd).SIZE
    assert parse_mac_commands(raw, cmd.UPLINK) == [cmd]
    assert type(cmd).from_payload(cmd.payload_to_bytes()) == cmd
    assert mac_command_from_dict(cmd.to_dict()) == cmd


@settings(max_examples=200)
@given(
    st.booleans().flatmap(
        lambda up: st.tuples(
            st.just(up),
            st.lists(_commands(up), max_size=8),
            st.none() | st.tuples(st.integers(0x80, 0xFF), st.binary(max_size=8)),
        )
    )
)
def test_blocks_round_trip(
    block: tuple[bool, list[MacCommand], tuple[int, bytes] | None],
) -> None:
    uplink, cmds, proprietary = block
    all_cmds = list(cmds)
    if proprietary is not None:
        all_cmds.append(ProprietaryMacCommand(proprietary[0], proprietary[1], uplink=uplink))
    raw = encode_mac_commands(all_cmds)
    assert parse_mac_commands(raw, uplink) == all_cmds


@settings(max_examples=500)
@given(st.binary(max_size=40), st.booleans())
def test_parse_raises_only_lorawan_errors(data: bytes, uplink: bool) -> None:
    try:
        cmds = parse_mac_commands(data, uplink)
    except LoRaWANError:
        return
    # Whatever decodes re-encodes to the input up to RFU bits: same CIDs, same length.
    again = encode_mac_commands(cmds)
    assert len(again) == len(data)
    assert parse_mac_commands(again, uplink) == cmds
