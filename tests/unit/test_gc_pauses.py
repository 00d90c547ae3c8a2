"""services.lifecycle.GcPauses: collections timed per generation; survivors of a full
collection frozen (so the next full collection does not scan them again); everything thawed
for one full collection every ``full_every_s``."""

from __future__ import annotations

import gc
import logging
from collections.abc import Iterator

import pytest

from services.lifecycle import GcPauses


@pytest.fixture
def pauses(monkeypatch: pytest.MonkeyPatch) -> Iterator[GcPauses]:
    monkeypatch.setenv("HYPERLORA_GC_FREEZE_SURVIVORS", "true")
    monkeypatch.setenv("HYPERLORA_GC_FULL_EVERY_S", "3600")
    p = GcPauses(warn_s=10.0)
    p._hist = None
    p.install()
    gc.callbacks.remove(p._callback)  # driven by hand below, not by real collections
    p._hist = None
    yield p
    gc.unfreeze()


def _collect(p: GcPauses, generation: int) -> None:
    p._callback("start", {"generation": generation})
    p._callback("stop", {"generation": generation, "collected": 0, "uncollectable": 0})


def test_each_generation_is_counted_and_timed(pauses: GcPauses) -> None:
    _collect(pauses, 0)
    _collect(pauses, 0)
    _collect(pauses, 1)
    assert pauses.count == [2, 1, 0]
    assert pauses.max_s[0] >= 0.0 and pauses.total_s[2] == 0.0


def test_a_full_collection_freezes_its_survivors(pauses: GcPauses) -> None:
    gc.unfreeze()
    survivors = [[i] for i in range(1000)]  # tracked containers
    before = gc.get_freeze_count()
    _collect(pauses, 2)
    assert pauses.freezes == 1
    assert gc.get_freeze_count() >= before + len(survivors)
    in_generations = {id(o) for o in gc.get_objects()}
    assert not any(id(x) in in_generations for x in survivors)
    # a young collection freezes nothing
    frozen = gc.get_freeze_count()
    _collect(pauses, 0)
    assert gc.get_freeze_count() == frozen and pauses.freezes == 1


def test_after_full_every_s_everything_is_thawed_for_one_full_collection(
    pauses: GcPauses,
) -> None:
    _collect(pauses, 2)
    assert gc.get_freeze_count() > 0
    pauses.full_every_s = 0.0
    _collect(pauses, 2)
    assert pauses.thaws == 1
    assert gc.get_freeze_count() == 0


def test_switched_off_nothing_is_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HYPERLORA_GC_FREEZE_SURVIVORS", "false")
    p = GcPauses(warn_s=10.0)
    p.install()
    gc.callbacks.remove(p._callback)
    gc.unfreeze()
    _collect(p, 2)
    assert p.freezes == 0 and gc.get_freeze_count() == 0


def test_a_long_pause_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    p = GcPauses(warn_s=0.0)
    p.freeze_survivors = False
    with caplog.at_level(logging.WARNING, logger="hyperlora.lifecycle"):
        _collect(p, 1)
    assert any("gc.long_pause generation=1" in r.getMessage() for r in caplog.records)


def test_the_warning_threshold_comes_from_the_environment(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HYPERLORA_GC_FREEZE_SURVIVORS", "false")
    monkeypatch.setenv("HYPERLORA_GC_WARN_MS", "60000")
    p = GcPauses()
    p.install()
    gc.callbacks.remove(p._callback)
    assert p.warn_s == 60.0
    with caplog.at_level(logging.WARNING, logger="hyperlora.lifecycle"):
        _collect(p, 2)  # far below a minute: no warning
    assert not any("gc.long_pause" in r.getMessage() for r in caplog.records)
