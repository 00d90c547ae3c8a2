"""docker-compose.yml and the native testbed describe one topology (deploy/testbed/topology.yaml).

No Docker engine runs here, so the compose file is checked offline: against the Compose
Specification JSON schema (deploy/docker/compose-spec.schema.json, named source inside) and for
the essentials the schema cannot see (images or builds, commands, healthchecked dependencies),
then against the table: the same services and instances, the same published ports, the same
settings (the table's placeholders resolved with the compose target's values). The native side
is checked through what testbed.sh actually runs: ``testbed.sh env PROC`` for every process.
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "deploy" / "testbed"))
import topology  # noqa: E402  (deploy/testbed/topology.py, not a package)

pytestmark = pytest.mark.integration

COMPOSE = ROOT / "docker-compose.yml"
SCHEMA = ROOT / "deploy" / "docker" / "compose-spec.schema.json"
ENGINES = ("kafka", "postgres", "mosquitto")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return data


@pytest.fixture(scope="module")
def table() -> dict[str, Any]:
    return topology.load()


def schema_errors(doc: dict[str, Any]) -> list[str]:
    schema = json.loads(SCHEMA.read_text())
    # Top-level `name` postdates the bundled (2021) schema; everything else is checked.
    body = {k: v for k, v in doc.items() if k != "name"}
    validator = jsonschema.Draft201909Validator(schema)
    return [f"{list(e.path)}: {e.message}" for e in validator.iter_errors(body)]


def test_compose_file_is_valid_against_the_compose_schema(compose: dict[str, Any]) -> None:
    assert schema_errors(compose) == []
    assert compose["name"] == "hyperlora"


@pytest.mark.parametrize(
    ("path", "bad"),
    [
        (("services", "api", "ports"), {"8080": 8080}),  # ports must be a list
        (("services", "api", "depends_on", "kafka", "condition"), "when_ready"),
        (("services", "api", "restart_policy"), "always"),  # no such service key
    ],
)
def test_the_schema_check_catches_broken_files(
    compose: dict[str, Any], path: tuple[str, ...], bad: object
) -> None:
    broken = copy.deepcopy(compose)
    node = broken
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = bad
    assert schema_errors(broken)


def test_compose_essentials(compose: dict[str, Any], table: dict[str, Any]) -> None:
    services = compose["services"]
    for name in ENGINES:
        assert services[name]["image"] == table["engines"][name]["image"]
        assert "healthcheck" in services[name], f"{name} needs a healthcheck"
    assert re.fullmatch(r"apache/kafka:4\.\d+\.\d+", services["kafka"]["image"])
    kafka_env = services["kafka"]["environment"]
    assert kafka_env["KAFKA_PROCESS_ROLES"] == "broker,controller"  # KRaft, single node
    assert services["postgres"]["image"] == "postgres:15"
    assert services["mosquitto"]["image"].startswith("eclipse-mosquitto:2")
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    for svc in table["services"]:
        s = services[svc["name"]]
        assert s["image"] == "hyperlora:dev"
        assert s["build"]["dockerfile"] == "deploy/docker/Dockerfile"
        assert (ROOT / s["build"]["dockerfile"]).is_file()
        assert s["command"] == ["hyperlora", "service", svc["name"]]
        deps = s["depends_on"]
        for engine in ENGINES:
            assert deps[engine]["condition"] == "service_healthy"
            assert "healthcheck" in services[engine]
        assert deps["migrate"]["condition"] == "service_completed_successfully"


def test_same_services_and_instances(compose: dict[str, Any], table: dict[str, Any]) -> None:
    ours = {s["name"]: int(s.get("instances", 1)) for s in table["services"]}
    services = compose["services"]
    theirs = {
        name: int(s.get("deploy", {}).get("replicas", 1))
        for name, s in services.items()
        if s.get("command", [None])[:2] == ["hyperlora", "service"]
    }
    assert theirs == ours
    assert ours["network_server"] == 2
    assert set(services) == set(ours) | set(ENGINES) | {"migrate"}


def test_same_published_ports(compose: dict[str, Any], table: dict[str, Any]) -> None:
    services = compose["services"]
    for svc in table["services"]:
        want = {
            f"{p['container']}:{p['container']}" + ("/udp" if p["protocol"] == "udp" else "")
            for p in svc.get("ports", [])
        }
        assert set(services[svc["name"]].get("ports", [])) == want, svc["name"]
    for name in ENGINES:
        e = table["engines"][name]
        inside = e.get("container_port", e["port"])
        assert services[name]["ports"] == [f"{e['port']}:{inside}"], name
    # the native defaults are the same host ports
    script = (ROOT / "deploy" / "testbed" / "testbed.sh").read_text()
    assert 'UDP_PORT="${UDP_PORT:-1700}"' in script
    assert 'API_PORT="${API_PORT:-8080}"' in script
    assert table["engines"]["kafka"]["port"] == 9092
    assert 'PG_PORT="${PG_PORT:-55432}"' in (ROOT / "deploy/postgres/postgres.sh").read_text()
    assert 'MQTT_PORT="${MQTT_PORT:-1883}"' in (ROOT / "deploy/mosquitto/mosquitto.sh").read_text()


def test_same_settings_in_compose(compose: dict[str, Any], table: dict[str, Any]) -> None:
    for proc in topology.processes(table):
        want = topology.resolve(proc.settings, "compose", table=table)
        got = {k: str(v) for k, v in compose["services"][proc.service]["environment"].items()}
        assert got == want, proc.service


def test_same_settings_in_the_native_testbed(table: dict[str, Any], tmp_path: Path) -> None:
    """What testbed.sh hands each process is the table resolved for 127.0.0.1."""
    env = dict(os.environ)
    env.update(
        HYPERLORA_STATE_DIR=str(tmp_path),
        PG_PASSWORD="pw-of-the-test",
        UDP_PORT="1700",
        API_PORT="8080",
        KAFKA_PORT="9092",
        MQTT_PORT="1883",
        PG_PORT="55432",
        METRICS_BASE="9100",
    )
    pg_url = "postgresql+asyncpg://hyperlora:pw-of-the-test@127.0.0.1:55432/hyperlora"
    for proc in topology.processes(table):
        out = subprocess.run(
            ["bash", str(ROOT / "deploy" / "testbed" / "testbed.sh"), "env", proc.name],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        ).stdout
        got = dict(line.split("=", 1) for line in out.splitlines() if line)
        assert got.pop("HYPERLORA_SERVICE_METRICS_PORT") == str(9100 + proc.index)
        native = {
            "KAFKA_PORT": "9092",
            "PG_URL": pg_url,
            "MQTT_PORT": "1883",
            "UDP_PORT": "1700",
            "API_PORT": "8080",
            "DATA": str(tmp_path / "testbed" / "data"),
            "ADMIN_KEY": (tmp_path / "testbed" / "admin-api-key").read_text().strip(),
        }
        assert got == topology.resolve(proc.settings, "native", native, table), proc.name
        compose_keys = set(topology.resolve(proc.settings, "compose", table=table))
        assert set(got) == compose_keys, proc.name
