"""The one list of bus topics: name, message model and partition-key convention.

Names are ``component.entity.action``. Keys keep one device's events in order and put every
copy of one frame (heard by several gateways) on the same partition:

* frames from gateways (``gw.up``): DevAddr for data frames, DevEUI for join/rejoin requests
  (services.bus.keys.key_for_uplink), the gateway EUI when neither can be read;
* device events after the network server: DevEUI;
* frames to gateways (``gw.down``) and gateway events: gateway EUI;
* ledger records: zone.

Every topic ``t`` has a dead-letter topic ``t.dlq`` carrying services.bus.messages.DeadLetter.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from .errors import UnknownTopic
from .messages import (
    ApplicationEvent,
    ApplicationUplink,
    AppSKeyDelivery,
    BaseMessage,
    DeadLetter,
    DownlinkAck,
    DownlinkRequest,
    DownlinkTxAck,
    GatewayDownlink,
    GatewayStats,
    GatewayTxAck,
    GatewayUplink,
    JoinAccept,
    JoinEvent,
    JoinRequest,
    LedgerRecord,
    LinkAdrDecision,
    SessionChanged,
    UplinkMeta,
)

DLQ_SUFFIX = ".dlq"


class Topic(StrEnum):
    GW_UP = "gw.up"
    GW_DOWN = "gw.down"
    GW_TX_ACK = "gw.tx_ack"
    GW_STATS = "gw.stats"
    JS_JOIN_REQUEST = "js.join.request"
    JS_JOIN_ACCEPT = "js.join.accept"
    JS_APP_S_KEY = "js.app_s_key"
    NS_UP = "ns.up"
    NS_UP_META = "ns.up.meta"
    NS_JOIN = "ns.join"
    NS_ACK = "ns.ack"
    NS_TX_ACK = "ns.tx_ack"
    NS_SESSION_CHANGED = "ns.session_changed"
    AS_DOWN_SUBMIT = "as.down.submit"
    AS_DOWN_REQUEST = "as.down.request"
    AS_EVENT = "as.event"
    DRCC_LINK_ADR = "drcc.link_adr"
    LEDGER_TX = "ledger.tx"

    @property
    def model(self) -> type[BaseMessage]:
        return TOPICS[self].model

    @property
    def dlq(self) -> str:
        return dlq_topic(self.value)


@dataclass(frozen=True, slots=True)
class TopicSpec:
    name: str
    model: type[BaseMessage]
    key: str  # which identifier the producer uses as the partition key
    producer: str
    consumers: tuple[str, ...]


def _spec(
    topic: Topic, model: type[BaseMessage], key: str, producer: str, *consumers: str
) -> tuple[Topic, TopicSpec]:
    return topic, TopicSpec(topic.value, model, key, producer, consumers)


TOPICS: dict[str, TopicSpec] = dict(
    [
        _spec(Topic.GW_UP, GatewayUplink, "dev_addr|dev_eui", "gateway_bridge", "network_server"),
        _spec(Topic.GW_DOWN, GatewayDownlink, "gw_eui", "network_server", "gateway_bridge"),
        _spec(Topic.GW_TX_ACK, GatewayTxAck, "gw_eui", "gateway_bridge", "network_server"),
        _spec(Topic.GW_STATS, GatewayStats, "gw_eui", "gateway_bridge", "network_server", "api"),
        _spec(Topic.JS_JOIN_REQUEST, JoinRequest, "dev_eui", "network_server", "join_server"),
        _spec(Topic.JS_JOIN_ACCEPT, JoinAccept, "dev_eui", "join_server", "network_server"),
        _spec(Topic.JS_APP_S_KEY, AppSKeyDelivery, "dev_eui", "join_server", "app_handler"),
        _spec(Topic.NS_UP, ApplicationUplink, "dev_eui", "network_server", "app_handler"),
        _spec(Topic.NS_UP_META, UplinkMeta, "dev_eui", "network_server", "drcc"),
        _spec(Topic.NS_JOIN, JoinEvent, "dev_eui", "network_server", "app_handler"),
        _spec(Topic.NS_ACK, DownlinkAck, "dev_eui", "network_server", "app_handler"),
        _spec(Topic.NS_TX_ACK, DownlinkTxAck, "dev_eui", "network_server", "app_handler"),
        _spec(
            Topic.NS_SESSION_CHANGED, SessionChanged, "dev_eui", "network_server", "network_server"
        ),
        _spec(Topic.AS_DOWN_SUBMIT, DownlinkRequest, "dev_eui", "api", "app_handler"),
        _spec(Topic.AS_DOWN_REQUEST, DownlinkRequest, "dev_eui", "app_handler", "network_server"),
        _spec(Topic.AS_EVENT, ApplicationEvent, "dev_eui", "app_handler", "api"),
        _spec(Topic.DRCC_LINK_ADR, LinkAdrDecision, "dev_eui", "drcc", "network_server"),
        _spec(Topic.LEDGER_TX, LedgerRecord, "zone", "app_handler", "ledger_writer"),
    ]
)


def dlq_topic(topic: str) -> str:
    """The dead-letter topic of ``topic``."""
    return topic + DLQ_SUFFIX


def is_dlq(topic: str) -> bool:
    return topic.endswith(DLQ_SUFFIX)


def model_for(topic: str) -> type[BaseMessage]:
    """The message model of ``topic`` (DeadLetter for any ``<known topic>.dlq``)."""
    spec = TOPICS.get(topic)
    if spec is not None:
        return spec.model
    if is_dlq(topic) and topic[: -len(DLQ_SUFFIX)] in TOPICS:
        return DeadLetter
    raise UnknownTopic(topic)


def all_topics(include_dlq: bool = True) -> list[str]:
    """Every topic name, for creating them on a broker."""
    names = [str(n) for n in TOPICS]
    if include_dlq:
        names += [dlq_topic(n) for n in TOPICS]
    return names
