"""Builders shared by the DRCC tests."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from services.drcc.plugin import PolicyRequest, UplinkRecord

CH8 = (
    868_100_000.0,
    868_300_000.0,
    868_500_000.0,
    867_100_000.0,
    867_300_000.0,
    867_500_000.0,
    867_700_000.0,
    867_900_000.0,
)


def rec(
    f_cnt: int,
    snr: float = 0.0,
    dr: int = 0,
    pi: int = 1,
    t: float | None = None,
    freq: float = CH8[0],
    gws: int = 1,
) -> UplinkRecord:
    return UplinkRecord(
        time_s=float(f_cnt * 100 if t is None else t),
        f_cnt=f_cnt,
        dr=dr,
        tx_power_index=pi,
        freq_hz=freq,
        gateway_count=gws,
        max_snr_db=snr,
        max_rssi_dbm=-100.0,
    )


def history(
    f_cnts: Iterable[int], snr: float = 0.0, dr: int = 0, pi: int = 1
) -> tuple[UplinkRecord, ...]:
    return tuple(rec(c, snr=snr, dr=dr, pi=pi) for c in f_cnts)


def request(
    hist: tuple[UplinkRecord, ...],
    dr: int = 0,
    pi: int = 1,
    nb_trans: int = 1,
    channels: tuple[float, ...] = CH8,
    plan: tuple[float, ...] = CH8,
    channel_load: Mapping[float, float] | None = None,
    dr_load: Mapping[int, float] | None = None,
    now: float | None = None,
    dev_eui: str = "0102030405060708",
) -> PolicyRequest:
    return PolicyRequest(
        dev_eui=dev_eui,
        region="EU868",
        dr=dr,
        tx_power_index=pi,
        nb_trans=nb_trans,
        channels_hz=channels,
        history=hist,
        channel_load=dict(channel_load or {}),
        now_s=now,
        channel_plan_hz=plan,
        dr_load=dict(dr_load or {}),
    )
