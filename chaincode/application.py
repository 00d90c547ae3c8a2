"""The application ledger (one channel per zone): one record per deduplicated uplink — device,
FCnt, time, gateways, payload and its SHA-256 — with the zone it came from and the zone whose
ledger stores it (they differ once the migration service moved it)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from fabric_chaincode_python.fabric_contract_api.contractapi import TransactionContext

from . import validation as v
from .base import REC, KindRule, LedgerContract, _limit, prefix_end, record_state_key
from .errors import InvalidInput, NotFound
from .validation import canonical_json, sha256_hex

_UPLINK_REQUIRED: dict[str, v.Check] = {
    "dev_eui": v.eui,
    "f_cnt": v.integer(0, 0xFFFFFFFF),
    "received_at": v.timestamp,
    "gateways": v.list_of(v.eui),
    "payload": v.hex_bytes,
    "origin_zone": v.key_text,
    "stored_zone": v.key_text,
}
_UPLINK_OPTIONAL: dict[str, v.Check] = {
    "payload_sha256": v.sha256_digest,
    "f_port": v.integer(0, 255),
}


def _uplink(key: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    if "payload_hash" in data and "payload_sha256" not in data:
        data = dict(data)
        data["payload_sha256"] = data.pop("payload_hash")
    body = v.check_fields(data, _UPLINK_REQUIRED, _UPLINK_OPTIONAL, what="uplink")
    digest = sha256_hex(bytes.fromhex(body["payload"]))
    given = body.get("payload_sha256")
    if given is not None and given.lower() != digest:
        raise InvalidInput("uplink.payload_sha256 does not match sha256(payload)")
    body["payload_sha256"] = digest
    expected = f"{body['dev_eui']}/{body['f_cnt']}"
    if key.upper() != expected.upper():
        raise InvalidInput(f"uplink key must be '<dev_eui>/<f_cnt>' ({expected}), got {key!r}")
    return expected, body


class ApplicationContract(LedgerContract):
    Name = "application"
    KINDS: ClassVar[Mapping[str, KindRule]] = {"uplink": KindRule(_uplink, mutable=False)}
    EVALUATE = (*LedgerContract.EVALUATE, "verify", "by_device")

    async def verify(self, ctx: TransactionContext, key: str, payload: str) -> str:
        """Check a payload (hex) against the stored hash of uplink ``key``."""
        raw = await ctx.get_stub().get_state(record_state_key("uplink", key.upper()))
        if not raw:
            raise NotFound(f"no uplink record {key!r}")
        doc = v.parse_json_object(bytes(raw).decode(), "record")
        computed = sha256_hex(bytes.fromhex(v.hex_bytes(payload, "payload")))
        stored = doc["payload"]["payload_sha256"]
        return canonical_json(
            {
                "key": doc["key"],
                "match": computed == stored,
                "stored_sha256": stored,
                "computed_sha256": computed,
                "tx_id": doc["tx_id"],
                "origin_zone": doc["payload"]["origin_zone"],
                "stored_zone": doc["payload"]["stored_zone"],
            }
        )

    async def by_device(self, ctx: TransactionContext, dev_eui: str, limit: int) -> str:
        """Uplinks of one device, by f_cnt (a key-range scan: works on every state DB)."""
        prefix = f"{REC}uplink:{v.eui(dev_eui, 'dev_eui')}/"
        docs = await self._range(ctx, prefix, prefix_end(prefix), _limit(limit))
        docs.sort(key=lambda d: d["payload"]["f_cnt"])
        return canonical_json(docs)
