"""Device-profile schemas: region and MAC version validated against services.lorawan.

The region name is canonicalised (``eu868`` -> ``EU868``), the MAC version too (``1.1`` ->
``1.1.0``). RX2 defaults to the region's RX2 frequency and data rate; RX2 data rate, RX2
frequency and RX1 DR offset are checked against the region's tables.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import Field, field_validator, model_validator

from services.drcc.plugin import available_policies
from services.drcc.plugins import canonical_name
from services.lorawan.errors import LoRaWANError
from services.lorawan.region import get_region, list_regions
from services.lorawan.version import MacVersion
from services.storage.domain import DeviceClass, DeviceProfile

from .common import Name, PublicSchema, Schema

AdrPolicyName = Annotated[
    str,
    Field(
        pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$",
        description="name of the ADR/DRCC plugin (e.g. default, lorawan_adr, drcc)",
    ),
]


DEFAULT_ADR_POLICY = "default"  # the DRCC service's configured default policy


def known_adr_policy(value: str) -> str:
    """``value`` if it names a registered rate-control plugin (or an alias, or "default")."""
    if value == DEFAULT_ADR_POLICY or canonical_name(value) in available_policies():
        return value
    choices = ", ".join([DEFAULT_ADR_POLICY, *available_policies()])
    raise ValueError(f"unknown adr_policy {value!r}; available: {choices}")


def canonical_region(value: str) -> str:
    try:
        return get_region(value).name
    except LoRaWANError:
        raise ValueError(
            f"unsupported region {value!r}; supported: {', '.join(list_regions())}"
        ) from None


def canonical_mac_version(value: str) -> str:
    try:
        return MacVersion.parse(value).value
    except LoRaWANError:
        choices = ", ".join(v.value for v in MacVersion)
        raise ValueError(f"unknown LoRaWAN MAC version {value!r}; supported: {choices}") from None


class _ProfileFields(Schema):
    """Fields and checks shared by create and (merged) update."""

    name: Name
    region: str = "EU868"
    mac_version: str = "1.0.3"
    reg_params_revision: str = Field(default="RP002-1.0.3", max_length=40)
    supports_join: bool = True
    device_class: DeviceClass = DeviceClass.A
    adr_policy: AdrPolicyName = "default"
    rx1_delay: int = Field(default=1, ge=1, le=15, description="seconds")
    rx1_dr_offset: int = Field(default=0, ge=0, le=7)
    rx2_dr: int | None = Field(default=None, ge=0, le=15, description="default: the region's")
    rx2_freq: int | None = Field(default=None, gt=0, description="Hz; default: the region's")
    uplink_interval: int = Field(default=3600, ge=1, le=31 * 86400, description="seconds")

    @field_validator("region")
    @classmethod
    def _region(cls, value: str) -> str:
        return canonical_region(value)

    @field_validator("adr_policy")
    @classmethod
    def _adr_policy(cls, value: str) -> str:
        return known_adr_policy(value)

    @field_validator("mac_version")
    @classmethod
    def _mac_version(cls, value: str) -> str:
        return canonical_mac_version(value)

    @model_validator(mode="after")
    def _rx_settings(self) -> Any:
        region = get_region(self.region)
        if self.rx2_dr is None:
            self.rx2_dr = region.rx2_dr
        if self.rx2_freq is None:
            self.rx2_freq = region.rx2_frequency_hz
        if self.rx2_dr not in region.downlink_data_rates():
            raise ValueError(
                f"rx2_dr {self.rx2_dr} is not a downlink data rate of {region.name} "
                f"({', '.join(map(str, region.downlink_data_rates()))})"
            )
        if not region.frequency_min_hz <= self.rx2_freq <= region.frequency_max_hz:
            raise ValueError(
                f"rx2_freq {self.rx2_freq} Hz outside {region.name} "
                f"({region.frequency_min_hz}..{region.frequency_max_hz} Hz)"
            )
        if self.rx1_dr_offset not in region.rx1_dr_offsets():
            offsets = region.rx1_dr_offsets()
            raise ValueError(
                f"rx1_dr_offset {self.rx1_dr_offset} not allowed in {region.name} "
                f"({offsets.start}..{offsets.stop - 1})"
            )
        return self


class DeviceProfileCreate(_ProfileFields):
    tenant_id: uuid.UUID | None = Field(
        default=None, description="required for admin keys; tenant keys use their own tenant"
    )

    def to_domain(self, tenant_id: uuid.UUID, profile_id: uuid.UUID | None = None) -> DeviceProfile:
        assert self.rx2_dr is not None and self.rx2_freq is not None  # set by the validator
        extra: dict[str, Any] = {} if profile_id is None else {"id": profile_id}
        return DeviceProfile(
            tenant_id=tenant_id,
            name=self.name,
            region=self.region,
            mac_version=self.mac_version,
            reg_params_revision=self.reg_params_revision,
            supports_join=self.supports_join,
            device_class=self.device_class,
            adr_policy=self.adr_policy,
            rx1_delay=self.rx1_delay,
            rx1_dr_offset=self.rx1_dr_offset,
            rx2_dr=self.rx2_dr,
            rx2_freq=self.rx2_freq,
            uplink_interval=self.uplink_interval,
            **extra,
        )


class DeviceProfileUpdate(Schema):
    """Partial update: only the fields given change; the result is validated as a whole."""

    name: Name | None = None
    region: str | None = None
    mac_version: str | None = None
    reg_params_revision: str | None = Field(default=None, max_length=40)
    supports_join: bool | None = None
    device_class: DeviceClass | None = None
    adr_policy: AdrPolicyName | None = None
    rx1_delay: int | None = Field(default=None, ge=1, le=15)
    rx1_dr_offset: int | None = Field(default=None, ge=0, le=7)
    rx2_dr: int | None = Field(default=None, ge=0, le=15)
    rx2_freq: int | None = Field(default=None, gt=0)
    uplink_interval: int | None = Field(default=None, ge=1, le=31 * 86400)


class DeviceProfilePublic(PublicSchema):
    id: uuid.UUID
    tenant_id: uuid.UUID
    name: str
    region: str
    mac_version: str
    reg_params_revision: str
    supports_join: bool
    device_class: DeviceClass
    adr_policy: str
    rx1_delay: int
    rx1_dr_offset: int
    rx2_dr: int
    rx2_freq: int
    uplink_interval: int
    created_at: datetime | None = None

    @classmethod
    def from_domain(cls, profile: DeviceProfile) -> DeviceProfilePublic:
        return cls(
            id=profile.id,
            tenant_id=profile.tenant_id,
            name=profile.name,
            region=profile.region,
            mac_version=profile.mac_version,
            reg_params_revision=profile.reg_params_revision,
            supports_join=profile.supports_join,
            device_class=profile.device_class,
            adr_policy=profile.adr_policy,
            rx1_delay=profile.rx1_delay,
            rx1_dr_offset=profile.rx1_dr_offset,
            rx2_dr=profile.rx2_dr,
            rx2_freq=profile.rx2_freq,
            uplink_interval=profile.uplink_interval,
            created_at=profile.created_at,
        )
