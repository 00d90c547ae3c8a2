"""``hyperlora admin``: set up a network from the command line, straight into the database."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from services.cli.admin import app
from services.lorawan.types import EUI64
from services.storage import StorageSettings, open_storage

NWK_KEY = "2B7E151628AED2A6ABF7158809CF4F3C"
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def invoke(runner: CliRunner, data_dir: Path, *args: str, code: int = 0) -> str:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)])
    assert result.exit_code == code, (args, result.output, result.exception)
    return result.output.strip()


def test_operator_sets_up_a_network(runner: CliRunner, tmp_path: Path) -> None:
    tenant = invoke(runner, tmp_path, "tenant", "create", "acme", "-q")
    assert UUID_RE.match(tenant)
    secret = invoke(runner, tmp_path, "apikey", "create", "--tenant", tenant, "ops", "-q")
    assert secret.startswith("hlk_") and len(secret) > 30
    admin_out = invoke(runner, tmp_path, "apikey", "create", "--admin", "root")
    assert "Store the secret now" in admin_out and "hlk_" in admin_out
    application = invoke(
        runner, tmp_path, "application", "create", "--tenant", tenant, "meters", "--no-mqtt", "-q"
    )
    profile = invoke(
        runner,
        tmp_path,
        "device-profile",
        "create",
        "--tenant",
        tenant,
        "--region",
        "eu868",
        "--mac-version",
        "1.0.3",
        "eu-otaa",
        "-q",
    )
    out = invoke(
        runner,
        tmp_path,
        "device",
        "create",
        "--application",
        application,
        "--profile",
        profile,
        "--dev-eui",
        "70b3d57ed0000001",
        "--join-eui",
        "70B3D57ED0000000",
        "--nwk-key",
        NWK_KEY,
    )
    assert "70B3D57ED0000001" in out and NWK_KEY not in out
    invoke(runner, tmp_path, "zone", "create", "zone-a")
    gw = invoke(
        runner,
        tmp_path,
        "gateway",
        "create",
        "--gw-eui",
        "AA555A0000000001",
        "--zone",
        "zone-a",
        "-q",
    )
    assert gw == "AA555A0000000001"
    listed = invoke(runner, tmp_path, "device", "list")
    assert "70B3D57ED0000001" in listed and "(1 of 1)" in listed
    assert "zone-a" in invoke(runner, tmp_path, "gateway", "list")
    assert secret not in invoke(runner, tmp_path, "apikey", "list")

    async def check() -> None:
        storage = await open_storage(StorageSettings(data_dir=str(tmp_path)))
        try:
            key = await storage.api_keys.authenticate(secret)
            assert key is not None and str(key.tenant_id) == tenant and not key.is_admin
            device = await storage.devices.get(EUI64.from_hex("70B3D57ED0000001"), tenant_id=None)
            assert device is not None and str(device.nwk_key) == NWK_KEY
            assert str(device.tenant_id) == tenant
            apps = await storage.applications.list(tenant_id=None)
            assert apps.items[0].integrations.mqtt_enabled is False
        finally:
            await storage.close()

    asyncio.run(check())


def test_data_dir_from_environment(runner: CliRunner, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["tenant", "create", "envco"], env={"HYPERLORA_DATA_DIR": str(tmp_path)}
    )
    assert result.exit_code == 0, result.output
    assert (tmp_path / "hyperlora.db").exists()
    assert "envco" in invoke(runner, tmp_path, "tenant", "list")


def test_db_url_option(runner: CliRunner, tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'other.db'}"
    result = runner.invoke(app, ["zone", "create", "zone-b", "--db-url", url])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "other.db").exists()


def test_refusals(runner: CliRunner, tmp_path: Path) -> None:
    tenant = invoke(runner, tmp_path, "tenant", "create", "acme", "-q")
    # invalid input: exit 2 with the schema's message
    out = invoke(
        runner,
        tmp_path,
        "device-profile",
        "create",
        "--tenant",
        tenant,
        "--region",
        "XX1",
        "p",
        code=2,
    )
    assert "unsupported region" in out
    out = invoke(
        runner,
        tmp_path,
        "device",
        "create",
        "--application",
        tenant,
        "--profile",
        tenant,
        "--dev-eui",
        "0102",
        "--nwk-key",
        NWK_KEY,
        code=2,
    )
    assert "dev_eui" in out and "expected 16 hex digits" in out
    # references that do not exist: exit 1
    out = invoke(
        runner,
        tmp_path,
        "device",
        "create",
        "--application",
        tenant,
        "--profile",
        tenant,
        "--dev-eui",
        "0102030405060708",
        "--nwk-key",
        NWK_KEY,
        code=1,
    )
    assert "application not found" in out
    out = invoke(
        runner,
        tmp_path,
        "gateway",
        "create",
        "--gw-eui",
        "AA555A0000000001",
        "--zone",
        "nowhere",
        code=1,
    )
    assert "zone 'nowhere' not found" in out
    out = invoke(
        runner,
        tmp_path,
        "apikey",
        "create",
        "--tenant",
        "00000000-0000-0000-0000-000000000001",
        "k",
        code=1,
    )
    assert "not found" in out
    # --tenant xor --admin
    invoke(runner, tmp_path, "apikey", "create", "k", code=2)
    invoke(runner, tmp_path, "apikey", "create", "--admin", "--tenant", tenant, "k", code=2)
    # duplicates
    invoke(runner, tmp_path, "zone", "create", "zone-a")
    out = invoke(runner, tmp_path, "zone", "create", "zone-a", code=1)
    assert "exists" in out
