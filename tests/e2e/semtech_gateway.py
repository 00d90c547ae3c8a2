"""A small simulated Semtech UDP packet forwarder (protocol v2) for the end-to-end tests.

Written from the protocol description (Semtech's PROTOCOL.TXT), independently of
services.gateway_bridge: PUSH_DATA with ``rxpk`` (answered by PUSH_ACK), PULL_DATA keepalives
(PULL_ACK), PULL_RESP from the server (kept for the test, answered by TX_ACK).

    gw = await SimGateway.connect(bytes.fromhex("AA555A0000000001"), ("127.0.0.1", port))
    await gw.push(phy_payload, tmst=1_000_000)
    txpk = await gw.pull_resp(timeout=3)
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

VERSION = 2
PUSH_DATA, PUSH_ACK, PULL_DATA, PULL_RESP, PULL_ACK, TX_ACK = 0, 1, 2, 3, 4, 5


@dataclass(slots=True)
class Downlink:
    """One PULL_RESP: its token, the txpk object and the decoded PHYPayload."""

    token: int
    txpk: dict[str, Any]
    phy_payload: bytes
    received_at: float


@dataclass(slots=True)
class _State:
    push_acks: dict[int, asyncio.Future[None]] = field(default_factory=dict)
    pull_acks: int = 0
    downlinks: asyncio.Queue[Downlink] = field(default_factory=asyncio.Queue)
    unexpected: list[bytes] = field(default_factory=list)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, gw: SimGateway) -> None:
        self.gw = gw

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.gw._received(data)


class SimGateway:
    def __init__(self, gw_eui: bytes, server: tuple[str, int]) -> None:
        assert len(gw_eui) == 8
        self.gw_eui = gw_eui
        self.server = server
        self.tx_ack_error = "NONE"  # what TX_ACK reports for the next PULL_RESPs
        self.state = _State()
        self._transport: asyncio.DatagramTransport | None = None
        self._keepalive: asyncio.Task[None] | None = None

    @property
    def eui_hex(self) -> str:
        return self.gw_eui.hex().upper()

    @classmethod
    async def connect(
        cls, gw_eui: bytes, server: tuple[str, int], keepalive_s: float = 1.0
    ) -> SimGateway:
        gw = cls(gw_eui, server)
        loop = asyncio.get_running_loop()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Protocol(gw), remote_addr=server
        )
        gw._transport = transport
        await gw.pull_data()
        gw._keepalive = asyncio.create_task(gw._keepalive_loop(keepalive_s))
        return gw

    async def close(self) -> None:
        if self._keepalive is not None:
            self._keepalive.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._keepalive
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ---------------------------------------------------------------- upstream

    def send_raw(self, data: bytes) -> None:
        assert self._transport is not None
        self._transport.sendto(data)

    async def pull_data(self, timeout: float = 2.0) -> None:
        before = self.state.pull_acks
        token = secrets.randbits(16)
        self.send_raw(
            bytes([VERSION]) + token.to_bytes(2, "big") + bytes([PULL_DATA]) + self.gw_eui
        )
        async with asyncio.timeout(timeout):
            while self.state.pull_acks == before:
                await asyncio.sleep(0.005)

    async def _keepalive_loop(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            with contextlib.suppress(TimeoutError):
                await self.pull_data()

    @staticmethod
    def rxpk(
        phy_payload: bytes,
        *,
        tmst: int,
        freq_mhz: float = 868.1,
        datr: str = "SF7BW125",
        rssi: int = -60,
        lsnr: float = 7.0,
        chan: int = 0,
        stat: int = 1,
    ) -> dict[str, Any]:
        return {
            "tmst": tmst,
            "time": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "chan": chan,
            "rfch": 0,
            "freq": freq_mhz,
            "stat": stat,
            "modu": "LORA",
            "datr": datr,
            "codr": "4/5",
            "rssi": rssi,
            "lsnr": lsnr,
            "size": len(phy_payload),
            "data": base64.b64encode(phy_payload).decode(),
        }

    async def push(self, phy_payload: bytes, timeout: float = 2.0, **rx: Any) -> None:
        """PUSH_DATA with one rxpk; returns once the server's PUSH_ACK came."""
        await self.push_rxpks([self.rxpk(phy_payload, **rx)], timeout)

    async def push_rxpks(self, rxpks: list[dict[str, Any]], timeout: float = 2.0) -> None:
        token = secrets.randbits(16)
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self.state.push_acks[token] = fut
        body = json.dumps({"rxpk": rxpks}).encode()
        self.send_raw(
            bytes([VERSION]) + token.to_bytes(2, "big") + bytes([PUSH_DATA]) + self.gw_eui + body
        )
        try:
            await asyncio.wait_for(fut, timeout)
        finally:
            self.state.push_acks.pop(token, None)

    # ---------------------------------------------------------------- downstream

    async def pull_resp(self, timeout: float = 3.0) -> Downlink:
        """The next PULL_RESP (already answered with TX_ACK)."""
        return await asyncio.wait_for(self.state.downlinks.get(), timeout)

    def pending_downlinks(self) -> int:
        return self.state.downlinks.qsize()

    def _received(self, data: bytes) -> None:
        if len(data) < 4 or data[0] != VERSION:
            self.state.unexpected.append(data)
            return
        token, kind = int.from_bytes(data[1:3], "big"), data[3]
        if kind == PUSH_ACK:
            fut = self.state.push_acks.get(token)
            if fut is not None and not fut.done():
                fut.set_result(None)
        elif kind == PULL_ACK:
            self.state.pull_acks += 1
        elif kind == PULL_RESP:
            txpk = json.loads(data[4:])["txpk"]
            phy = base64.b64decode(txpk["data"])
            assert len(phy) == txpk["size"], "txpk size does not match its data"
            loop = asyncio.get_running_loop()
            self.state.downlinks.put_nowait(Downlink(token, txpk, phy, loop.time()))
            ack = {"txpk_ack": {"error": self.tx_ack_error}}
            self.send_raw(
                bytes([VERSION])
                + token.to_bytes(2, "big")
                + bytes([TX_ACK])
                + self.gw_eui
                + json.dumps(ack).encode()
            )
        else:
            self.state.unexpected.append(data)
