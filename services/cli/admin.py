"""``hyperlora admin``: set up tenants, keys, applications, profiles, devices and gateways.

Works on the database directly (services.storage), so an operator can bootstrap a network
before the API runs, without writing JSON. The database: ``--db-url`` (or
HYPERLORA_STORAGE_URL), else SQLite in ``--data-dir`` (or HYPERLORA_DATA_DIR). Keys at rest use
HYPERLORA_STORAGE_KEK, which must match the server's. Inputs are validated by the same schemas
as the REST API. ``--quiet`` prints only the new identifier (or the API key secret), for scripts.

    hyperlora admin tenant create acme
    hyperlora admin apikey create --tenant <id> "acme ops"
    hyperlora admin application create --tenant <id> meters
    hyperlora admin device-profile create --tenant <id> --region EU868 --mac-version 1.0.3 eu
    hyperlora admin device create --application <id> --profile <id> \\
        --dev-eui 70B3D57ED0000001 --join-eui 70B3D57ED0000000 --nwk-key 2B7E...4F3C
    hyperlora admin zone create zone-a
    hyperlora admin gateway create --gw-eui AA555A0000000001 --zone zone-a
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from rich.console import Console
from rich.table import Table

from services.api.routers.devices import check_root_keys, reference_checks
from services.api.schemas.application import ApplicationCreate, IntegrationsSchema
from services.api.schemas.device import DeviceCreate
from services.api.schemas.device_profile import DeviceProfileCreate
from services.api.schemas.gateway import GatewayCreate, LocationSchema
from services.api.schemas.tenant import TenantCreate
from services.api.schemas.zone import ZoneCreate
from services.lorawan.errors import LoRaWANError
from services.lorawan.types import EUI64, AES128Key
from services.storage import (
    ApiKey,
    Device,
    Storage,
    StorageError,
    StorageSettings,
    Tenant,
    open_storage,
)

T = TypeVar("T")
M = TypeVar("M", bound=BaseModel)

console = Console(highlight=False, soft_wrap=True)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

app = typer.Typer(
    name="admin",
    help="Set up tenants, API keys, applications, device profiles, devices, gateways, zones.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
tenant_app = typer.Typer(help="Tenants.", no_args_is_help=True)
apikey_app = typer.Typer(help="API keys (the secret is printed once).", no_args_is_help=True)
application_app = typer.Typer(help="Applications.", no_args_is_help=True)
profile_app = typer.Typer(help="Device profiles.", no_args_is_help=True)
device_app = typer.Typer(help="Devices.", no_args_is_help=True)
gateway_app = typer.Typer(help="Gateways.", no_args_is_help=True)
zone_app = typer.Typer(help="Zones.", no_args_is_help=True)
app.add_typer(tenant_app, name="tenant")
app.add_typer(apikey_app, name="apikey")
app.add_typer(application_app, name="application")
app.add_typer(profile_app, name="device-profile")
app.add_typer(device_app, name="device")
app.add_typer(gateway_app, name="gateway")
app.add_typer(zone_app, name="zone")

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir", envvar="HYPERLORA_DATA_DIR", help="data directory of the SQLite database"
    ),
]
DbUrl = Annotated[
    str | None,
    typer.Option(
        "--db-url",
        envvar="HYPERLORA_STORAGE_URL",
        help="database URL (postgresql+asyncpg://... or sqlite+aiosqlite:///...)",
    ),
]
Quiet = Annotated[
    bool, typer.Option("--quiet", "-q", help="print only the identifier (or the secret)")
]


class CliError(Exception):
    """A refusal to report on stderr (exit status 1)."""


# --------------------------------------------------------------------------- plumbing


def storage_settings(data_dir: Path | None, db_url: str | None) -> StorageSettings:
    options: dict[str, Any] = {}
    if data_dir is not None:
        options["data_dir"] = str(data_dir)
    if db_url:
        options["url"] = db_url
    return StorageSettings(**options)


def run(data_dir: Path | None, db_url: str | None, action: Callable[[Storage], Awaitable[T]]) -> T:
    """Open (and migrate) the database, run ``action``, close; errors become exit status 1."""

    async def main() -> T:
        storage = await open_storage(storage_settings(data_dir, db_url))
        try:
            return await action(storage)
        finally:
            await storage.close()

    try:
        return asyncio.run(main())
    except RequestValidationError as exc:
        _fail([f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors()])
    except (StorageError, LoRaWANError, CliError) as exc:
        _fail([str(exc)])
    raise AssertionError("unreachable")  # pragma: no cover


def validated(model: type[M], **fields: Any) -> M:
    """Build an API schema from the options; print its errors and exit 2 when invalid."""
    try:
        return model(**{k: v for k, v in fields.items() if v is not None})
    except ValidationError as exc:
        messages = [f"{_loc(e['loc'])}: {e['msg']}" for e in exc.errors(include_url=False)]
        for message in messages:
            err_console.print(f"[red]invalid[/red] {message}")
        raise typer.Exit(2) from None


def _loc(loc: Sequence[Any]) -> str:
    parts = [str(p) for p in loc if p != "body"]
    return ".".join(parts) or "input"


def _fail(messages: list[str]) -> None:
    for message in messages:
        err_console.print(f"[red]error:[/red] {message}")
    raise typer.Exit(1)


def show(title: str, rows: dict[str, Any], quiet_value: str | None, quiet: bool) -> None:
    if quiet:
        console.print(quiet_value or "")
        return
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    for name, value in rows.items():
        table.add_row(name, "" if value is None else str(value))
    console.print(table)


def listing(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]], total: int) -> None:
    table = Table(title=f"{title} ({len(rows)} of {total})", title_justify="left")
    for column in columns:
        table.add_column(column)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    console.print(table)


def parse_uuid(value: str, what: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError:
        raise typer.BadParameter(f"{what}: not a UUID: {value!r}") from None


# --------------------------------------------------------------------------- tenants


@tenant_app.command("create")
def tenant_create(
    name: Annotated[str, typer.Argument(help="tenant name")],
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    quiet: Quiet = False,
) -> None:
    """Create a tenant."""
    body = validated(TenantCreate, name=name)
    tenant = run(data_dir, db_url, lambda s: s.tenants.create(Tenant(name=body.name)))
    show("tenant", {"id": tenant.id, "name": tenant.name}, str(tenant.id), quiet)


@tenant_app.command("list")
def tenant_list(data_dir: DataDir = None, db_url: DbUrl = None) -> None:
    """List tenants."""
    page = run(data_dir, db_url, lambda s: s.tenants.list(limit=1000))
    listing("tenants", ["id", "name"], [(t.id, t.name) for t in page.items], page.total)


# --------------------------------------------------------------------------- API keys


@apikey_app.command("create")
def apikey_create(
    name: Annotated[str, typer.Argument(help="key name (who or what uses it)")],
    tenant: Annotated[str | None, typer.Option("--tenant", help="tenant id")] = None,
    admin: Annotated[bool, typer.Option("--admin", help="admin key: every tenant")] = False,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    quiet: Quiet = False,
) -> None:
    """Create an API key and print its secret (shown this once)."""
    if admin == (tenant is not None):
        raise typer.BadParameter("give either --tenant ID or --admin")
    tenant_id = None if tenant is None else parse_uuid(tenant, "--tenant")

    async def action(storage: Storage) -> tuple[ApiKey, str]:
        if tenant_id is not None and await storage.tenants.get(tenant_id) is None:
            raise CliError(f"tenant {tenant_id} not found")
        return await storage.api_keys.create(ApiKey(name=name, tenant_id=tenant_id, is_admin=admin))

    key, secret = run(data_dir, db_url, action)
    show(
        "API key",
        {
            "id": key.id,
            "name": key.name,
            "tenant": key.tenant_id or "(admin)",
            "secret": secret,
        },
        secret,
        quiet,
    )
    if not quiet:
        console.print("[yellow]Store the secret now: it is not shown again.[/yellow]")


@apikey_app.command("list")
def apikey_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant")] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
) -> None:
    """List API keys (never their secrets)."""
    tenant_id = None if tenant is None else parse_uuid(tenant, "--tenant")
    page = run(data_dir, db_url, lambda s: s.api_keys.list(tenant_id=tenant_id, limit=1000))
    rows = [(k.id, k.name, k.tenant_id or "(admin)", k.is_admin) for k in page.items]
    listing("API keys", ["id", "name", "tenant", "admin"], rows, page.total)


# --------------------------------------------------------------------------- applications


@application_app.command("create")
def application_create(
    name: Annotated[str, typer.Argument(help="application name")],
    tenant: Annotated[str, typer.Option("--tenant", help="tenant id")],
    description: Annotated[str, typer.Option("--description")] = "",
    mqtt: Annotated[bool, typer.Option("--mqtt/--no-mqtt", help="MQTT integration")] = True,
    codec: Annotated[str | None, typer.Option("--codec", help="payload codec name")] = None,
    webhook: Annotated[
        list[str] | None, typer.Option("--webhook", help="webhook URL (repeatable)")
    ] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    quiet: Quiet = False,
) -> None:
    """Create an application."""
    tenant_id = parse_uuid(tenant, "--tenant")
    integrations = validated(
        IntegrationsSchema,
        mqtt_enabled=mqtt,
        codec=codec,
        webhooks=[{"url": url} for url in webhook or []],
    )
    body = validated(
        ApplicationCreate, name=name, description=description, integrations=integrations
    )

    async def action(storage: Storage) -> Any:
        return await storage.applications.create(body.to_domain(tenant_id))

    created = run(data_dir, db_url, action)
    show(
        "application",
        {"id": created.id, "tenant": created.tenant_id, "name": created.name, "mqtt": mqtt},
        str(created.id),
        quiet,
    )


@application_app.command("list")
def application_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant")] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
) -> None:
    """List applications."""
    tenant_id = None if tenant is None else parse_uuid(tenant, "--tenant")
    page = run(data_dir, db_url, lambda s: s.applications.list(tenant_id=tenant_id, limit=1000))
    rows = [(a.id, a.tenant_id, a.name) for a in page.items]
    listing("applications", ["id", "tenant", "name"], rows, page.total)


# --------------------------------------------------------------------------- device profiles


@profile_app.command("create")
def device_profile_create(
    name: Annotated[str, typer.Argument(help="profile name")],
    tenant: Annotated[str, typer.Option("--tenant", help="tenant id")],
    region: Annotated[str, typer.Option("--region", help="EU868, US915, ...")] = "EU868",
    mac_version: Annotated[str, typer.Option("--mac-version", help="1.0.0 .. 1.1.0")] = "1.0.3",
    device_class: Annotated[str, typer.Option("--class", help="A, B or C")] = "A",
    abp: Annotated[bool, typer.Option("--abp", help="ABP devices (no join)")] = False,
    adr_policy: Annotated[str, typer.Option("--adr-policy")] = "default",
    rx1_delay: Annotated[int, typer.Option("--rx1-delay", help="seconds")] = 1,
    rx1_dr_offset: Annotated[int, typer.Option("--rx1-dr-offset")] = 0,
    rx2_dr: Annotated[int | None, typer.Option("--rx2-dr", help="default: region's")] = None,
    rx2_freq: Annotated[
        int | None, typer.Option("--rx2-freq", help="Hz; default: region's")
    ] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    quiet: Quiet = False,
) -> None:
    """Create a device profile (region and RX settings checked against the region tables)."""
    tenant_id = parse_uuid(tenant, "--tenant")
    body = validated(
        DeviceProfileCreate,
        name=name,
        region=region,
        mac_version=mac_version,
        device_class=device_class.upper(),
        supports_join=not abp,
        adr_policy=adr_policy,
        rx1_delay=rx1_delay,
        rx1_dr_offset=rx1_dr_offset,
        rx2_dr=rx2_dr,
        rx2_freq=rx2_freq,
    )

    async def action(storage: Storage) -> Any:
        return await storage.device_profiles.create(body.to_domain(tenant_id))

    p = run(data_dir, db_url, action)
    show(
        "device profile",
        {
            "id": p.id,
            "name": p.name,
            "region": p.region,
            "mac_version": p.mac_version,
            "class": p.device_class.value,
            "otaa": p.supports_join,
            "rx2": f"DR{p.rx2_dr} {p.rx2_freq} Hz",
        },
        str(p.id),
        quiet,
    )


@profile_app.command("list")
def device_profile_list(
    tenant: Annotated[str | None, typer.Option("--tenant", help="only this tenant")] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
) -> None:
    """List device profiles."""
    tenant_id = None if tenant is None else parse_uuid(tenant, "--tenant")
    page = run(data_dir, db_url, lambda s: s.device_profiles.list(tenant_id=tenant_id, limit=1000))
    rows = [(p.id, p.name, p.region, p.mac_version, p.device_class.value) for p in page.items]
    listing("device profiles", ["id", "name", "region", "mac", "class"], rows, page.total)


# --------------------------------------------------------------------------- devices


@device_app.command("create")
def device_create(
    application: Annotated[str, typer.Option("--application", help="application id")],
    profile: Annotated[str, typer.Option("--profile", help="device profile id")],
    dev_eui: Annotated[str, typer.Option("--dev-eui", help="DevEUI, 16 hex digits")],
    join_eui: Annotated[str | None, typer.Option("--join-eui", help="JoinEUI")] = None,
    nwk_key: Annotated[
        str | None, typer.Option("--nwk-key", help="root key (the AppKey of 1.0.x devices)")
    ] = None,
    app_key: Annotated[str | None, typer.Option("--app-key", help="LoRaWAN 1.1 AppKey")] = None,
    name: Annotated[str, typer.Option("--name")] = "",
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    quiet: Quiet = False,
) -> None:
    """Register a device (keys are stored encrypted, never printed)."""
    body = validated(
        DeviceCreate,
        dev_eui=dev_eui,
        application_id=application,
        device_profile_id=profile,
        join_eui=join_eui,
        nwk_key=nwk_key,
        app_key=app_key,
        name=name,
    )

    async def action(storage: Storage) -> Device:
        tenant_id, device_profile = await reference_checks(
            storage, None, body.application_id, body.device_profile_id
        )
        device = Device(
            dev_eui=EUI64.from_hex(body.dev_eui),
            tenant_id=tenant_id,
            application_id=body.application_id,
            device_profile_id=body.device_profile_id,
            name=body.name,
            join_eui=None if body.join_eui is None else EUI64.from_hex(body.join_eui),
            nwk_key=None if body.nwk_key is None else AES128Key.from_hex(body.nwk_key),
            app_key=None if body.app_key is None else AES128Key.from_hex(body.app_key),
        )
        check_root_keys(device_profile, device)
        return await storage.devices.create(device)

    d = run(data_dir, db_url, action)
    show(
        "device",
        {
            "dev_eui": d.dev_eui,
            "join_eui": d.join_eui,
            "application": d.application_id,
            "profile": d.device_profile_id,
            "nwk_key": "set" if d.nwk_key else "-",
            "app_key": "set" if d.app_key else "-",
        },
        str(d.dev_eui),
        quiet,
    )


@device_app.command("list")
def device_list(
    application: Annotated[
        str | None, typer.Option("--application", help="only this application")
    ] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
) -> None:
    """List devices."""
    app_id = None if application is None else parse_uuid(application, "--application")
    page = run(
        data_dir,
        db_url,
        lambda s: s.devices.list(tenant_id=None, application_id=app_id, limit=1000),
    )
    rows = [(d.dev_eui, d.name, d.application_id, d.enabled) for d in page.items]
    listing("devices", ["dev_eui", "name", "application", "enabled"], rows, page.total)


# --------------------------------------------------------------------------- gateways, zones


@gateway_app.command("create")
def gateway_create(
    gw_eui: Annotated[str, typer.Option("--gw-eui", help="gateway EUI, 16 hex digits")],
    zone: Annotated[str | None, typer.Option("--zone", help="zone name")] = None,
    tenant: Annotated[str | None, typer.Option("--tenant", help="owning tenant id")] = None,
    name: Annotated[str, typer.Option("--name")] = "",
    latitude: Annotated[float | None, typer.Option("--lat")] = None,
    longitude: Annotated[float | None, typer.Option("--lon")] = None,
    altitude: Annotated[float, typer.Option("--alt", help="metres")] = 0.0,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    quiet: Quiet = False,
) -> None:
    """Register a gateway (optionally in a zone, owned by a tenant, with a location)."""
    tenant_id = None if tenant is None else parse_uuid(tenant, "--tenant")
    if (latitude is None) != (longitude is None):
        raise typer.BadParameter("give both --lat and --lon")
    location = None
    if latitude is not None:
        location = validated(
            LocationSchema, latitude=latitude, longitude=longitude, altitude=altitude
        )
    body = validated(GatewayCreate, gw_eui=gw_eui, zone=zone, name=name, location=location)

    async def action(storage: Storage) -> Any:
        if body.zone is not None and await storage.zones.get(body.zone) is None:
            raise CliError(f"zone {body.zone!r} not found (create it: admin zone create)")
        if tenant_id is not None and await storage.tenants.get(tenant_id) is None:
            raise CliError(f"tenant {tenant_id} not found")
        return await storage.gateways.create(body.to_domain(tenant_id))

    g = run(data_dir, db_url, action)
    show(
        "gateway",
        {"gw_eui": g.gw_eui, "zone": g.zone, "tenant": g.tenant_id, "name": g.name},
        str(g.gw_eui),
        quiet,
    )


@gateway_app.command("list")
def gateway_list(
    zone: Annotated[str | None, typer.Option("--zone", help="only this zone")] = None,
    data_dir: DataDir = None,
    db_url: DbUrl = None,
) -> None:
    """List gateways with their last-seen time."""
    page = run(data_dir, db_url, lambda s: s.gateways.list(tenant_id=None, zone=zone, limit=1000))
    rows = [(g.gw_eui, g.name, g.zone, g.tenant_id, g.last_seen_at) for g in page.items]
    listing("gateways", ["gw_eui", "name", "zone", "tenant", "last seen"], rows, page.total)


@zone_app.command("create")
def zone_create(
    name: Annotated[str, typer.Argument(help="zone name (lower case, digits, - and _)")],
    description: Annotated[str, typer.Option("--description")] = "",
    data_dir: DataDir = None,
    db_url: DbUrl = None,
    quiet: Quiet = False,
) -> None:
    """Create a zone."""
    body = validated(ZoneCreate, name=name, description=description)
    z = run(data_dir, db_url, lambda s: s.zones.create(body.to_domain()))
    show("zone", {"name": z.name, "description": z.description}, z.name, quiet)


@zone_app.command("list")
def zone_list(data_dir: DataDir = None, db_url: DbUrl = None) -> None:
    """List zones."""
    page = run(data_dir, db_url, lambda s: s.zones.list(limit=1000))
    listing(
        "zones", ["name", "description"], [(z.name, z.description) for z in page.items], page.total
    )
