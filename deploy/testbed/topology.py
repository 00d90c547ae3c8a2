"""The distributed topology table (deploy/testbed/topology.yaml), resolved for a deployment.

    topology.py procs                 one line per process: "<proc> <service>" in start order
    topology.py env PROC              KEY=VALUE lines of PROC (native), from this environment:
                                      KAFKA_PORT PG_URL MQTT_PORT UDP_PORT API_PORT DATA ADMIN_KEY
                                      (+ METRICS_BASE: HYPERLORA_SERVICE_METRICS_PORT per process)
    topology.py metrics PROC          PROC's metrics port (METRICS_BASE + its index)

Used by testbed.sh (native processes) and by tests/integration/test_compose_agreement.py
(docker-compose.yml against the same table). Standard library + PyYAML only.
"""

from __future__ import annotations

import os
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

TABLE = Path(__file__).resolve().with_name("topology.yaml")
_PLACEHOLDER = re.compile(r"\$\{([A-Z_]+)\}")


@dataclass(frozen=True)
class Process:
    name: str  # network_server-1, api, ...
    service: str  # the `hyperlora service` argument
    index: int  # position in start order (0-based)
    settings: dict[str, str]  # unresolved (placeholders of the table)
    ports: tuple[dict[str, Any], ...]


def load(path: Path = TABLE) -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(path.read_text())
    return data


def processes(table: dict[str, Any] | None = None) -> list[Process]:
    table = table or load()
    out: list[Process] = []
    for svc in table["services"]:
        n = int(svc.get("instances", 1))
        settings = {**table["common"], **svc.get("settings", {})}
        for i in range(1, n + 1):
            name = svc["name"] if n == 1 else f"{svc['name']}-{i}"
            out.append(
                Process(
                    name=name,
                    service=svc["name"],
                    index=len(out),
                    settings={k: str(v) for k, v in settings.items()},
                    ports=tuple(svc.get("ports", [])),
                )
            )
    return out


def substitute(text: str, values: dict[str, str], *, strict: bool = True) -> str:
    def one(m: re.Match[str]) -> str:
        key = m.group(1)
        if key in values:
            return values[key]
        if strict:
            raise KeyError(f"no value for ${{{key}}}")
        return m.group(0)

    return _PLACEHOLDER.sub(one, text)


def resolve(
    settings: dict[str, str],
    target: str,
    env: dict[str, str] | None = None,
    table: dict[str, Any] | None = None,
) -> dict[str, str]:
    """The settings with the table's placeholders replaced by ``target``'s values; for the
    native target, those values' own placeholders come from ``env``."""
    table = table or load()
    mapping = {k: str(v) for k, v in table["targets"][target].items()}
    if env is not None:
        mapping = {k: substitute(v, env) for k, v in mapping.items()}
    return {k: substitute(v, mapping) for k, v in settings.items()}


def _proc(name: str) -> Process:
    for p in processes():
        if p.name == name:
            return p
    raise SystemExit(f"unknown process {name!r}")


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    cmd, args = argv[0], argv[1:]
    if cmd == "procs":
        for p in processes():
            print(p.name, p.service)
        return 0
    if cmd == "env" and len(args) == 1:
        p = _proc(args[0])
        for key, value in resolve(p.settings, "native", dict(os.environ)).items():
            print(f"{key}={value}")
        if os.environ.get("METRICS_BASE"):
            print(f"HYPERLORA_SERVICE_METRICS_PORT={int(os.environ['METRICS_BASE']) + p.index}")
        return 0
    if cmd == "metrics" and len(args) == 1:
        print(int(os.environ.get("METRICS_BASE", "9100")) + _proc(args[0]).index)
        return 0
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
