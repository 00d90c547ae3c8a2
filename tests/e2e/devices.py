"""Test devices: identifiers and keys, and frames built by lora-packet (the device side)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

from tests.interop.lorapacket import LoraPacket

_counter = itertools.count(1)


@dataclass(slots=True)
class AbpDevice:
    dev_eui: str
    dev_addr: str
    nwk_s_key: bytes
    app_s_key: bytes
    f_cnt: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def new(cls, n: int | None = None) -> AbpDevice:
        n = next(_counter) if n is None else n
        return cls(
            dev_eui=f"70B3D57ED0{n:06X}",
            dev_addr=f"0{n:07X}",
            nwk_s_key=bytes([0x10 + (n % 200)]) * 15 + b"\x01",
            app_s_key=bytes([0x20 + (n % 200)]) * 15 + b"\x02",
        )

    @property
    def keys(self) -> dict[str, bytes]:
        return {"nwk_s_key": self.nwk_s_key, "app_s_key": self.app_s_key}

    def uplink(
        self,
        lp: LoraPacket,
        payload: bytes = b"",
        *,
        f_port: int | None = 1,
        f_cnt: int | None = None,
        confirmed: bool = False,
        f_opts: bytes = b"",
        **fields: Any,
    ) -> bytes:
        """A data uplink from lora-packet; the device's counter moves on unless given."""
        if f_cnt is None:
            self.f_cnt += 1
            f_cnt = self.f_cnt
        return lp.build_data(
            mtype="confirmed_data_up" if confirmed else "unconfirmed_data_up",
            mac_version="1.0.3",
            dev_addr=self.dev_addr,
            f_cnt=f_cnt,
            f_port=f_port,
            payload=payload,
            f_opts=f_opts,
            **self.keys,
            **fields,
        )

    def decode_downlink(
        self, lp: LoraPacket, phy: bytes, f_cnt: int | None = None
    ) -> dict[str, Any]:
        args: dict[str, Any] = {"mac_version": "1.0.3", **self.keys}
        if f_cnt is not None:
            args["f_cnt"] = f_cnt
        return lp.decode_data(phy, **args)
