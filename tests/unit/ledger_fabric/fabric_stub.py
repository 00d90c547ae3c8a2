"""Stand-ins for the Fabric binaries, to exercise deploy/fabric/fabric.sh's orchestration
(process start/stop, idempotent joins and chaincode lifecycle, client profile) where Fabric
itself is not available. Each stub checks the arguments and files a real binary would need,
logs its call to $STUB_STATE/calls.log and keeps its state in $STUB_STATE. cryptogen writes
real ECDSA certificates (so the chaincode server really serves TLS)."""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import signal
import socket
import sys
import threading
from pathlib import Path

import yaml
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

STATE = Path(os.environ["STUB_STATE"])


def log_call(tool: str, args: list[str]) -> None:
    STATE.mkdir(parents=True, exist_ok=True)
    with (STATE / "calls.log").open("a") as f:
        f.write(json.dumps([tool, *args]) + "\n")


def flag(args: list[str], *names: str) -> str:
    for i, a in enumerate(args):
        for n in names:
            if a == n:
                return args[i + 1]
            if a.startswith(n + "="):
                return a.split("=", 1)[1]
    raise SystemExit(f"missing flag {names}")


def must_exist(*paths: str) -> None:
    for p in paths:
        if not p or not Path(p).exists():
            raise SystemExit(f"no such file: {p!r}")


def load(name: str) -> dict:  # type: ignore[type-arg]
    p = STATE / name
    return json.loads(p.read_text()) if p.exists() else {}


def save(name: str, doc: dict) -> None:  # type: ignore[type-arg]
    (STATE / name).write_text(json.dumps(doc))


# ------------------------------------------------------------------ cryptogen
def _cert(cn, key, issuer_key=None, issuer=None, ca=False, sans=()):  # type: ignore[no-untyped-def]
    now = dt.datetime.now(dt.UTC)
    b = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)]))
        .issuer_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, issuer or cn)]))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    names = []
    for s in sans:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(s)))
        except ValueError:
            names.append(x509.DNSName(s))
    if names:
        b = b.add_extension(x509.SubjectAlternativeName(names), critical=False)
    return b.sign(issuer_key or key, hashes.SHA256())


def _pem(c) -> bytes:  # type: ignore[no-untyped-def]
    return c.public_bytes(serialization.Encoding.PEM)


def _kpem(k) -> bytes:  # type: ignore[no-untyped-def]
    return k.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def _node(base: Path, cn: str, ca, tlsca, sans, client: bool) -> None:  # type: ignore[no-untyped-def]
    (ca_key, ca_cert), (tls_key, tls_cert) = ca, tlsca
    k = ec.generate_private_key(ec.SECP256R1())
    (base / "msp" / "signcerts").mkdir(parents=True)
    (base / "msp" / "keystore").mkdir(parents=True)
    (base / "msp" / "signcerts" / f"{cn}-cert.pem").write_bytes(
        _pem(_cert(cn, k, ca_key, ca_cert.subject.rfc4514_string()[3:]))
    )
    (base / "msp" / "keystore" / "priv_sk").write_bytes(_kpem(k))
    tk = ec.generate_private_key(ec.SECP256R1())
    tc = _cert(cn, tk, tls_key, tls_cert.subject.rfc4514_string()[3:], sans=sans)
    (base / "tls").mkdir()
    kind = "client" if client else "server"
    (base / "tls" / f"{kind}.crt").write_bytes(_pem(tc))
    (base / "tls" / f"{kind}.key").write_bytes(_kpem(tk))
    (base / "tls" / "ca.crt").write_bytes(_pem(tls_cert))


def cryptogen(args: list[str]) -> None:
    assert args[0] == "generate"
    cfg = yaml.safe_load(Path(flag(args, "--config")).read_text())
    out = Path(flag(args, "--output"))
    for section, kind, node_dir in (
        ("OrdererOrgs", "ordererOrganizations", "orderers"),
        ("PeerOrgs", "peerOrganizations", "peers"),
    ):
        for org in cfg.get(section) or []:
            domain = org["Domain"]
            root = out / kind / domain
            cas = []
            for name in ("ca", "tlsca"):
                k = ec.generate_private_key(ec.SECP256R1())
                cas.append((k, _cert(f"{name}.{domain}", k, ca=True)))
                (root / name).mkdir(parents=True, exist_ok=True)
                (root / name / f"{name}.{domain}-cert.pem").write_bytes(_pem(cas[-1][1]))
            (root / "msp").mkdir(parents=True, exist_ok=True)
            hosts = [(s["Hostname"], s.get("SANS", [])) for s in org.get("Specs") or []]
            tmpl = org.get("Template") or {}
            hosts += [(f"peer{i}", tmpl.get("SANS", [])) for i in range(tmpl.get("Count", 0))]
            for host, sans in hosts:
                fqdn = f"{host}.{domain}"
                _node(root / node_dir / fqdn, fqdn, cas[0], cas[1], [fqdn, *sans], False)
            users = ["Admin"] + [
                f"User{i + 1}" for i in range((org.get("Users") or {}).get("Count", 0))
            ]
            for u in users:
                _node(root / "users" / f"{u}@{domain}", f"{u}@{domain}", cas[0], cas[1], [], True)


# ------------------------------------------------------------------ servers
def serve(ports: list[tuple[str, int]]) -> None:
    socks = []
    for host, port in ports:
        s = socket.socket()
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((host, port))
        s.listen()
        socks.append(s)

    def accept(s: socket.socket) -> None:
        while True:
            c, _ = s.accept()
            c.close()

    for s in socks:
        threading.Thread(target=accept, args=(s,), daemon=True).start()
    signal.sigwait({signal.SIGTERM, signal.SIGINT})


def addr(value: str) -> tuple[str, int]:
    host, _, port = value.rpartition(":")
    return host, int(port)


def orderer(args: list[str]) -> None:
    e = os.environ
    must_exist(
        e["ORDERER_GENERAL_TLS_CERTIFICATE"],
        e["ORDERER_GENERAL_TLS_PRIVATEKEY"],
        e["ORDERER_GENERAL_LOCALMSPDIR"],
        e["FABRIC_CFG_PATH"] + "/orderer.yaml",
    )
    assert e["ORDERER_GENERAL_LISTENADDRESS"] == "127.0.0.1"
    assert e["ORDERER_ADMIN_TLS_ENABLED"] == "true"
    serve(
        [
            ("127.0.0.1", int(e["ORDERER_GENERAL_LISTENPORT"])),
            addr(e["ORDERER_ADMIN_LISTENADDRESS"]),
            addr(e["ORDERER_OPERATIONS_LISTENADDRESS"]),
        ]
    )


def osnadmin(args: list[str]) -> None:
    target = flag(args, "-o")
    must_exist(flag(args, "--ca-file"), flag(args, "--client-cert"), flag(args, "--client-key"))
    doc = load("osn.json")
    joined = doc.setdefault(target, [])
    ch = flag(args, "--channelID")
    if args[:2] == ["channel", "list"]:
        print("Status: 200" if ch in joined else "Status: 404")
    elif args[:2] == ["channel", "join"]:
        must_exist(flag(args, "--config-block"))
        if ch in joined:
            print("Status: 405")
        else:
            joined.append(ch)
            print("Status: 201")
    save("osn.json", doc)


def peer(args: list[str]) -> None:
    e = os.environ
    must_exist(e["FABRIC_CFG_PATH"] + "/core.yaml")
    if args[:2] == ["node", "start"]:
        must_exist(e["CORE_PEER_TLS_CERT_FILE"], e["CORE_PEER_MSPCONFIGPATH"])
        assert e["CORE_VM_ENDPOINT"] == ""
        assert "path: /opt/hyperledger" not in Path(e["FABRIC_CFG_PATH"], "core.yaml").read_text()
        serve(
            [
                addr(e["CORE_PEER_LISTENADDRESS"]),
                addr(e["CORE_PEER_CHAINCODELISTENADDRESS"]),
                addr(e["CORE_OPERATIONS_LISTENADDRESS"]),
            ]
        )
        return
    must_exist(e["CORE_PEER_MSPCONFIGPATH"], e["CORE_PEER_TLS_ROOTCERT_FILE"])
    me = e["CORE_PEER_ADDRESS"]
    doc = load("peers.json")
    p = doc.setdefault(me, {"channels": [], "installed": []})
    committed = doc.setdefault("committed", [])
    if args[:2] == ["channel", "list"]:
        print("Channels peers has joined: ")
        for c in p["channels"]:
            print(c)
    elif args[:2] == ["channel", "join"]:
        ch = Path(flag(args, "-b")).stem
        if ch in p["channels"]:
            raise SystemExit(f"ledger [{ch}] already exists with state [ACTIVE]")
        p["channels"].append(ch)
    elif args[:2] == ["channel", "getinfo"]:
        height = 3 + committed.count(flag(args, "-c"))
        print(f'Blockchain info: {{"height":"{height}"}}')
    elif args[:3] == ["lifecycle", "chaincode", "calculatepackageid"]:
        print("hyperlora_1.0:" + "ab" * 32)
    elif args[:3] == ["lifecycle", "chaincode", "queryinstalled"]:
        for pkg in p["installed"]:
            print(f"Package ID: {pkg}, Label: hyperlora_1.0")
    elif args[:3] == ["lifecycle", "chaincode", "install"]:
        must_exist(args[3])
        p["installed"].append("hyperlora_1.0:" + "ab" * 32)
    elif args[:3] == ["lifecycle", "chaincode", "approveformyorg"]:
        must_exist(flag(args, "--cafile"))
        assert flag(args, "--package-id") in p["installed"]
    elif args[:3] == ["lifecycle", "chaincode", "commit"]:
        must_exist(flag(args, "--cafile"), flag(args, "--tlsRootCertFiles"))
        committed.append(flag(args, "--channelID"))
    elif args[:2] == ["chaincode", "query"]:
        fn = json.loads(flag(args, "-c"))["Args"][0]
        cfg = doc.setdefault("configs", {}).get(f"{flag(args, '-C')}/{fn.split(':')[0]}")
        if cfg is None:
            raise SystemExit("chaincode response 500, NotInitialised: no configuration")
        print(cfg)
    elif args[:2] == ["chaincode", "invoke"]:
        must_exist(flag(args, "--cafile"), flag(args, "--tlsRootCertFiles"))
        assert e["CORE_PEER_LOCALMSPID"] == "OperatorMSP"
        fn, cfg = json.loads(flag(args, "-c"))["Args"]
        assert fn.endswith(":init_ledger")
        doc.setdefault("configs", {})[f"{flag(args, '-C')}/{fn.split(':')[0]}"] = cfg
    elif args[:3] == ["lifecycle", "chaincode", "querycommitted"]:
        if flag(args, "-C") not in committed:
            raise SystemExit("namespace hyperlora is not defined")
    else:
        raise SystemExit(f"stub peer: unexpected {args}")
    save("peers.json", doc)


def configtxgen(args: list[str]) -> None:
    cfg = yaml.safe_load(Path(os.environ["FABRIC_CFG_PATH"], "configtx.yaml").read_text())
    profile = flag(args, "-profile")
    assert profile in cfg["Profiles"], profile
    assert flag(args, "-channelID") == profile
    Path(flag(args, "-outputBlock")).write_bytes(b"block:" + profile.encode())


def main() -> None:
    tool = Path(sys.argv[1]).name
    args = sys.argv[2:]
    log_call(tool, args)
    {
        "cryptogen": cryptogen,
        "orderer": orderer,
        "osnadmin": osnadmin,
        "peer": peer,
        "configtxgen": configtxgen,
    }[tool](args)


if __name__ == "__main__":
    main()
