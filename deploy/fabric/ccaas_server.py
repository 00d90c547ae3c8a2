"""Run the HyperLoRa chaincode as a service, with TLS, for the ccaas builder (fabric.sh).

Environment: CHAINCODE_ID (the package id), CHAINCODE_SERVER_ADDRESS (host:port),
CHAINCODE_TLS_KEY_FILE and CHAINCODE_TLS_CERT_FILE (PEM; both or neither),
CHAINCODE_TLS_CLIENT_CA_FILE (optional: require client certificates signed by it),
FABRIC_CHAINCODE_FACTORY ("module:function" returning the chaincode, default
"chaincode.contracts:new_chaincode").

The shim of fabric-chaincode-python reads TLS files from the environment only when ``start``
is not given explicit values, and ``python -m chaincode`` passes explicit ``None``; this
launcher reads the files and hands the bytes over.
"""

from __future__ import annotations

import importlib
import logging
import os
import sys
from pathlib import Path


def _read(var: str) -> bytes | None:
    path = os.environ.get(var)
    return Path(path).read_bytes() if path else None


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    factory = os.environ.get("FABRIC_CHAINCODE_FACTORY", "chaincode.contracts:new_chaincode")
    module_name, _, func = factory.partition(":")
    chaincode = getattr(importlib.import_module(module_name), func)()
    key, cert = _read("CHAINCODE_TLS_KEY_FILE"), _read("CHAINCODE_TLS_CERT_FILE")
    if (key is None) != (cert is None):
        sys.exit("CHAINCODE_TLS_KEY_FILE and CHAINCODE_TLS_CERT_FILE go together")
    chaincode.start(
        cc_id=os.environ["CHAINCODE_ID"],
        address=os.environ["CHAINCODE_SERVER_ADDRESS"],
        key=key,
        cert=cert,
        client_ca_certs=_read("CHAINCODE_TLS_CLIENT_CA_FILE"),
    )


if __name__ == "__main__":
    main()
