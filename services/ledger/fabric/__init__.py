"""A thin Fabric Gateway client over the official protobufs (``hyperledger-fabric-protos``)
and grpcio, and the ``FabricLedger`` adapter of the ``Ledger`` interface."""

from services.ledger.fabric.adapter import ChannelRoute, FabricLedger, FabricLedgerConfig
from services.ledger.fabric.client import (
    ChaincodeEvent,
    CommitStatus,
    GatewayClient,
    GatewayEndpoint,
    Prepared,
    RetryPolicy,
    SubmitOutcome,
    Timeouts,
)
from services.ledger.fabric.identity import SigningIdentity

__all__ = [
    "ChaincodeEvent",
    "ChannelRoute",
    "CommitStatus",
    "FabricLedger",
    "FabricLedgerConfig",
    "GatewayClient",
    "GatewayEndpoint",
    "Prepared",
    "RetryPolicy",
    "SigningIdentity",
    "SubmitOutcome",
    "Timeouts",
]
