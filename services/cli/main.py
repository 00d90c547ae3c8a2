"""The ``hyperlora`` command line: one typer app, one sub-module per command family."""

from __future__ import annotations

import gc
import importlib
import sys

import typer

app = typer.Typer(
    name="hyperlora",
    help="HyperLoRa: LoRaWAN network server for the edge.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """HyperLoRa: LoRaWAN network server for the edge."""


#: command name -> (module under services.cli, attribute, is a sub-app), in help order
_COMMANDS: dict[str, tuple[str, str, bool]] = {
    "airtime": ("airtime", "airtime", False),
    "gateway-bridge": ("gateway", "gateway_bridge", False),
    "frame": ("frame", "app", True),
    "admin": ("admin", "app", True),
    "simulate": ("simulate", "simulate", False),
    "ledger": ("ledger", "app", True),
    "run": ("run", "run", False),
    "service": ("service", "service", False),
    "testbed": ("testbed", "app", True),
}


def _register(only: str | None = None) -> None:
    """Register every command, or only ``only``: a command's module (and what it imports:
    FastAPI, SQLAlchemy, the simulator...) is loaded only when that command runs or when the
    full list is shown."""
    for name, (module, attr, sub_app) in _COMMANDS.items():
        if only is not None and name != only:
            continue
        obj = getattr(importlib.import_module(f"services.cli.{module}"), attr)
        if sub_app:
            app.add_typer(obj, name=name)
        else:
            app.command(name)(obj)


def main() -> None:
    command = next((a for a in sys.argv[1:] if not a.startswith("-")), None)
    _register(command if command in _COMMANDS else None)
    # a one-shot process: what start-up allocated lives until exit, so keep the cyclic GC
    # from scanning it again during the run and at interpreter shutdown
    gc.freeze()
    app()


if __name__ == "__main__":
    main()
