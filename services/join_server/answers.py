"""Idempotency of the join server: a redelivered JoinRequest gets its first answer again.

Decision. The network server gives every deduplicated JoinRequest a ``dedup_id``; the bus
delivers at least once, so the same ``dedup_id`` may come back (a retry after a failed publish,
a crash before the offset commit, a rebalance). Its DevNonce is then already recorded, and a
plain replay check would refuse it. So:

* after the DevNonce is recorded, the join server *claims* it for the ``dedup_id`` (memory), so
  an in-process retry after a transient error keeps going with that nonce;
* once decided, the answer's :class:`~services.join_server.core.JoinRecord` (no secrets: the
  session keys are derived again from the root keys) is kept in a bounded in-memory map and
  persisted as a device event of kind ``join_accept`` *before* anything is published;
* a request whose DevNonce is refused as reused is looked up by ``dedup_id`` (memory, then
  the device's recent events); if found, and no newer join has happened since (the device's
  JoinNonce is still the recorded one), it is answered with the same JoinAccept, DevAddr,
  session id and keys. A record superseded by a newer join is refused (``stale_redelivery``),
  so a late redelivery can never roll the network server back to an old session.

Remaining window: a crash after the DevNonce write and before the event write loses that
join (the redelivery is refused as a replay); the device simply joins again with its next
DevNonce. Closing it needs the DevNonce and the record in one transaction in the storage.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

from services.lorawan.types import EUI64
from services.storage.domain import Event
from services.storage.interfaces import EventRepository

from .core import JoinRecord

EVENT_KIND = "join_accept"
EVENT_SOURCE = "join_server"

V = TypeVar("V")


def _put(cache: OrderedDict[str, V], key: str, value: V, size: int) -> None:
    cache[key] = value
    cache.move_to_end(key)
    while len(cache) > size:
        cache.popitem(last=False)


class AnswerStore:
    def __init__(
        self, events: EventRepository | None, *, size: int = 10_000, lookup_events: int = 50
    ) -> None:
        self._events = events
        self._size = size
        self._lookup = lookup_events
        self._records: OrderedDict[str, JoinRecord] = OrderedDict()
        self._claims: OrderedDict[str, tuple[str, int]] = OrderedDict()

    # --- DevNonce claims (memory only) ---------------------------------------------------

    def claim(self, dedup_id: str, dev_eui: EUI64, dev_nonce: int) -> None:
        _put(self._claims, dedup_id, (str(dev_eui), dev_nonce), self._size)

    def owns(self, dedup_id: str, dev_eui: EUI64, dev_nonce: int) -> bool:
        return self._claims.get(dedup_id) == (str(dev_eui), dev_nonce)

    # --- answers -------------------------------------------------------------------------

    def cached(self, dedup_id: str) -> JoinRecord | None:
        return self._records.get(dedup_id)

    async def find(self, dedup_id: str, dev_eui: EUI64) -> JoinRecord | None:
        record = self._records.get(dedup_id)
        if record is not None or self._events is None:
            return record
        page = await self._events.list(dev_eui, tenant_id=None, limit=self._lookup)
        for event in page.items:
            data = event.data
            if event.kind == EVENT_KIND and data.get("dedup_id") == dedup_id:
                try:
                    record = JoinRecord.from_dict(data)
                except (KeyError, TypeError):
                    continue
                _put(self._records, dedup_id, record, self._size)
                return record
        return None

    async def remember(self, record: JoinRecord) -> None:
        """Keep the answer in memory, then persist it (raises if the storage fails)."""
        _put(self._records, record.dedup_id, record, self._size)
        if self._events is not None:
            data = {"source": EVENT_SOURCE, **record.to_dict()}
            await self._events.add(
                Event(dev_eui=EUI64.from_hex(record.dev_eui), kind=EVENT_KIND, data=data)
            )
