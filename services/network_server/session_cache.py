"""The in-memory cache of device sessions for the uplink path, keyed by DevAddr and DevEUI.

It saves the session lookup of every uplink. It is a hint, never the authority: every write
of the uplink path is conditional on the stored session id, version and frame counter
(services.storage.repositories.session_batch), so a stale entry can only make a write fail,
never make one wrong. The uplink flow then drops the entry and starts over from the database;
a frame refused on cached candidates (no valid MIC, replayed counter) is re-checked against
the database before it is rejected.

Entries are dropped when a session changes: a join or activation (a new session, maybe under
another DevAddr), any save outside the uplink path (the storage repository's change listeners),
a failed conditional write. ``epoch`` guards a lookup racing an invalidation: a list read from
the database is only cached if nothing was invalidated while it was being read.
"""

from __future__ import annotations

from collections import OrderedDict

from services.lorawan.types import EUI64, DevAddr
from services.storage.domain import DeviceSession


class SessionCache:
    def __init__(self, max_dev_addrs: int = 100_000) -> None:
        self._max = max_dev_addrs
        self._by_addr: OrderedDict[str, list[DeviceSession]] = OrderedDict()
        self._addr_of: dict[str, str] = {}  # dev_eui -> dev_addr of its cached session
        self.epoch = 0
        self.hits = 0
        self.misses = 0

    def __len__(self) -> int:
        return len(self._by_addr)

    def get(self, dev_addr: DevAddr) -> list[DeviceSession] | None:
        """The cached candidates of ``dev_addr`` (do not mutate them), or None."""
        key = str(dev_addr)
        found = self._by_addr.get(key)
        if found is None:
            self.misses += 1
            return None
        self.hits += 1
        self._by_addr.move_to_end(key)
        return found

    def put(self, dev_addr: DevAddr, sessions: list[DeviceSession], epoch: int) -> None:
        """Cache what the database returned, if nothing was invalidated since ``epoch``.
        An empty list is not cached (a session may be created under that DevAddr anytime)."""
        if epoch != self.epoch or not sessions or self._max == 0:
            return
        key = str(dev_addr)
        self._drop_addr(key)
        self._by_addr[key] = list(sessions)
        for s in sessions:
            eui = str(s.dev_eui)
            previous = self._addr_of.get(eui)
            if previous is not None and previous != key:
                self._drop_addr(previous)  # the device's older session, under another DevAddr
            self._addr_of[eui] = key
        while len(self._by_addr) > self._max:
            oldest, evicted = self._by_addr.popitem(last=False)
            self._forget(oldest, evicted)

    def update(self, session: DeviceSession) -> None:
        """Replace the cached copy of this device's session by ``session`` (as committed)."""
        key = self._addr_of.get(str(session.dev_eui))
        if key is None or key != str(session.dev_addr):
            return
        entries = self._by_addr.get(key)
        if entries is None:
            return
        for i, cached in enumerate(entries):
            if cached.dev_eui == session.dev_eui:
                if cached.session_id == session.session_id:
                    entries[i] = session
                else:
                    self._drop_addr(key)
                return

    def invalidate_dev_eui(self, dev_eui: EUI64 | str) -> None:
        """Drop the cached entry holding this device's session (its DevAddr's candidates)."""
        self.epoch += 1
        key = self._addr_of.get(str(dev_eui))
        if key is not None:
            self._drop_addr(key)

    def invalidate_dev_addr(self, dev_addr: DevAddr | str) -> None:
        self.epoch += 1
        self._drop_addr(str(dev_addr))

    def clear(self) -> None:
        self.epoch += 1
        self._by_addr.clear()
        self._addr_of.clear()

    def _drop_addr(self, key: str) -> None:
        dropped = self._by_addr.pop(key, None)
        if dropped is not None:
            self._forget(key, dropped)

    def _forget(self, key: str, sessions: list[DeviceSession]) -> None:
        for s in sessions:
            eui = str(s.dev_eui)
            if self._addr_of.get(eui) == key:
                del self._addr_of[eui]
