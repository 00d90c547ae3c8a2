"""``hyperlora frame``: decode and encode LoRaWAN frames from the command line.

``decode`` prints one JSON object (every field, ``mic_valid`` true/false/null when no key was
given, the decrypted FRMPayload and the MAC commands); ``encode`` prints a frame as hex (or
base64). Bad input gives a one-line error on stderr and exit code 2.
"""

from __future__ import annotations

import base64
import binascii
import importlib
import json
from typing import Annotated, Any

import typer

from services.lorawan import (
    EUI64,
    FHDR,
    MHDR,
    AES128Key,
    DevAddr,
    EncryptedJoinAcceptPayload,
    FCtrl,
    JoinAcceptPayload,
    JoinRequestPayload,
    LoRaWANError,
    MACPayload,
    MacVersion,
    MType,
    PhyPayload,
    RejoinRequestPayload,
    derive_js_int_key,
)

app = typer.Typer(
    name="frame",
    help="Decode and encode LoRaWAN frames (PHYPayload).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

KeyOpt = Annotated[str | None, typer.Option(help="AES-128 key, 32 hex digits")]


class _BadInput(Exception):
    """Input the command cannot use (reported on one line, exit code 2)."""


def _fail(message: str) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(2)


def _key(text: str | None, name: str) -> AES128Key | None:
    if text is None:
        return None
    try:
        return AES128Key.from_hex(text)
    except LoRaWANError as exc:
        raise _BadInput(f"--{name.replace('_', '-')}: {exc}") from exc


def _eui(text: str | None, name: str) -> EUI64 | None:
    if text is None:
        return None
    try:
        return EUI64.from_hex(text)
    except LoRaWANError as exc:
        raise _BadInput(f"--{name.replace('_', '-')}: {exc}") from exc


def _hex(text: str, name: str) -> bytes:
    cleaned = text.strip().replace(" ", "").replace(":", "")
    if cleaned.lower().startswith("0x"):
        cleaned = cleaned[2:]
    try:
        return bytes.fromhex(cleaned)
    except ValueError as exc:
        raise _BadInput(f"--{name}: not hexadecimal: {text!r}") from exc


def parse_frame_text(text: str) -> bytes:
    """Frame bytes from hex (optionally 0x-prefixed, spaces allowed) or base64."""
    cleaned = text.strip().replace(" ", "")
    hex_part = cleaned[2:] if cleaned.lower().startswith("0x") else cleaned
    if hex_part and len(hex_part) % 2 == 0:
        try:
            return bytes.fromhex(hex_part)
        except ValueError:
            pass
    try:
        raw = base64.b64decode(cleaned, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise _BadInput(f"frame is neither hex nor base64: {text!r}") from exc
    if not raw:
        raise _BadInput("empty frame")
    return raw


def _mac_commands(data: bytes, uplink: bool) -> tuple[list[dict[str, Any]] | None, str | None]:
    """Decode MAC commands with services.lorawan.maccommand if it is available."""
    if not data:
        return [], None
    try:
        module = importlib.import_module("services.lorawan.maccommand")
    except ImportError:
        return None, "services.lorawan.maccommand is not available"
    try:
        cmds = module.parse_mac_commands(data, uplink)
    except LoRaWANError as exc:
        return None, str(exc)
    out: list[dict[str, Any]] = []
    for cmd in cmds:
        out.append(dict(cmd.to_dict()) if hasattr(cmd, "to_dict") else {"cid": repr(cmd)})
    return out, None


def _jsonable(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def decode_frame(
    raw: bytes,
    *,
    mac_version: MacVersion,
    nwk_s_key: AES128Key | None = None,
    app_s_key: AES128Key | None = None,
    app_key: AES128Key | None = None,
    nwk_key: AES128Key | None = None,
    f_nwk_s_int_key: AES128Key | None = None,
    s_nwk_s_int_key: AES128Key | None = None,
    nwk_s_enc_key: AES128Key | None = None,
    f_cnt_msb: int | None = None,
    conf_f_cnt: int = 0,
    tx_dr: int = 0,
    tx_ch: int = 0,
    dev_eui: EUI64 | None = None,
    join_eui: EUI64 | None = None,
    dev_nonce: int | None = None,
) -> dict[str, Any]:
    """Decode one frame and everything the given keys allow; a JSON-able dict."""
    phy = PhyPayload.from_bytes(raw)
    out: dict[str, Any] = phy.to_dict()
    out["mac_version"] = str(mac_version)
    out["mic_valid"] = None
    is_11 = mac_version.is_11
    p = phy.payload
    if isinstance(p, MACPayload):
        fhdr = p.fhdr
        if f_cnt_msb is not None:
            if not 0 <= f_cnt_msb <= 0xFFFF:
                raise _BadInput("--f-cnt-msb: 0..65535")
            fhdr.f_cnt = (f_cnt_msb << 16) | fhdr.f_cnt
        out["f_cnt_full"] = fhdr.f_cnt
        f_key = f_nwk_s_int_key or nwk_s_key
        s_key = s_nwk_s_int_key or nwk_s_key
        enc_key = nwk_s_enc_key or nwk_s_key
        if phy.uplink:
            if f_key is not None and (not is_11 or s_key is not None):
                out["mic_valid"] = phy.validate_uplink_data_mic(
                    mac_version, conf_f_cnt, tx_dr, tx_ch, f_key, s_key
                )
        elif s_key is not None:
            out["mic_valid"] = phy.validate_downlink_data_mic(mac_version, conf_f_cnt, s_key)
        f_opts_plain: bytes | None = fhdr.f_opts
        if is_11 and fhdr.f_opts:
            f_opts_plain = None
            if enc_key is not None:
                phy.decrypt_f_opts(enc_key)
                f_opts_plain = fhdr.f_opts
        out["f_opts_decrypted"] = None if f_opts_plain is None else f_opts_plain.hex()
        frm_key = (enc_key if is_11 else nwk_s_key) if p.f_port == 0 else app_s_key
        frm_plain: bytes | None = None
        if p.f_port is not None and frm_key is not None:
            phy.decrypt_frm_payload(frm_key)
            frm_plain = p.frm_payload
        out["frm_payload_decrypted"] = None if frm_plain is None else frm_plain.hex()
        mac_data = frm_plain if p.f_port == 0 else f_opts_plain
        if mac_data is None:
            out["mac_commands"] = None
        else:
            cmds, err = _mac_commands(mac_data, phy.uplink)
            out["mac_commands"] = cmds
            if err is not None:
                out["mac_commands_error"] = err
    elif isinstance(p, JoinRequestPayload):
        key = nwk_key or app_key
        if key is not None:
            out["mic_valid"] = phy.validate_join_request_mic(key)
    elif isinstance(p, EncryptedJoinAcceptPayload):
        key = nwk_key or app_key
        out["join_accept"] = None
        if key is not None:
            phy.decrypt_join_accept_payload(key)
            ja = phy.payload
            if not isinstance(ja, JoinAcceptPayload):  # pragma: no cover - decrypt guarantees it
                raise _BadInput("join-accept did not decrypt")
            out["join_accept"] = ja.to_dict()
            out["join_accept_mic"] = None if phy.mic is None else phy.mic.hex()
            if ja.dl_settings.opt_neg:
                if (
                    nwk_key is not None
                    and dev_eui is not None
                    and join_eui is not None
                    and dev_nonce is not None
                ):
                    out["mic_valid"] = phy.validate_join_accept_mic(
                        derive_js_int_key(nwk_key, dev_eui), 0xFF, join_eui, dev_nonce
                    )
            else:
                out["mic_valid"] = phy.validate_join_accept_mic(key)
    elif isinstance(p, RejoinRequestPayload):
        if p.rejoin_type == 1:
            if nwk_key is not None:
                js_int_key = derive_js_int_key(nwk_key, p.dev_eui)
                out["mic_valid"] = phy.validate_rejoin_request_mic(js_int_key)
        elif s_nwk_s_int_key is not None:
            out["mic_valid"] = phy.validate_rejoin_request_mic(s_nwk_s_int_key)
    return out


@app.command("decode")
def decode(
    frame: Annotated[str, typer.Argument(help="the PHYPayload, hex or base64")],
    nwk_s_key: KeyOpt = None,
    app_s_key: KeyOpt = None,
    app_key: KeyOpt = None,
    nwk_key: KeyOpt = None,
    f_nwk_s_int_key: KeyOpt = None,
    s_nwk_s_int_key: KeyOpt = None,
    nwk_s_enc_key: KeyOpt = None,
    f_cnt_msb: Annotated[
        int | None, typer.Option(help="high 16 bits of the frame counter (for MIC/decryption)")
    ] = None,
    mac_version: Annotated[str, typer.Option(help="1.0.0 .. 1.0.4 or 1.1")] = "1.0.3",
    conf_f_cnt: Annotated[int, typer.Option(help="1.1: FCnt of the acknowledged frame")] = 0,
    tx_dr: Annotated[int, typer.Option(help="1.1 uplink MIC: data rate of the uplink")] = 0,
    tx_ch: Annotated[int, typer.Option(help="1.1 uplink MIC: channel index of the uplink")] = 0,
    dev_eui: Annotated[str | None, typer.Option(help="1.1 join-accept MIC: DevEUI")] = None,
    join_eui: Annotated[str | None, typer.Option(help="1.1 join-accept MIC: JoinEUI")] = None,
    dev_nonce: Annotated[int | None, typer.Option(help="1.1 join-accept MIC: DevNonce")] = None,
) -> None:
    """Decode a frame and print every field as JSON."""
    try:
        result = decode_frame(
            parse_frame_text(frame),
            mac_version=MacVersion.parse(mac_version),
            nwk_s_key=_key(nwk_s_key, "nwk_s_key"),
            app_s_key=_key(app_s_key, "app_s_key"),
            app_key=_key(app_key, "app_key"),
            nwk_key=_key(nwk_key, "nwk_key"),
            f_nwk_s_int_key=_key(f_nwk_s_int_key, "f_nwk_s_int_key"),
            s_nwk_s_int_key=_key(s_nwk_s_int_key, "s_nwk_s_int_key"),
            nwk_s_enc_key=_key(nwk_s_enc_key, "nwk_s_enc_key"),
            f_cnt_msb=f_cnt_msb,
            conf_f_cnt=conf_f_cnt,
            tx_dr=tx_dr,
            tx_ch=tx_ch,
            dev_eui=_eui(dev_eui, "dev_eui"),
            join_eui=_eui(join_eui, "join_eui"),
            dev_nonce=dev_nonce,
        )
    except (LoRaWANError, _BadInput) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(json.dumps(_jsonable(result), indent=2))


_M_TYPES = {
    "unconfirmed-data-up": MType.UNCONFIRMED_DATA_UP,
    "confirmed-data-up": MType.CONFIRMED_DATA_UP,
    "unconfirmed-data-down": MType.UNCONFIRMED_DATA_DOWN,
    "confirmed-data-down": MType.CONFIRMED_DATA_DOWN,
    "join-request": MType.JOIN_REQUEST,
}


def encode_frame(
    *,
    m_type: str,
    mac_version: MacVersion,
    dev_addr: str | None = None,
    f_cnt: int = 0,
    f_port: int | None = None,
    payload: str = "",
    f_opts: str = "",
    adr: bool = False,
    adr_ack_req: bool = False,
    ack: bool = False,
    class_b: bool = False,
    f_pending: bool = False,
    nwk_s_key: AES128Key | None = None,
    app_s_key: AES128Key | None = None,
    f_nwk_s_int_key: AES128Key | None = None,
    s_nwk_s_int_key: AES128Key | None = None,
    nwk_s_enc_key: AES128Key | None = None,
    conf_f_cnt: int = 0,
    tx_dr: int = 0,
    tx_ch: int = 0,
    join_eui: EUI64 | None = None,
    dev_eui: EUI64 | None = None,
    dev_nonce: int | None = None,
    app_key: AES128Key | None = None,
    nwk_key: AES128Key | None = None,
) -> bytes:
    """Build, encrypt and sign one frame from plain fields."""
    try:
        mt = _M_TYPES[m_type.lower().replace("_", "-")]
    except KeyError as exc:
        raise _BadInput(f"--m-type: one of {', '.join(_M_TYPES)}") from exc
    if mt is MType.JOIN_REQUEST:
        if join_eui is None or dev_eui is None or dev_nonce is None:
            raise _BadInput("join-request needs --join-eui, --dev-eui and --dev-nonce")
        key = nwk_key or app_key
        if key is None:
            raise _BadInput("join-request needs --app-key (1.0) or --nwk-key (1.1)")
        jr = PhyPayload(MHDR(mt), JoinRequestPayload(join_eui, dev_eui, dev_nonce))
        jr.set_join_request_mic(key)
        return jr.to_bytes()
    if dev_addr is None:
        raise _BadInput("data frames need --dev-addr")
    try:
        addr = DevAddr.from_hex(dev_addr)
    except LoRaWANError as exc:
        raise _BadInput(f"--dev-addr: {exc}") from exc
    plain = _hex(payload, "payload")
    opts = _hex(f_opts, "f-opts")
    if plain and f_port is None:
        raise _BadInput("--payload needs --f-port")
    fctrl = FCtrl(adr=adr, adr_ack_req=adr_ack_req, ack=ack, class_b=class_b, f_pending=f_pending)
    phy = PhyPayload(MHDR(mt), MACPayload(FHDR(addr, fctrl, f_cnt, opts), f_port, plain))
    phy.mac_payload().validate()
    is_11 = mac_version.is_11
    enc_key = nwk_s_enc_key or nwk_s_key
    if is_11 and opts:
        if enc_key is None:
            raise _BadInput("1.1 FOpts need --nwk-s-enc-key")
        phy.encrypt_f_opts(enc_key)
    if plain:
        key = enc_key if f_port == 0 else app_s_key
        if key is None:
            raise _BadInput("--payload needs --app-s-key (FPort 0: the network key)")
        phy.encrypt_frm_payload(key)
    f_key = f_nwk_s_int_key or nwk_s_key
    s_key = s_nwk_s_int_key or nwk_s_key
    if phy.uplink:
        if f_key is None or (is_11 and s_key is None):
            raise _BadInput(
                "uplink MIC needs --nwk-s-key (1.1: --f-nwk-s-int-key, --s-nwk-s-int-key)"
            )
        phy.set_uplink_data_mic(mac_version, conf_f_cnt, tx_dr, tx_ch, f_key, s_key)
    else:
        if s_key is None:
            raise _BadInput("downlink MIC needs --nwk-s-key (1.1: --s-nwk-s-int-key)")
        phy.set_downlink_data_mic(mac_version, conf_f_cnt, s_key)
    return phy.to_bytes()


@app.command("encode")
def encode(
    m_type: Annotated[
        str,
        typer.Option(
            help="unconfirmed-data-up|confirmed-data-up|unconfirmed-data-down|"
            "confirmed-data-down|join-request"
        ),
    ] = "unconfirmed-data-up",
    dev_addr: Annotated[str | None, typer.Option(help="DevAddr, 8 hex digits")] = None,
    f_cnt: Annotated[int, typer.Option(help="full 32-bit frame counter")] = 0,
    f_port: Annotated[int | None, typer.Option(help="FPort (0: MAC commands)")] = None,
    payload: Annotated[str, typer.Option(help="plain FRMPayload, hex")] = "",
    f_opts: Annotated[str, typer.Option(help="plain FOpts (MAC commands), hex")] = "",
    adr: bool = False,
    adr_ack_req: bool = False,
    ack: bool = False,
    class_b: bool = False,
    f_pending: bool = False,
    nwk_s_key: KeyOpt = None,
    app_s_key: KeyOpt = None,
    f_nwk_s_int_key: KeyOpt = None,
    s_nwk_s_int_key: KeyOpt = None,
    nwk_s_enc_key: KeyOpt = None,
    conf_f_cnt: int = 0,
    tx_dr: int = 0,
    tx_ch: int = 0,
    join_eui: Annotated[str | None, typer.Option(help="join-request: JoinEUI")] = None,
    dev_eui: Annotated[str | None, typer.Option(help="join-request: DevEUI")] = None,
    dev_nonce: Annotated[int | None, typer.Option(help="join-request: DevNonce")] = None,
    app_key: KeyOpt = None,
    nwk_key: KeyOpt = None,
    mac_version: Annotated[str, typer.Option(help="1.0.0 .. 1.0.4 or 1.1")] = "1.0.3",
    base64_out: Annotated[bool, typer.Option("--base64", help="print base64, not hex")] = False,
) -> None:
    """Build a data frame (or a join-request) from fields and keys; print it as hex."""
    try:
        raw = encode_frame(
            m_type=m_type,
            mac_version=MacVersion.parse(mac_version),
            dev_addr=dev_addr,
            f_cnt=f_cnt,
            f_port=f_port,
            payload=payload,
            f_opts=f_opts,
            adr=adr,
            adr_ack_req=adr_ack_req,
            ack=ack,
            class_b=class_b,
            f_pending=f_pending,
            nwk_s_key=_key(nwk_s_key, "nwk_s_key"),
            app_s_key=_key(app_s_key, "app_s_key"),
            f_nwk_s_int_key=_key(f_nwk_s_int_key, "f_nwk_s_int_key"),
            s_nwk_s_int_key=_key(s_nwk_s_int_key, "s_nwk_s_int_key"),
            nwk_s_enc_key=_key(nwk_s_enc_key, "nwk_s_enc_key"),
            conf_f_cnt=conf_f_cnt,
            tx_dr=tx_dr,
            tx_ch=tx_ch,
            join_eui=_eui(join_eui, "join_eui"),
            dev_eui=_eui(dev_eui, "dev_eui"),
            dev_nonce=dev_nonce,
            app_key=_key(app_key, "app_key"),
            nwk_key=_key(nwk_key, "nwk_key"),
        )
    except (LoRaWANError, _BadInput) as exc:
        raise _fail(str(exc)) from exc
    typer.echo(base64.b64encode(raw).decode() if base64_out else raw.hex())
