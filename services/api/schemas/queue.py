"""Device queue schemas: submit an application downlink, list / flush the NS queue."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field, model_validator

from services.storage.domain import QueueItem

from .common import Base64Bytes, HexBytes, PublicSchema, Schema

MAX_FRM_PAYLOAD = 242  # the largest FRMPayload of any LoRaWAN data rate (RP002)


class DownlinkCreate(Schema):
    """An application downlink: ``data`` (base64) or ``data_hex``, not both."""

    f_port: int = Field(ge=1, le=223, description="application FPort 1..223")
    data: Base64Bytes | None = None
    data_hex: HexBytes | None = None
    confirmed: bool = False

    @model_validator(mode="after")
    def _one_payload(self) -> Any:
        if self.data is not None and self.data_hex is not None:
            raise ValueError("give the payload once: data (base64) or data_hex, not both")
        if len(self.payload) > MAX_FRM_PAYLOAD:
            raise ValueError(
                f"payload of {len(self.payload)} bytes exceeds {MAX_FRM_PAYLOAD} bytes"
            )
        return self

    @property
    def payload(self) -> bytes:
        if self.data is not None:
            return self.data
        return self.data_hex or b""


class DownlinkSubmitted(PublicSchema):
    request_id: str
    dev_eui: str


class QueueItemPublic(PublicSchema):
    id: uuid.UUID
    dev_eui: str
    f_port: int
    frm_payload: Base64Bytes
    confirmed: bool
    f_cnt_down: int | None
    is_pending: bool
    sent_at: datetime | None
    acked: bool | None
    expires_at: datetime | None
    created_at: datetime | None = None

    @classmethod
    def from_domain(cls, item: QueueItem) -> QueueItemPublic:
        return cls(
            id=item.id,
            dev_eui=str(item.dev_eui),
            f_port=item.f_port,
            frm_payload=item.frm_payload,
            confirmed=item.confirmed,
            f_cnt_down=item.f_cnt_down,
            is_pending=item.is_pending,
            sent_at=item.sent_at,
            acked=item.acked,
            expires_at=item.expires_at,
            created_at=item.created_at,
        )


class QueueFlushed(PublicSchema):
    dev_eui: str
    deleted: int
