"""Application sessions: from a join (js.app_s_key) or an ABP activation (the API)."""

from __future__ import annotations

import uuid

from services.bus.messages import AppSKeyDelivery
from services.lorawan.types import EUI64, AES128Key, DevAddr
from services.lorawan.version import MacVersion
from services.storage.interfaces import AppSessionRepository
from services.storage.repositories.app_session import AppSession

from .core.keys import session_uuid


def app_session_from_delivery(delivery: AppSKeyDelivery, app_s_key: AES128Key) -> AppSession:
    """The new application session announced by the join server (key already unwrapped)."""
    return AppSession(
        dev_eui=EUI64.from_hex(delivery.dev_eui),
        session_id=session_uuid(delivery.session_id),
        dev_addr=DevAddr.from_hex(delivery.dev_addr),
        join_eui=EUI64.from_hex(delivery.join_eui),
        mac_version=MacVersion.parse(delivery.mac_version).value,
        app_s_key=app_s_key,
    )


async def activate_abp(
    repo: AppSessionRepository,
    *,
    dev_eui: EUI64,
    dev_addr: DevAddr,
    app_s_key: AES128Key,
    mac_version: str,
    session_id: uuid.UUID | None = None,
    join_eui: EUI64 | None = None,
    a_f_cnt_down: int | None = None,
    n_f_cnt_down: int | None = None,
) -> AppSession:
    """Store the application session of an ABP device (replacing any previous one).

    Use the same ``session_id`` as the network session (``DeviceSession.session_id``) so the
    uplinks' ``session_id`` match. The downlink counters, when given, are the next values the
    network server will use (an ABP device keeps its counters across re-provisioning).
    """
    return await repo.create(
        AppSession(
            dev_eui=dev_eui,
            session_id=session_id or uuid.uuid4(),
            dev_addr=dev_addr,
            join_eui=join_eui,
            mac_version=MacVersion.parse(mac_version).value,
            app_s_key=app_s_key,
            n_f_cnt_down=n_f_cnt_down,
            a_f_cnt_down=a_f_cnt_down,
        )
    )
