"""Other processes of one deployment that the API answers for on ``/metrics`` and ``/health``.

In the two-process embedded mode the network server, join server and gateway bridge run in a
child process (services.platform.radio). An operator still scrapes one ``/metrics`` and
probes one ``/health``: the API asks each peer for its exposition and status and merges them.

Merging: every sample gets a ``process`` label (``main`` for this process, the peer's name
for the peer's), so series of the same name from two processes stay apart and
``sum without (process) (...)`` adds them up. Families are merged by name under one HELP and
TYPE. A peer that does not answer in time is left out, and ``hyperlora_peer_up{process}``
says so.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

PROCESS_LABEL = "process"
MAIN = "main"


class PeerProcess(Protocol):
    name: str

    async def metrics_text(self) -> str:
        """The peer's Prometheus text exposition (raises on timeout or a dead peer)."""
        ...

    def status(self) -> dict[str, Any]:
        """What /health shows for the peer; must hold ``ok`` (bool)."""
        ...


def _labelled(metric: Metric, process: str) -> Metric:
    out = Metric(metric.name, metric.documentation, metric.type, metric.unit)
    for s in metric.samples:
        labels = {**s.labels, PROCESS_LABEL: process}
        out.samples.append(Sample(s.name, labels, s.value, s.timestamp, s.exemplar))
    return out


class _Families:
    def __init__(self, families: Iterable[Metric]) -> None:
        self.families = list(families)

    def collect(self) -> Iterator[Metric]:
        yield from self.families


def merge_expositions(parts: Iterable[tuple[str, str]]) -> bytes:
    """One text exposition from ``(process, exposition text)`` pairs (see the module doc)."""
    merged: dict[str, Metric] = {}
    for process, text in parts:
        for family in text_string_to_metric_families(text):
            labelled = _labelled(family, process)
            have = merged.get(family.name)
            if have is None:
                merged[family.name] = labelled
            elif have.type == labelled.type:
                have.samples.extend(labelled.samples)
            # a family of another type under the same name cannot be merged: the first wins
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families(merged.values()))
    return generate_latest(registry)


def peer_up_family(up: dict[str, bool]) -> str:
    lines = [
        "# HELP hyperlora_peer_up Whether a peer process answered this scrape (1) or not (0)",
        "# TYPE hyperlora_peer_up gauge",
    ]
    lines += [f'hyperlora_peer_up{{process="{name}"}} {int(ok)}' for name, ok in up.items()]
    return "\n".join(lines) + "\n"
