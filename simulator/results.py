"""Building the result of a finished run from the engine's counters."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .metrics import COLLISION_CAUSES, SimulationResult, latency_summary

if TYPE_CHECKING:
    from .engine import Simulation


def build_result(sim: Simulation, wall: float) -> SimulationResult:
    """Turn a finished simulation's counters into a :class:`SimulationResult`."""
    m = sim.metrics
    sc = sim.sc
    width = sc.duration_s / sc.time_bins
    over_time = [
        {
            "t_start_s": round(i * width, 3),
            "sent": m.gen_bins[i],
            "delivered": m.deliv_bins[i],
            "der": round(m.deliv_bins[i] / m.gen_bins[i], 6) if m.gen_bins[i] else 0.0,
        }
        for i in range(sc.time_bins)
    ]
    sf_dist: dict[str, int] = {}
    for d in sim.devices:
        sf_dist[str(d.sf)] = sf_dist.get(str(d.sf), 0) + 1
    sf_tx: dict[int, list[float]] = {}
    ch_tx: dict[float, list[float]] = {}
    for (sf, f), (n, air) in sorted(m.load.items()):
        acc = sf_tx.setdefault(sf, [0, 0.0])
        acc[0] += n
        acc[1] += air
        acc = ch_tx.setdefault(f, [0, 0.0])
        acc[0] += n
        acc[1] += air
    per_sf = {
        str(sf): {
            "transmissions": int(sf_tx[sf][0]),
            "airtime_s": round(sf_tx[sf][1], 6),
            "devices": sf_dist.get(str(sf), 0),
        }
        for sf in sorted(sf_tx)
    }
    per_channel = {
        str(int(f)): {
            "transmissions": int(ch_tx[f][0]),
            "airtime_s": round(ch_tx[f][1], 6),
            "utilisation": round(ch_tx[f][1] / sc.duration_s, 6),
        }
        for f in sorted(ch_tx)
    }
    energies = [d.energy_j for d in sim.devices]
    total_e = sum(energies)
    energy = {
        "total": round(total_e, 6),
        "mean_per_device": round(total_e / len(energies), 6) if energies else 0.0,
        "max_per_device": round(max(energies), 6) if energies else 0.0,
        "per_delivered_frame": round(total_e / m.delivered, 6) if m.delivered else 0.0,
    }
    collisions_sum = sum(m.lost[c] for c in COLLISION_CAUSES)
    assert collisions_sum <= m.transmissions
    return SimulationResult(
        scenario=sc.name,
        seed=sc.seed,
        policy=sim.policy_name,
        devices=len(sim.devices),
        gateways=len(sim.gateways),
        duration_s=sc.duration_s,
        wall_s=wall,
        sent=m.frames,
        delivered=m.delivered,
        transmissions=m.transmissions,
        received_transmissions=m.tx_received,
        retransmissions=m.retransmissions,
        lost_by_cause=dict(m.lost),
        copies_lost_by_cause=dict(m.copies_lost),
        duty_cycle_deferrals=m.duty_cycle_deferrals,
        downlinks={
            "scheduled": m.downlinks_scheduled,
            "received": m.downlinks_received,
            "acks_received": m.acks_received,
            "link_adr_applied": m.link_adr_applied,
            "refused": dict(sorted(m.downlinks_refused.items())),
        },
        per_sf=per_sf,
        per_channel=per_channel,
        sf_distribution=dict(sorted(sf_dist.items(), key=lambda kv: int(kv[0]))),
        energy_j=energy,
        latency_s=latency_summary(m.latencies),
        der_over_time=over_time,
        join={
            "enabled": sim.sc.devices.otaa,
            "requests": m.join_requests,
            "requests_received": m.join_requests_received,
            "joined": m.joins,
            "latency_s": latency_summary(m.join_latencies),
        },
        device_positions=[(d.x, d.y, d.sf) for d in sim.devices],
        gateway_positions=[(g.x, g.y) for g in sim.gateways],
    )
