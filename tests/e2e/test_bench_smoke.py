"""The embedded uplink benchmark still runs and prints its figures (``--quick``: 100 devices,
3 s phases), with one server process and with two. A benchmark is only checked here for
running to the end with plausible output; its figures are read by people, not asserted."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.parametrize("processes", [1, 2])
def test_embedded_benchmark_quick_run_prints_its_figures(processes: int) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("HYPERLORA_")}
    proc = subprocess.run(
        [
            sys.executable,
            "bench/bench_embedded_uplink.py",
            "--quick",
            "--processes",
            str(processes),
        ],
        cwd=ROOT,
        env={**env, "PYTHONPATH": str(ROOT)},
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = proc.stdout
    assert f"server processes: {processes}" in out
    delivered = re.findall(r"sent ([\d,]+), delivered ([\d,]+)", out)
    assert len(delivered) == 2  # the sustained and the latency phase
    for sent, got in delivered:
        assert sent == got  # --quick runs far below capacity: everything arrives
    assert "targets:" in out
    if processes == 2:
        assert re.search(r"\(main [\d.]+ s, radio [\d.]+ s\)", out)
