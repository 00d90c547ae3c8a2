"""One simulated gateway as a real Semtech UDP packet-forwarder client (protocol v2).

PUSH_DATA with ``rxpk`` (and a ``stat`` report now and then), PULL_DATA keepalives, PULL_RESP
read from the server and answered by TX_ACK — the packets are built and read by the gateway
bridge's own codec (services.gateway_bridge.semtech). One non-blocking UDP socket per gateway,
connected to the server, as a forwarder's upstream and downstream sockets would be; the
caller polls it (no threads, no asyncio), which lets the SimPy real-time loop own the clock.
"""

from __future__ import annotations

import logging
import secrets
import socket
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime

from services.gateway_bridge.semtech import (
    PullAck,
    PullData,
    PullResp,
    PushAck,
    PushData,
    RxPk,
    Stat,
    TxAck,
    TxAckError,
    TxPkAck,
    decode_packet,
)
from services.lorawan import EUI64, LoRaWANError

log = logging.getLogger("hyperlora.simulator.live")

MAX_DATAGRAM = 65_535


@dataclass(slots=True)
class GatewayCounters:
    push_data: int = 0
    push_acks: int = 0
    rxpk: int = 0
    pull_data: int = 0
    pull_acks: int = 0
    pull_resps: int = 0
    tx_acks: dict[str, int] = field(default_factory=dict)
    stats: int = 0
    malformed: int = 0
    unexpected: int = 0

    def as_dict(self) -> dict[str, object]:
        return {
            "push_data": self.push_data,
            "push_acks": self.push_acks,
            "rxpk": self.rxpk,
            "pull_data": self.pull_data,
            "pull_acks": self.pull_acks,
            "pull_resps": self.pull_resps,
            "tx_acks": dict(self.tx_acks),
            "stats": self.stats,
            "malformed": self.malformed,
            "unexpected": self.unexpected,
        }


class GatewayClient:
    """The UDP side of one gateway. ``poll()`` returns the PULL_RESPs received since the last
    call (PUSH_ACK / PULL_ACK are counted there); ``tick()`` sends the periodic PULL_DATA and
    ``stat`` reports when they are due."""

    def __init__(
        self,
        gw_eui: str,
        server: tuple[str, int],
        *,
        keepalive_s: float = 5.0,
        stat_interval_s: float = 30.0,
    ) -> None:
        self.gw_eui = EUI64.from_hex(gw_eui)
        self.server = server
        self.keepalive_s = keepalive_s
        self.stat_interval_s = stat_interval_s
        self.counters = GatewayCounters()
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.setblocking(False)
        self._sock.connect(server)
        self._next_pull = 0.0
        self._next_stat = time.monotonic() + stat_interval_s
        self._pending_push: set[int] = set()
        self._since_stat = {"rxnb": 0, "rxfw": 0, "dwnb": 0, "txnb": 0, "pushed": 0, "acked": 0}

    def fileno(self) -> int:
        return self._sock.fileno()

    def close(self) -> None:
        self._sock.close()

    # ------------------------------------------------------------------ upstream

    def _send(self, data: bytes) -> None:
        try:
            self._sock.send(data)
        except OSError as exc:  # ICMP port unreachable surfaces here on Linux
            log.warning("simulator.live.send_failed gw_eui=%s error=%s", self.gw_eui, exc)

    def push(self, rxpks: list[RxPk]) -> None:
        token = secrets.randbits(16)
        self._pending_push.add(token)
        self._send(PushData(token, self.gw_eui, tuple(rxpks)).to_bytes())
        c = self.counters
        c.push_data += 1
        c.rxpk += len(rxpks)
        self._since_stat["rxnb"] += len(rxpks)
        self._since_stat["rxfw"] += len(rxpks)
        self._since_stat["pushed"] += 1

    def pull_data(self) -> None:
        self._send(PullData(secrets.randbits(16), self.gw_eui).to_bytes())
        self.counters.pull_data += 1
        self._next_pull = time.monotonic() + self.keepalive_s

    def send_stat(self) -> None:
        s = self._since_stat
        ackr = 100.0 * s["acked"] / s["pushed"] if s["pushed"] else 100.0
        stat = Stat(
            time=datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S GMT"),
            rxnb=s["rxnb"],
            rxok=s["rxnb"],
            rxfw=s["rxfw"],
            ackr=round(ackr, 1),
            dwnb=s["dwnb"],
            txnb=s["txnb"],
        )
        self._send(PushData(secrets.randbits(16), self.gw_eui, (), stat).to_bytes())
        self.counters.stats += 1
        self._since_stat = dict.fromkeys(s, 0)
        self._next_stat = time.monotonic() + self.stat_interval_s

    def tx_ack(self, token: int, error: TxAckError) -> None:
        ack = TxAck(token, self.gw_eui, TxPkAck(error=error))
        self._send(ack.to_bytes())
        tx = self.counters.tx_acks
        tx[error.value] = tx.get(error.value, 0) + 1
        if error is TxAckError.NONE:
            self._since_stat["txnb"] += 1

    def tick(self) -> None:
        now = time.monotonic()
        if now >= self._next_pull:
            self.pull_data()
        if self.stat_interval_s > 0 and now >= self._next_stat:
            self.send_stat()

    # ---------------------------------------------------------------- downstream

    def poll(self) -> list[PullResp]:
        out: list[PullResp] = []
        c = self.counters
        while True:
            try:
                data = self._sock.recv(MAX_DATAGRAM)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as exc:
                log.debug("simulator.live.recv_failed gw_eui=%s error=%s", self.gw_eui, exc)
                break
            try:
                pkt = decode_packet(data)
            except LoRaWANError:
                c.malformed += 1
                continue
            if isinstance(pkt, PushAck):
                if pkt.token in self._pending_push:
                    self._pending_push.discard(pkt.token)
                    c.push_acks += 1
                    self._since_stat["acked"] += 1
            elif isinstance(pkt, PullAck):
                c.pull_acks += 1
            elif isinstance(pkt, PullResp):
                c.pull_resps += 1
                self._since_stat["dwnb"] += 1
                out.append(pkt)
            else:
                c.unexpected += 1
        return out
