"""The main process's handle on the radio process of the two-process embedded mode.

See services.platform.radio for what runs there and the conversation on the socket.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import pickle
import socket
import struct
import sys
from typing import Any

from services.bus.factory import memory_options
from services.bus.link import LinkedBus

from .settings import PlatformSettings, ServiceSettings

log = logging.getLogger("hyperlora.platform.child")

START_TIMEOUT_S = 60.0  # imports, storage, subscriptions, UDP bind
STOP_GRACE_S = 5.0  # on top of the bus drain timeout
CONFIG_HEAD = struct.Struct("!I")


def send_config(sock: socket.socket, platform: PlatformSettings, services: ServiceSettings) -> None:
    """Write the settings on ``sock`` (blocking; before the bus uses the socket)."""
    body = pickle.dumps({"platform": platform, "services": services})
    sock.sendall(CONFIG_HEAD.pack(len(body)) + body)


def _recv_exactly(sock: socket.socket, n: int) -> bytes:
    chunks: list[bytes] = []
    while n:
        chunk = sock.recv(n)
        if not chunk:
            raise EOFError("the main process closed the socket before sending the settings")
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def read_config(sock: socket.socket) -> tuple[PlatformSettings, ServiceSettings]:
    (size,) = CONFIG_HEAD.unpack(_recv_exactly(sock, CONFIG_HEAD.size))
    config = pickle.loads(_recv_exactly(sock, size))  # our parent, on a private socket
    return config["platform"], config["services"]


class RadioProcessError(RuntimeError):
    """The radio process failed to start or ended early."""


class RadioChild:
    """Spawns, talks to and stops the radio process; for the API, a peer process
    (services.api.peers): its metrics are merged into /metrics, its state shown on /health."""

    name = "radio"

    def __init__(self, platform: PlatformSettings, services: ServiceSettings) -> None:
        self.platform = platform
        self.services = services
        self.proc: asyncio.subprocess.Process | None = None
        self.bus: LinkedBus | None = None
        self._ready: asyncio.Future[tuple[str, int]] | None = None
        self._requests: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._next_request = 0
        self.udp_address: tuple[str, int] | None = None
        self.restarts = 0

    @property
    def pid(self) -> int | None:
        return None if self.proc is None else self.proc.pid

    async def spawn(self) -> LinkedBus:
        """Start the radio process and return this process's end of the bus (not started)."""
        ours = await self._start_process(self.services)
        self.bus = LinkedBus(
            ours, name="main", on_control=self._on_control, **memory_options(self.services.bus)
        )
        return self.bus

    async def respawn(self) -> tuple[str, int]:
        """Start a new radio process after the last one died, on the same UDP address (the
        packet forwarders keep sending there), and join it to the running bus."""
        assert self.bus is not None
        services = self.services
        if self.udp_address is not None:
            bridge = services.gateway_bridge.model_copy(
                update={"bind_host": self.udp_address[0], "bind_port": self.udp_address[1]}
            )
            services = dataclasses.replace(services, gateway_bridge=bridge)
        ours = await self._start_process(services)
        self.restarts += 1
        await self._or_exit(self.bus.reattach(ours), "joining the bus again")
        return await self.wait_ready()

    async def _start_process(self, services: ServiceSettings) -> socket.socket:
        ours, theirs = socket.socketpair()
        try:
            send_config(ours, self.platform, services)  # the child reads it first
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "services.platform.radio",
                "--fd",
                str(theirs.fileno()),
                pass_fds=(theirs.fileno(),),
                start_new_session=True,  # Ctrl-C reaches this process only; it stops the child
            )
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        log.info("platform.radio.spawned pid=%d", self.proc.pid)
        self._ready = asyncio.get_running_loop().create_future()
        return ours

    def _on_control(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "ready" and self._ready is not None:
            if not self._ready.done():
                host, port = message["udp"]
                self._ready.set_result((str(host), int(port)))
        elif kind == "reply":
            waiter = self._requests.pop(int(message.get("id", -1)), None)
            if waiter is not None and not waiter.done():
                waiter.set_result(message)
        else:
            log.warning("platform.radio.unknown_control message=%r", message)

    async def request(self, kind: str, timeout: float = 5.0) -> dict[str, Any]:
        """Ask the radio process something (``metrics``); its reply."""
        if self.bus is None:
            raise RadioProcessError("the radio process is not running")
        self._next_request += 1
        rid = self._next_request
        waiter = asyncio.get_running_loop().create_future()
        self._requests[rid] = waiter
        try:
            if not await self.bus.send_control({"type": kind, "id": rid}):
                raise RadioProcessError("the radio process is gone")
            return await asyncio.wait_for(waiter, timeout)
        finally:
            self._requests.pop(rid, None)

    async def metrics_text(self) -> str:
        reply = await self.request("metrics")
        return str(reply["text"])

    def status(self) -> dict[str, Any]:
        running = self.proc is not None and self.proc.returncode is None
        link_up = self.bus is not None and self.bus.running and not self.bus.peer_gone.is_set()
        return {
            "ok": running and link_up,
            "pid": self.pid,
            "running": running,
            "exit_code": None if self.proc is None else self.proc.returncode,
            "link": "up" if link_up else "down",
            "restarts": self.restarts,
            "records_sent": 0 if self.bus is None else self.bus.link_counters.sent,
            "records_received": 0 if self.bus is None else self.bus.link_counters.received,
        }

    async def _or_exit(self, aw: Any, what: str) -> Any:
        """``aw``, unless the radio process ends or START_TIMEOUT_S passes first."""
        assert self.proc is not None
        work = asyncio.ensure_future(aw)
        ended = asyncio.ensure_future(self.proc.wait())
        try:
            done, _ = await asyncio.wait(
                (work, ended), timeout=START_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            ended.cancel()
        if work in done:
            return work.result()
        work.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await work
        if ended in done:
            raise RadioProcessError(
                f"the radio process exited with code {self.proc.returncode} while {what}"
            )
        raise RadioProcessError(f"the radio process took over {START_TIMEOUT_S:.0f} s {what}")

    async def start_bus(self) -> None:
        assert self.bus is not None
        await self._or_exit(self.bus.start(), "joining the bus")

    async def wait_ready(self) -> tuple[str, int]:
        """The radio process's UDP address, once its gateway bridge listens."""
        assert self._ready is not None
        address: tuple[str, int] = await self._or_exit(
            asyncio.shield(self._ready), "starting its gateway bridge"
        )
        self.udp_address = address
        return address

    async def wait_exit(self) -> int:
        assert self.proc is not None
        return await self.proc.wait()

    async def stop(self) -> None:
        """Ask the radio process to stop, wait for it to exit (kill it after the grace), and
        for everything it sent to be read."""
        proc, bus = self.proc, self.bus
        if proc is None:
            return
        if proc.returncode is None:
            sent = bus is not None and await bus.send_control({"type": "stop"})
            if not sent:
                with contextlib.suppress(ProcessLookupError):
                    proc.terminate()
            grace = self.services.bus.drain_timeout_s + STOP_GRACE_S
            try:
                await asyncio.wait_for(proc.wait(), timeout=grace)
            except TimeoutError:
                log.error("platform.radio.stop_timeout killing pid=%d", proc.pid)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        if bus is not None and bus.running:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(bus.peer_gone.wait(), timeout=STOP_GRACE_S)
        log.info("platform.radio.exited code=%s", proc.returncode)
