"""Python client for the lora-packet bridge (tests/interop/lorapacket_bridge.js).

lora-packet (npm, pinned in tests/interop/package.json) is an independent LoRaWAN implementation;
the cross-check tests and the end-to-end tests use it to build frames and to verify the frames
HyperLoRa builds. One long-running ``node`` process serves JSON-lines requests over pipes.

Conventions (see the bridge header): bytes travel as hex, EUIs/DevAddr/NetID MSB first, keys as
their 16 bytes, counters and nonces as integers (``f_cnt`` is the full 32-bit counter).

    from tests.interop.lorapacket import LoraPacket
    with LoraPacket() as lp:
        wire = lp.build_data(dev_addr="01020304", f_cnt=0x10002, f_port=1, payload=b"hi",
                             nwk_s_key=..., app_s_key=...)
"""

from __future__ import annotations

import json
import shutil
import subprocess
import threading
from pathlib import Path
from types import TracebackType
from typing import Any

INTEROP_DIR = Path(__file__).resolve().parent
BRIDGE = INTEROP_DIR / "lorapacket_bridge.js"
PACKAGE_DIR = INTEROP_DIR / "node_modules" / "lora-packet"
PINNED_VERSION = "0.9.3"
INSTALL_HINT = "run deploy/bootstrap.sh --interop (npm ci in tests/interop)"


class LoraPacketError(Exception):
    """The bridge or lora-packet reported an error for one request."""


class NodeNotFound(LoraPacketError):
    """No ``node`` executable on PATH."""


class LoraPacketNotInstalled(LoraPacketError):
    """tests/interop/node_modules/lora-packet is missing."""


def _hex(value: bytes | str | Any) -> Any:
    """bytes -> hex; objects with ``.value`` bytes (EUI64, DevAddr, NetID, AES128Key) -> hex."""
    if isinstance(value, bytes | bytearray):
        return bytes(value).hex()
    inner = getattr(value, "value", None)
    if isinstance(inner, bytes):
        return inner.hex()
    return value


class LoraPacket:
    """A running lora-packet bridge. Thread-safe: one request at a time over the pipes."""

    def __init__(self, node: str | None = None, timeout: float = 30.0) -> None:
        node_path = node or shutil.which("node")
        if not node_path:
            raise NodeNotFound("node (Node.js) is not installed or not on PATH")
        if not (PACKAGE_DIR / "package.json").is_file():
            raise LoraPacketNotInstalled(
                f"lora-packet is not installed in {INTEROP_DIR}: {INSTALL_HINT}"
            )
        self._timeout = timeout
        self._lock = threading.Lock()
        self._next_id = 0
        self._proc = subprocess.Popen(
            [node_path, str(BRIDGE)],
            cwd=INTEROP_DIR,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            bufsize=1,
        )
        info = self.call("ping")
        self.version: str = info["lora_packet"]
        self.node_version: str = info["node"]
        if self.version != PINNED_VERSION:
            self.close()
            raise LoraPacketNotInstalled(
                f"lora-packet {self.version} installed, {PINNED_VERSION} pinned: {INSTALL_HINT}"
            )

    # -- plumbing ---------------------------------------------------------------------------

    def call(self, op: str, **args: Any) -> dict[str, Any]:
        """Send one request; return its result or raise LoraPacketError."""
        payload = {k: _hex(v) for k, v in args.items()}
        with self._lock:
            if (
                self._proc.poll() is not None
                or self._proc.stdin is None
                or self._proc.stdout is None
            ):
                raise LoraPacketError(f"bridge is not running (exit code {self._proc.returncode})")
            self._next_id += 1
            request_id = self._next_id
            payload.update(id=request_id, op=op)
            self._proc.stdin.write(json.dumps(payload) + "\n")
            self._proc.stdin.flush()
            line = self._readline()
        response = json.loads(line)
        if response.get("id") != request_id:
            raise LoraPacketError(f"bridge answered id {response.get('id')}, expected {request_id}")
        if "error" in response:
            raise LoraPacketError(f"{op}: {response['error']}")
        result: dict[str, Any] = response["result"]
        return result

    def _readline(self) -> str:
        assert self._proc.stdout is not None
        box: list[str] = []
        reader = threading.Thread(target=lambda: box.append(self._proc.stdout.readline()))  # type: ignore[union-attr]
        reader.daemon = True
        reader.start()
        reader.join(self._timeout)
        if reader.is_alive():
            self._kill()
            raise LoraPacketError(f"bridge did not answer within {self._timeout} s")
        if not box or not box[0]:
            stderr = self._proc.stderr.read() if self._proc.stderr else ""
            self._kill()
            raise LoraPacketError(f"bridge exited: {stderr.strip()[-2000:]}")
        return box[0]

    def _kill(self) -> None:
        if self._proc.poll() is None:
            self._proc.kill()
        self._proc.wait(timeout=10)

    def close(self) -> None:
        """Stop the node process (idempotent)."""
        if self._proc.poll() is None:
            try:
                if self._proc.stdin:
                    self._proc.stdin.close()
                self._proc.wait(timeout=5)
            except (OSError, subprocess.TimeoutExpired):
                self._kill()
        for stream in (self._proc.stdout, self._proc.stderr):
            if stream:
                stream.close()

    def __enter__(self) -> LoraPacket:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # -- operations -------------------------------------------------------------------------

    def build_data(self, **fields: Any) -> bytes:
        """A data PHYPayload with MIC. Fields: mtype (name or 2..5), dev_addr, f_cnt (32-bit),
        f_port (None = absent), payload (plaintext), f_opts (plaintext), adr, adr_ack_req, ack,
        f_pending; mac_version "1.0.x"/"1.1"; keys nwk_s_key + app_s_key (1.0) or
        f_nwk_s_int_key, s_nwk_s_int_key, nwk_s_enc_key, app_s_key (1.1); conf_f_cnt, tx_dr,
        tx_ch (1.1 MIC)."""
        return bytes.fromhex(self.call("build_data", **fields)["phy_payload"])

    def decode_data(self, phy_payload: bytes, **args: Any) -> dict[str, Any]:
        """Fields, ``mic_valid``, ``payload`` (decrypted hex or None), ``f_opts`` (decrypted
        hex under 1.1). Args: the keys as for build_data, f_cnt_msb or f_cnt, mac_version,
        conf_f_cnt, tx_dr, tx_ch."""
        return self.call("decode_data", phy_payload=phy_payload, **args)

    def build_join_request(self, join_eui: Any, dev_eui: Any, dev_nonce: int, key: Any) -> bytes:
        result = self.call(
            "build_join_request", join_eui=join_eui, dev_eui=dev_eui, dev_nonce=dev_nonce, key=key
        )
        return bytes.fromhex(result["phy_payload"])

    def verify_join_request(self, phy_payload: bytes, key: Any) -> dict[str, Any]:
        return self.call("verify_join_request", phy_payload=phy_payload, key=key)

    def build_join_accept(self, **fields: Any) -> bytes:
        """An encrypted JoinAccept. Fields: join_nonce, net_id, dev_addr, dl_settings (or
        rx1_dr_offset, rx2_dr, opt_neg), rx_delay, cf_list (16 bytes or empty), key (AppKey 1.0 /
        NwkKey 1.1 / JSEncKey rejoin); with OptNeg also js_int_key, join_req_type, join_eui,
        dev_nonce."""
        return bytes.fromhex(self.call("build_join_accept", **fields)["phy_payload"])

    def decrypt_join_accept(self, phy_payload: bytes, key: Any, **ctx: Any) -> dict[str, Any]:
        """Decrypted fields, ``plaintext`` and ``mic_valid``; a 1.1 (OptNeg) JoinAccept needs
        js_int_key, join_req_type, join_eui and dev_nonce in ``ctx``."""
        return self.call("decrypt_join_accept", phy_payload=phy_payload, key=key, **ctx)

    def session_keys_10(
        self, key: Any, join_nonce: int, net_id: Any, dev_nonce: int
    ) -> dict[str, bytes]:
        result = self.call(
            "session_keys_10", key=key, join_nonce=join_nonce, net_id=net_id, dev_nonce=dev_nonce
        )
        return {k: bytes.fromhex(v) for k, v in result.items()}

    def session_keys_11(
        self, app_key: Any, nwk_key: Any, join_nonce: int, join_eui: Any, dev_nonce: int
    ) -> dict[str, bytes]:
        result = self.call(
            "session_keys_11",
            app_key=app_key,
            nwk_key=nwk_key,
            join_nonce=join_nonce,
            join_eui=join_eui,
            dev_nonce=dev_nonce,
        )
        return {k: bytes.fromhex(v) for k, v in result.items()}

    def js_keys(self, nwk_key: Any, dev_eui: Any) -> dict[str, bytes]:
        result = self.call("js_keys", nwk_key=nwk_key, dev_eui=dev_eui)
        return {k: bytes.fromhex(v) for k, v in result.items()}
