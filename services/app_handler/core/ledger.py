"""ledger.tx records of the application handler (pure).

* every deduplicated uplink: channel "application", kind "uplink", in the zone of the first
  gateway that heard it (or the default zone), key ``<dev_eui>/<f_cnt>``; idempotency key
  ``up:<dev_eui>:<session_id>:<f_cnt>`` (the ledger writer drops replays);
* every join: channel "device", kind "join", key ``<dev_eui>/<session_id>``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from services.bus.messages import ApplicationUplink, JoinEvent, LedgerRecord, RxMetadata

DEFAULT_ZONE = "default"


def zone_of(rx: Sequence[RxMetadata], default: str = DEFAULT_ZONE) -> str:
    """The zone of the first gateway (the order the network server listed them), or default."""
    for r in rx[:1]:
        if r.zone:
            return r.zone
    return default


def uplink_record(
    up: ApplicationUplink, session_id: str, payload: bytes, default_zone: str = DEFAULT_ZONE
) -> LedgerRecord:
    return LedgerRecord(
        idempotency_key=f"up:{up.dev_eui}:{session_id}:{up.f_cnt}",
        channel="application",
        kind="uplink",
        zone=zone_of(up.rx, default_zone),
        key=f"{up.dev_eui}/{up.f_cnt}",
        payload={
            "dev_eui": up.dev_eui,
            "f_cnt": up.f_cnt,
            "received_at": up.received_at.isoformat(),
            "gateways": [r.gw_eui for r in up.rx],
            "payload_sha256": hashlib.sha256(payload).hexdigest(),
            "payload": payload.hex(),
        },
    )


def join_record(join: JoinEvent, default_zone: str = DEFAULT_ZONE) -> LedgerRecord:
    return LedgerRecord(
        idempotency_key=f"join:{join.dev_eui}:{join.session_id}",
        channel="device",
        kind="join",
        zone=zone_of(join.rx, default_zone),
        key=f"{join.dev_eui}/{join.session_id}",
        payload={
            "dev_eui": join.dev_eui,
            "join_eui": join.join_eui,
            "dev_addr": join.dev_addr,
            "session_id": join.session_id,
            "mac_version": join.mac_version,
            "received_at": join.received_at.isoformat(),
            "gateways": [r.gw_eui for r in join.rx],
        },
    )
