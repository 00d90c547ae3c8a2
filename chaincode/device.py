"""The device ledger: device registrations and join events, shared by every edge node so any
of them can check a join (DevEUI, JoinEUI, DevNonce, DevAddr, time)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from fabric_chaincode_python.fabric_contract_api.contractapi import TransactionContext

from . import validation as v
from .base import REC, KindRule, LedgerContract, Writes, _limit, prefix_end
from .errors import InvalidInput, KeyExists
from .validation import canonical_json

_TEXT = v.text


def _device(key: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = v.check_fields(
        data,
        {"dev_eui": v.eui, "join_eui": v.eui},
        {
            "mac_version": _TEXT,
            "name": _TEXT,
            "tenant": _TEXT,
            "application": _TEXT,
            "zone": _TEXT,
            "registered_at": v.timestamp,
        },
        what="device",
    )
    if key.upper() != body["dev_eui"]:
        raise InvalidInput(f"device key must be the dev_eui {body['dev_eui']}, got {key!r}")
    return body["dev_eui"], body


def _join(key: str, data: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    body = v.check_fields(
        data,
        {"dev_eui": v.eui, "dev_addr": v.dev_addr, "received_at": v.timestamp},
        {
            "join_eui": v.eui,
            "dev_nonce": v.integer(0, 0xFFFF),
            "join_nonce": v.integer(0, 0xFFFFFF),
            "session_id": _TEXT,
            "mac_version": _TEXT,
            "gateways": v.list_of(v.eui),
            "zone": _TEXT,
        },
        what="join",
    )
    dev, sep, rest = key.partition("/")
    if not sep or not rest or dev.upper() != body["dev_eui"]:
        raise InvalidInput(f"join key must be '<dev_eui>/<join id>', got {key!r}")
    return f"{body['dev_eui']}/{rest}", body


def _dev_nonce_key(dev_eui: str, join_eui: str, dev_nonce: int) -> str:
    return f"dn:{dev_eui}:{join_eui}:{dev_nonce:05d}"


class DeviceContract(LedgerContract):
    Name = "device"
    KINDS: ClassVar[Mapping[str, KindRule]] = {
        "device": KindRule(_device, mutable=True),
        "join": KindRule(_join, mutable=False),
    }
    EVALUATE = (*LedgerContract.EVALUATE, "joins_of", "check_dev_nonce")

    async def _before_write(
        self,
        ctx: TransactionContext,
        writes: Writes,
        kind: str,
        key: str,
        body: dict[str, Any],
    ) -> None:
        if kind != "join" or "dev_nonce" not in body:
            return
        nkey = _dev_nonce_key(body["dev_eui"], body.get("join_eui", ""), body["dev_nonce"])
        used = await writes.get(nkey)
        if used:
            raise KeyExists(
                f"DevNonce {body['dev_nonce']} of {body['dev_eui']} already used by join "
                f"{used.decode()}"
            )
        await writes.put(nkey, key.encode())

    async def joins_of(self, ctx: TransactionContext, dev_eui: str, limit: int) -> str:
        """Join records of one device, in key order."""
        prefix = f"{REC}join:{v.eui(dev_eui, 'dev_eui')}/"
        return canonical_json(await self._range(ctx, prefix, prefix_end(prefix), _limit(limit)))

    async def check_dev_nonce(
        self, ctx: TransactionContext, dev_eui: str, join_eui: str, dev_nonce: int
    ) -> str:
        """Whether a join of this device already used ``dev_nonce`` (and which one)."""
        nkey = _dev_nonce_key(
            v.eui(dev_eui, "dev_eui"),
            v.eui(join_eui, "join_eui") if join_eui else "",
            v.integer(0, 0xFFFF)(dev_nonce, "dev_nonce"),
        )
        used = await ctx.get_stub().get_state(nkey)
        return canonical_json({"used": bool(used), "join_key": bytes(used).decode() or None})
