"""Settings of the embedded platform (env prefix ``HYPERLORA_``) and the per-service settings
derived from them.

The platform is the composition root of the embedded mode: its few settings (data directory,
ports, NetID, region, MQTT broker, logging) are the ones an operator sets; each service's own
settings class (``HYPERLORA_NS_*``, ``HYPERLORA_JS_*``, ``HYPERLORA_APP_*``, ``HYPERLORA_API_*``,
``HYPERLORA_BUS_*``, ``HYPERLORA_STORAGE_*``, ``HYPERLORA_GATEWAY_BRIDGE_*``) is still read from
the environment for everything else, and the platform's values win where they overlap.

    HYPERLORA_DATA_DIR=/var/lib/hyperlora HYPERLORA_UDP_PORT=1700 HYPERLORA_HTTP_PORT=8080
    HYPERLORA_NET_ID=000013 HYPERLORA_REGION=EU868 HYPERLORA_ADMIN_API_KEY=<20+ characters>
    HYPERLORA_MQTT_ENABLED=true HYPERLORA_MQTT_HOST=127.0.0.1 HYPERLORA_MQTT_PORT=1883
    HYPERLORA_LOG_LEVEL=INFO HYPERLORA_LOG_JSON=false HYPERLORA_PROCESSES=1
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from services.api.settings import MIN_ADMIN_KEY_LENGTH, ApiSettings
from services.app_handler.settings import AppHandlerSettings
from services.bus.settings import BusSettings
from services.gateway_bridge.settings import GatewayBridgeSettings
from services.join_server.settings import JoinServerSettings
from services.ledger.settings import LedgerSettings
from services.lorawan.errors import LoRaWANError
from services.lorawan.region import get_region
from services.network_server.settings import NetworkServerSettings
from services.storage.settings import StorageSettings

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]


class PlatformSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="HYPERLORA_", extra="ignore")

    data_dir: Path = Path("./var/data")  # SQLite database, first-start admin key file
    udp_host: str = "127.0.0.1"  # Semtech UDP packet forwarders; 0.0.0.0 to hear other hosts
    udp_port: int = Field(default=1700, ge=0, le=65535)  # 0: any free port (tests)
    http_host: str = "127.0.0.1"  # REST API, /health, /metrics
    http_port: int = Field(default=8080, ge=0, le=65535)
    net_id: str = "000000"
    region: str = "EU868"
    # The bootstrap admin API key. Unset: one is generated at the first start (no admin key in
    # the database yet), printed once and written to <data_dir>/admin-api-key (mode 0600).
    admin_api_key: SecretStr | None = None
    mqtt_enabled: bool = True
    mqtt_host: str = "127.0.0.1"
    mqtt_port: int = Field(default=1883, ge=1, le=65535)
    log_level: LogLevel = "INFO"
    log_json: bool = False
    # 1: every service in this process. 2: the radio side (gateway bridge, network server,
    # join server) in a child process joined by a socket (services.platform.radio), so one
    # uplink's work is shared by two interpreters and two cores.
    processes: int = Field(default=1, ge=1, le=2)
    # processes=2: how often within a minute a dead radio process is started again before
    # the platform gives up and stops (exit 1); 0 stops at the first death
    radio_max_restarts: int = Field(default=3, ge=0, le=100)

    @field_validator("net_id")
    @classmethod
    def _net_id_hex(cls, value: str) -> str:
        text = value.strip().upper()
        if len(text) != 6 or any(c not in "0123456789ABCDEF" for c in text):
            raise ValueError("net_id must be 6 hex digits")
        return text

    @field_validator("region")
    @classmethod
    def _known_region(cls, value: str) -> str:
        try:
            return get_region(value).name
        except LoRaWANError as exc:
            raise ValueError(str(exc)) from exc

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("admin_api_key")
    @classmethod
    def _admin_key_long_enough(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if len(value.get_secret_value()) < MIN_ADMIN_KEY_LENGTH:
            raise ValueError(f"admin_api_key must be at least {MIN_ADMIN_KEY_LENGTH} characters")
        return value


@dataclass(slots=True)
class ServiceSettings:
    """Every service's settings, as the platform hands them out."""

    storage: StorageSettings
    bus: BusSettings
    gateway_bridge: GatewayBridgeSettings
    network_server: NetworkServerSettings
    join_server: JoinServerSettings
    app_handler: AppHandlerSettings
    api: ApiSettings
    ledger: LedgerSettings


def derive_settings(
    p: PlatformSettings,
    *,
    network_server: NetworkServerSettings | None = None,
    join_server: JoinServerSettings | None = None,
    app_handler: AppHandlerSettings | None = None,
    api: ApiSettings | None = None,
    bus: BusSettings | None = None,
    gateway_bridge: GatewayBridgeSettings | None = None,
    ledger: LedgerSettings | None = None,
) -> ServiceSettings:
    """The services' settings: each read from its own environment (or given), with the
    platform's values for what they share. The bus is always the in-process one here."""
    ns = (network_server or NetworkServerSettings()).model_copy(
        update={"net_id": p.net_id, "region": p.region}
    )
    js = (join_server or JoinServerSettings()).model_copy(update={"net_id": p.net_id})
    app = app_handler or AppHandlerSettings()
    app = app.model_copy(
        update={
            "mqtt": app.mqtt.model_copy(
                update={"enabled": p.mqtt_enabled, "host": p.mqtt_host, "port": p.mqtt_port}
            )
        }
    )
    api_s = (api or ApiSettings()).model_copy(
        update={
            "host": p.http_host,
            "port": p.http_port,
            "admin_api_key": p.admin_api_key,
            "log_level": "warning" if p.log_level != "DEBUG" else "debug",
        }
    )
    bus_s = (bus or BusSettings()).model_copy(update={"backend": "memory"})
    gw = (gateway_bridge or GatewayBridgeSettings()).model_copy(
        update={"bind_host": p.udp_host, "bind_port": p.udp_port, "metrics_port": None}
    )
    storage = StorageSettings(data_dir=str(p.data_dir))
    ledger_s = (ledger or LedgerSettings()).model_copy(
        update={"backend": "embedded", "data_dir": str(Path(p.data_dir) / "ledger")}
    )
    return ServiceSettings(
        storage=storage,
        bus=bus_s,
        gateway_bridge=gw,
        network_server=ns,
        join_server=js,
        app_handler=app,
        api=api_s,
        ledger=ledger_s,
    )
