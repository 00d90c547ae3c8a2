"""Cross-check services.ledger.fabric against the official Fabric Gateway client for Node
(npm @hyperledger/fabric-gateway, installed into the cache on first run):

* a proposal built by the official client, re-built by ``protocol.build_proposal`` from the
  same inputs (channel, chaincode, function, arguments, creator, nonce, timestamp), has the
  same header bytes, the same transaction id and the same invocation, byte for byte, but for
  ``ChaincodeSpec.type``: the Node client sets NODE there, the Go client (and ours) leaves it
  UNDEFINED; the peer does not read it;
* the official client runs evaluate / endorse / submit / commit status / chaincode events
  against the fake Gateway the unit tests use, whose checks (signatures by the creator, low S,
  tx id = sha256(nonce + creator)) therefore hold for real client traffic too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from fabric_protos.gateway import gateway_pb2
from fabric_protos.peer import chaincode_pb2, proposal_pb2

from services.ledger.fabric import GatewayClient, GatewayEndpoint, SigningIdentity, protocol
from tests.unit.ledger_fabric.support import FakeLedgerState, start_fake_gateway, write_msp

pytestmark = [pytest.mark.interop, pytest.mark.timeout(600)]

GATEWAY_NPM = "@hyperledger/fabric-gateway@1.12.1"
GRPC_NPM = "@grpc/grpc-js@1.14.0"

DRIVER = r"""
const grpc = require('@grpc/grpc-js');
const crypto = require('node:crypto');
const fs = require('node:fs');
const { connect, hash, signers } = require('@hyperledger/fabric-gateway');

async function main() {
  const [mode, address, mspId, certPath, keyPath] = process.argv.slice(2);
  const client = new grpc.Client(address, grpc.credentials.createInsecure());
  const gateway = connect({
    client,
    identity: { mspId, credentials: fs.readFileSync(certPath) },
    signer: signers.newPrivateKeySigner(crypto.createPrivateKey(fs.readFileSync(keyPath))),
    hash: hash.sha256,
  });
  const out = {};
  try {
    const contract = gateway.getNetwork('app-zone-a').getContract('hyperlora');
    if (mode === 'proposal') {
      const args = ['uplink', 'k1', '{"a":1}'];
      const proposal = contract.newProposal('application:create', { arguments: args });
      out.tx_id = proposal.getTransactionId();
      out.bytes = Buffer.from(proposal.getBytes()).toString('base64');
    } else {
      const blocks = [];
      for (const k of ['n1', 'n2']) {
        const commit = await contract.submitAsync('kv:put', { arguments: [k, 'v-' + k] });
        const status = await commit.getStatus();
        blocks.push({ tx_id: commit.getTransactionId(), block: status.blockNumber.toString(),
                      code: status.code, ok: status.successful,
                      result: Buffer.from(commit.getResult()).toString() });
      }
      out.blocks = blocks;
      out.get = Buffer.from(await contract.evaluateTransaction('kv:get', 'n1')).toString();
      try {
        await contract.submitTransaction('kv:fail');
        out.fail = 'no error';
      } catch (err) {
        out.fail = (err.details || []).map((d) => d.message).join('; ');
      }
      const options = { startBlock: 0n };
      const network = gateway.getNetwork('app-zone-a');
      const events = await network.getChaincodeEvents('hyperlora', options);
      out.events = [];
      for await (const ev of events) {
        out.events.push({ tx_id: ev.transactionId, block: ev.blockNumber.toString(),
                          payload: Buffer.from(ev.payload).toString() });
        if (out.events.length === 2) break;
      }
      events.close();
    }
  } finally {
    gateway.close();
    client.close();
  }
  process.stdout.write(JSON.stringify(out));
}
main().catch((err) => { console.error(err); process.exit(1); });
"""


@pytest.fixture(scope="module")
def node_client() -> Path:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail("node and npm are needed for the official Fabric Gateway client")
    cache = (
        Path(os.environ.get("HYPERLORA_CACHE_DIR", Path.home() / ".cache" / "hyperlora"))
        / "fabric"
        / "gateway-node"
    )
    marker = cache / "node_modules" / "@hyperledger" / "fabric-gateway" / "package.json"
    if not marker.exists():
        cache.mkdir(parents=True, exist_ok=True)
        (cache / "package.json").write_text('{"private": true}\n')
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--omit=optional", GATEWAY_NPM, GRPC_NPM],
            cwd=cache,
            check=True,
            capture_output=True,
            timeout=300,
        )
    (cache / "driver.js").write_text(DRIVER)
    return cache


@pytest.fixture
def msp(tmp_path: Path) -> Iterator[Path]:
    yield write_msp(tmp_path / "msp")


async def run_driver(cache: Path, mode: str, address: str, msp: Path) -> dict:  # type: ignore[type-arg]
    """Run the Node driver without blocking the event loop that serves the fake Gateway."""
    cert = next((msp / "signcerts").glob("*.pem"))
    key = msp / "keystore" / "priv_sk"
    proc = await asyncio.create_subprocess_exec(
        "node",
        str(cache / "driver.js"),
        mode,
        address,
        "OperatorMSP",
        str(cert),
        str(key),
        cwd=cache,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 120)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise
    assert proc.returncode == 0, stderr.decode()[-3000:]
    return json.loads(stdout)


async def test_official_proposal_is_rebuilt_byte_for_byte(node_client: Path, msp: Path) -> None:
    state = FakeLedgerState()
    server, address = await start_fake_gateway(state)
    try:
        out = await run_driver(node_client, "proposal", address, msp)
    finally:
        await server.stop(None)
    proposed = gateway_pb2.ProposedTransaction()
    proposed.ParseFromString(base64.b64decode(out["bytes"]))
    official = proposed.proposal.proposal_bytes
    info = protocol.parse_proposal(official)
    ident = SigningIdentity.from_msp_dir("OperatorMSP", msp)
    assert info.creator == ident.creator  # same SerializedIdentity encoding
    assert info.tx_id == out["tx_id"] == protocol.transaction_id(info.nonce, info.creator)
    assert proposed.transaction_id == out["tx_id"]
    ours = protocol.build_proposal(
        channel=info.channel,
        chaincode=info.chaincode,
        function=info.args[0].decode(),
        args=info.args[1:],
        creator=ident.creator,
        nonce=info.nonce,
        timestamp_ns=info.timestamp_ns,
    )
    assert ours.tx_id == out["tx_id"]
    theirs_p, ours_p = proposal_pb2.Proposal(), proposal_pb2.Proposal()
    theirs_p.ParseFromString(official)
    ours_p.ParseFromString(ours.proposal_bytes)
    assert ours_p.header == theirs_p.header  # channel header and signature header, exact
    theirs_spec, ours_spec = (_invocation(p.payload) for p in (theirs_p, ours_p))
    assert theirs_spec.chaincode_spec.type == chaincode_pb2.ChaincodeSpec.NODE
    assert ours_spec.chaincode_spec.type == chaincode_pb2.ChaincodeSpec.UNDEFINED
    theirs_spec.chaincode_spec.type = chaincode_pb2.ChaincodeSpec.UNDEFINED
    assert ours_spec.SerializeToString() == theirs_spec.SerializeToString()
    assert list(ours_spec.chaincode_spec.input.args) == [
        b"application:create",
        b"uplink",
        b"k1",
        b'{"a":1}',
    ]


def _invocation(payload: bytes) -> chaincode_pb2.ChaincodeInvocationSpec:
    cpp = proposal_pb2.ChaincodeProposalPayload()
    cpp.ParseFromString(payload)
    assert not cpp.TransientMap
    spec = chaincode_pb2.ChaincodeInvocationSpec()
    spec.ParseFromString(cpp.input)
    return spec


async def test_official_client_against_the_fake_gateway(node_client: Path, msp: Path) -> None:
    state = FakeLedgerState()
    server, address = await start_fake_gateway(state)
    try:
        out = await run_driver(node_client, "flow", address, msp)
        # and ours, on the same fake ledger, after the official client's transactions
        ident = SigningIdentity.from_msp_dir("OperatorMSP", msp)
        async with GatewayClient(GatewayEndpoint(address), ident) as client:
            mine = await client.submit("app-zone-a", "hyperlora", "kv:put", ["n3", "v-n3"])
            assert await client.evaluate("app-zone-a", "hyperlora", "kv:get", ["n2"]) == b"v-n2"
    finally:
        await server.stop(None)
    blocks = out["blocks"]
    assert [b["ok"] for b in blocks] == [True, True]
    assert [b["code"] for b in blocks] == [0, 0]
    assert int(blocks[1]["block"]) == int(blocks[0]["block"]) + 1
    assert mine.commit.block_number == int(blocks[1]["block"]) + 1
    assert blocks[0]["result"] == '{"status":"created"}'
    assert out["get"] == "v-n1"
    assert "InvalidInput: payload must be an object" in out["fail"]
    assert [(e["tx_id"], e["payload"]) for e in out["events"]] == [
        (blocks[0]["tx_id"], "n1"),
        (blocks[1]["tx_id"], "n2"),
    ]
