"""The join server's pure core: JoinRequest in, JoinAccept (and the AppSKey) out.

No I/O here: the adapter (service.py) loads the device and its profile, asks the storage for
the DevNonce verdict and the next JoinNonce, picks a DevAddr among :class:`DevAddrAllocator`'s
proposals, and publishes what :class:`JoinServerCore` returns. Clock, RNG and session-id
source are injected.

Steps of one join:

1. :meth:`JoinServerCore.verify`: decode the PHYPayload, check it against the bus message and
   the device (enabled, OTAA profile, root keys, JoinEUI), the region, then the JoinRequest
   MIC with the root key (NwkKey; the 1.0.x AppKey is stored as ``nwk_key``). Raises
   :class:`JoinRejected`.
2. (adapter) DevNonce: ``strict_increasing`` for 1.0.4 and 1.1, any reuse refused before;
   recorded only after the MIC holds. JoinNonce: the device's 24-bit counter.
3. :meth:`JoinServerCore.accept`: JoinAccept (DLSettings with OptNeg for 1.1, RxDelay,
   CFList), its MIC (1.0: NwkKey over MHDR|payload; 1.1: JSIntKey over
   JoinReqType|JoinEUI|DevNonce|MHDR|payload), encryption (NwkKey; JSEncKey for rejoins),
   session keys, and the :class:`JoinRecord` that lets a redelivery be answered identically.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Protocol

from services.bus.messages import AppSKeyDelivery, JoinAccept, JoinRequest
from services.lorawan.errors import LoRaWANError, UnsupportedRegion
from services.lorawan.join import CFList, DLSettings, JoinAcceptPayload, JoinRequestPayload
from services.lorawan.keys import (
    SessionKeys,
    derive_js_enc_key,
    derive_js_int_key,
    derive_session_keys_10,
    derive_session_keys_11,
)
from services.lorawan.mhdr import MHDR, MType
from services.lorawan.phy_payload import JOIN_REQUEST_TYPE, PhyPayload
from services.lorawan.region import Region, get_region
from services.lorawan.types import EUI64, AES128Key, DevAddr, NetID
from services.lorawan.version import MacVersion
from services.storage.domain import Device, DeviceProfile

from .channel_plan import RxDefaults, RxSettings, cf_list, rx_settings
from .errors import JoinRejected, RejectReason
from .keywrap import AppSKeyWrapper

_STRICT_DEV_NONCE = (MacVersion.V1_0_4, MacVersion.V1_1_0)

Clock = Callable[[], datetime]
SessionIdSource = Callable[[], uuid.UUID]


class RandomBits(Protocol):
    def getrandbits(self, k: int, /) -> int: ...


@dataclass(frozen=True, slots=True)
class VerifiedJoin:
    """A JoinRequest whose MIC holds for a known, enabled OTAA device."""

    request: JoinRequest
    dev_eui: EUI64
    join_eui: EUI64
    dev_nonce: int
    mac_version: MacVersion
    region: Region
    nwk_key: AES128Key  # 1.0.x: the AppKey
    app_key: AES128Key | None  # 1.1 only
    rx: RxSettings
    cf_list: CFList | None

    @property
    def strict_increasing(self) -> bool:
        """DevNonce is a counter (1.0.4, 1.1); before 1.0.4 it is random, never reused."""
        return self.mac_version in _STRICT_DEV_NONCE


@dataclass(frozen=True, slots=True)
class JoinRecord:
    """Everything needed to rebuild an answer byte for byte, except the (secret) keys, which
    are derived again from the root keys. Persisted as a device event, JSON-able."""

    dedup_id: str
    dev_eui: str
    join_eui: str
    dev_nonce: int
    join_nonce: int
    dev_addr: str
    session_id: str
    mac_version: str
    net_id: str
    rx1_delay_s: int
    rx1_dr_offset: int
    rx2_dr: int
    rx2_freq_hz: int
    cf_list: str  # hex, "" for none
    decided_at: str  # ISO 8601
    phy_payload: str  # hex of the encrypted JoinAccept (not secret: it goes on the air)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> JoinRecord:
        names = cls.__dataclass_fields__
        return cls(**{k: data[k] for k in names})


@dataclass(frozen=True, slots=True)
class JoinOutcome:
    accept: JoinAccept  # js.join.accept (network server)
    app_s_key: AppSKeyDelivery  # js.app_s_key (application handler)
    record: JoinRecord
    keys: SessionKeys


class DevAddrAllocator:
    """Random DevAddrs under a NetID (the NwkAddr from the injected RNG)."""

    def __init__(self, net_id: NetID, rng: RandomBits) -> None:
        self.net_id = net_id
        self._rng = rng
        self._bits = DevAddr.nwk_addr_bits(net_id)

    def propose(self) -> DevAddr:
        return DevAddr.for_net_id(self.net_id, self._rng.getrandbits(self._bits))


def build_join_accept(
    *,
    nwk_key: AES128Key,
    dev_eui: EUI64,
    join_eui: EUI64,
    dev_nonce: int,
    payload: JoinAcceptPayload,
    join_req_type: int = JOIN_REQUEST_TYPE,
) -> bytes:
    """The encrypted JoinAccept PHYPayload. OptNeg in ``payload.dl_settings`` selects the 1.1
    MIC (JSIntKey over JoinReqType|JoinEUI|DevNonce|MHDR|payload); answers to rejoins
    (``join_req_type`` 0..2) are encrypted with JSEncKey, join-request answers with NwkKey."""
    phy = PhyPayload(MHDR(MType.JOIN_ACCEPT), payload)
    if payload.dl_settings.opt_neg:
        phy.set_join_accept_mic(
            derive_js_int_key(nwk_key, dev_eui).value,
            join_req_type,
            join_eui,
            dev_nonce,
            opt_neg=True,
        )
    else:
        phy.set_join_accept_mic(nwk_key.value)
    enc_key = nwk_key if join_req_type == JOIN_REQUEST_TYPE else derive_js_enc_key(nwk_key, dev_eui)
    phy.encrypt_join_accept_payload(enc_key.value)
    return phy.to_bytes()


class JoinServerCore:
    def __init__(
        self,
        *,
        net_id: NetID,
        wrapper: AppSKeyWrapper,
        clock: Clock,
        new_session_id: SessionIdSource = uuid.uuid4,
        rx_defaults: RxDefaults | None = None,
        cf_list_frequencies: Mapping[str, Sequence[int]] | None = None,
        sub_bands: Sequence[int] = (2,),
    ) -> None:
        self.net_id = net_id
        self._wrapper = wrapper
        self._clock = clock
        self._new_session_id = new_session_id
        self._rx_defaults = rx_defaults or RxDefaults()
        self._frequencies = dict(cf_list_frequencies or {})
        self._sub_bands = tuple(sub_bands)
        # a misconfigured channel plan fails here, at start-up, not on a join
        # (unknown region names, frequencies out of band, sub-bands outside 1..8)
        for name in (*self._frequencies, "US915"):
            cf_list(get_region(name), MacVersion.V1_0_4, self._frequencies, self._sub_bands)

    # ------------------------------------------------------------------ verification

    def verify(
        self, req: JoinRequest, device: Device | None, profile: DeviceProfile | None
    ) -> VerifiedJoin:
        """Check everything that needs no storage write; raise JoinRejected otherwise."""
        jr = self._decode(req)
        if device is None:
            raise JoinRejected(RejectReason.UNKNOWN_DEVICE, f"DevEUI {jr.dev_eui}")
        if device.dev_eui != jr.dev_eui:
            raise JoinRejected(RejectReason.MALFORMED, "device record of another DevEUI")
        if not device.enabled:
            raise JoinRejected(RejectReason.DEVICE_DISABLED)
        if profile is None:
            raise JoinRejected(RejectReason.NOT_OTAA, "device has no device profile")
        if not profile.supports_join:
            raise JoinRejected(RejectReason.NOT_OTAA, f"profile {profile.name!r} is ABP only")
        try:
            version = MacVersion.parse(profile.mac_version)
        except LoRaWANError as exc:
            raise JoinRejected(RejectReason.UNSUPPORTED_MAC_VERSION, str(exc)) from exc
        if device.join_eui is not None and device.join_eui != jr.join_eui:
            raise JoinRejected(
                RejectReason.JOIN_EUI_MISMATCH,
                f"JoinEUI {jr.join_eui}, device has {device.join_eui}",
            )
        nwk_key = device.nwk_key
        if nwk_key is None:
            raise JoinRejected(RejectReason.NOT_OTAA, "no root key (nwk_key)")
        if version.is_11 and device.app_key is None:
            raise JoinRejected(RejectReason.NOT_OTAA, "LoRaWAN 1.1 device without app_key")
        try:
            region = get_region(req.region)
        except UnsupportedRegion as exc:
            raise JoinRejected(RejectReason.UNSUPPORTED_REGION, str(exc)) from exc
        phy = PhyPayload.from_bytes(req.phy_payload)
        if not phy.validate_join_request_mic(nwk_key.value):
            raise JoinRejected(RejectReason.MIC_MISMATCH)
        cfl = cf_list(region, version, self._frequencies, self._sub_bands)
        return VerifiedJoin(
            request=req,
            dev_eui=jr.dev_eui,
            join_eui=jr.join_eui,
            dev_nonce=jr.dev_nonce,
            mac_version=version,
            region=region,
            nwk_key=nwk_key,
            app_key=device.app_key if version.is_11 else None,
            rx=rx_settings(region, profile, self._rx_defaults),
            cf_list=cfl,
        )

    @staticmethod
    def _decode(req: JoinRequest) -> JoinRequestPayload:
        try:
            phy = PhyPayload.from_bytes(req.phy_payload)
        except LoRaWANError as exc:
            raise JoinRejected(RejectReason.MALFORMED, str(exc)) from exc
        jr = phy.payload
        if phy.mhdr.m_type is not MType.JOIN_REQUEST or not isinstance(jr, JoinRequestPayload):
            raise JoinRejected(
                RejectReason.MALFORMED, f"{phy.mhdr.m_type.label}, not a JoinRequest"
            )
        if (
            str(jr.dev_eui) != req.dev_eui
            or str(jr.join_eui) != req.join_eui
            or jr.dev_nonce != req.dev_nonce
        ):
            raise JoinRejected(RejectReason.MALFORMED, "message fields differ from the PHYPayload")
        return jr

    # ------------------------------------------------------------------ answers

    def accept(self, v: VerifiedJoin, *, join_nonce: int, dev_addr: DevAddr) -> JoinOutcome:
        """A new session: JoinAccept, keys and the record of this answer."""
        record = JoinRecord(
            dedup_id=v.request.dedup_id,
            dev_eui=str(v.dev_eui),
            join_eui=str(v.join_eui),
            dev_nonce=v.dev_nonce,
            join_nonce=join_nonce,
            dev_addr=str(dev_addr),
            session_id=str(self._new_session_id()),
            mac_version=v.mac_version.value,
            net_id=str(self.net_id),
            rx1_delay_s=v.rx.rx1_delay_s,
            rx1_dr_offset=v.rx.rx1_dr_offset,
            rx2_dr=v.rx.rx2_dr,
            rx2_freq_hz=v.rx.rx2_freq_hz,
            cf_list="" if v.cf_list is None else v.cf_list.to_bytes().hex(),
            decided_at=self._clock().isoformat(),
            phy_payload="",
        )
        return self.replay(v, record)

    def replay(self, v: VerifiedJoin, record: JoinRecord) -> JoinOutcome:
        """The answer described by ``record`` (a new one, or a redelivery's earlier answer)."""
        net_id = NetID.from_hex(record.net_id)
        dev_addr = DevAddr.from_hex(record.dev_addr)
        cfl = CFList.from_bytes(bytes.fromhex(record.cf_list)) if record.cf_list else None
        payload = JoinAcceptPayload(
            join_nonce=record.join_nonce,
            net_id=net_id,
            dev_addr=dev_addr,
            dl_settings=DLSettings(v.mac_version.is_11, record.rx1_dr_offset, record.rx2_dr),
            rx_delay=record.rx1_delay_s,
            cf_list=cfl,
        )
        wire = build_join_accept(
            nwk_key=v.nwk_key,
            dev_eui=v.dev_eui,
            join_eui=v.join_eui,
            dev_nonce=v.dev_nonce,
            payload=payload,
        )
        if v.mac_version.is_11:
            assert v.app_key is not None
            keys = derive_session_keys_11(
                v.nwk_key, v.app_key, record.join_nonce, v.join_eui, v.dev_nonce
            )
        else:
            keys = derive_session_keys_10(v.nwk_key, record.join_nonce, net_id, v.dev_nonce)
        if not record.phy_payload:
            record = _with_payload(record, wire.hex())
        decided_at = datetime.fromisoformat(record.decided_at)
        accept = JoinAccept(
            dedup_id=v.request.dedup_id,
            dev_eui=record.dev_eui,
            join_eui=record.join_eui,
            accepted=True,
            dev_addr=record.dev_addr,
            session_id=record.session_id,
            phy_payload=wire,
            mac_version=record.mac_version,
            dev_nonce=record.dev_nonce,
            join_nonce=record.join_nonce,
            f_nwk_s_int_key=str(keys.f_nwk_s_int_key),
            s_nwk_s_int_key=str(keys.s_nwk_s_int_key),
            nwk_s_enc_key=str(keys.nwk_s_enc_key),
            rx1_dr_offset=record.rx1_dr_offset,
            rx2_dr=record.rx2_dr,
            rx2_freq_hz=record.rx2_freq_hz,
            rx_delay_s=record.rx1_delay_s,
            cf_list=None if cfl is None else cfl.to_bytes(),
            decided_at=decided_at,
        )
        delivery = AppSKeyDelivery(
            dev_eui=record.dev_eui,
            join_eui=record.join_eui,
            dev_addr=record.dev_addr,
            session_id=record.session_id,
            mac_version=record.mac_version,
            kek_label=self._wrapper.kek_label,
            app_s_key_wrapped=self._wrapper.wrap(keys.app_s_key),
            created_at=decided_at,
        )
        return JoinOutcome(accept, delivery, record, keys)

    def reject(
        self, req: JoinRequest, reason: RejectReason, mac_version: str | None = None
    ) -> JoinAccept:
        return JoinAccept(
            dedup_id=req.dedup_id,
            dev_eui=req.dev_eui,
            join_eui=req.join_eui,
            accepted=False,
            reason=reason.value,
            dev_nonce=req.dev_nonce,
            mac_version=mac_version,
            decided_at=self._clock(),
        )


def _with_payload(record: JoinRecord, phy_payload_hex: str) -> JoinRecord:
    data = record.to_dict()
    data["phy_payload"] = phy_payload_hex
    return JoinRecord.from_dict(data)
