"""Simulation entities: plain mutable records with slots (no behaviour beyond small helpers)."""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .policy import UplinkRecord


@dataclass(slots=True, eq=False)
class Gateway:
    idx: int
    gw_eui: str
    x: float
    y: float
    #: receptions currently on air, per centre frequency
    active: dict[float, list[Reception]] = field(default_factory=dict)
    busy_paths: int = 0
    #: end of the transmission in progress (half-duplex: no reception before it)
    tx_until: float = 0.0
    #: reserved downlink transmissions (start, end), pruned as time passes
    tx_reserved: list[tuple[float, float]] = field(default_factory=list)
    #: sub-band name -> time the gateway may transmit in it again (duty cycle)
    band_free_at: dict[str, float] = field(default_factory=dict)
    received: int = 0
    downlinks: int = 0


@dataclass(slots=True, eq=False)
class Device:
    idx: int
    dev_eui: str
    x: float
    y: float
    sf: int
    bw_hz: int
    cr: int
    tx_power_dbm: float
    channels_hz: tuple[float, ...]
    nb_trans: int
    #: (gateway index, path loss in dB including this link's shadowing)
    links: list[tuple[int, float]] = field(default_factory=list)
    #: engine cache of what stays the same between transmissions (reset by LinkADRReq)
    profile: Any = None
    band_free_at: dict[str, float] = field(default_factory=dict)
    f_cnt_up: int = 0
    # current frame (transaction)
    frame_gen_s: float = 0.0
    frame_attempt: int = 0
    frame_delivered: bool = False
    frame_acked: bool = False
    frame_done: bool = True
    pending_link_adr_ans: bool = False
    # OTAA
    joined: bool = True
    join_attempts: int = 0
    join_start_s: float = 0.0
    next_gen_s: float = 0.0
    # statistics
    frames: int = 0
    delivered: int = 0
    transmissions: int = 0
    energy_j: float = 0.0
    history: deque[UplinkRecord] = field(default_factory=deque)


@dataclass(slots=True, eq=False)
class Transmission:
    dev: Device
    f_cnt: int
    attempt: int
    start: float
    end: float
    freq_hz: float
    sf: int
    bw_hz: int
    tx_power_dbm: float
    confirmed: bool
    link_adr_ans: bool
    join_request: bool = False
    receptions: list[Reception] = field(default_factory=list)


@dataclass(slots=True, eq=False)
class Reception:
    tx: Transmission
    gw: Gateway
    rssi: float
    grace_end: float
    #: why this copy was lost (None = fine so far)
    cause: str | None = None
    locked: bool = False
