"""Ledger schemas: a device's ledger records, uplink verification, ledger and writer status.

Ledger documents are the chaincode's (chaincode/base.py): ``key``, ``tx_id``, ``created_at``
(ledger time, ISO-8601 UTC) and the kind's ``payload``. Payloads on the ledger are hex, as the
chaincode stores them; hashes are SHA-256 hex.
"""

from __future__ import annotations

import uuid
from typing import Any, Literal

from pydantic import Field

from .common import PublicSchema


class LedgerUplink(PublicSchema):
    """One uplink record of an application ledger (``app-<zone>``)."""

    key: str = Field(description="<dev_eui>/<f_cnt>")
    dev_eui: str
    f_cnt: int
    f_port: int | None = None
    received_at: str
    gateways: list[str]
    payload: str = Field(description="FRMPayload (decrypted) as stored on the ledger, hex")
    payload_sha256: str
    origin_zone: str = Field(description="zone whose gateways received the uplink")
    stored_zone: str = Field(description="zone whose ledger stores it (differs once migrated)")
    ledger_channel: str
    tx_id: str
    created_at: str = Field(description="ledger time of the transaction that stored it")

    @classmethod
    def from_doc(cls, doc: dict[str, Any], ledger_channel: str) -> LedgerUplink:
        p = doc["payload"]
        return cls(
            key=doc["key"],
            dev_eui=p["dev_eui"],
            f_cnt=p["f_cnt"],
            f_port=p.get("f_port"),
            received_at=p["received_at"],
            gateways=list(p.get("gateways", [])),
            payload=p["payload"],
            payload_sha256=p["payload_sha256"],
            origin_zone=p["origin_zone"],
            stored_zone=p["stored_zone"],
            ledger_channel=ledger_channel,
            tx_id=doc["tx_id"],
            created_at=doc["created_at"],
        )


class LedgerJoin(PublicSchema):
    """One join record of the device ledger."""

    key: str = Field(description="<dev_eui>/<session_id>")
    dev_eui: str
    dev_addr: str
    join_eui: str | None = None
    dev_nonce: int | None = None
    join_nonce: int | None = None
    session_id: str | None = None
    mac_version: str | None = None
    received_at: str
    gateways: list[str] = Field(default_factory=list)
    zone: str | None = None
    ledger_channel: str
    tx_id: str
    created_at: str

    @classmethod
    def from_doc(cls, doc: dict[str, Any], ledger_channel: str) -> LedgerJoin:
        p = doc["payload"]
        return cls(
            key=doc["key"],
            dev_eui=p["dev_eui"],
            dev_addr=p["dev_addr"],
            join_eui=p.get("join_eui"),
            dev_nonce=p.get("dev_nonce"),
            join_nonce=p.get("join_nonce"),
            session_id=p.get("session_id"),
            mac_version=p.get("mac_version"),
            received_at=p["received_at"],
            gateways=list(p.get("gateways", [])),
            zone=p.get("zone"),
            ledger_channel=ledger_channel,
            tx_id=doc["tx_id"],
            created_at=doc["created_at"],
        )


class UnavailableChannel(PublicSchema):
    ledger_channel: str
    error: str


class DeviceLedger(PublicSchema):
    """A device's records on the ledgers: uplinks from every zone's application ledger (by
    f_cnt), joins from the device ledger."""

    dev_eui: str
    uplinks: list[LedgerUplink]
    joins: list[LedgerJoin]
    ledger_channels: list[str] = Field(description="application ledgers that were asked")
    unavailable: list[UnavailableChannel] = Field(
        default_factory=list, description="ledgers that could not be read (records missing)"
    )


VerificationStatus = Literal["verified", "mismatch", "not_on_ledger"]


class UplinkVerification(PublicSchema):
    """A stored uplink checked against the ledger record of the same dev_eui/f_cnt."""

    dev_eui: str
    f_cnt: int
    status: VerificationStatus
    verified: bool = Field(description="the stored payload's SHA-256 matches the ledger's")
    uplink_id: uuid.UUID
    session_id: uuid.UUID
    stored_sha256: str = Field(description="SHA-256 of the payload in the uplink log")
    computed_sha256: str | None = Field(
        default=None, description="SHA-256 the chaincode computed from the stored payload"
    )
    ledger_sha256: str | None = Field(default=None, description="SHA-256 on the ledger")
    tx_id: str | None = None
    block_number: int | None = Field(
        default=None, description="block holding the transaction, when the ledger tells"
    )
    origin_zone: str | None = None
    stored_zone: str | None = None
    ledger_channel: str | None = None
    detail: str | None = None


class ChannelStatus(PublicSchema):
    """One ledger channel as the ledger reports it."""

    ledger_channel: str
    kind: Literal["device", "network", "application", "other"]
    zone: str | None = Field(description="zone of an application ledger; None for shared ones")
    height: int | None = None
    pending_txs: int | None = Field(default=None, description="endorsed, waiting for a block")
    committed_txs: int | None = None
    backlog: int | None = Field(
        default=None, description="ledger writer records not yet committed (all zones' lanes)"
    )
    error: str | None = None


class LaneStatus(PublicSchema):
    """One ledger writer lane: the records of one zone for one ledger channel."""

    zone: str
    ledger_channel: str
    backlog: int
    committed: int


class CommitLatency(PublicSchema):
    """From hyperlora_ledger_commit_latency_seconds (outbox -> commit), since process start."""

    count: int
    mean_s: float | None
    p50_le_s: float | None = Field(description="upper bound of the bucket holding the median")
    p95_le_s: float | None = Field(description="upper bound of the bucket holding the p95")


class ZoneLedgerStatus(PublicSchema):
    zone: str
    backlog: int | None = Field(description="ledger writer backlog of the zone (None: no writer)")
    commit_latency: CommitLatency | None = None


class WriterStatus(PublicSchema):
    received: int
    duplicates: int
    committed: int
    existing: int
    failed: int
    retries: int
    backlog: int


class LedgerStatusPublic(PublicSchema):
    kind: str = Field(description="embedded | fabric")
    healthy: bool
    channels: list[ChannelStatus]
    zones: list[ZoneLedgerStatus]
    lanes: list[LaneStatus] = Field(description="empty when the writer is not in this process")
    writer: WriterStatus | None = None
