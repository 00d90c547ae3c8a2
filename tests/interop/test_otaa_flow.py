"""A whole OTAA exchange split between the two implementations.

lora-packet plays the device (JoinRequest, JoinAccept decryption, session keys, first uplink);
HyperLoRa plays the network (JoinRequest MIC, JoinAccept, session keys, uplink decoding), for
LoRaWAN 1.0.x (AppKey) and 1.1 (NwkKey/AppKey, OptNeg, JSIntKey). A disagreement anywhere in the
chain breaks the uplink at the end.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.lorawan.data import MACPayload
from services.lorawan.fcnt import full_f_cnt
from services.lorawan.join import DLSettings, JoinAcceptPayload
from services.lorawan.keys import derive_js_int_key, derive_session_keys_10, derive_session_keys_11
from services.lorawan.mhdr import MHDR, MType
from services.lorawan.phy_payload import PhyPayload
from services.lorawan.types import EUI64, AES128Key, DevAddr, NetID
from tests.interop.lorapacket import LoraPacket
from tests.interop.strategies import (
    INTEROP,
    app_ports,
    dev_addrs,
    dev_nonces,
    euis,
    join_nonces,
    keys,
    net_ids,
    payloads,
)

pytestmark = pytest.mark.interop


@pytest.mark.parametrize("mac_version", ["1.0.3", "1.1.0"])
def test_otaa_then_uplink(lora_packet: LoraPacket, mac_version: str) -> None:
    v11 = mac_version.startswith("1.1")

    @INTEROP
    @given(
        app_key=keys,
        nwk_key=keys,
        join_eui=euis,
        dev_eui=euis,
        dev_nonce=dev_nonces,
        join_nonce=join_nonces,
        net_id=net_ids,
        dev_addr=dev_addrs,
        f_port=app_ports,
        payload=payloads,
        f_cnt=st.integers(0, 0xFFFFFFFF),
    )
    def run(
        app_key: bytes,
        nwk_key: bytes,
        join_eui: bytes,
        dev_eui: bytes,
        dev_nonce: int,
        join_nonce: int,
        net_id: bytes,
        dev_addr: bytes,
        f_port: int,
        payload: bytes,
        f_cnt: int,
    ) -> None:
        root = nwk_key if v11 else app_key  # 1.0: everything hangs off the AppKey
        # device -> network: JoinRequest (lora-packet), checked by HyperLoRa
        request = PhyPayload.from_bytes(
            lora_packet.build_join_request(join_eui, dev_eui, dev_nonce, root)
        )
        assert request.validate_join_request_mic(root) is True
        # network -> device: JoinAccept (HyperLoRa), decrypted and checked by lora-packet
        accept = PhyPayload(
            MHDR(MType.JOIN_ACCEPT),
            JoinAcceptPayload(
                join_nonce, NetID(net_id), DevAddr(dev_addr), DLSettings(v11, 0, 0), 1
            ),
        )
        ctx: dict[str, object] = {}
        if v11:
            js_int_key = derive_js_int_key(AES128Key(nwk_key), EUI64(dev_eui))
            accept.set_join_accept_mic(js_int_key, 0xFF, EUI64(join_eui), dev_nonce, opt_neg=True)
            ctx = {
                "js_int_key": js_int_key.value,
                "join_req_type": 0xFF,
                "join_eui": join_eui,
                "dev_nonce": dev_nonce,
            }
        else:
            accept.set_join_accept_mic(root)
        accept.encrypt_join_accept_payload(root)
        seen = lora_packet.decrypt_join_accept(accept.to_bytes(), root, **ctx)
        assert seen["mic_valid"] is True and seen["dev_addr"] == dev_addr.hex()
        # both derive the session keys
        if v11:
            ours = derive_session_keys_11(
                AES128Key(nwk_key), AES128Key(app_key), join_nonce, EUI64(join_eui), dev_nonce
            )
            device_keys = lora_packet.session_keys_11(
                app_key, nwk_key, seen["join_nonce"], join_eui, dev_nonce
            )
        else:
            ours = derive_session_keys_10(AES128Key(root), join_nonce, NetID(net_id), dev_nonce)
            device_keys = lora_packet.session_keys_10(
                root, seen["join_nonce"], bytes.fromhex(seen["net_id"]), dev_nonce
            )
        # device -> network: an uplink protected with the device's keys, read with ours
        wire = lora_packet.build_data(
            mtype="confirmed_data_up",
            mac_version=mac_version,
            dev_addr=dev_addr,
            f_cnt=f_cnt,
            f_port=f_port,
            payload=payload,
            tx_dr=5,
            tx_ch=1,
            **device_keys,
        )
        phy = PhyPayload.from_bytes(wire)
        mp = phy.mac_payload()
        assert isinstance(mp, MACPayload)
        mp.fhdr.f_cnt = full_f_cnt(mp.fhdr.f_cnt, f_cnt - 1 if f_cnt else None)
        assert (
            phy.validate_uplink_data_mic(
                mac_version, 0, 5, 1, ours.f_nwk_s_int_key, ours.s_nwk_s_int_key
            )
            is True
        )
        phy.decrypt_frm_payload(ours.app_s_key)
        assert mp.frm_payload == payload

    run()
