"""Structured one-line logs for the whole process.

Every record becomes exactly one line: newlines in messages and tracebacks are escaped.

* text (default): ``2026-11-22T02:05:21.123Z INFO hyperlora.network_server ns.up dev_eui=...``
  — the services already write ``<event> key=value ...`` messages; with two processes
  (``HYPERLORA_PROCESSES=2``) the level is followed by ``[main]`` or ``[radio]``;
* JSON (``log_json``): ``{"ts": ..., "level": ..., "logger": ..., "event": "ns.up",
  "msg": "...", "dev_eui": ...}`` with the ``extra`` fields of the record (dev_eui, gw_eui,
  zone, ...) as top-level keys.
"""

from __future__ import annotations

import json
import logging
import sys
from datetime import UTC, datetime
from typing import Any, TextIO

# Attributes every LogRecord has; anything else on a record came from ``extra=``.
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

# Third-party loggers that would otherwise print multi-line or unstructured output.
_ADOPTED = ("uvicorn", "uvicorn.error", "uvicorn.access", "aiomqtt", "httpx")
_QUIET = {"httpx": logging.WARNING, "aiosqlite": logging.WARNING, "alembic": logging.WARNING}


def _ts(record: logging.LogRecord) -> str:
    dt = datetime.fromtimestamp(record.created, UTC)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{int(record.msecs):03d}Z"


def _one_line(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\r", "\\r").replace("\n", "\\n")


def _extras(record: logging.LogRecord) -> dict[str, Any]:
    return {k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")}


class TextFormatter(logging.Formatter):
    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.tag = f" [{process}]" if process else ""

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        line = f"{_ts(record)} {record.levelname}{self.tag} {record.name} {msg}"
        if record.exc_info:
            line += " exc=" + self.formatException(record.exc_info)
        return _one_line(line)


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str | None = None) -> None:
        super().__init__()
        self.process = process

    def format(self, record: logging.LogRecord) -> str:
        msg = record.getMessage()
        body: dict[str, Any] = {
            "ts": _ts(record),
            "level": record.levelname,
            "logger": record.name,
            "event": msg.split(" ", 1)[0] if msg else "",
            "msg": msg,
        }
        if self.process:
            body["process"] = self.process
        for key, value in _extras(record).items():
            body.setdefault(key, value)
        if record.exc_info:
            body["exc"] = self.formatException(record.exc_info)
        return json.dumps(body, default=str, separators=(",", ":"))  # json escapes newlines


def configure_logging(
    level: str = "INFO",
    json_lines: bool = False,
    stream: TextIO | None = None,
    process: str | None = None,
) -> None:
    """Send every logger's records, one line each, to ``stream`` (stderr by default).
    ``process`` tags every line (``[radio]`` in text, ``"process": "radio"`` in JSON) where
    two processes of one platform share a terminal or a journal."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonFormatter(process) if json_lines else TextFormatter(process))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    adopt_third_party_loggers()
    for name, lvl in _QUIET.items():
        if logging.getLogger(name).level == logging.NOTSET and level != "DEBUG":
            logging.getLogger(name).setLevel(lvl)


def adopt_third_party_loggers() -> None:
    """Route uvicorn's (and others') records through the root handler (call after uvicorn
    configured its own)."""
    for name in _ADOPTED:
        lg = logging.getLogger(name)
        for h in list(lg.handlers):
            lg.removeHandler(h)
        lg.propagate = True
