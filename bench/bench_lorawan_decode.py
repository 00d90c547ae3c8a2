"""Benchmark: decode + MIC check + FRMPayload decryption of a 20-byte-payload uplink, one core.

Run: ``.venv/bin/python bench/bench_lorawan_decode.py [--seconds 3] [--mac-version 1.0.3]``
Prints frames per second (target: >= 50,000/s).
"""

from __future__ import annotations

import argparse
import time

from services.lorawan import (
    FHDR,
    MHDR,
    AES128Key,
    DevAddr,
    FCtrl,
    MACPayload,
    MType,
    PhyPayload,
    full_f_cnt,
)

NWK_S_KEY = AES128Key.from_hex("2B7E151628AED2A6ABF7158809CF4F3C")
S_NWK_S_INT_KEY = AES128Key.from_hex("000102030405060708090A0B0C0D0E0F")
APP_S_KEY = AES128Key.from_hex("3C4FCF098815F7ABA6D2AE2816157E2B")


def build_frame(mac_version: str, f_cnt: int) -> bytes:
    phy = PhyPayload(
        MHDR(MType.UNCONFIRMED_DATA_UP),
        MACPayload(
            FHDR(DevAddr.from_hex("26011BDA"), FCtrl(adr=True), f_cnt), 10, bytes(range(20))
        ),
    )
    phy.encrypt_frm_payload(APP_S_KEY)
    phy.set_uplink_data_mic(mac_version, 0, 5, 2, NWK_S_KEY, S_NWK_S_INT_KEY)
    return phy.to_bytes()


def handle(raw: bytes, mac_version: str, last_f_cnt: int) -> bytes:
    """What a network server and an application server do with one uplink."""
    phy = PhyPayload.from_bytes(raw)
    fhdr = phy.mac_payload().fhdr
    fhdr.f_cnt = full_f_cnt(fhdr.f_cnt, last_f_cnt)
    if not phy.validate_uplink_data_mic(mac_version, 0, 5, 2, NWK_S_KEY, S_NWK_S_INT_KEY):
        raise RuntimeError("MIC mismatch")
    phy.decrypt_frm_payload(APP_S_KEY)
    return phy.mac_payload().frm_payload


def run(seconds: float, mac_version: str) -> float:
    frames = [build_frame(mac_version, 0x10000 + i) for i in range(64)]
    assert handle(frames[0], mac_version, 0xFFFF) == bytes(range(20))
    done = 0
    start = time.perf_counter()
    deadline = start + seconds
    while time.perf_counter() < deadline:
        for raw in frames:
            handle(raw, mac_version, 0xFFFF)
        done += len(frames)
    return done / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--mac-version", default="1.0.3")
    args = parser.parse_args()
    rate = run(args.seconds, args.mac_version)
    print(
        f"lorawan uplink decode+MIC+decrypt ({args.mac_version}, 20-byte FRMPayload): "
        f"{rate:,.0f} frames/s on one core"
    )


if __name__ == "__main__":
    main()
