"""``python -m services.network_server``: the composition root of the network server.

Settings come from the environment (HYPERLORA_NS_*, HYPERLORA_BUS_*, HYPERLORA_STORAGE_*).
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
