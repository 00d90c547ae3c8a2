"""The webhook integration: retries with backoff on 5xx / connection errors, bounded."""

from __future__ import annotations

import asyncio
import json
import socket

from services.app_handler.core.events import Webhook
from services.app_handler.integrations.webhook import WebhookIntegration
from services.app_handler.settings import WebhookSettings

from .conftest import HookServer

FAST = WebhookSettings(backoff_initial_s=0.01, backoff_max_s=0.02, max_retries=3, timeout_s=2)
EVENT = {"event": "up", "dev_eui": "0102030405060701", "f_cnt": 1}


async def test_retries_5xx_then_delivers(hook_server: HookServer) -> None:
    hook_server.statuses.extend([500, 503, 429])
    hooks = WebhookIntegration(FAST)
    await hooks.start()
    try:
        assert hooks.publish(EVENT, [Webhook(url=hook_server.url, headers={"X-K": "v"})]) == 1
        await asyncio.wait_for(hooks.drain(), timeout=5)
    finally:
        await hooks.stop()
    assert [r.status for r in hook_server.requests] == [500, 503, 429, 200]
    assert all(json.loads(r.body) == EVENT for r in hook_server.requests)
    assert hook_server.requests[0].headers["x-k"] == "v"
    assert hook_server.requests[0].headers["content-type"] == "application/json"
    assert (hooks.counters.delivered, hooks.counters.retried, hooks.counters.failed) == (1, 3, 0)


async def test_gives_up_after_max_retries_and_not_on_4xx(hook_server: HookServer) -> None:
    hook_server.statuses.extend([500] * 10)
    hooks = WebhookIntegration(FAST)
    await hooks.start()
    try:
        hooks.publish(EVENT, [Webhook(url=hook_server.url)])
        await asyncio.wait_for(hooks.drain(), timeout=5)
        assert len(hook_server.requests) == 4  # first try + 3 retries
        hook_server.statuses.clear()
        hook_server.statuses.append(404)
        hooks.publish(EVENT, [Webhook(url=hook_server.url)])
        await asyncio.wait_for(hooks.drain(), timeout=5)
    finally:
        await hooks.stop()
    assert len(hook_server.requests) == 5  # the 404 is not retried
    assert hooks.counters.failed == 2 and hooks.counters.delivered == 0


async def test_connection_refused_is_retried_then_counted() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    hooks = WebhookIntegration(FAST.model_copy(update={"max_retries": 2}))
    await hooks.start()
    try:
        hooks.publish(EVENT, [Webhook(url=f"http://127.0.0.1:{port}/x")])
        await asyncio.wait_for(hooks.drain(), timeout=5)
    finally:
        await hooks.stop()
    assert (hooks.counters.retried, hooks.counters.failed) == (2, 1)


async def test_full_queue_drops_without_blocking(hook_server: HookServer) -> None:
    hooks = WebhookIntegration(FAST.model_copy(update={"queue_size": 3}))
    # not started: nothing consumes, so the queue fills
    queued = sum(hooks.publish(EVENT, [Webhook(url=hook_server.url)]) for _ in range(5))
    assert queued == 3 and hooks.counters.dropped == 2
    await hooks.start()
    try:
        await asyncio.wait_for(hooks.drain(), timeout=5)
    finally:
        await hooks.stop()
    assert len(hook_server.requests) == 3
