"""The gateway bridge: Semtech UDP packet forwarders on one side, the bus on the other.

* ``semtech/`` — the pure codec of the packet-forwarder protocol (version 2, version 1 read);
* ``core`` — pure translation rxpk/stat/TX_ACK -> gw.up/gw.stats/gw.tx_ack, gw.down -> txpk;
* ``registry`` — pure gateway state (last seen, PULL_DATA address) and PULL_RESP tokens;
* ``server`` — the asyncio UDP server (the adapter); ``app``/``__main__`` run it.

Import the adapter from ``services.gateway_bridge.server``; this package itself imports
nothing so that the pure codec stays light.
"""
