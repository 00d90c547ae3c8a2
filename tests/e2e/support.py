"""Helpers of the end-to-end tests: an MQTT broker (Mosquitto) and subscriber, a webhook
receiver, the API client with provisioning shortcuts, /metrics parsing, polling."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import aiomqtt
import httpx

T = TypeVar("T")


def free_port(kind: int = socket.SOCK_STREAM) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def eventually(
    probe: Callable[[], Awaitable[T | None]], timeout: float = 5.0, every: float = 0.02
) -> T:
    """Poll ``probe`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(every)


# --------------------------------------------------------------------------- Mosquitto


def find_mosquitto() -> str | None:
    if os.access("/usr/sbin/mosquitto", os.X_OK):
        return "/usr/sbin/mosquitto"
    return shutil.which("mosquitto")


class Mosquitto:
    """A Mosquitto broker of our own on 127.0.0.1 (no persistence), stopped by ``stop()``."""

    def __init__(self, binary: str, workdir: Path) -> None:
        self.port = free_port()
        conf = workdir / "mosquitto.conf"
        conf.write_text(
            f"listener {self.port} 127.0.0.1\nallow_anonymous true\npersistence false\n"
            "log_dest stdout\n"
        )
        self.log = workdir / "mosquitto.log"
        self._log = self.log.open("wb")
        self.proc = subprocess.Popen(
            [binary, "-c", str(conf)], stdout=self._log, stderr=subprocess.STDOUT
        )
        deadline = time.monotonic() + 10
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"mosquitto exited: {self.log.read_text()[-2000:]}")
            with (
                contextlib.suppress(OSError),
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2),
            ):
                break
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("mosquitto did not open its port within 10 s")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=5)
        self._log.close()


class MqttSubscriber:
    """Collects every message under ``application/#`` (topic, JSON payload)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self._ready.wait(), 10)

    async def _run(self) -> None:
        async with aiomqtt.Client("127.0.0.1", port=self.port, identifier="e2e-sub") as client:
            await client.subscribe("application/#", qos=1)
            self._ready.set()
            async for message in client.messages:
                payload = message.payload
                assert isinstance(payload, bytes | bytearray)
                self.messages.append((str(message.topic), json.loads(payload)))

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, aiomqtt.MqttError):
                await self._task

    def events(self, kind: str, dev_eui: str | None = None) -> list[dict[str, Any]]:
        return [
            body
            for topic, body in self.messages
            if topic.endswith(f"/event/{kind}")
            and (dev_eui is None or body.get("dev_eui") == dev_eui)
        ]


# --------------------------------------------------------------------------- webhooks


@dataclass(slots=True)
class WebhookReceiver:
    """A minimal HTTP/1.1 server on 127.0.0.1 that records every POSTed JSON body."""

    received: list[tuple[str, dict[str, str], dict[str, Any]]] = field(default_factory=list)
    server: asyncio.Server | None = None
    port: int = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    async def start(self) -> None:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self.server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readline()
                if not line:
                    break
                method, path, _ = line.decode().split(" ", 2)
                headers: dict[str, str] = {}
                while (h := await reader.readline()) not in (b"\r\n", b"\n", b""):
                    name, _, value = h.decode().partition(":")
                    headers[name.strip().lower()] = value.strip()
                body = await reader.readexactly(int(headers.get("content-length", "0")))
                if method == "POST":
                    self.received.append((path, headers, json.loads(body or b"{}")))
                writer.write(b"HTTP/1.1 204 No Content\r\nContent-Length: 0\r\n\r\n")
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError, ValueError):
            pass
        finally:
            writer.close()

    def events(self, kind: str, dev_eui: str | None = None) -> list[dict[str, Any]]:
        return [
            b
            for _, _, b in self.received
            if b.get("event") == kind and (dev_eui is None or b.get("dev_eui") == dev_eui)
        ]


# --------------------------------------------------------------------------- API


class Api:
    """httpx against the platform's REST API with one API key."""

    def __init__(self, base_url: str, key: str) -> None:
        self.client = httpx.AsyncClient(
            base_url=base_url, headers={"Authorization": f"Bearer {key}"}, timeout=10
        )

    async def close(self) -> None:
        await self.client.aclose()

    async def post(self, path: str, body: dict[str, Any], expect: int = 201) -> Any:
        r = await self.client.post(path, json=body)
        assert r.status_code == expect, f"POST {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def get(self, path: str, expect: int = 200) -> Any:
        r = await self.client.get(path)
        assert r.status_code == expect, f"GET {path}: {r.status_code} {r.text}"
        return r.json() if r.content else None

    async def tenant(self, name: str) -> str:
        return str((await self.post("/api/tenants", {"name": name}))["id"])

    async def tenant_key(self, tenant_id: str, name: str = "ops") -> str:
        body = await self.post("/api/api-keys", {"name": name, "tenant_id": tenant_id})
        return str(body["secret"])

    async def application(self, tenant_id: str, name: str, webhook: str | None = None) -> str:
        integrations: dict[str, Any] = {"mqtt_enabled": True}
        if webhook:
            integrations["webhooks"] = [{"url": webhook, "headers": {"X-Test": "e2e"}}]
        body = {"name": name, "tenant_id": tenant_id, "integrations": integrations}
        return str((await self.post("/api/applications", body))["id"])

    async def profile(self, tenant_id: str, name: str = "eu868-a", **fields: Any) -> str:
        body = {"name": name, "tenant_id": tenant_id, "region": "EU868", "mac_version": "1.0.3"}
        body.update(fields)
        return str((await self.post("/api/device-profiles", body))["id"])

    async def device(
        self, dev_eui: str, application_id: str, profile_id: str, **fields: Any
    ) -> dict[str, Any]:
        body = {
            "dev_eui": dev_eui,
            "application_id": application_id,
            "device_profile_id": profile_id,
            **fields,
        }
        result: dict[str, Any] = await self.post("/api/devices", body)
        return result

    async def activate(
        self, dev_eui: str, dev_addr: str, nwk_s_key: bytes, app_s_key: bytes
    ) -> dict[str, Any]:
        body = {"dev_addr": dev_addr, "nwk_s_key": nwk_s_key.hex(), "app_s_key": app_s_key.hex()}
        result: dict[str, Any] = await self.post(f"/api/devices/{dev_eui}/activate", body)
        return result

    async def gateway(self, gw_eui: str, tenant_id: str) -> None:
        await self.post("/api/gateways", {"gw_eui": gw_eui, "tenant_id": tenant_id, "name": "gw"})

    async def queue(self, dev_eui: str, data: bytes, f_port: int, confirmed: bool = False) -> str:
        body = {"f_port": f_port, "data": base64.b64encode(data).decode(), "confirmed": confirmed}
        result = await self.post(f"/api/devices/{dev_eui}/queue", body, expect=202)
        return str(result["request_id"])

    async def uplinks(self, dev_eui: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = (await self.get(f"/api/devices/{dev_eui}/uplinks"))["items"]
        return items


async def scrape_metrics(base_url: str) -> dict[str, float]:
    """``/metrics`` as {"name{labels}": value} (samples only)."""
    async with httpx.AsyncClient(base_url=base_url, timeout=10) as c:
        r = await c.get("/metrics")
    assert r.status_code == 200
    out: dict[str, float] = {}
    for line in r.text.splitlines():
        if not line or line.startswith("#"):
            continue
        name, _, value = line.rpartition(" ")
        out[name] = float(value)
    return out


def delta(after: dict[str, float], before: dict[str, float], name: str) -> float:
    return after.get(name, 0.0) - before.get(name, 0.0)
