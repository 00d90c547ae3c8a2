"""The chaincode: every HyperLoRa contract in one package, deployed on every channel (each
channel's configuration says which MSPs may write which contract)."""

from __future__ import annotations

from fabric_chaincode_python.fabric_contract_api.contractapi import ContractChaincode

from .application import ApplicationContract
from .base import LedgerContract
from .device import DeviceContract
from .network import NetworkContract
from .serializer import ContractSerializer

__all__ = ["CONTRACTS", "ContractChaincode", "new_chaincode"]

CONTRACTS: dict[str, type[LedgerContract]] = {
    "device": DeviceContract,
    "network": NetworkContract,
    "application": ApplicationContract,
}


def new_chaincode() -> ContractChaincode:
    cc = ContractChaincode.new_chaincode(*(cls() for cls in CONTRACTS.values()))
    cc.TransactionSerializer = ContractSerializer()  # same checks, cheap for plain strings
    return cc
