"""Small adapter helpers: per-device locks, queue-item metadata, ids, logging."""

from __future__ import annotations

import asyncio
import os
import random
import uuid
from typing import Any

from services.storage.domain import DeviceSession, QueueItem

QUEUE_META = "queue"
_ITEM_NS = uuid.UUID("6f1c2a52-9c1e-4f7b-9a51-3c5d1f0e8b7a")


class KeyedLocks:
    """One asyncio.Lock per key (a device), dropped when nobody holds or awaits it."""

    def __init__(self) -> None:
        self._locks: dict[str, asyncio.Lock] = {}
        self._users: dict[str, int] = {}

    def hold(self, key: str) -> _Held:
        return _Held(self, key)


class _Held:
    """``async with locks.hold(key)``: a plain class (cheaper than a generator-based context
    manager on the uplink path, which takes two of these per frame)."""

    __slots__ = ("_key", "_lock", "_owner")

    def __init__(self, owner: KeyedLocks, key: str) -> None:
        self._owner = owner
        self._key = key
        self._lock: asyncio.Lock | None = None

    async def __aenter__(self) -> None:
        owner, key = self._owner, self._key
        lock = owner._locks.get(key)
        if lock is None:
            lock = owner._locks[key] = asyncio.Lock()
        owner._users[key] = owner._users.get(key, 0) + 1
        try:
            await lock.acquire()
        except BaseException:
            self._release_user()
            raise
        self._lock = lock

    async def __aexit__(self, *exc: object) -> None:
        assert self._lock is not None
        self._lock.release()
        self._release_user()

    def _release_user(self) -> None:
        owner, key = self._owner, self._key
        owner._users[key] -= 1
        if owner._users[key] == 0:
            del owner._users[key]
            del owner._locks[key]


def item_id_for(request_id: str) -> uuid.UUID:
    """The queue item id of a DownlinkRequest: the request id itself when it is a UUID, else
    a name-based UUID of it (so a redelivered request maps to the same item)."""
    try:
        return uuid.UUID(request_id)
    except ValueError:
        return uuid.uuid5(_ITEM_NS, request_id)


# The storage QueueItem has no request_id and sets f_cnt_down only when sent, so the counter
# the app handler encrypted with (and its request id) are kept in the session's
# mac_command_state["queue"][<item id>] until the item is sent or dropped.


def put_queue_meta(
    session: DeviceSession, item_id: uuid.UUID, request_id: str, f_cnt_down: int
) -> None:
    meta = session.mac_command_state.setdefault(QUEUE_META, {})
    meta[str(item_id)] = {"request_id": request_id, "f_cnt_down": f_cnt_down}


def get_queue_meta(session: DeviceSession, item: QueueItem) -> dict[str, Any] | None:
    request_id = getattr(item, "request_id", None)
    stored = session.mac_command_state.get(QUEUE_META, {}).get(str(item.id))
    if stored is None and request_id is None:
        return None
    meta = dict(stored or {})
    if request_id is not None:
        meta["request_id"] = request_id
    return meta


def drop_queue_meta(session: DeviceSession, item_id: uuid.UUID | str) -> None:
    meta = session.mac_command_state.get(QUEUE_META)
    if isinstance(meta, dict):
        meta.pop(str(item_id), None)
        if not meta:
            session.mac_command_state.pop(QUEUE_META, None)


_IDS = random.Random(os.urandom(32))  # ids need uniqueness, not secrecy: no syscall per id
_V4 = (0x4 << 76) | (0x2 << 62)
_V4_MASK = ~((0xF << 76) | (0x3 << 62))


def new_id() -> str:
    """A random 128-bit id as 32 hex digits (a version-4 UUID's hex form)."""
    return f"{(_IDS.getrandbits(128) & _V4_MASK) | _V4:032x}"
