"""Run the contracts as chaincode-as-a-service (Fabric's ccaas builder).

Environment (read by the shim): CHAINCODE_SERVER_ADDRESS (host:port to listen on) and
CHAINCODE_ID (the package id). ``python -m chaincode``.
"""

from __future__ import annotations

import logging
import os

from .contracts import new_chaincode


def main() -> None:
    logging.basicConfig(
        level=os.environ.get("HYPERLORA_LOG_LEVEL", "INFO"),
        format="%(asctime)s %(levelname)s %(name)s %(message)s",
    )
    cc = new_chaincode()
    cc.start(
        cc_id=os.environ.get("CHAINCODE_ID") or None,
        address=os.environ.get("CHAINCODE_SERVER_ADDRESS") or None,
    )


if __name__ == "__main__":
    main()
