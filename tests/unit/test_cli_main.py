"""The command line loads only the command it runs (start-up cost), and lists every command."""

from __future__ import annotations

import subprocess
import sys

import pytest

from services.cli.main import _COMMANDS

PROBE = """
import sys
sys.argv = ["hyperlora", *sys.argv[1:]]
import services.cli.main as m
try:
    m.main()
except SystemExit:
    pass
print("LOADED", " ".join(sorted(k for k in ("fastapi", "sqlalchemy", "simpy") if k in sys.modules)))
"""


def _run(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE, *args], capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_help_lists_every_command() -> None:
    text = _run("--help")
    for name in _COMMANDS:
        assert name in text, f"{name} missing from hyperlora --help"


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("airtime", "--help"), ""),
        (("frame", "--help"), ""),
    ],
)
def test_a_light_command_does_not_load_the_server(args: tuple[str, ...], expected: str) -> None:
    loaded = _run(*args).rsplit("LOADED", 1)[1].strip()
    assert loaded == expected


def test_the_server_command_still_loads_its_modules() -> None:
    assert "fastapi" in _run("run", "--help").rsplit("LOADED", 1)[1]
