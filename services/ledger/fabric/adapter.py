"""``FabricLedger``: the ``Ledger`` interface over Fabric Gateway clients.

One ``GatewayClient`` per zone peer, all signing as the operator's client identity. Each
channel names its chaincode and the zone whose peer serves its Gateway calls. The layout comes
from the client profile that ``deploy/fabric/fabric.sh up`` writes
(``<state>/fabric/connection.json``)::

    {"client": {"msp_id": "OperatorMSP", "msp_dir": ".../User1@.../msp"},
     "peers": {"zone-a": {"msp_id", "address", "server_name", "tls_ca"}, ...},
     "channels": {"device-ledger": {"chaincode": "hyperlora", "gateway_zone": "zone-a"}, ...}}

Records: ``submit_records`` sends one ``<contract>:create_batch`` transaction per call (the
ledger writer's batch), as the embedded ledger does.

Transaction ids: Fabric derives them from a fresh nonce and the creator, so the optional
``tx_id`` of ``submit`` cannot be chosen by the caller and is ignored; idempotency comes from
the contracts' idempotency keys.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fabric_protos.common import ledger_pb2

from services.ledger.base import (
    CommitResult,
    Ledger,
    LedgerStatus,
    RecordResult,
    RecordWrite,
    submit_records_in_one_transaction,
)
from services.ledger.errors import LedgerError, LedgerUnavailable, UnknownChannel
from services.ledger.fabric.client import GatewayClient, GatewayEndpoint, RetryPolicy, Timeouts
from services.ledger.fabric.errors import ProtocolError
from services.ledger.fabric.identity import SigningIdentity

QSCC = "qscc"


@dataclass(frozen=True, slots=True)
class ChannelRoute:
    chaincode: str
    gateway_zone: str


@dataclass(frozen=True)
class FabricLedgerConfig:
    msp_id: str
    msp_dir: Path
    peers: Mapping[str, GatewayEndpoint]  # zone -> the zone peer's Gateway
    channels: Mapping[str, ChannelRoute]
    timeouts: Timeouts = field(default_factory=Timeouts)
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @classmethod
    def from_profile(cls, path: str | Path, **overrides: Any) -> FabricLedgerConfig:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
        peers = {
            zone: GatewayEndpoint(
                address=p["address"],
                tls_ca_pem=Path(p["tls_ca"]).read_bytes() if p.get("tls_ca") else None,
                server_name=p.get("server_name"),
            )
            for zone, p in doc["peers"].items()
        }
        channels = {
            name: ChannelRoute(chaincode=c["chaincode"], gateway_zone=c["gateway_zone"])
            for name, c in doc["channels"].items()
        }
        return cls(
            msp_id=doc["client"]["msp_id"],
            msp_dir=Path(doc["client"]["msp_dir"]),
            peers=peers,
            channels=channels,
            **overrides,
        )


class FabricLedger(Ledger):
    def __init__(self, config: FabricLedgerConfig) -> None:
        self.config = config
        self._clients: dict[str, GatewayClient] = {}

    async def start(self) -> None:
        if self._clients:
            return
        identity = SigningIdentity.from_msp_dir(self.config.msp_id, self.config.msp_dir)
        zones = sorted({route.gateway_zone for route in self.config.channels.values()})
        clients: dict[str, GatewayClient] = {}
        try:
            for zone in zones:
                endpoint = self.config.peers.get(zone)
                if endpoint is None:
                    raise LedgerError(f"no peer configured for zone {zone!r}")
                client = GatewayClient(
                    endpoint, identity, timeouts=self.config.timeouts, retry=self.config.retry
                )
                await client.connect()
                clients[zone] = client
        except BaseException:
            await asyncio.gather(*(c.close() for c in clients.values()))
            raise
        self._clients = clients

    async def stop(self) -> None:
        clients, self._clients = self._clients, {}
        await asyncio.gather(*(c.close() for c in clients.values()))

    def _route(self, channel: str) -> tuple[GatewayClient, ChannelRoute]:
        route = self.config.channels.get(channel)
        if route is None:
            raise UnknownChannel(f"no Fabric channel {channel!r} in the client profile")
        client = self._clients.get(route.gateway_zone)
        if client is None:
            raise LedgerUnavailable("the Fabric ledger is not started")
        return client, route

    async def submit(
        self,
        channel: str,
        contract_fn: str,
        args: Sequence[str],
        *,
        tx_id: str | None = None,
    ) -> CommitResult:
        client, route = self._route(channel)
        outcome = await client.submit(channel, route.chaincode, contract_fn, list(args))
        return CommitResult(
            tx_id=outcome.tx_id,
            block_number=outcome.commit.block_number,
            status=outcome.commit.status,
            payload=outcome.result,
        )

    async def submit_records(
        self, channel: str, contract: str, records: Sequence[RecordWrite]
    ) -> list[RecordResult | BaseException]:
        """One ``<contract>:create_batch`` transaction for all the records (one endorsement,
        one envelope for the orderer, one commit status), an outcome per record."""
        return await submit_records_in_one_transaction(self, channel, contract, records)

    async def evaluate(self, channel: str, contract_fn: str, args: Sequence[str]) -> bytes:
        client, route = self._route(channel)
        return await client.evaluate(channel, route.chaincode, contract_fn, list(args))

    async def height(self, channel: str) -> int:
        client, _ = self._route(channel)
        raw = await client.evaluate(channel, QSCC, "GetChainInfo", [channel])
        info = ledger_pb2.BlockchainInfo()
        try:
            info.ParseFromString(raw)
        except Exception as exc:  # protobuf raises DecodeError (a plain Exception subclass)
            raise ProtocolError(f"cannot decode BlockchainInfo of {channel}: {exc}") from exc
        return int(info.height)

    async def status(self) -> LedgerStatus:
        channels: dict[str, dict[str, Any]] = {}
        healthy = bool(self._clients)
        for name, route in sorted(self.config.channels.items()):
            entry: dict[str, Any] = {"zone": route.gateway_zone, "chaincode": route.chaincode}
            try:
                entry["height"] = await self.height(name)
            except LedgerError as exc:
                entry["error"] = str(exc)
                healthy = False
            channels[name] = entry
        return LedgerStatus(kind="fabric", healthy=healthy, channels=channels)
