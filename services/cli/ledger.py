"""``hyperlora ledger``: inspect the embedded ledger's channels in a data dir.

* ``verify [--data-dir D] [--channel C]`` checks every block's hash chain (previous hash,
  data hash over the transactions, header hash); prints one line per channel and exits 1 when
  a chain is broken, naming its first broken block;
* ``show --channel C [--key K]`` prints the channel's height and last blocks, or (with
  ``--key``) the record(s) stored under K (a record key such as ``<dev_eui>/<f_cnt>``, or a
  raw world-state key) with their history, as JSON.

Both read the SQLite files directly; run them while the ledger is up or down.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer

from services.ledger.embedded.store import ChannelStore, channel_path, list_channels

app = typer.Typer(
    name="ledger",
    help="Verify and inspect the embedded ledger.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

DataDirOpt = Annotated[
    Path, typer.Option("--data-dir", "-d", help="data directory", envvar="HYPERLORA_DATA_DIR")
]


def _open(data_dir: Path, channel: str) -> ChannelStore:
    if channel not in list_channels(data_dir):
        typer.echo(f"error: no channel {channel!r} in {data_dir}", err=True)
        raise typer.Exit(2)
    return ChannelStore(channel_path(data_dir, channel))


@app.command()
def verify(
    data_dir: DataDirOpt = Path("./data"),
    channel: Annotated[str | None, typer.Option(help="only this channel")] = None,
) -> None:
    """Check every chain's integrity; exit 1 and name the first broken block if one fails."""
    channels = [channel] if channel else list_channels(data_dir)
    if not channels:
        typer.echo(f"no ledger channels in {data_dir}")
        return
    broken = False
    for name in channels:
        store = _open(data_dir, name)
        try:
            brk = store.verify()
            height = store.height
        finally:
            store.close()
        if brk is None:
            typer.echo(f"{name}: OK ({height} blocks)")
        else:
            broken = True
            typer.echo(f"{name}: BROKEN at block {brk.block_number}: {brk.reason}")
    if broken:
        raise typer.Exit(1)


def _block_summary(store: ChannelStore, start: int) -> list[dict[str, Any]]:
    out = []
    for block in store.blocks(start):
        codes: dict[str, int] = {}
        for _, code in block.txs:
            codes[code] = codes.get(code, 0) + 1
        out.append(
            {
                "number": block.header.number,
                "hash": block.hash,
                "previous_hash": block.header.previous_hash,
                "data_hash": block.header.data_hash,
                "timestamp_ns": block.header.timestamp_ns,
                "tx_count": block.header.tx_count,
                "validation": codes,
            }
        )
    return out


def _records(store: ChannelStore, key: str) -> list[dict[str, Any]]:
    rows = store.execute(
        "SELECT key FROM state WHERE key = ? OR key LIKE 'rec:%' || ? ORDER BY key",
        (key, ":" + key),
    )
    out = []
    for (state_key,) in rows:
        got = store.get(state_key)
        value: Any = None
        if got is not None:
            try:
                value = json.loads(got[0])
            except ValueError:
                value = got[0].decode(errors="replace")
        history = [
            {"tx_id": tx, "is_delete": deleted, "timestamp_ns": ts}
            for tx, _, deleted, ts in store.history(state_key)
        ]
        version = list(got[1]) if got else None
        out.append({"state_key": state_key, "version": version, "value": value, "history": history})
    return out


@app.command()
def show(
    channel: Annotated[str, typer.Option(help="ledger channel, e.g. app-default")],
    key: Annotated[str | None, typer.Option(help="record key or world-state key")] = None,
    data_dir: DataDirOpt = Path("./data"),
    last: Annotated[int, typer.Option(help="how many of the last blocks to list")] = 5,
) -> None:
    """Print a channel's height and last blocks, or the record(s) under --key, as JSON."""
    store = _open(data_dir, channel)
    try:
        if key is None:
            result: Any = {
                "channel": channel,
                "height": store.height,
                "last_hash": store.last_hash,
                "blocks": _block_summary(store, max(0, store.height - max(last, 0))),
            }
        else:
            result = _records(store, key)
            if not result:
                typer.echo(f"error: no key {key!r} on {channel}", err=True)
                raise typer.Exit(1)
    finally:
        store.close()
    typer.echo(json.dumps(result, indent=2, sort_keys=True))
