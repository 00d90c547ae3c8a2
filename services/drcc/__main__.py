"""``python -m services.drcc``: the composition root of the DRCC service.

Settings come from the environment (HYPERLORA_DRCC_*, HYPERLORA_BUS_*, HYPERLORA_STORAGE_*).
The study is ``python -m services.drcc.study``.
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
