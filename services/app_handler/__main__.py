"""``python -m services.app_handler``: the composition root of the application handler.

Settings come from the environment (HYPERLORA_APP_*, HYPERLORA_BUS_*, HYPERLORA_STORAGE_*).
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
