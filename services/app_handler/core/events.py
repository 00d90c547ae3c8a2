"""Integration events (pure): what MQTT, webhooks and the event hub receive.

Every event is a pydantic model with ``event`` ("up", "join", "ack", "txack"), the device and
its application (``tenant_id`` lets the event hub keep tenants apart) and a ``time``;
``to_dict()`` gives the JSON-ready form that is published.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from services.bus.messages import (
    ApplicationUplink,
    DownlinkAck,
    DownlinkTxAck,
    JoinEvent,
    RxMetadata,
)

from ..codecs import decode_payload
from ..errors import CodecError


@dataclass(frozen=True, slots=True)
class Webhook:
    url: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class DeviceInfo:
    """What the integrations need to know about a device and its application."""

    dev_eui: str  # upper-case hex
    tenant_id: str | None = None
    application_id: str | None = None
    application_name: str | None = None
    device_name: str | None = None
    codec: str | None = None  # payload codec name; None: no decoding
    mqtt_enabled: bool = True
    webhooks: tuple[Webhook, ...] = ()


class GatewayRx(BaseModel):
    """One gateway's reception of the uplink."""

    model_config = ConfigDict(frozen=True)

    gw_eui: str
    rssi: float
    snr: float | None = None
    zone: str | None = None
    time: datetime | None = None
    chan: int | None = None
    tmst: int | None = None

    @classmethod
    def from_rx(cls, rx: RxMetadata) -> GatewayRx:
        return cls(
            gw_eui=rx.gw_eui,
            rssi=rx.rssi,
            snr=rx.snr,
            zone=rx.zone,
            time=rx.time or rx.received_at,
            chan=rx.chan,
            tmst=rx.tmst,
        )


class AppEvent(BaseModel):
    model_config = ConfigDict(frozen=True)

    event: str
    time: datetime
    dev_eui: str
    device_name: str | None = None
    tenant_id: str | None = None
    application_id: str | None = None
    application_name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump(mode="json")


class UplinkEvent(AppEvent):
    event: Literal["up"] = "up"
    dedup_id: str
    dev_addr: str
    session_id: str
    f_cnt: int
    f_port: int | None
    confirmed: bool = False
    adr: bool = False
    dr: int
    freq_hz: int
    region: str | None = None
    rx: list[GatewayRx]
    data: str  # base64 of the decrypted FRMPayload
    codec: str | None = None
    object: dict[str, Any] | None = None  # the codec's decoding
    codec_error: str | None = None


class DeviceJoinEvent(AppEvent):
    event: Literal["join"] = "join"
    dedup_id: str
    join_eui: str
    dev_addr: str
    session_id: str
    mac_version: str
    rx: list[GatewayRx] = []


class AckEvent(AppEvent):
    event: Literal["ack"] = "ack"
    request_id: str
    acknowledged: bool
    f_cnt_down: int | None = None
    reason: str | None = None
    session_id: str | None = None


class TxAckEvent(AppEvent):
    event: Literal["txack"] = "txack"
    request_id: str | None
    downlink_id: str
    gw_eui: str
    f_cnt_down: int | None = None
    error: str | None = None


def _who(dev_eui: str, device: DeviceInfo | None) -> dict[str, Any]:
    if device is None:
        return {"dev_eui": dev_eui}
    return {
        "dev_eui": dev_eui,
        "device_name": device.device_name,
        "tenant_id": device.tenant_id,
        "application_id": device.application_id,
        "application_name": device.application_name,
    }


def decode_object(
    codec: str | None, f_port: int | None, data: bytes
) -> tuple[dict[str, Any] | None, str | None]:
    """``(object, None)`` decoded with the codec, ``(None, error)`` when it fails (unknown
    codec included), ``(None, None)`` without a codec or without application payload."""
    if codec is None or f_port is None or f_port == 0:
        return None, None
    try:
        return decode_payload(codec, f_port, data), None
    except CodecError as exc:
        return None, str(exc)


def uplink_event(
    up: ApplicationUplink, device: DeviceInfo | None, session_id: str, payload: bytes
) -> UplinkEvent:
    codec = device.codec if device else None
    obj, error = decode_object(codec, up.f_port, payload)
    return UplinkEvent(
        time=up.received_at,
        **_who(up.dev_eui, device),
        dedup_id=up.dedup_id,
        dev_addr=up.dev_addr,
        session_id=session_id,
        f_cnt=up.f_cnt,
        f_port=up.f_port,
        confirmed=up.confirmed,
        adr=up.adr,
        dr=up.dr,
        freq_hz=up.freq_hz,
        region=up.region,
        rx=[GatewayRx.from_rx(r) for r in up.rx],
        data=base64.b64encode(payload).decode("ascii"),
        codec=codec,
        object=obj,
        codec_error=error,
    )


def join_event(join: JoinEvent, device: DeviceInfo | None) -> DeviceJoinEvent:
    return DeviceJoinEvent(
        time=join.received_at,
        **_who(join.dev_eui, device),
        dedup_id=join.dedup_id,
        join_eui=join.join_eui,
        dev_addr=join.dev_addr,
        session_id=join.session_id,
        mac_version=join.mac_version,
        rx=[GatewayRx.from_rx(r) for r in join.rx],
    )


def ack_event(ack: DownlinkAck, device: DeviceInfo | None) -> AckEvent:
    return AckEvent(
        time=ack.at,
        **_who(ack.dev_eui, device),
        request_id=ack.request_id,
        acknowledged=ack.acknowledged,
        f_cnt_down=ack.f_cnt_down,
        reason=ack.reason,
        session_id=ack.session_id,
    )


def tx_ack_event(tx: DownlinkTxAck, device: DeviceInfo | None) -> TxAckEvent:
    return TxAckEvent(
        time=tx.at,
        **_who(tx.dev_eui, device),
        request_id=tx.request_id,
        downlink_id=tx.downlink_id,
        gw_eui=tx.gw_eui,
        f_cnt_down=tx.f_cnt_down,
        error=tx.error,
    )
