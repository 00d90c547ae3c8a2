"""HyperLoRa chaincode: the device, network and application contracts
(fabric-chaincode-python contract API), run as chaincode-as-a-service under Fabric and
in-process by the embedded ledger (services.ledger.embedded).

fabric-chaincode-python 2.5.4 configures logging when imported (``basicConfig`` at DEBUG on
the root logger, a queue handler on the ``asyncio`` logger and a listener thread). The import
below undoes that so importing the contracts leaves the host process's logging alone.
"""

from __future__ import annotations

import logging


def _import_contract_api_quietly() -> None:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    asyncio_logger = logging.getLogger("asyncio")
    asyncio_handlers = list(asyncio_logger.handlers)
    import fabric_chaincode_python.fabric_contract_api.contractapi  # noqa: F401
    from fabric_chaincode_python.fabric_shim import logging as shim_logging

    listener = getattr(shim_logging, "_QUEUE_LISTENER", None)
    if listener is not None and getattr(listener, "_thread", None) is not None:
        listener.stop()
    root.handlers[:] = handlers
    root.setLevel(level)
    asyncio_logger.handlers[:] = asyncio_handlers


_import_contract_api_quietly()
