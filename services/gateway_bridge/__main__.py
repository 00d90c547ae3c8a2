"""``python -m services.gateway_bridge``: the composition root of the gateway bridge service.

Settings come from the environment (HYPERLORA_GATEWAY_BRIDGE_*, HYPERLORA_BUS_*).
"""

from __future__ import annotations

import logging

from services import eventloop

from .app import run


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    eventloop.run(run())


if __name__ == "__main__":
    main()
