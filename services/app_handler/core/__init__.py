"""The pure core of the application handler: payload crypto, counters, events, ledger records.

Plain data in, plain data out; no I/O (the adapter is :mod:`services.app_handler.service`).
"""

from __future__ import annotations

from .counters import next_f_cnt_down, reported_counter, uses_a_f_cnt_down
from .events import (
    AckEvent,
    AppEvent,
    DeviceInfo,
    DeviceJoinEvent,
    GatewayRx,
    TxAckEvent,
    UplinkEvent,
    Webhook,
    ack_event,
    decode_object,
    join_event,
    tx_ack_event,
    uplink_event,
)
from .frm import decrypt_uplink, encrypt_downlink
from .keys import session_uuid, unwrap_app_s_key
from .ledger import join_record, uplink_record, zone_of

__all__ = [
    "AckEvent",
    "AppEvent",
    "DeviceInfo",
    "DeviceJoinEvent",
    "GatewayRx",
    "TxAckEvent",
    "UplinkEvent",
    "Webhook",
    "ack_event",
    "decode_object",
    "decrypt_uplink",
    "encrypt_downlink",
    "join_event",
    "join_record",
    "next_f_cnt_down",
    "reported_counter",
    "session_uuid",
    "tx_ack_event",
    "unwrap_app_s_key",
    "uplink_event",
    "uplink_record",
    "uses_a_f_cnt_down",
    "zone_of",
]
