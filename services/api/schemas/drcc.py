"""DRCC / ADR schemas: the link-adaptation decisions of a device and its policy state.

The policy of a device is its device profile's ``adr_policy`` (change it with
``PATCH /api/device-profiles/{id}``); ``policy`` here is the one that decided.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from pydantic import Field

from services.storage.domain import DeviceSession, DrccDecision, DrccState

from .common import PublicSchema


class DrccDecisionPublic(PublicSchema):
    """One LinkADRReq decision: data rate, TX power index, enabled channels, NbTrans."""

    id: uuid.UUID
    dev_eui: str
    policy: str
    dr: int
    tx_power_index: int
    channels: list[int] = Field(description="enabled channel indexes")
    nb_trans: int
    reason: str
    details: dict[str, Any]
    time: datetime | None = Field(description="when the decision was made")

    @classmethod
    def from_domain(cls, d: DrccDecision) -> DrccDecisionPublic:
        return cls(
            id=d.id,
            dev_eui=str(d.dev_eui),
            policy=d.policy,
            dr=d.dr,
            tx_power_index=d.tx_power_index,
            channels=list(d.ch_mask),
            nb_trans=d.nb_trans,
            reason=d.reason,
            details=dict(d.details),
            time=d.created_at,
        )


class RadioSettings(PublicSchema):
    """What the network server's session holds now (after the last acknowledged change)."""

    dr: int
    tx_power_index: int
    nb_trans: int
    enabled_channels: list[int]
    adr: bool = Field(description="the device's ADR bit on its last uplink")

    @classmethod
    def from_session(cls, s: DeviceSession) -> RadioSettings:
        return cls(
            dr=s.dr,
            tx_power_index=s.tx_power_index,
            nb_trans=s.nb_trans,
            enabled_channels=list(s.enabled_channels),
            adr=s.adr,
        )


class DrccStatePublic(PublicSchema):
    dev_eui: str
    adr_policy: str = Field(description="the device profile's policy (what the API changes)")
    policy: str | None = Field(description="the policy that holds the state (None: none yet)")
    state: dict[str, Any] = Field(description="the policy's state (history, pending change)")
    updated_at: datetime | None = None
    radio: RadioSettings | None = Field(description="current session settings (None: no session)")

    @classmethod
    def build(
        cls,
        dev_eui: str,
        adr_policy: str,
        state: DrccState | None,
        session: DeviceSession | None,
    ) -> DrccStatePublic:
        return cls(
            dev_eui=dev_eui,
            adr_policy=adr_policy,
            policy=None if state is None else state.policy,
            state={} if state is None else dict(state.state),
            updated_at=None if state is None else state.updated_at,
            radio=None if session is None else RadioSettings.from_session(session),
        )
