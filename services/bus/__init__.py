"""The message bus: one interface (Bus), an in-process adapter and a Kafka adapter.

Services import from here::

    from services.bus import Bus, Envelope, Topic, make_bus
    from services.bus.messages import GatewayUplink
"""

from .base import (
    DEFAULT_CONCURRENCY,
    Bus,
    BusCounters,
    Completion,
    Envelope,
    Handler,
    RetryPolicy,
)
from .errors import (
    BusClosed,
    BusError,
    DecodeError,
    PermanentFailure,
    TopicMismatch,
    UnknownTopic,
    UnroutableFrame,
    UnsupportedSchemaVersion,
)
from .factory import make_bus
from .keys import key_for_uplink, key_for_uplink_or, partition_for
from .memory import MemoryBus
from .messages import BaseMessage
from .settings import BusSettings, KafkaSettings
from .topics import TOPICS, Topic, TopicSpec, all_topics, dlq_topic, model_for

__all__ = [
    "DEFAULT_CONCURRENCY",
    "TOPICS",
    "BaseMessage",
    "Bus",
    "BusClosed",
    "BusCounters",
    "BusError",
    "BusSettings",
    "Completion",
    "DecodeError",
    "Envelope",
    "Handler",
    "KafkaSettings",
    "MemoryBus",
    "PermanentFailure",
    "RetryPolicy",
    "Topic",
    "TopicMismatch",
    "TopicSpec",
    "UnknownTopic",
    "UnroutableFrame",
    "UnsupportedSchemaVersion",
    "all_topics",
    "dlq_topic",
    "key_for_uplink",
    "key_for_uplink_or",
    "make_bus",
    "model_for",
    "partition_for",
]
