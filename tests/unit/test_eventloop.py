"""services.eventloop: which loop a HyperLoRa process runs on."""

from __future__ import annotations

import asyncio

import pytest

from services import eventloop


async def _kind_and_answer() -> tuple[str, int]:
    await asyncio.sleep(0)
    return eventloop.current(), 42


@pytest.mark.parametrize("choice", ["uvloop", "asyncio"])
def test_run_on_the_chosen_loop(choice: str) -> None:
    assert eventloop.run(_kind_and_answer(), choice=choice) == (choice, 42)


def test_auto_prefers_uvloop_when_installed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(eventloop.ENV, raising=False)
    assert eventloop.loop_factory()[0] == "uvloop"
    assert eventloop.run(_kind_and_answer()) == ("uvloop", 42)


def test_the_environment_chooses(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, " AsyncIO ")
    assert eventloop.run(_kind_and_answer()) == ("asyncio", 42)


def test_unknown_choice_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(eventloop.ENV, "trio")
    coro = _kind_and_answer()
    with pytest.raises(eventloop.EventLoopUnavailable, match="HYPERLORA_EVENT_LOOP='trio'"):
        eventloop.run(coro)
    assert coro.cr_frame is None  # closed, not left dangling


def test_uvloop_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "uvloop", None)  # import fails
    assert eventloop.loop_factory("auto")[0] == "asyncio"
    with pytest.raises(eventloop.EventLoopUnavailable, match="not installed"):
        eventloop.loop_factory("uvloop")
