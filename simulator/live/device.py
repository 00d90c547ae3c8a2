"""The LoRaWAN side of one simulated end-device (pure): root keys, OTAA join, session keys,
data frames and downlink checks, all with services.lorawan.

- :meth:`LiveDevice.join_request` builds a JoinRequest with the next DevNonce (a counter);
- :meth:`LiveDevice.open_join_accept` decrypts a JoinAccept with the NwkKey (AppKey in 1.0),
  checks its MIC (1.1 OptNeg: JSIntKey over JoinReqType | JoinEUI | DevNonce) and derives the
  session keys; :meth:`commit_join` makes that the device's session once it heard it;
- :meth:`LiveDevice.uplink` builds a data frame (FCnt, FOpts with the pending MAC answers,
  FRMPayload encrypted with the AppSKey, MIC; 1.1: FOpts encrypted, two-key MIC);
- :meth:`LiveDevice.open_downlink` checks a data downlink (DevAddr, 32-bit FCntDown above the
  last one, MIC; 1.1: AFCntDown for application frames) and decrypts FOpts / FRMPayload.

State changes happen only in the ``commit_*`` methods, called when the simulated radio says
the device received the frame.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

from services.lorawan import (
    EUI64,
    FHDR,
    MHDR,
    AES128Key,
    DevAddr,
    FCtrl,
    JoinAcceptPayload,
    JoinRequestPayload,
    LoRaWANError,
    MACPayload,
    MacVersion,
    MType,
    PhyPayload,
    SessionKeys,
    derive_js_int_key,
    derive_session_keys_10,
    derive_session_keys_11,
    full_f_cnt,
)
from services.lorawan.maccommand import MacCommand, encode_mac_commands, parse_mac_commands

from .mac import RxSettings

MAX_F_OPTS = 15


class DownlinkRejected(Exception):
    """A downlink the device does not accept (not for it, bad MIC, replayed counter...)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def derive_root_key(secret: str, dev_eui: str, name: str) -> AES128Key:
    """A device root key derived from a scenario secret: the same scenario provisions and
    joins with the same keys run after run."""
    digest = hashlib.sha256(f"{secret}:{dev_eui.upper()}:{name}".encode()).digest()
    return AES128Key(digest[:16])


@dataclass(frozen=True, slots=True)
class JoinResult:
    accept: JoinAcceptPayload
    keys: SessionKeys
    dev_nonce: int
    opt_neg: bool


@dataclass(slots=True)
class Session:
    dev_addr: DevAddr
    keys: SessionKeys
    rx: RxSettings
    lorawan_11: bool
    #: channel table: index -> frequency (Hz); defaults then the CFList / NewChannelReq ones
    channels: dict[int, int]
    n_f_cnt_down: int | None = None
    a_f_cnt_down: int | None = None


@dataclass(frozen=True, slots=True)
class OpenedDownlink:
    confirmed: bool
    ack: bool
    f_pending: bool
    f_cnt: int
    f_port: int | None
    commands: tuple[MacCommand, ...]
    data: bytes
    app_frame: bool


@dataclass(slots=True)
class LiveDevice:
    dev_eui: EUI64
    join_eui: EUI64
    nwk_key: AES128Key
    mac_version: MacVersion
    app_key: AES128Key | None = None
    next_dev_nonce: int = 0
    last_dev_nonce: int | None = None
    session: Session | None = None
    pending_answers: list[MacCommand] = field(default_factory=list)
    ack_pending: bool = False
    #: FCntDown of the confirmed downlink the next uplink acknowledges (1.1 MIC: ConfFCnt)
    ack_f_cnt: int = 0
    #: the last data frame built: (engine f_cnt, bytes), reused for its retransmissions
    last_frame: tuple[int, bytes] | None = None

    # ------------------------------------------------------------------ join

    def join_request(self) -> bytes:
        nonce = self.next_dev_nonce & 0xFFFF
        self.next_dev_nonce = (nonce + 1) & 0xFFFF
        self.last_dev_nonce = nonce
        phy = PhyPayload(
            MHDR(MType.JOIN_REQUEST), JoinRequestPayload(self.join_eui, self.dev_eui, nonce)
        )
        phy.set_join_request_mic(self.nwk_key.value)
        return phy.to_bytes()

    def open_join_accept(self, data: bytes) -> JoinResult:
        """Decrypt and check a JoinAccept answering the last JoinRequest (no state change)."""
        if self.last_dev_nonce is None:
            raise DownlinkRejected("no_join_request")
        try:
            phy = PhyPayload.from_bytes(data)
            if phy.mhdr.m_type is not MType.JOIN_ACCEPT:
                raise DownlinkRejected("not_join_accept")
            phy.decrypt_join_accept_payload(self.nwk_key.value)
            accept = phy.payload
            assert isinstance(accept, JoinAcceptPayload)
            opt_neg = accept.dl_settings.opt_neg and self.mac_version.is_11
            if opt_neg:
                ok = phy.validate_join_accept_mic(
                    derive_js_int_key(self.nwk_key, self.dev_eui).value,
                    join_eui=self.join_eui,
                    dev_nonce=self.last_dev_nonce,
                    opt_neg=True,
                )
            else:
                ok = phy.validate_join_accept_mic(self.nwk_key.value)
            if not ok:
                raise DownlinkRejected("mic")
            if opt_neg:
                keys = derive_session_keys_11(
                    self.nwk_key,
                    self.app_key or self.nwk_key,
                    accept.join_nonce,
                    self.join_eui,
                    self.last_dev_nonce,
                )
            else:
                keys = derive_session_keys_10(
                    self.nwk_key, accept.join_nonce, accept.net_id, self.last_dev_nonce
                )
        except LoRaWANError as exc:
            raise DownlinkRejected("malformed") from exc
        return JoinResult(accept, keys, self.last_dev_nonce, opt_neg)

    def commit_join(
        self, result: JoinResult, default_channels: dict[int, int], rx2_freq_hz: int
    ) -> None:
        a = result.accept
        channels = dict(default_channels)
        if a.cf_list is not None and a.cf_list.cf_list_type == 0:
            first = len(default_channels)
            for i, f in enumerate(a.cf_list.frequencies):
                if f:
                    channels[first + i] = f
        rx = RxSettings(
            rx1_delay_s=max(1, a.rx_delay),
            rx1_dr_offset=a.dl_settings.rx1_dr_offset,
            rx2_dr=a.dl_settings.rx2_dr,
            rx2_freq_hz=rx2_freq_hz,
        )
        self.session = Session(a.dev_addr, result.keys, rx, result.opt_neg, channels)
        self.pending_answers.clear()
        self.ack_pending = False
        self.last_frame = None

    @property
    def is_11(self) -> bool:
        return self.session is not None and self.session.lorawan_11

    # ------------------------------------------------------------------ uplink

    def uplink(
        self,
        *,
        f_cnt: int,
        f_port: int,
        payload: bytes,
        confirmed: bool,
        dr: int,
        ch_index: int,
        adr: bool = True,
    ) -> bytes:
        """The data frame with counter ``f_cnt`` (its retransmissions reuse the same bytes)."""
        s = self.session
        if s is None:
            raise RuntimeError(f"{self.dev_eui}: no session (not joined)")
        if self.last_frame is not None and self.last_frame[0] == f_cnt:
            return self.last_frame[1]
        f_opts = b""
        while self.pending_answers:
            nxt = f_opts + self.pending_answers[0].to_bytes()
            if len(nxt) > MAX_F_OPTS:
                break
            f_opts = nxt
            self.pending_answers.pop(0)
        ack = self.ack_pending
        self.ack_pending = False
        mtype = MType.CONFIRMED_DATA_UP if confirmed else MType.UNCONFIRMED_DATA_UP
        fhdr = FHDR(s.dev_addr, FCtrl(adr=adr, ack=ack), f_cnt, f_opts)
        phy = PhyPayload(MHDR(mtype), MACPayload(fhdr, f_port, payload))
        k = s.keys
        phy.encrypt_frm_payload(k.app_s_key.value)
        if self.is_11:
            phy.encrypt_f_opts(k.nwk_s_enc_key.value)
            conf = self.ack_f_cnt
            phy.set_uplink_data_mic(
                MacVersion.V1_1_0, conf, dr, ch_index, k.f_nwk_s_int_key.value,
                k.s_nwk_s_int_key.value,
            )  # fmt: skip
        else:
            phy.set_uplink_data_mic(self.mac_version, 0, dr, ch_index, k.nwk_s_key.value)
        data = phy.to_bytes()
        self.last_frame = (f_cnt, data)
        return data

    # ---------------------------------------------------------------- downlink

    def open_downlink(self, data: bytes) -> OpenedDownlink:
        """Check and decrypt a data downlink (no state change); DownlinkRejected otherwise."""
        s = self.session
        if s is None:
            raise DownlinkRejected("not_joined")
        try:
            phy = PhyPayload.from_bytes(data)
            mt = phy.mhdr.m_type
            if mt not in (MType.UNCONFIRMED_DATA_DOWN, MType.CONFIRMED_DATA_DOWN):
                raise DownlinkRejected("not_data_down")
            p = phy.mac_payload()
            if p.fhdr.dev_addr != s.dev_addr:
                raise DownlinkRejected("dev_addr")
            app_frame = p.f_port is not None and p.f_port > 0
            last = s.a_f_cnt_down if (self.is_11 and app_frame) else s.n_f_cnt_down
            f_cnt = full_f_cnt(p.fhdr.f_cnt & 0xFFFF, last)
            if last is not None and f_cnt <= last:
                raise DownlinkRejected("f_cnt_replay")
            p.fhdr.f_cnt = f_cnt
            k = s.keys
            version = MacVersion.V1_1_0 if self.is_11 else self.mac_version
            last_up = self.last_frame[0] if self.last_frame is not None else 0
            if not phy.validate_downlink_data_mic(version, last_up, k.s_nwk_s_int_key.value):
                raise DownlinkRejected("mic")
            if self.is_11:
                phy.decrypt_f_opts(k.nwk_s_enc_key.value)
            if p.f_port == 0:
                phy.decrypt_frm_payload(k.nwk_s_enc_key.value)
                commands = tuple(parse_mac_commands(p.frm_payload, False))
                payload = b""
            else:
                commands = tuple(parse_mac_commands(p.fhdr.f_opts, False))
                if p.frm_payload:
                    phy.decrypt_frm_payload(k.app_s_key.value)
                payload = p.frm_payload
        except LoRaWANError as exc:
            raise DownlinkRejected("malformed") from exc
        return OpenedDownlink(
            confirmed=mt is MType.CONFIRMED_DATA_DOWN,
            ack=p.fhdr.f_ctrl.ack,
            f_pending=p.fhdr.f_ctrl.f_pending,
            f_cnt=f_cnt,
            f_port=p.f_port,
            commands=commands,
            data=payload,
            app_frame=app_frame,
        )

    def commit_downlink(self, dl: OpenedDownlink, answers: list[MacCommand]) -> None:
        s = self.session
        assert s is not None
        if self.is_11 and dl.app_frame:
            s.a_f_cnt_down = dl.f_cnt
        else:
            s.n_f_cnt_down = dl.f_cnt
        if dl.confirmed:
            self.ack_pending = True
            self.ack_f_cnt = dl.f_cnt
        self.pending_answers.extend(answers)


def encode_answers(answers: list[MacCommand]) -> bytes:
    return encode_mac_commands(answers)
