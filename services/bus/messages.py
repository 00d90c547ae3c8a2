"""Every message carried on the bus, as frozen pydantic v2 models.

Conventions (the same for every model):

* identifiers are upper-case hex strings, MSB first, the way operators print them:
  ``dev_eui``/``join_eui``/``gw_eui`` 16 chars, ``dev_addr`` 8 chars, keys 32 chars. Inputs are
  normalised (lower case, ``:``/``-`` separators and ``0x`` prefixes accepted);
* ``bytes`` fields (PHYPayloads, FRMPayloads, opaque contexts) are base64 in JSON;
* times are timezone-aware UTC ``datetime``; frequencies in Hz, bandwidths in Hz, power in dBm;
* every message has ``schema_version``. Adding an optional field does not bump it (unknown
  fields are ignored on decode); a breaking change bumps ``SCHEMA_VERSION`` of that model and
  the default of its ``schema_version`` field, and older consumers park such messages on the
  DLQ instead of misreading them.

The topic each model travels on, and its partition key, are listed in services.bus.topics.
"""

from __future__ import annotations

import base64
import re
from datetime import UTC, datetime
from typing import Annotated, Any, ClassVar, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    field_validator,
)

__all__ = [
    "AppSKeyDelivery",
    "ApplicationUplink",
    "BaseMessage",
    "DeadLetter",
    "DownlinkAck",
    "DownlinkRequest",
    "DownlinkTxAck",
    "GatewayDownlink",
    "GatewayStats",
    "GatewayTxAck",
    "GatewayUplink",
    "GwSignal",
    "JoinAccept",
    "JoinEvent",
    "JoinRequest",
    "LedgerRecord",
    "LinkAdrDecision",
    "RxMetadata",
    "UplinkMeta",
    "utc_now",
]


def utc_now() -> datetime:
    return datetime.now(UTC)


_HEX_RE = re.compile(r"^[0-9A-F]*$")


def _hex_normaliser(size: int, what: str) -> Any:
    def normalise(value: Any) -> Any:
        if isinstance(value, bytes | bytearray):
            value = bytes(value).hex()
        elif hasattr(value, "value") and isinstance(value.value, bytes):
            # services.lorawan.types EUI64 / DevAddr / AES128Key (MSB-first .value)
            value = value.value.hex()
        if not isinstance(value, str):
            raise ValueError(f"{what}: expected hex string")
        text = value.strip().replace(":", "").replace("-", "").upper()
        if text.startswith("0X"):
            text = text[2:]
        if len(text) != size * 2 or not _HEX_RE.match(text):
            raise ValueError(f"{what}: expected {size * 2} hex digits, got {value!r}")
        return text

    return normalise


EUIHex = Annotated[str, BeforeValidator(_hex_normaliser(8, "EUI-64"))]
DevAddrHex = Annotated[str, BeforeValidator(_hex_normaliser(4, "DevAddr"))]
NetIDHex = Annotated[str, BeforeValidator(_hex_normaliser(3, "NetID"))]
KeyHex = Annotated[str, BeforeValidator(_hex_normaliser(16, "AES-128 key"))]


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("datetime must be timezone-aware (UTC)")
    return value


def _b64(value: bytes) -> str:
    return base64.b64encode(value).decode("ascii")


# Standard base64 (RFC 4648 section 4, padded) in JSON; both alphabets accepted on input.
B64Bytes = Annotated[bytes, PlainSerializer(_b64, return_type=str, when_used="json")]

UtcDatetime = Annotated[datetime, AfterValidator(_aware)]
Modulation = Literal["LORA", "FSK"]
U32 = Annotated[int, Field(ge=0, le=0xFFFFFFFF)]


class BaseMessage(BaseModel):
    """Base of every bus message: frozen (safe to share between consumers), versioned."""

    model_config = ConfigDict(
        frozen=True,
        extra="ignore",
        allow_inf_nan=False,
        ser_json_bytes="base64",
        val_json_bytes="base64",
    )

    SCHEMA_VERSION: ClassVar[int] = 1

    schema_version: int = 1

    @field_validator("schema_version")
    @classmethod
    def _known_version(cls, value: int) -> int:
        if value < 1 or value > cls.SCHEMA_VERSION:
            raise ValueError(
                f"{cls.__name__} schema_version {value} not supported "
                f"(this build understands 1..{cls.SCHEMA_VERSION})"
            )
        return value


# --------------------------------------------------------------------------- radio metadata


class RxMetadata(BaseModel):
    """What one gateway saw of one uplink (Semtech ``rxpk`` plus bridge-side context)."""

    model_config = BaseMessage.model_config

    gw_eui: EUIHex
    tmst: U32 | None = None  # concentrator counter, microseconds, wraps at 2**32
    time: UtcDatetime | None = None  # gateway's UTC time of reception (GPS when available)
    tmms: int | None = None  # GPS time, ms since GPS epoch
    freq_hz: int
    chan: int | None = None  # IF channel of the concentrator
    rf_chain: int | None = None
    crc_ok: bool = True
    modulation: Modulation = "LORA"
    sf: int | None = Field(default=None, ge=5, le=12)
    bw_hz: int | None = None
    dr: str | None = None  # datr as the gateway wrote it: "SF7BW125" (LoRa)
    bitrate: int | None = None  # FSK only
    code_rate: str | None = None  # "4/5"
    rssi: float
    snr: float | None = None
    size: int = Field(ge=0)
    received_at: UtcDatetime  # when the gateway bridge received the datagram
    zone: str | None = None  # zone of the gateway (filled by the bridge from the registry)
    context: B64Bytes = b""  # opaque bridge context, echoed back on downlinks


class GwSignal(BaseModel):
    """Per-gateway signal of one uplink, the part DRCC/ADR need."""

    model_config = BaseMessage.model_config

    gw_eui: EUIHex
    rssi: float
    snr: float | None = None


# --------------------------------------------------------------------------- gateway topics


class GatewayUplink(BaseMessage):
    """gw.up: one copy of an uplink, as received by one gateway."""

    uplink_id: str  # unique per (gateway, datagram, rxpk); uuid4 hex
    phy_payload: B64Bytes
    rx: RxMetadata

    @property
    def gw_eui(self) -> str:
        return self.rx.gw_eui


class GatewayDownlink(BaseMessage):
    """gw.down: one frame for one gateway to transmit (Semtech ``txpk``)."""

    downlink_id: str
    gw_eui: EUIHex
    phy_payload: B64Bytes
    immediately: bool = False
    tmst: U32 | None = None  # concentrator counter to transmit at (class A: rx tmst + delay)
    tmms: int | None = None  # GPS time (class B)
    freq_hz: int
    rf_chain: int = 0
    power_dbm: int
    modulation: Modulation = "LORA"
    sf: int | None = Field(default=None, ge=5, le=12)
    bw_hz: int | None = None
    dr: str | None = None  # "SF12BW125"
    bitrate: int | None = None  # FSK
    fdev_hz: int | None = None  # FSK
    code_rate: str = "4/5"
    invert_polarity: bool = True
    no_crc: bool = True
    preamble: int | None = None
    context: B64Bytes = b""
    dev_eui: EUIHex | None = None  # for logs and tx-ack routing
    created_at: UtcDatetime = Field(default_factory=utc_now)
    # the network server's retry context (opaque, versioned by its producer): the bridge keeps
    # it with the PULL_RESP token and echoes it on gw.tx_ack, so any network-server instance
    # can finish the downlink (RX2 retry, ns.tx_ack). Empty from producers that have none.
    retry: B64Bytes = b""


class GatewayTxAck(BaseMessage):
    """gw.tx_ack: the gateway's TX_ACK for a downlink. ``error`` None means sent."""

    downlink_id: str
    gw_eui: EUIHex
    error: str | None = None  # "TOO_LATE", "TOO_EARLY", "COLLISION_PACKET", "TX_FREQ", ...
    received_at: UtcDatetime = Field(default_factory=utc_now)
    retry: B64Bytes = b""  # GatewayDownlink.retry of that downlink, echoed unchanged


class GatewayStats(BaseMessage):
    """gw.stats: a gateway's periodic status (Semtech ``stat``) plus bridge-side liveness."""

    gw_eui: EUIHex
    time: UtcDatetime | None = None
    latitude: float | None = None
    longitude: float | None = None
    altitude_m: float | None = None
    rx_received: int = 0  # rxnb
    rx_ok: int = 0  # rxok
    rx_forwarded: int = 0  # rxfw
    ack_ratio_pct: float | None = None  # ackr
    tx_requested: int = 0  # dwnb
    tx_emitted: int = 0  # txnb
    ip: str | None = None
    zone: str | None = None
    received_at: UtcDatetime = Field(default_factory=utc_now)


# --------------------------------------------------------------------------- join server


class JoinRequest(BaseMessage):
    """js.join.request: a deduplicated JoinRequest forwarded by the network server."""

    dedup_id: str
    phy_payload: B64Bytes
    dev_eui: EUIHex
    join_eui: EUIHex
    dev_nonce: int = Field(ge=0, le=0xFFFF)
    net_id: NetIDHex
    region: str  # "EU868", "US915", ...
    dr: int
    freq_hz: int
    rx: list[RxMetadata]
    received_at: UtcDatetime


class JoinAccept(BaseMessage):
    """js.join.accept: the join server's answer, addressed to the network server only.

    Accepted: ``phy_payload`` is the encrypted JoinAccept and the three network session keys
    are set (for 1.0.x all three equal the NwkSKey). Rejected: ``reason`` is set and no keys.
    The AppSKey never travels here; see AppSKeyDelivery.
    """

    dedup_id: str
    dev_eui: EUIHex
    join_eui: EUIHex
    accepted: bool
    reason: str | None = None  # "mic_mismatch", "dev_nonce_reused", "unknown_device", ...
    dev_addr: DevAddrHex | None = None
    session_id: str | None = None
    phy_payload: B64Bytes | None = None
    mac_version: str | None = None  # services.lorawan.version.MacVersion value
    dev_nonce: int | None = Field(default=None, ge=0, le=0xFFFF)
    join_nonce: int | None = Field(default=None, ge=0, le=0xFFFFFF)
    f_nwk_s_int_key: KeyHex | None = None
    s_nwk_s_int_key: KeyHex | None = None
    nwk_s_enc_key: KeyHex | None = None
    rx1_dr_offset: int = 0
    rx2_dr: int = 0
    rx2_freq_hz: int | None = None
    rx_delay_s: int = 1
    cf_list: B64Bytes | None = None
    decided_at: UtcDatetime = Field(default_factory=utc_now)


class AppSKeyDelivery(BaseMessage):
    """js.app_s_key: the AppSKey of a new session, for the application handler only.

    ``app_s_key_wrapped`` is the key wrapped (RFC 3394 AES key wrap) with the KEK named by
    ``kek_label``; an empty label means the key is in clear hex (development only).
    """

    dev_eui: EUIHex
    join_eui: EUIHex
    dev_addr: DevAddrHex
    session_id: str
    mac_version: str
    kek_label: str = ""
    app_s_key_wrapped: str  # hex: 48 chars when wrapped, 32 in clear
    created_at: UtcDatetime = Field(default_factory=utc_now)


# --------------------------------------------------------------------------- network server


class ApplicationUplink(BaseMessage):
    """ns.up: a deduplicated, MIC-checked data uplink; FRMPayload still AppSKey-encrypted."""

    dedup_id: str
    dev_eui: EUIHex
    dev_addr: DevAddrHex
    session_id: str | None = None
    application_id: str | None = None
    f_cnt: U32  # full 32-bit FCntUp
    f_port: int | None = Field(default=None, ge=0, le=255)
    frm_payload: B64Bytes = b""
    confirmed: bool = False
    adr: bool = False
    dr: int
    freq_hz: int
    region: str | None = None
    mac_version: str | None = None
    # the session's downlink counters after this uplink (the app handler reserves the next
    # AFCntDown / NFCntDown for encrypting application downlinks from these)
    n_f_cnt_down: U32 | None = None
    a_f_cnt_down: U32 | None = None
    rx: list[RxMetadata]
    received_at: UtcDatetime


class UplinkMeta(BaseMessage):
    """ns.up.meta: the radio facts of one uplink, for DRCC and ADR."""

    dedup_id: str
    dev_eui: EUIHex
    dev_addr: DevAddrHex
    f_cnt: U32
    adr: bool = False
    dr: int
    tx_power_index: int | None = None  # last index the device acknowledged, if known
    nb_trans: int = 1
    freq_hz: int
    channel: int | None = None  # index in the region's channel plan
    region: str | None = None
    signals: list[GwSignal]
    gw_count: int = Field(ge=0)
    received_at: UtcDatetime
    # additive (same schema version): the device's enabled channel indices as the network
    # server knows them, and the PHYPayload size in bytes; None when the sender does not say
    enabled_channels: list[int] | None = None
    size: int | None = Field(default=None, ge=0)


class JoinEvent(BaseMessage):
    """ns.join: a device joined (the NS sent the JoinAccept), for the app handler."""

    dedup_id: str
    dev_eui: EUIHex
    join_eui: EUIHex
    dev_addr: DevAddrHex
    session_id: str
    mac_version: str
    application_id: str | None = None
    rx: list[RxMetadata] = []
    received_at: UtcDatetime


class SessionChanged(BaseMessage):
    """ns.session_changed: a network-server instance changed a device session outside the
    uplink path (a queued downlink, a MAC command to send, a join): every other instance drops
    its cached copy, so the device's next uplink, whichever instance handles it, sees the
    change (services/network_server/session_cache.py)."""

    dev_eui: EUIHex
    dev_addr: DevAddrHex | None = None  # the session's DevAddr (a join: the new one)
    origin: str  # the sending instance (it ignores its own messages)
    changed_at: UtcDatetime


class ApplicationEvent(BaseMessage):
    """as.event: one application event (up, join, ack, tx_ack, ...) exactly as the app handler
    hands it to MQTT and webhooks (``event``: its JSON dict), for the API's event stream
    (GET /api/events) when the app handler runs in another process."""

    dev_eui: str
    event: dict[str, Any]
    emitted_at: UtcDatetime


class DownlinkAck(BaseMessage):
    """ns.ack: a confirmed downlink was acknowledged by the device (or given up: nack)."""

    dev_eui: EUIHex
    request_id: str  # DownlinkRequest.request_id
    acknowledged: bool
    session_id: str | None = None
    f_cnt_down: U32 | None = None  # the counter the downlink was (to be) sent with
    reason: str | None = None  # for nacks: "no_ack", "f_cnt_stale", "session_changed", ...
    current_f_cnt_down: U32 | None = None  # "f_cnt_stale": the NS's current counter
    at: UtcDatetime = Field(default_factory=utc_now)


class DownlinkTxAck(BaseMessage):
    """ns.tx_ack: a downlink from the device queue was sent by a gateway (or failed)."""

    dev_eui: EUIHex
    request_id: str | None = None  # None for NS-originated frames (MAC-only, join accept)
    downlink_id: str
    gw_eui: EUIHex
    f_cnt_down: U32 | None = None
    error: str | None = None
    at: UtcDatetime = Field(default_factory=utc_now)


# --------------------------------------------------------------------------- application side


class DownlinkRequest(BaseMessage):
    """An application downlink for a device, on two topics.

    ``as.down.submit`` (API / MQTT -> app handler): ``encrypted`` False, ``frm_payload`` plain.
    ``as.down.request`` (app handler -> network server): ``encrypted`` True, ``frm_payload``
    encrypted with the AppSKey for ``f_cnt_down`` of ``session_id``; the network server sends
    it with exactly that counter, or answers ns.ack ``reason="f_cnt_stale"``.
    """

    request_id: str
    dev_eui: EUIHex
    f_port: int = Field(ge=1, le=223)
    frm_payload: B64Bytes
    encrypted: bool = False
    f_cnt_down: U32 | None = None  # AFCntDown/NFCntDown used to encrypt, when encrypted
    session_id: str | None = None
    confirmed: bool = False
    requested_at: UtcDatetime = Field(default_factory=utc_now)


class LinkAdrDecision(BaseMessage):
    """drcc.link_adr: a data-rate / power / channel decision to send as LinkADRReq."""

    decision_id: str
    dev_eui: EUIHex
    dr: int
    tx_power_index: int
    channels: list[int]  # enabled channel indices (the NS builds ChMask blocks)
    nb_trans: int = Field(default=1, ge=1, le=15)
    policy: str  # plugin name: "drcc", "lorawan_adr", ...
    reason: str = ""
    based_on_f_cnt: U32 | None = None
    decided_at: UtcDatetime = Field(default_factory=utc_now)


class LedgerRecord(BaseMessage):
    """ledger.tx: one record for a ledger channel of a zone (batched by the ledger writer)."""

    idempotency_key: str  # e.g. "up:<dev_eui>:<f_cnt>:<session_id>"; a replay is dropped
    channel: Literal["device", "network", "application"]
    kind: str  # "uplink", "join", "gateway", "link_adr", ...
    zone: str
    key: str  # ledger key of the record (e.g. "<dev_eui>/<f_cnt>")
    payload: dict[str, Any]
    created_at: UtcDatetime = Field(default_factory=utc_now)


# --------------------------------------------------------------------------- dead letters


class DeadLetter(BaseMessage):
    """<topic>.dlq: a message a consumer group could not decode or handle."""

    topic: str
    key: str
    partition: int
    offset: int
    group: str
    reason: Literal["decode", "handler"]
    error_type: str
    error: str
    attempts: int
    raw: B64Bytes
    headers: dict[str, B64Bytes] = {}
    failed_at: UtcDatetime = Field(default_factory=utc_now)
