"""HTTP webhooks: POST each event (JSON) to each URL of the device's application.

Never blocks the uplink path: :meth:`WebhookIntegration.publish` only queues (bounded; when
full the POST is dropped and counted). Workers POST with the webhook's headers plus
``Content-Type: application/json`` and ``X-HyperLoRa-Event: <event>``; connection errors,
timeouts, 429 and 5xx answers are retried with exponential backoff (bounded by
``max_retries``), other 4xx answers are not. A retry waits on a timer, not in a worker, so one
dead endpoint does not hold up the others.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import httpx

from .. import metrics
from ..core.events import Webhook
from ..errors import DeliveryRefused, DeliveryRetry
from ..settings import WebhookSettings

log = logging.getLogger("hyperlora.app_handler.webhook")


@dataclass(slots=True)
class _Post:
    url: str
    headers: dict[str, str]
    body: bytes
    event: str
    dev_eui: str
    attempt: int = 0  # attempts made so far


@dataclass(slots=True)
class WebhookCounters:
    delivered: int = 0
    retried: int = 0
    failed: int = 0
    dropped: int = 0
    by_status: dict[int, int] = field(default_factory=dict)


class WebhookIntegration:
    def __init__(
        self, settings: WebhookSettings, *, client: httpx.AsyncClient | None = None
    ) -> None:
        self._settings = settings
        self._client = client
        self._own_client = client is None
        self._queue: asyncio.Queue[_Post] = asyncio.Queue(maxsize=settings.queue_size)
        self._workers: list[asyncio.Task[None]] = []
        self._timers: set[asyncio.TimerHandle] = set()
        self._outstanding = 0  # queued, being posted, or waiting for a retry
        self._idle = asyncio.Event()
        self._idle.set()
        self._running = False
        self.counters = WebhookCounters()

    async def start(self) -> None:
        if self._running:
            return
        if self._client is None:
            self._client = httpx.AsyncClient(timeout=self._settings.timeout_s)
        self._running = True
        self._workers = [
            asyncio.create_task(self._worker(), name=f"app_handler:webhook:{i}")
            for i in range(self._settings.workers)
        ]

    async def stop(self, drain_timeout_s: float = 5.0) -> None:
        """Deliver what is queued (up to ``drain_timeout_s``), then stop the workers."""
        if not self._running:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self.drain(), timeout=drain_timeout_s)
        self._running = False
        for timer in self._timers:
            timer.cancel()
        self._timers.clear()
        for task in self._workers:
            task.cancel()
        for task in self._workers:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._workers.clear()
        if self._own_client and self._client is not None:
            await self._client.aclose()
            self._client = None

    async def drain(self) -> None:
        """Wait until every queued POST was delivered or given up."""
        await self._idle.wait()

    def publish(self, event: Mapping[str, Any], webhooks: Iterable[Webhook]) -> int:
        """Queue one POST of ``event`` per webhook; return how many were queued."""
        hooks = list(webhooks)
        if not hooks:
            return 0
        body = json.dumps(event, separators=(",", ":")).encode()
        kind = str(event.get("event", ""))
        queued = 0
        for hook in hooks:
            headers = {
                **hook.headers,
                "Content-Type": "application/json",
                "X-HyperLoRa-Event": kind,
            }
            post = _Post(hook.url, headers, body, kind, str(event.get("dev_eui", "")))
            try:
                self._queue.put_nowait(post)
            except asyncio.QueueFull:
                self.counters.dropped += 1
                metrics.WEBHOOK_REQUESTS.labels("dropped").inc()
                log.warning(
                    "app_handler.webhook.dropped url=%s event=%s dev_eui=%s reason=queue_full",
                    hook.url,
                    kind,
                    post.dev_eui,
                )
                continue
            self._outstanding += 1
            self._idle.clear()
            queued += 1
        return queued

    @property
    def max_retries(self) -> int:
        return self._settings.max_retries

    def backoff(self, attempt: int) -> float:
        """The wait before retry number ``attempt`` (1 for the first retry)."""
        return self._backoff(attempt)

    async def deliver(
        self, url: str, headers: Mapping[str, str], body: bytes, event: str, dev_eui: str
    ) -> None:
        """One POST of ``body`` now, for the outbox relay (which keeps the attempts and the
        backoff in the outbox): returns on 2xx; DeliveryRefused on an answer not worth
        retrying (4xx other than 429), DeliveryRetry otherwise (connection error, timeout,
        429, 5xx)."""
        if self._client is None:
            raise DeliveryRetry("webhooks not started")
        sent = {**headers, "Content-Type": "application/json", "X-HyperLoRa-Event": event}
        try:
            response = await self._client.post(
                url, content=body, headers=sent, timeout=self._settings.timeout_s
            )
        except httpx.HTTPError as exc:  # connection refused, timeout, protocol errors
            raise DeliveryRetry(f"{url}: {type(exc).__name__}: {exc}") from exc
        status = response.status_code
        self.counters.by_status[status] = self.counters.by_status.get(status, 0) + 1
        if status < 300:
            self.counters.delivered += 1
            metrics.WEBHOOK_REQUESTS.labels("delivered").inc()
            return
        if status < 500 and status != 429:
            self.counters.failed += 1
            metrics.WEBHOOK_REQUESTS.labels("failed").inc()
            raise DeliveryRefused(f"{url}: HTTP {status} (event {event}, device {dev_eui})")
        self.counters.retried += 1
        metrics.WEBHOOK_REQUESTS.labels("retried").inc()
        raise DeliveryRetry(f"{url}: HTTP {status}")

    # ------------------------------------------------------------------ internals

    def _done(self) -> None:
        self._outstanding -= 1
        if self._outstanding == 0:
            self._idle.set()

    def _backoff(self, attempt: int) -> float:
        s = self._settings
        return float(min(s.backoff_max_s, s.backoff_initial_s * 2 ** (attempt - 1)))

    def _requeue(self, post: _Post, timer_ref: list[asyncio.TimerHandle]) -> None:
        for t in timer_ref:
            self._timers.discard(t)
        try:
            self._queue.put_nowait(post)
        except asyncio.QueueFull:
            self.counters.dropped += 1
            metrics.WEBHOOK_REQUESTS.labels("dropped").inc()
            self._done()

    async def _worker(self) -> None:
        while True:
            post = await self._queue.get()
            try:
                retry = await self._post(post)
            except asyncio.CancelledError:
                self._done()
                raise
            if retry is None:
                self._done()
                continue
            ref: list[asyncio.TimerHandle] = []
            timer = asyncio.get_running_loop().call_later(retry, self._requeue, post, ref)
            ref.append(timer)
            self._timers.add(timer)

    async def _post(self, post: _Post) -> float | None:
        """One attempt; the delay before the next one, or None when finished."""
        assert self._client is not None
        post.attempt += 1
        error: str
        try:
            response = await self._client.post(
                post.url,
                content=post.body,
                headers=post.headers,
                timeout=self._settings.timeout_s,
            )
        except httpx.HTTPError as exc:  # connection refused, timeout, protocol errors
            error = f"{type(exc).__name__}: {exc}"
        else:
            status = response.status_code
            self.counters.by_status[status] = self.counters.by_status.get(status, 0) + 1
            if status < 300:
                self.counters.delivered += 1
                metrics.WEBHOOK_REQUESTS.labels("delivered").inc()
                return None
            error = f"HTTP {status}"
            if status < 500 and status != 429:
                self._give_up(post, error)
                return None
        if post.attempt > self._settings.max_retries:
            self._give_up(post, error)
            return None
        delay = self._backoff(post.attempt)
        self.counters.retried += 1
        metrics.WEBHOOK_REQUESTS.labels("retried").inc()
        log.info(
            "app_handler.webhook.retry url=%s event=%s dev_eui=%s attempt=%d in_s=%.2f error=%s",
            post.url,
            post.event,
            post.dev_eui,
            post.attempt,
            delay,
            error,
        )
        return delay

    def _give_up(self, post: _Post, error: str) -> None:
        self.counters.failed += 1
        metrics.WEBHOOK_REQUESTS.labels("failed").inc()
        log.warning(
            "app_handler.webhook.failed url=%s event=%s dev_eui=%s attempts=%d error=%s",
            post.url,
            post.event,
            post.dev_eui,
            post.attempt,
            error,
        )
