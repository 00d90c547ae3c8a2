"""The retry context of a downlink (pure): what the network server needs to finish a downlink
from its gw.tx_ack alone, whichever instance receives that TX_ACK.

The context rides on gw.down (``GatewayDownlink.retry``), the gateway bridge keeps it with the
PULL_RESP token and echoes it unchanged on gw.tx_ack (``GatewayTxAck.retry``). It is opaque to
the bridge (bytes it never parses, so a bridge of another version cannot damage it) and
versioned here: JSON ``{"v": 1, ...}``; :func:`decode` refuses a version it does not know
(:class:`UnknownRetryContext`), and the caller then falls back to its in-memory state.

Fields: ``kind`` ("data" / "join_accept"), ``dev_eui``, ``request_id`` and ``f_cnt_down``
(for ns.tx_ack), ``deadline_ms`` (wall clock, ms since the Unix epoch: after it the fallback
window is gone), and, when the frame was sent in RX1 with RX2 as fallback, the frame
(``phy_payload``) and the RX2 transmit parameters (``rx2``).
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

import orjson

from .downlink import TxParams

VERSION = 1

__all__ = ["VERSION", "RetryContext", "UnknownRetryContext", "decode", "encode"]


class UnknownRetryContext(ValueError):
    """The bytes are not a retry context this build understands (version or shape)."""


@dataclass(frozen=True, slots=True)
class RetryContext:
    kind: str
    dev_eui: str
    deadline_ms: int
    request_id: str | None = None
    f_cnt_down: int | None = None
    phy_payload: bytes = b""  # only with a fallback
    fallback: TxParams | None = None  # RX2 when the frame went out in RX1


def _tx_to_dict(tx: TxParams) -> dict[str, Any]:
    return {
        "window": tx.window,
        "gw_eui": tx.gw_eui,
        "tmst": tx.tmst,
        "delay_s": tx.delay_s,
        "freq_hz": tx.freq_hz,
        "dr": tx.dr,
        "power_dbm": tx.power_dbm,
        "context": base64.b64encode(tx.context).decode("ascii"),
    }


def _tx_from_dict(d: dict[str, Any]) -> TxParams:
    return TxParams(
        window=str(d["window"]),
        gw_eui=str(d["gw_eui"]),
        tmst=int(d["tmst"]),
        delay_s=int(d["delay_s"]),
        freq_hz=int(d["freq_hz"]),
        dr=int(d["dr"]),
        power_dbm=int(d["power_dbm"]),
        context=base64.b64decode(d.get("context", ""), validate=True),
    )


def encode(ctx: RetryContext) -> bytes:
    body: dict[str, Any] = {
        "v": VERSION,
        "kind": ctx.kind,
        "dev_eui": ctx.dev_eui,
        "deadline_ms": ctx.deadline_ms,
        "request_id": ctx.request_id,
        "f_cnt_down": ctx.f_cnt_down,
    }
    if ctx.fallback is not None:
        body["phy_payload"] = base64.b64encode(ctx.phy_payload).decode("ascii")
        body["rx2"] = _tx_to_dict(ctx.fallback)
    return orjson.dumps(body)


def decode(raw: bytes) -> RetryContext:
    """The context in ``raw``; UnknownRetryContext for another version or a damaged one."""
    try:
        body = orjson.loads(raw)
        if not isinstance(body, dict):
            raise UnknownRetryContext("not a JSON object")
        if body.get("v") != VERSION:
            raise UnknownRetryContext(f"version {body.get('v')!r} (this build knows {VERSION})")
        rx2 = body.get("rx2")
        f_cnt_down = body.get("f_cnt_down")
        request_id = body.get("request_id")
        return RetryContext(
            kind=str(body["kind"]),
            dev_eui=str(body["dev_eui"]),
            deadline_ms=int(body["deadline_ms"]),
            request_id=None if request_id is None else str(request_id),
            f_cnt_down=None if f_cnt_down is None else int(f_cnt_down),
            phy_payload=base64.b64decode(body.get("phy_payload", ""), validate=True),
            fallback=None if rx2 is None else _tx_from_dict(rx2),
        )
    except UnknownRetryContext:
        raise
    except (orjson.JSONDecodeError, KeyError, TypeError, ValueError, binascii.Error) as exc:
        raise UnknownRetryContext(f"damaged retry context: {exc!r}") from exc
