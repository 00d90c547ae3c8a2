"""``lorawan-adr``: the well-known network-side ADR (Semtech's recommended algorithm, as
ChirpStack and The Things Stack run it by default).

1. Wait for ``min_history`` (20) uplinks sent at the device's current TX power (older records
   were measured at another power, so their SNR no longer applies).
2. ``SNRmax`` = best-gateway SNR, maximum over those uplinks; ``margin = SNRmax -
   required_snr(dr) - installation_margin`` (10 dB); ``NStep = floor(margin / 3)``.
3. NStep > 0: raise the data rate one step at a time up to the region's highest ADR data rate
   (EU868: DR5), then lower the TX power (index up) to the region's highest index.
   NStep < 0: raise the TX power (index down) towards index 0. The data rate is never lowered
   (the device's own ADRACKReq back-off does that), so ADR cannot oscillate up and down.
4. NbTrans from the packet loss over the history (frame-counter gaps), with the matrix
   ChirpStack and Semtech use (rows: loss < 5 %, < 10 %, < 30 %, else; columns: the current
   NbTrans 1, 2, >=3)::

        [1, 1, 2], [1, 2, 3], [2, 3, 3], [3, 3, 3]

5. No decision when nothing changes.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from services.lorawan.region import Region, get_region

from ..der import packet_loss_pct
from ..plugin import LinkAdrDecision, PolicyRequest, UplinkRecord

#: packet-loss classes (upper bounds, percent) and the NbTrans matrix (Semtech / ChirpStack)
LOSS_BOUNDS_PCT = (5.0, 10.0, 30.0)
NB_TRANS_TABLE = ((1, 1, 2), (1, 2, 3), (2, 3, 3), (3, 3, 3))


def nb_trans_for(loss_pct: float, current: int) -> int:
    row = next((i for i, b in enumerate(LOSS_BOUNDS_PCT) if loss_pct < b), len(LOSS_BOUNDS_PCT))
    col = min(max(current, 1), 3) - 1
    return NB_TRANS_TABLE[row][col]


#: id(region) -> (region, max_adr_dr): asked on every uplink, the region never changes
_MAX_ADR_DR: dict[int, tuple[Region, int]] = {}


def max_adr_dr(region: Region) -> int:
    """Highest data rate ADR may assign: the fastest LoRa DR every default channel allows
    (EU868: DR5, SF7/125 kHz)."""
    hit = _MAX_ADR_DR.get(id(region))
    if hit is not None and hit[0] is region:
        return hit[1]
    chans = region.default_channels()
    if chans:
        value = min(c.max_dr for c in chans)
    else:
        value = max(d.index for d in region.data_rates if d.is_lora and d.uplink)
    if len(_MAX_ADR_DR) < 64:
        _MAX_ADR_DR[id(region)] = (region, value)
    return value


def max_tx_power_index(region: Region) -> int:
    return len(region.tx_power_offsets_db) - 1


@dataclass(frozen=True, slots=True)
class AdrParams:
    installation_margin_db: float = 10.0
    step_db: float = 3.0
    min_history: int = 20
    history_length: int = 20


def adr_steps(
    n_step: int, dr: int, tx_power_index: int, max_dr: int, max_power_index: int
) -> tuple[int, int]:
    """Apply NStep: positive raises DR then lowers power; negative raises power."""
    while n_step > 0:
        if dr < max_dr:
            dr += 1
        elif tx_power_index < max_power_index:
            tx_power_index += 1
        else:
            break
        n_step -= 1
    while n_step < 0 and tx_power_index > 0:
        tx_power_index -= 1
        n_step += 1
    return dr, tx_power_index


class LoRaWanAdrPolicy:
    name = "lorawan-adr"

    def __init__(self, params: AdrParams | None = None) -> None:
        self.params = params or AdrParams()
        self.history_length = self.params.history_length

    def decide(self, request: PolicyRequest) -> LinkAdrDecision | None:
        p = self.params
        region = get_region(request.region)
        same_power: list[UplinkRecord] = [
            r
            for r in request.history[-p.history_length :]
            if r.tx_power_index == request.tx_power_index
        ]
        if len(same_power) < p.min_history:
            return None
        max_dr = max_adr_dr(region)
        max_pi = max_tx_power_index(region)
        dr = min(request.dr, max_dr)
        snr_max = max(r.max_snr_db for r in same_power)
        margin = snr_max - region.required_snr(dr) - p.installation_margin_db
        n_step = math.floor(margin / p.step_db)
        new_dr, new_pi = adr_steps(n_step, dr, request.tx_power_index, max_dr, max_pi)
        loss = packet_loss_pct(request.history[-p.history_length :])
        nb_trans = nb_trans_for(loss, request.nb_trans)
        if (new_dr, new_pi, nb_trans) == (request.dr, request.tx_power_index, request.nb_trans):
            return None  # same_settings (the channels are the request's): no reason to format
        decision = LinkAdrDecision(
            dr=new_dr,
            tx_power_index=new_pi,
            channels_hz=tuple(request.channels_hz),
            nb_trans=nb_trans,
            reason=(
                f"adr: snr_max {snr_max:.1f} dB, margin {margin:.1f} dB, nstep {n_step}, "
                f"loss {loss:.1f}%"
            ),
        )
        if decision.same_settings(request):
            return None
        return decision
