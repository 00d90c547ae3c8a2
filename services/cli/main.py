"""The ``hyperlora`` command line: one typer app, one sub-module per command family."""

from __future__ import annotations

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


def _register() -> None:
    from . import admin as admin_cmd
    from . import airtime as airtime_cmd
    from . import frame as frame_cmd
    from . import gateway as gateway_cmd
    from . import ledger as ledger_cmd
    from . import run as run_cmd
    from . import service as service_cmd
    from . import simulate as simulate_cmd
    from . import testbed as testbed_cmd

    app.command("airtime")(airtime_cmd.airtime)
    app.command("gateway-bridge")(gateway_cmd.gateway_bridge)
    app.add_typer(frame_cmd.app, name="frame")
    app.add_typer(admin_cmd.app, name="admin")
    app.command("simulate")(simulate_cmd.simulate)
    app.add_typer(ledger_cmd.app, name="ledger")
    app.command("run")(run_cmd.run)
    app.command("service")(service_cmd.service)
    app.add_typer(testbed_cmd.app, name="testbed")


def main() -> None:
    _register()
    app()


if __name__ == "__main__":
    main()
