"""LoRaWAN frame sizes (PHYPayload bytes) the simulator's airtime model uses.

Kept apart from :mod:`simulator.network` so that the engine's constructor can size a
JoinRequest without importing the network side (a fast-path run never needs it).
"""

from __future__ import annotations

#: MHDR (1) + FHDR without FOpts (7) + MIC (4): an empty downlink carrying only an ACK.
DOWNLINK_BASE_BYTES = 12
#: LinkADRReq: CID + 4 bytes, in FOpts.
LINK_ADR_REQ_BYTES = 5
#: JoinRequest PHYPayload: MHDR + JoinEUI + DevEUI + DevNonce + MIC.
JOIN_REQUEST_BYTES = 23
#: JoinAccept PHYPayload with an EU868 CFList: MHDR + 12 + CFList 16 + MIC.
JOIN_ACCEPT_BYTES = 33
