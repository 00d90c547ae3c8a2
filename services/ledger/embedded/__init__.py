"""The embedded ledger: the chaincode contracts run in-process against a hash-chained block
store per channel, with Fabric-like block cutting and MVCC validation."""

from .cutter import BlockCutter
from .ledger import ChannelPolicy, EmbeddedLedger, default_policy
from .store import ChannelStore, list_channels
from .stub import EmbeddedStub

__all__ = [
    "BlockCutter",
    "ChannelPolicy",
    "ChannelStore",
    "EmbeddedLedger",
    "EmbeddedStub",
    "default_policy",
    "list_channels",
]
