"""Provisioning a live run through the REST API (services/api), idempotently.

With an admin key: the tenant (by name) is found or created, and everything below is created
in it. With a tenant key: its own tenant is used. Then, each found by name / EUI or created:
the application, a device profile (the scenario's region, OTAA, the MAC version asked), every
simulated gateway (``gw_eui``) and every device (``dev_eui``, ``join_eui``, ``nwk_key``,
``app_key`` for 1.1). A device that exists already gets its keys and profile updated (PATCH),
so a rerun with other keys still joins.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import httpx

log = logging.getLogger("hyperlora.simulator.live")

PAGE = 100


class ProvisioningError(RuntimeError):
    pass


@dataclass(frozen=True, slots=True)
class Provisioned:
    tenant_id: str
    application_id: str
    device_profile_id: str
    gateways_created: int
    devices_created: int
    devices_updated: int


class Provisioner:
    def __init__(self, api_url: str, api_key: str, timeout_s: float = 10.0) -> None:
        self.client = httpx.Client(
            base_url=api_url.rstrip("/"),
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
        )

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> Provisioner:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # ------------------------------------------------------------------ HTTP

    def _call(self, method: str, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        try:
            return self.client.request(method, path, json=body)
        except httpx.HTTPError as exc:
            raise ProvisioningError(f"{method} {path}: {exc}") from exc

    def _ok(self, r: httpx.Response, *codes: int) -> Any:
        if r.status_code not in codes:
            raise ProvisioningError(
                f"{r.request.method} {r.request.url.path}: HTTP {r.status_code} {r.text[:300]}"
            )
        return r.json() if r.content else None

    def _all(self, path: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = []
        offset = 0
        while True:
            r = self._call("GET", f"{path}?limit={PAGE}&offset={offset}")
            page = self._ok(r, 200)
            items.extend(page["items"])
            offset += len(page["items"])
            if not page["items"] or offset >= page["total"]:
                return items

    def _find_or_create(self, path: str, name: str, body: dict[str, Any]) -> str:
        for item in self._all(path):
            if item.get("name") == name:
                return str(item["id"])
        return str(self._ok(self._call("POST", path, body), 201)["id"])

    # ------------------------------------------------------------------ steps

    def is_admin(self) -> bool:
        r = self._call("GET", "/api/tenants?limit=1")
        if r.status_code == 200:
            return True
        if r.status_code == 403:
            return False
        raise ProvisioningError(f"GET /api/tenants: HTTP {r.status_code} {r.text[:300]}")

    def provision(
        self,
        *,
        tenant: str,
        application: str,
        profile: str,
        region: str,
        mac_version: str,
        gateways: Iterable[str],
        devices: Iterable[dict[str, str]],
    ) -> Provisioned:
        admin = self.is_admin()
        owner: dict[str, Any] = {}
        if admin:
            tenant_id = self._find_or_create("/api/tenants", tenant, {"name": tenant})
            owner = {"tenant_id": tenant_id}
        app_id = self._find_or_create(
            "/api/applications", application, {"name": application, **owner}
        )
        if not admin:
            tenant_id = str(
                self._ok(self._call("GET", f"/api/applications/{app_id}"), 200)["tenant_id"]
            )
        profile_id = self._find_or_create(
            "/api/device-profiles",
            profile,
            {
                "name": profile,
                "region": region,
                "mac_version": mac_version,
                "supports_join": True,
                **owner,
            },
        )
        known_gws = {str(g["gw_eui"]).upper() for g in self._all("/api/gateways")}
        gw_new = 0
        for gw_eui in gateways:
            if gw_eui.upper() in known_gws:
                continue
            body = {"gw_eui": gw_eui, "name": f"sim-{gw_eui[-4:]}", **owner}
            self._ok(self._call("POST", "/api/gateways", body), 201)
            gw_new += 1
        known_devs = {str(d["dev_eui"]).upper() for d in self._all("/api/devices")}
        dev_new = dev_upd = 0
        for d in devices:
            keys = {k: v for k, v in d.items() if k in ("join_eui", "nwk_key", "app_key")}
            if d["dev_eui"].upper() not in known_devs:
                body = {
                    "dev_eui": d["dev_eui"],
                    "application_id": app_id,
                    "device_profile_id": profile_id,
                    "name": f"sim-{d['dev_eui'][-6:]}",
                    **keys,
                }
                self._ok(self._call("POST", "/api/devices", body), 201)
                dev_new += 1
            else:
                body = {"application_id": app_id, "device_profile_id": profile_id, **keys}
                self._ok(self._call("PATCH", f"/api/devices/{d['dev_eui']}", body), 200)
                dev_upd += 1
        log.info(
            "simulator.live.provisioned tenant_id=%s application_id=%s gateways_created=%d "
            "devices_created=%d devices_updated=%d",
            tenant_id, app_id, gw_new, dev_new, dev_upd,
        )  # fmt: skip
        return Provisioned(tenant_id, app_id, profile_id, gw_new, dev_new, dev_upd)

    def uplink_totals(self, dev_euis: Iterable[str]) -> dict[str, int]:
        """How many uplinks the server stored per device (GET /api/devices/{dev_eui}/uplinks)."""
        out = {}
        for dev_eui in dev_euis:
            r = self._call("GET", f"/api/devices/{dev_eui}/uplinks?limit=1")
            out[dev_eui] = int(self._ok(r, 200)["total"])
        return out
