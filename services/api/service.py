"""ApiService: the API served by uvicorn inside the running event loop (start / stop)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Generator

import uvicorn

from services.bus import Bus
from services.ledger.base import Ledger
from services.ledger.writer import LedgerWriter
from services.migration import MigrationService
from services.storage import Storage

from .app import attach_ledger, create_app
from .events import EventHub
from .peers import PeerProcess
from .settings import ApiSettings

log = logging.getLogger("hyperlora.api")


class _EmbeddedServer(uvicorn.Server):
    """uvicorn without its signal handlers: the composition root owns SIGINT/SIGTERM."""

    @contextlib.contextmanager
    def capture_signals(self) -> Generator[None, None, None]:
        yield


class ApiService:
    """Serve the API on ``settings.host:settings.port`` until :meth:`stop`."""

    def __init__(
        self,
        settings: ApiSettings,
        bus: Bus,
        storage: Storage,
        *,
        event_hub: EventHub | None = None,
        ledger: Ledger | None = None,
        ledger_writer: LedgerWriter | None = None,
        migration: MigrationService | None = None,
    ) -> None:
        self.settings = settings
        self.event_hub = event_hub or EventHub(
            settings.event_queue_size, settings.max_event_subscribers
        )
        self.app = create_app(
            storage,
            bus,
            self.event_hub,
            settings,
            ledger=ledger,
            ledger_writer=ledger_writer,
            migration=migration,
        )
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def attach_ledger(
        self,
        ledger: Ledger | None,
        ledger_writer: LedgerWriter | None = None,
        migration: MigrationService | None = None,
    ) -> None:
        """Set the ledger objects after construction (the composition root builds the ledger
        after the API); call before :meth:`start`."""
        attach_ledger(self.app, ledger, ledger_writer, migration)

    def attach_peer(self, peer: PeerProcess) -> None:
        """Answer for ``peer`` too on /metrics and /health (services.api.peers)."""
        self.app.state.peers.append(peer)

    async def start(self) -> None:
        config = uvicorn.Config(
            self.app,
            host=self.settings.host,
            port=self.settings.port,
            log_level=self.settings.log_level,
            lifespan="on",
            access_log=False,
            timeout_graceful_shutdown=5,
        )
        self._server = _EmbeddedServer(config)
        self._task = asyncio.create_task(self._server.serve(), name="api:uvicorn")
        while not self._server.started:
            if self._task.done():
                await self._task  # re-raise why it could not start (port in use, ...)
                raise RuntimeError("API server stopped during start-up")
            await asyncio.sleep(0.01)
        log.info("api.started host=%s port=%d", self.settings.host, self.settings.port)

    async def stop(self) -> None:
        if self._server is None or self._task is None:
            return
        self.event_hub.close()  # ends the event streams, so connections can close
        self._server.should_exit = True
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._server = None
        self._task = None
        log.info("api.stopped")

    @property
    def bound_port(self) -> int | None:
        """The port actually bound (useful with port 0 in tests)."""
        if self._server is None or not self._server.servers:
            return None
        sockets = self._server.servers[0].sockets
        return int(sockets[0].getsockname()[1]) if sockets else None
