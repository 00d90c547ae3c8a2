"""Composition helpers: the Ledger adapter and the writer chosen by settings."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from .base import Ledger
from .settings import LedgerSettings

if TYPE_CHECKING:
    from services.bus import Bus

    from .writer import LedgerWriter, OnCommit, Route


def make_ledger(settings: LedgerSettings | None = None) -> Ledger:
    """The embedded ledger (default) or the Fabric Gateway adapter (``backend=fabric``)."""
    settings = settings or LedgerSettings()
    if settings.backend == "fabric":
        from . import fabric

        custom: Callable[[LedgerSettings], Ledger] | None = getattr(fabric, "make_ledger", None)
        if custom is not None:
            return custom(settings)
        if not settings.fabric_profile:
            raise ValueError("backend=fabric needs HYPERLORA_LEDGER_FABRIC_PROFILE")
        return fabric.FabricLedger(fabric.FabricLedgerConfig.from_profile(settings.fabric_profile))
    from .embedded import EmbeddedLedger, default_policy

    return EmbeddedLedger(
        settings.data_dir,
        batch_size=settings.batch_size,
        batch_timeout_s=settings.batch_timeout_ms / 1000,
        msp_id=settings.msp_id,
        policy=default_policy(settings.operator_msp, settings.zone_msps),
        synchronous=settings.sqlite_synchronous,
    )


def make_writer(
    ledger: Ledger,
    bus: Bus | None,
    settings: LedgerSettings | None = None,
    *,
    route: Route | None = None,
    on_commit: OnCommit | None = None,
) -> LedgerWriter:
    from .writer import LedgerWriter, WriterConfig, identity_route

    settings = settings or LedgerSettings()
    config = WriterConfig(
        max_batch=settings.writer_max_batch,
        linger_s=settings.writer_linger_ms / 1000,
        intake_window_s=settings.writer_intake_window_ms / 1000,
        backoff_initial_s=settings.writer_backoff_initial_s,
        backoff_max_s=settings.writer_backoff_max_s,
        max_in_flight=settings.writer_max_in_flight,
    )
    return LedgerWriter(
        ledger,
        data_dir=settings.data_dir,
        bus=bus,
        config=config,
        route=route or identity_route,
        on_commit=on_commit,
    )
