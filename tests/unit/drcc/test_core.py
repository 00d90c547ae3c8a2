"""The service's pure core: state handling around the policies."""

from __future__ import annotations

from services.drcc.core import DeviceView, DrccCore, UplinkInput
from services.drcc.plugin import GatewaySignal
from services.drcc.plugins import DrccPolicy
from services.drcc.settings import DrccSettings

DEV = "0102030405060708"


def up(f_cnt: int, dr: int = 0, snr: float = 5.0, adr: bool = True) -> UplinkInput:
    return UplinkInput(
        dev_eui=DEV,
        f_cnt=f_cnt,
        time_s=1000.0 + 120 * f_cnt,
        dr=dr,
        freq_hz=868_100_000,
        adr=adr,
        tx_power_index=1,
        nb_trans=1,
        signals=(GatewaySignal("AA555A0000000001", snr, -100.0),),
    )


def core(**changes: object) -> DrccCore:
    return DrccCore(DrccSettings(**changes))  # type: ignore[arg-type]


def test_history_is_bounded_ordered_and_deduplicated() -> None:
    c = core(history_size=4)
    view = DeviceView()
    for f in (1, 2, 3, 5, 6, 4):  # 4 arrives late
        out = c.handle(view, up(f), "static")
        view = out.view
    assert [r["f_cnt"] for r in view.history] == [3, 4, 5, 6]
    assert c.handle(view, up(6), "static").duplicate
    assert view.channels == list(range(8))


def test_early_raise_then_pending_until_applied() -> None:
    c = core()
    view = DeviceView()
    out = c.handle(view, up(1), "drcc")
    assert out.decision is None  # one frame: not even an SNR estimate
    out = c.handle(out.view, up(2), "drcc")
    assert out.decision is not None and out.decision.dr == 5 and out.policy == "drcc"
    assert out.channels == tuple(range(8))
    assert out.view.pending is not None and out.view.pending["dr"] == 5
    # policy state went into the view, not into the policy's memory
    pol = c.policy("drcc")
    assert isinstance(pol, DrccPolicy) and pol.export_state(DEV) == {}
    assert out.view.policy_state["decisions"] == 1
    # the device now sends at DR5: the pending decision is applied
    out = c.handle(out.view, up(3, dr=5, snr=-2.0), "drcc")
    assert out.view.pending is None


def test_switching_policy_resets_its_state() -> None:
    c = core()
    view = c.handle(DeviceView(), up(1), "drcc").view
    view = c.handle(view, up(2), "drcc").view
    assert view.policy == "drcc" and view.policy_state
    view = c.handle(view, up(3), "lorawan_adr").view
    assert view.policy == "lorawan-adr" and view.policy_state == {}


def test_adr_bit_off_is_recorded_but_not_controlled() -> None:
    c = core()
    out = c.handle(DeviceView(), up(1, adr=False), "drcc")
    assert out.skipped == "adr_bit_off" and len(out.view.history) == 1


def test_profile_policy_resolution() -> None:
    c = core(default_policy="drcc")
    assert c.resolve_policy(None) == "drcc"
    assert c.resolve_policy("default") == "drcc"
    assert c.resolve_policy("lorawan_adr") == "lorawan-adr"
    assert c.resolve_policy("unheard-of") == "drcc"


def test_view_json_round_trip() -> None:
    c = core()
    view = c.handle(DeviceView(), up(1), "drcc").view
    again = DeviceView.from_json(view.to_json())
    assert again == view
