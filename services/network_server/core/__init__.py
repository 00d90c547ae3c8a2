"""The pure core of the network server: plain data in, plain data and events out.

* dedup — merging the copies of one frame heard by several gateways;
* uplink — the data-uplink steps (decode, session, MIC, FCnt, MAC commands, outputs);
* maccommands — pure MAC command handlers (device state + command -> answers, events);
* downlink — class A scheduling and downlink frame building;
* channels — LinkADRReq channel masks per region.
"""
