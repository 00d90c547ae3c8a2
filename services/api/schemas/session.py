"""Device session schemas: ABP activation (keys in), session state (keys never out), uplinks."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from services.storage.domain import DeviceSession, UplinkRecord

from .common import Base64Bytes, DevAddrHex, KeyHex, PublicSchema, Schema


class DeviceActivation(Schema):
    """ABP: a session with the given DevAddr and keys.

    LoRaWAN 1.0.x: ``nwk_s_key`` (the one network session key). LoRaWAN 1.1:
    ``f_nwk_s_int_key``, ``s_nwk_s_int_key`` and ``nwk_s_enc_key``. Always ``app_s_key``
    (handed to the application handler only, never stored with the network session).
    """

    dev_addr: DevAddrHex
    app_s_key: KeyHex
    nwk_s_key: KeyHex | None = None
    f_nwk_s_int_key: KeyHex | None = None
    s_nwk_s_int_key: KeyHex | None = None
    nwk_s_enc_key: KeyHex | None = None
    f_cnt_up: int | None = Field(
        default=None, ge=0, le=0xFFFFFFFF, description="last uplink counter received (none: 0 next)"
    )
    n_f_cnt_down: int = Field(default=0, ge=0, le=0xFFFFFFFF)
    a_f_cnt_down: int = Field(default=0, ge=0, le=0xFFFFFFFF)

    @model_validator(mode="after")
    def _one_key_set(self) -> Any:
        split = (self.f_nwk_s_int_key, self.s_nwk_s_int_key, self.nwk_s_enc_key)
        if self.nwk_s_key is not None and any(k is not None for k in split):
            raise ValueError(
                "give either nwk_s_key (LoRaWAN 1.0.x) or f_nwk_s_int_key, s_nwk_s_int_key and "
                "nwk_s_enc_key (LoRaWAN 1.1), not both"
            )
        if self.nwk_s_key is None and not all(k is not None for k in split):
            raise ValueError(
                "network session keys missing: nwk_s_key (LoRaWAN 1.0.x) or all of "
                "f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key (LoRaWAN 1.1)"
            )
        return self


class DeviceSessionPublic(PublicSchema):
    """The session state, without any key."""

    dev_eui: str
    dev_addr: str
    session_id: uuid.UUID
    mac_version: str
    f_cnt_up: int | None
    n_f_cnt_down: int
    a_f_cnt_down: int
    conf_f_cnt: int
    rx1_delay: int
    rx1_dr_offset: int
    rx2_dr: int
    rx2_freq: int
    dr: int
    tx_power_index: int
    nb_trans: int
    enabled_channels: list[int]
    adr: bool
    created_at: datetime | None = None
    updated_at: datetime | None = None

    @classmethod
    def from_domain(cls, s: DeviceSession) -> DeviceSessionPublic:
        return cls(
            dev_eui=str(s.dev_eui),
            dev_addr=str(s.dev_addr),
            session_id=s.session_id,
            mac_version=s.mac_version,
            f_cnt_up=s.f_cnt_up,
            n_f_cnt_down=s.n_f_cnt_down,
            a_f_cnt_down=s.a_f_cnt_down,
            conf_f_cnt=s.conf_f_cnt,
            rx1_delay=s.rx1_delay,
            rx1_dr_offset=s.rx1_dr_offset,
            rx2_dr=s.rx2_dr,
            rx2_freq=s.rx2_freq,
            dr=s.dr,
            tx_power_index=s.tx_power_index,
            nb_trans=s.nb_trans,
            enabled_channels=list(s.enabled_channels),
            adr=s.adr,
            created_at=s.created_at,
            updated_at=s.updated_at,
        )


class UplinkPublic(PublicSchema):
    id: uuid.UUID
    dev_eui: str
    dev_addr: str
    session_id: uuid.UUID
    f_cnt: int
    f_port: int | None
    data: Base64Bytes
    payload_sha256: str
    dr: int
    freq: int
    confirmed: bool
    rx_metadata: list[dict[str, Any]]
    received_at: datetime | None

    @classmethod
    def from_domain(cls, r: UplinkRecord) -> UplinkPublic:
        return cls(
            id=r.id,
            dev_eui=str(r.dev_eui),
            dev_addr=str(r.dev_addr),
            session_id=r.session_id,
            f_cnt=r.f_cnt,
            f_port=r.f_port,
            data=r.payload,
            payload_sha256=r.payload_sha256.hex(),
            dr=r.dr,
            freq=r.freq,
            confirmed=r.confirmed,
            rx_metadata=list(r.rx_metadata),
            received_at=r.received_at,
        )
