"""services.platform.logs: one line per record, and the process tag of the two-process mode."""

from __future__ import annotations

import io
import json
import logging

import pytest

from services.platform.logs import configure_logging


@pytest.fixture(autouse=True)
def _restore_root() -> object:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield None
    for h in list(root.handlers):
        root.removeHandler(h)
    for h in handlers:
        root.addHandler(h)
    root.setLevel(level)


def test_text_lines_carry_the_process_tag_and_stay_one_line() -> None:
    out = io.StringIO()
    configure_logging("INFO", False, out, process="radio")
    logging.getLogger("hyperlora.test").info("ns.up dev_eui=%s\nsecond line", "0102")
    (line,) = out.getvalue().splitlines()
    assert " INFO [radio] hyperlora.test ns.up dev_eui=0102\\nsecond line" in line


def test_json_lines_carry_the_process_field_only_when_set() -> None:
    out = io.StringIO()
    configure_logging("INFO", True, out, process="main")
    logging.getLogger("hyperlora.test").warning("platform.started udp=1")
    configure_logging("INFO", True, out)
    logging.getLogger("hyperlora.test").warning("platform.started udp=2")
    first, second = (json.loads(x) for x in out.getvalue().splitlines())
    assert first["process"] == "main" and first["event"] == "platform.started"
    assert "process" not in second
