#!/usr/bin/env bash
# shellcheck disable=SC2155,SC2030,SC2031  # exports of computed values inside (...) on purpose
# Hyperledger Fabric 3 as native processes on 127.0.0.1, every listener with TLS.
#   deploy/fabric/fabric.sh build          build peer, orderer, configtxgen, cryptogen, osnadmin
#                                          and the ccaas builder from the pinned Fabric module
#   deploy/fabric/fabric.sh up             crypto material, channel blocks, orderers, peers,
#                                          channels, chaincode as a service (idempotent)
#   deploy/fabric/fabric.sh down [--wipe]  stop every process (--wipe: delete the state too)
#   deploy/fabric/fabric.sh status         processes, ports and channel heights (exit 3: down)
#   deploy/fabric/fabric.sh render         only write crypto-config.yaml and configtx.yaml
# Topology (FABRIC_PROFILE): "two-zones" (default; zones zone-a and zone-b, one etcdraft
# orderer and one peer each) or "three-orderers" (three consenters per zone). Orgs: the
# operator org OperatorMSP (the client identity, no peer) and one peer org plus one orderer org
# per zone. Channels: device-ledger and network-ledger (zone-a's orderers, every org),
# app-<zone> (that zone's orderers, the operator and the zone org). One chaincode,
# "hyperlora" (the chaincode/ package, or FABRIC_CHAINCODE_FACTORY="module:function"), runs as
# a service over TLS (deploy/fabric/ccaas_server.py), installed on every peer.
# Settings (environment): FABRIC_PROFILE, FABRIC_PORT_BASE (7000: zone z uses
# base+100*z+50.. ), FABRIC_BATCH_TIMEOUT (250ms), FABRIC_BATCH_MAX_MESSAGES (100),
# FABRIC_BIN_DIR / FABRIC_CONFIG_DIR / FABRIC_CCAAS_BUILDER_DIR (use prebuilt binaries, sample
# core.yaml/orderer.yaml and builder instead of building), FABRIC_WAIT_TIMEOUT (60 s),
# HYPERLORA_STATE_DIR (state under <it>/fabric), HYPERLORA_CACHE_DIR (build under <it>/fabric).
# The client profile for services/ledger/fabric is written to <state>/fabric/connection.json.
# Exit codes: 0 ok, 1 error, 3 (status) not running, 69 the Fabric module cannot be fetched.
set -euo pipefail
HL_NAME=fabric # read by deploy/lib.sh
export HL_NAME
# shellcheck source=deploy/lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

HERE="$HL_ROOT/deploy/fabric"
FABRIC_MODULE=github.com/hyperledger/fabric
FABRIC_VERSION=v1.4.0-rc1.0.20260618074816-86c1172bec37 # v3.1.5, commit 86c1172bec37
CCAAS_MODULE=github.com/hyperledger/fabric/ccaas_builder
CCAAS_VERSION=v0.0.0-20260618074816-86c1172bec37
FABRIC_TOOLS=(peer orderer configtxgen cryptogen osnadmin)

FABRIC_PROFILE="${FABRIC_PROFILE:-two-zones}"
FABRIC_PORT_BASE="${FABRIC_PORT_BASE:-7000}"
FABRIC_BATCH_TIMEOUT="${FABRIC_BATCH_TIMEOUT:-250ms}"
FABRIC_BATCH_MAX_MESSAGES="${FABRIC_BATCH_MAX_MESSAGES:-100}"
FABRIC_WAIT_TIMEOUT="${FABRIC_WAIT_TIMEOUT:-60}"
CC_NAME=hyperlora
CC_VERSION=1.0
CC_LABEL="${CC_NAME}_${CC_VERSION}"

CACHE="$HL_CACHE_DIR/fabric/${FABRIC_VERSION##*-}"
BIN="${FABRIC_BIN_DIR:-$CACHE/bin}"
SAMPLECONFIG="${FABRIC_CONFIG_DIR:-$CACHE/config}"
BUILDER="${FABRIC_CCAAS_BUILDER_DIR:-$CACHE/builders/ccaas}"
STATE="$HL_STATE_DIR/fabric"
RUN="$STATE/run"   # pid files
LOGS="$STATE/logs"
CRYPTO="$STATE/crypto"
ART="$STATE/artifacts"
DOMAIN=hyperlora.local
PY="${HYPERLORA_PYTHON:-$HL_ROOT/.venv/bin/python}"
[[ -x "$PY" ]] || PY=python3

# ------------------------------------------------------------------ topology
ZONES=(zone-a zone-b)
case "$FABRIC_PROFILE" in
  two-zones) ORDERERS_PER_ZONE=1 ;;
  three-orderers) ORDERERS_PER_ZONE=3 ;;
  *) hl_die "unknown FABRIC_PROFILE '$FABRIC_PROFILE' (two-zones, three-orderers)" ;;
esac
ANCHOR_ZONE="${ZONES[0]}" # orders device-ledger and network-ledger

# zone-a -> ZoneA
camel() { local out="" part; IFS=- read -ra parts <<<"$1"; for part in "${parts[@]}"; do out+="${part^}"; done; printf '%s' "$out"; }
zone_index() { local i; for i in "${!ZONES[@]}"; do [[ "${ZONES[$i]}" == "$1" ]] && { echo "$i"; return; }; done; hl_die "unknown zone $1"; }
zone_base() { echo $((FABRIC_PORT_BASE + 100 * $(zone_index "$1"))); }
orderer_port() { echo $(($(zone_base "$1") + 50 + $2)); }
orderer_admin_port() { echo $(($(zone_base "$1") + 60 + $2)); }
orderer_ops_port() { echo $(($(zone_base "$1") + 70 + $2)); }
peer_port() { echo $(($(zone_base "$1") + 81)); }
peer_cc_port() { echo $(($(zone_base "$1") + 82)); }
peer_ops_port() { echo $(($(zone_base "$1") + 83)); }
ccaas_port() { echo $((FABRIC_PORT_BASE + 90)); }

peer_msp() { echo "$(camel "$1")MSP"; }
orderer_msp() { echo "$(camel "$1")OrdererMSP"; }
peer_domain() { echo "$1.$DOMAIN"; }
orderer_domain() { echo "ord.$1.$DOMAIN"; }
peer_host() { echo "peer0.$(peer_domain "$1")"; }
orderer_host() { echo "orderer$2.$(orderer_domain "$1")"; }
peer_dir() { echo "$CRYPTO/peerOrganizations/$(peer_domain "$1")/peers/$(peer_host "$1")"; }
orderer_dir() { echo "$CRYPTO/ordererOrganizations/$(orderer_domain "$1")/orderers/$(orderer_host "$1" "$2")"; }
peer_admin_msp() { echo "$CRYPTO/peerOrganizations/$(peer_domain "$1")/users/Admin@$(peer_domain "$1")/msp"; }
orderer_admin_dir() { echo "$CRYPTO/ordererOrganizations/$(orderer_domain "$1")/users/Admin@$(orderer_domain "$1")"; }
OPERATOR_DOMAIN="operator.$DOMAIN"
OPERATOR_MSP=OperatorMSP
CCAAS_TLS="$CRYPTO/peerOrganizations/$OPERATOR_DOMAIN/peers/ccaas.$OPERATOR_DOMAIN/tls"

# channel -> ordering zone and member zones
CHANNELS=(device-ledger network-ledger)
for z in "${ZONES[@]}"; do CHANNELS+=("app-$z"); done
channel_orderer_zone() { case "$1" in app-*) echo "${1#app-}" ;; *) echo "$ANCHOR_ZONE" ;; esac; }
channel_zones() { case "$1" in app-*) echo "${1#app-}" ;; *) echo "${ZONES[*]}" ;; esac; }

# ------------------------------------------------------------------ helpers
# (command output is captured before it is searched: "cmd | grep -q" under pipefail fails
# when grep exits first and the command dies of SIGPIPE)
need_bins() {
  local t
  for t in "${FABRIC_TOOLS[@]}"; do
    [[ -x "$BIN/$t" ]] || hl_die "$BIN/$t missing: run '$0 build' first"
  done
  [[ -x "$BUILDER/bin/detect" ]] || hl_die "ccaas builder missing in $BUILDER: run '$0 build'"
}

wait_port() { # NAME PORT PIDFILE
  local i
  for ((i = 0; i < FABRIC_WAIT_TIMEOUT * 10; i++)); do
    hl_port_open 127.0.0.1 "$2" && return 0
    hl_pid_alive "$3" || hl_die "$1 exited during start (see $LOGS/$1.log: $(tail -n 3 "$LOGS/$1.log" 2>/dev/null | tr '\n' ' '))"
    sleep 0.1
  done
  hl_die "$1 did not listen on 127.0.0.1:$2 within ${FABRIC_WAIT_TIMEOUT}s"
}

retry() { # DESCRIPTION CMD...: retry for FABRIC_WAIT_TIMEOUT seconds
  local what="$1" i out
  shift
  for ((i = 0; i < FABRIC_WAIT_TIMEOUT * 2; i++)); do
    if out="$("$@" 2>&1)"; then
      printf '%s\n' "$out" >>"$LOGS/admin.log"
      return 0
    fi
    sleep 0.5
  done
  printf '%s\n' "$out" >>"$LOGS/admin.log"
  hl_die "$what failed: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
}

start_bg() { # NAME CMD... (environment already exported by the caller's subshell)
  local name="$1"
  shift
  if hl_pid_alive "$RUN/$name.pid"; then
    hl_log "$name already running (pid $(cat "$RUN/$name.pid"))"
    return 0
  fi
  nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$RUN/$name.pid"
  hl_log "started $name (pid $!)"
}

# ------------------------------------------------------------------ build
cmd_build() {
  local t missing=0
  for t in "${FABRIC_TOOLS[@]}"; do [[ -x "$BIN/$t" ]] || missing=1; done
  for t in detect build release; do [[ -x "$BUILDER/bin/$t" ]] || missing=1; done
  [[ -f "$SAMPLECONFIG/core.yaml" && -f "$SAMPLECONFIG/orderer.yaml" ]] || missing=1
  if [[ $missing -eq 0 ]]; then
    hl_log "Fabric binaries present in $BIN (build skipped)"
    return 0
  fi
  [[ -z "${FABRIC_BIN_DIR:-}" ]] || hl_die "FABRIC_BIN_DIR=$FABRIC_BIN_DIR lacks a Fabric tool or the config"
  command -v go >/dev/null 2>&1 || hl_die "go not found (Fabric is built with the Go toolchain)"
  local t0 src="$CACHE/src"
  t0="$(hl_now_ns)"
  mkdir -p "$src" "$BIN" "$BUILDER/bin" "$SAMPLECONFIG"
  export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS="-mod=mod -buildvcs=false"
  cd "$src"
  if [[ ! -f go.mod ]]; then
    go mod init fabricbuild >/dev/null 2>&1
  fi
  hl_log "fetching $FABRIC_MODULE@$FABRIC_VERSION and $CCAAS_MODULE@$CCAAS_VERSION"
  local out
  if ! out="$(go get "$FABRIC_MODULE@$FABRIC_VERSION" "$CCAAS_MODULE@$CCAAS_VERSION" 2>&1)"; then
    printf '%s\n' "$out" >&2
    printf '[fabric] error: the Go module proxy did not serve the pinned Fabric module\n' >&2
    exit 69
  fi
  hl_log "building ${FABRIC_TOOLS[*]} (CGO_ENABLED=0, $(go version | cut -d' ' -f3))"
  local pkgs=()
  for t in "${FABRIC_TOOLS[@]}"; do pkgs+=("$FABRIC_MODULE/cmd/$t"); done
  go build -trimpath -o "$BIN/" "${pkgs[@]}"
  hl_log "building the ccaas builder (detect, build, release)"
  go build -trimpath -o "$BUILDER/bin/" "$CCAAS_MODULE/cmd/detect" "$CCAAS_MODULE/cmd/build" \
    "$CCAAS_MODULE/cmd/release"
  local moddir
  moddir="$(go list -m -f '{{.Dir}}' "$FABRIC_MODULE")"
  install -m 0644 "$moddir/sampleconfig/core.yaml" "$moddir/sampleconfig/orderer.yaml" "$SAMPLECONFIG/"
  hl_log "Fabric built in $(hl_elapsed "$t0") s into $BIN"
}

# ------------------------------------------------------------------ crypto and channel config
write_crypto_config() {
  local f="$STATE/crypto-config.yaml" z i
  {
    echo "# generated by deploy/fabric/fabric.sh (profile $FABRIC_PROFILE)"
    echo "OrdererOrgs:"
    for z in "${ZONES[@]}"; do
      echo "  - Name: $(camel "$z")Orderer"
      echo "    Domain: $(orderer_domain "$z")"
      echo "    EnableNodeOUs: true"
      echo "    Specs:"
      for ((i = 0; i < ORDERERS_PER_ZONE; i++)); do
        echo "      - Hostname: orderer$i"
        echo "        SANS: [127.0.0.1, localhost]"
      done
    done
    echo "PeerOrgs:"
    echo "  - Name: Operator"
    echo "    Domain: $OPERATOR_DOMAIN"
    echo "    EnableNodeOUs: true"
    echo "    Specs:"
    echo "      - Hostname: ccaas" # TLS identity of the chaincode server
    echo "        SANS: [127.0.0.1, localhost]"
    echo "    Users: {Count: 1}"
    for z in "${ZONES[@]}"; do
      echo "  - Name: $(camel "$z")"
      echo "    Domain: $(peer_domain "$z")"
      echo "    EnableNodeOUs: true"
      echo "    Template: {Count: 1, SANS: [127.0.0.1, localhost]}"
      echo "    Users: {Count: 1}"
    done
  } >"$f"
}

org_block() { # ANCHOR NAME MSPID MSPDIR KIND(peer|orderer|operator) [ZONE]
  local anchor="$1" name="$2" msp="$3" dir="$4" kind="$5" zone="${6:-}" i
  echo "  - &$anchor"
  echo "    Name: $name"
  echo "    ID: $msp"
  echo "    MSPDir: $dir"
  echo "    Policies:"
  echo "      Readers: {Type: Signature, Rule: \"OR('$msp.admin', '$msp.peer', '$msp.client', '$msp.orderer')\"}"
  echo "      Writers: {Type: Signature, Rule: \"OR('$msp.admin', '$msp.client', '$msp.orderer')\"}"
  echo "      Admins: {Type: Signature, Rule: \"OR('$msp.admin')\"}"
  echo "      Endorsement: {Type: Signature, Rule: \"OR('$msp.peer')\"}"
  if [[ "$kind" == orderer ]]; then
    echo "    OrdererEndpoints:"
    for ((i = 0; i < ORDERERS_PER_ZONE; i++)); do echo "      - 127.0.0.1:$(orderer_port "$zone" "$i")"; done
  fi
  if [[ "$kind" == peer ]]; then
    echo "    AnchorPeers: [{Host: 127.0.0.1, Port: $(peer_port "$zone")}]"
  fi
}

write_configtx() {
  local f="$STATE/configtx/configtx.yaml" z ch oz i
  mkdir -p "$STATE/configtx"
  {
    echo "# generated by deploy/fabric/fabric.sh (profile $FABRIC_PROFILE)"
    echo "Organizations:"
    org_block Operator "$OPERATOR_MSP" "$OPERATOR_MSP" "$CRYPTO/peerOrganizations/$OPERATOR_DOMAIN/msp" operator
    for z in "${ZONES[@]}"; do
      org_block "$(camel "$z")" "$(peer_msp "$z")" "$(peer_msp "$z")" \
        "$CRYPTO/peerOrganizations/$(peer_domain "$z")/msp" peer "$z"
      org_block "$(camel "$z")Orderer" "$(orderer_msp "$z")" "$(orderer_msp "$z")" \
        "$CRYPTO/ordererOrganizations/$(orderer_domain "$z")/msp" orderer "$z"
    done
    cat <<EOF
Capabilities:
  Channel: &ChannelCapabilities {V3_0: true}
  Orderer: &OrdererCapabilities {V2_0: true}
  Application: &ApplicationCapabilities {V2_5: true}
Application: &ApplicationDefaults
  Organizations:
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    LifecycleEndorsement: {Type: ImplicitMeta, Rule: "ANY Endorsement"}
    Endorsement: {Type: ImplicitMeta, Rule: "ANY Endorsement"}
  Capabilities: *ApplicationCapabilities
Orderer: &OrdererDefaults
  OrdererType: etcdraft
  BatchTimeout: $FABRIC_BATCH_TIMEOUT
  BatchSize:
    MaxMessageCount: $FABRIC_BATCH_MAX_MESSAGES
    AbsoluteMaxBytes: 10 MB
    PreferredMaxBytes: 2 MB
  Organizations:
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
    BlockValidation: {Type: ImplicitMeta, Rule: "ANY Writers"}
  Capabilities: *OrdererCapabilities
Channel: &ChannelDefaults
  Policies:
    Readers: {Type: ImplicitMeta, Rule: "ANY Readers"}
    Writers: {Type: ImplicitMeta, Rule: "ANY Writers"}
    Admins: {Type: ImplicitMeta, Rule: "MAJORITY Admins"}
  Capabilities: *ChannelCapabilities
Profiles:
EOF
    for ch in "${CHANNELS[@]}"; do
      oz="$(channel_orderer_zone "$ch")"
      echo "  $ch:"
      echo "    <<: *ChannelDefaults"
      echo "    Orderer:"
      echo "      <<: *OrdererDefaults"
      echo "      Organizations: [*$(camel "$oz")Orderer]"
      echo "      EtcdRaft:"
      echo "        Consenters:"
      for ((i = 0; i < ORDERERS_PER_ZONE; i++)); do
        echo "          - Host: 127.0.0.1"
        echo "            Port: $(orderer_port "$oz" "$i")"
        echo "            ClientTLSCert: $(orderer_dir "$oz" "$i")/tls/server.crt"
        echo "            ServerTLSCert: $(orderer_dir "$oz" "$i")/tls/server.crt"
      done
      echo "        Options: {TickInterval: 500ms, ElectionTick: 10, HeartbeatTick: 1, MaxInflightBlocks: 5, SnapshotIntervalSize: 16 MB}"
      echo "    Application:"
      echo "      <<: *ApplicationDefaults"
      printf '      Organizations: [*Operator'
      for z in $(channel_zones "$ch"); do printf ', *%s' "$(camel "$z")"; done
      echo "]"
    done
  } >"$f"
}

write_core_yaml() {
  # the sample core.yaml, its chaincode.externalBuilders entry pointed at our ccaas builder
  mkdir -p "$STATE/config"
  grep -q 'path: /opt/hyperledger/ccaas_builder' "$SAMPLECONFIG/core.yaml" ||
    hl_die "$SAMPLECONFIG/core.yaml has no ccaas_builder entry to point at $BUILDER"
  sed "s|path: /opt/hyperledger/ccaas_builder|path: $BUILDER|" "$SAMPLECONFIG/core.yaml" >"$STATE/config/core.yaml"
  cp "$SAMPLECONFIG/orderer.yaml" "$STATE/config/orderer.yaml"
}

generate_artifacts() {
  if [[ -f "$STATE/.generated" && "$(cat "$STATE/.generated")" == "$FABRIC_PROFILE $FABRIC_PORT_BASE" ]]; then
    hl_log "crypto material and channel blocks already generated ($FABRIC_PROFILE)"
    return 0
  fi
  [[ ! -d "$CRYPTO" ]] || hl_die "state in $STATE was generated for another profile or ports: run '$0 down --wipe' first"
  hl_log "generating crypto material (cryptogen) and channel genesis blocks (configtxgen)"
  write_crypto_config
  "$BIN/cryptogen" generate --config="$STATE/crypto-config.yaml" --output="$CRYPTO" >>"$LOGS/admin.log" 2>&1
  write_configtx
  mkdir -p "$ART"
  local ch
  for ch in "${CHANNELS[@]}"; do
    FABRIC_CFG_PATH="$STATE/configtx" "$BIN/configtxgen" -profile "$ch" -channelID "$ch" \
      -outputBlock "$ART/$ch.block" >>"$LOGS/admin.log" 2>&1 || hl_die "configtxgen failed for $ch (see $LOGS/admin.log)"
  done
  write_core_yaml
  echo "$FABRIC_PROFILE $FABRIC_PORT_BASE" >"$STATE/.generated"
}

# ------------------------------------------------------------------ processes
start_orderer() { # ZONE INDEX
  local z="$1" i="$2" name dir
  name="orderer$i-$z"
  dir="$(orderer_dir "$z" "$i")"
  mkdir -p "$STATE/data/$name"
  (
    export FABRIC_CFG_PATH="$STATE/config"
    export FABRIC_LOGGING_SPEC="${FABRIC_LOGGING_SPEC:-info}"
    export ORDERER_GENERAL_LISTENADDRESS=127.0.0.1
    export ORDERER_GENERAL_LISTENPORT="$(orderer_port "$z" "$i")"
    export ORDERER_GENERAL_LOCALMSPID="$(orderer_msp "$z")"
    export ORDERER_GENERAL_LOCALMSPDIR="$dir/msp"
    export ORDERER_GENERAL_TLS_ENABLED=true
    export ORDERER_GENERAL_TLS_PRIVATEKEY="$dir/tls/server.key"
    export ORDERER_GENERAL_TLS_CERTIFICATE="$dir/tls/server.crt"
    export ORDERER_GENERAL_TLS_ROOTCAS="[$dir/tls/ca.crt]"
    export ORDERER_GENERAL_CLUSTER_CLIENTCERTIFICATE="$dir/tls/server.crt"
    export ORDERER_GENERAL_CLUSTER_CLIENTPRIVATEKEY="$dir/tls/server.key"
    export ORDERER_GENERAL_CLUSTER_ROOTCAS="[$dir/tls/ca.crt]"
    export ORDERER_GENERAL_BOOTSTRAPMETHOD=none
    export ORDERER_CHANNELPARTICIPATION_ENABLED=true
    export ORDERER_FILELEDGER_LOCATION="$STATE/data/$name/ledger"
    export ORDERER_CONSENSUS_WALDIR="$STATE/data/$name/etcdraft/wal"
    export ORDERER_CONSENSUS_SNAPDIR="$STATE/data/$name/etcdraft/snapshot"
    export ORDERER_ADMIN_LISTENADDRESS="127.0.0.1:$(orderer_admin_port "$z" "$i")"
    export ORDERER_ADMIN_TLS_ENABLED=true
    export ORDERER_ADMIN_TLS_PRIVATEKEY="$dir/tls/server.key"
    export ORDERER_ADMIN_TLS_CERTIFICATE="$dir/tls/server.crt"
    export ORDERER_ADMIN_TLS_ROOTCAS="[$dir/tls/ca.crt]"
    export ORDERER_ADMIN_TLS_CLIENTAUTHREQUIRED=true
    export ORDERER_ADMIN_TLS_CLIENTROOTCAS="[$dir/tls/ca.crt]"
    export ORDERER_OPERATIONS_LISTENADDRESS="127.0.0.1:$(orderer_ops_port "$z" "$i")"
    export ORDERER_OPERATIONS_TLS_ENABLED=true
    export ORDERER_OPERATIONS_TLS_PRIVATEKEY="$dir/tls/server.key"
    export ORDERER_OPERATIONS_TLS_CERTIFICATE="$dir/tls/server.crt"
    export ORDERER_METRICS_PROVIDER=disabled
    start_bg "$name" "$BIN/orderer"
  )
  wait_port "$name" "$(orderer_admin_port "$z" "$i")" "$RUN/$name.pid"
}

start_peer() { # ZONE
  local z="$1" name dir
  name="peer0-$z"
  dir="$(peer_dir "$z")"
  mkdir -p "$STATE/data/$name"
  (
    export FABRIC_CFG_PATH="$STATE/config"
    export FABRIC_LOGGING_SPEC="${FABRIC_LOGGING_SPEC:-info}"
    export CORE_PEER_ID="$(peer_host "$z")"
    export CORE_PEER_LISTENADDRESS="127.0.0.1:$(peer_port "$z")"
    export CORE_PEER_ADDRESS="127.0.0.1:$(peer_port "$z")"
    export CORE_PEER_CHAINCODELISTENADDRESS="127.0.0.1:$(peer_cc_port "$z")"
    export CORE_PEER_CHAINCODEADDRESS="127.0.0.1:$(peer_cc_port "$z")"
    export CORE_PEER_GOSSIP_EXTERNALENDPOINT="127.0.0.1:$(peer_port "$z")"
    export CORE_PEER_GOSSIP_BOOTSTRAP="127.0.0.1:$(peer_port "$z")"
    export CORE_PEER_LOCALMSPID="$(peer_msp "$z")"
    export CORE_PEER_MSPCONFIGPATH="$dir/msp"
    export CORE_PEER_TLS_ENABLED=true
    export CORE_PEER_TLS_CERT_FILE="$dir/tls/server.crt"
    export CORE_PEER_TLS_KEY_FILE="$dir/tls/server.key"
    export CORE_PEER_TLS_ROOTCERT_FILE="$dir/tls/ca.crt"
    export CORE_PEER_FILESYSTEMPATH="$STATE/data/$name"
    export CORE_LEDGER_SNAPSHOTS_ROOTDIR="$STATE/data/$name/snapshots"
    export CORE_OPERATIONS_LISTENADDRESS="127.0.0.1:$(peer_ops_port "$z")"
    export CORE_OPERATIONS_TLS_ENABLED=true
    export CORE_OPERATIONS_TLS_CERT_FILE="$dir/tls/server.crt"
    export CORE_OPERATIONS_TLS_KEY_FILE="$dir/tls/server.key"
    export CORE_METRICS_PROVIDER=disabled
    export CORE_VM_ENDPOINT=""
    export CORE_PEER_GATEWAY_ENABLED=true
    start_bg "$name" "$BIN/peer" node start
  )
  wait_port "$name" "$(peer_port "$z")" "$RUN/$name.pid"
}

# run a peer CLI command as the admin of ZONE's org against ZONE's peer
peer_admin() { # ZONE ARGS...
  local z="$1"
  shift
  FABRIC_CFG_PATH="$STATE/config" \
    CORE_PEER_TLS_ENABLED=true \
    CORE_PEER_ADDRESS="127.0.0.1:$(peer_port "$z")" \
    CORE_PEER_LOCALMSPID="$(peer_msp "$z")" \
    CORE_PEER_MSPCONFIGPATH="$(peer_admin_msp "$z")" \
    CORE_PEER_TLS_ROOTCERT_FILE="$(peer_dir "$z")/tls/ca.crt" \
    CORE_VM_ENDPOINT='' \
    FABRIC_LOGGING_SPEC=warning \
    "$BIN/peer" "$@"
}

osnadmin_cmd() { # ZONE INDEX ARGS...
  local z="$1" i="$2" adm
  shift 2
  adm="$(orderer_admin_dir "$z")/tls"
  "$BIN/osnadmin" "$@" -o "127.0.0.1:$(orderer_admin_port "$z" "$i")" \
    --ca-file "$(orderer_dir "$z" "$i")/tls/ca.crt" --client-cert "$adm/client.crt" --client-key "$adm/client.key"
}

# osnadmin exits 0 whatever the HTTP status: read the "Status: NNN" line instead
osn_has_channel() { # ZONE INDEX CHANNEL
  local out
  out="$(osnadmin_cmd "$1" "$2" channel list --channelID "$3" 2>/dev/null)" || return 1
  grep -q '^Status: 200' <<<"$out"
}

osn_join() { # ZONE INDEX CHANNEL: 201 created, 405 already a member
  local out
  out="$(osnadmin_cmd "$1" "$2" channel join --channelID "$3" --config-block "$ART/$3.block" 2>&1)" || {
    printf '%s\n' "$out"
    return 1
  }
  printf '%s\n' "$out"
  grep -q -E '^Status: (201|405)' <<<"$out"
}

join_orderers() {
  local ch z i
  for ch in "${CHANNELS[@]}"; do
    z="$(channel_orderer_zone "$ch")"
    for ((i = 0; i < ORDERERS_PER_ZONE; i++)); do
      osn_has_channel "$z" "$i" "$ch" && continue
      hl_log "orderer$i-$z joins $ch"
      retry "osnadmin channel join $ch on orderer$i-$z" osn_join "$z" "$i" "$ch"
    done
  done
}

# run a peer admin command; an error whose text matches OK_PATTERN counts as done
peer_admin_ok() { # ZONE OK_PATTERN ARGS...
  local z="$1" ok="$2" out
  shift 2
  if out="$(peer_admin "$z" "$@" 2>&1)"; then
    printf '%s\n' "$out"
    return 0
  fi
  printf '%s\n' "$out"
  grep -q -E "$ok" <<<"$out"
}

join_peers() {
  local ch z
  for ch in "${CHANNELS[@]}"; do
    for z in $(channel_zones "$ch"); do
      if grep -qx "$ch" <<<"$(peer_admin "$z" channel list 2>/dev/null || true)"; then
        continue
      fi
      hl_log "peer0-$z joins $ch"
      retry "peer channel join $ch on peer0-$z" \
        peer_admin_ok "$z" 'already exists' channel join -b "$ART/$ch.block"
    done
  done
}

package_chaincode() {
  local d="$STATE/chaincode" addr
  mkdir -p "$d"
  [[ -f "$d/$CC_LABEL.tgz" ]] && return 0
  addr="127.0.0.1:$(ccaas_port)"
  "$PY" - "$addr" "$CCAAS_TLS/ca.crt" "$d/connection.json" <<'EOF'
import json, sys
addr, ca, out = sys.argv[1:4]
conn = {"address": addr, "dial_timeout": "10s", "tls_required": True,
        "client_auth_required": False, "root_cert": open(ca, encoding="ascii").read()}
open(out, "w", encoding="utf-8").write(json.dumps(conn, indent=2))
EOF
  printf '{"type": "ccaas", "label": "%s"}\n' "$CC_LABEL" >"$d/metadata.json"
  tar -C "$d" -czf "$d/code.tar.gz" connection.json
  tar -C "$d" -czf "$d/$CC_LABEL.tgz" metadata.json code.tar.gz
}

start_chaincode() { # PACKAGE_ID
  (
    cd "$HL_ROOT"
    export CHAINCODE_ID="$1"
    export CHAINCODE_SERVER_ADDRESS="127.0.0.1:$(ccaas_port)"
    export CHAINCODE_TLS_KEY_FILE="$CCAAS_TLS/server.key"
    export CHAINCODE_TLS_CERT_FILE="$CCAAS_TLS/server.crt"
    export PYTHONPATH="$HL_ROOT${PYTHONPATH:+:$PYTHONPATH}"
    start_bg chaincode "$PY" "$HERE/ccaas_server.py"
  )
  wait_port chaincode "$(ccaas_port)" "$RUN/chaincode.pid"
}

deploy_chaincode() {
  package_chaincode
  local pkg="$STATE/chaincode/$CC_LABEL.tgz" pkgid z ch oz ocafile
  pkgid="$(peer_admin "$ANCHOR_ZONE" lifecycle chaincode calculatepackageid "$pkg")"
  echo "$pkgid" >"$STATE/chaincode/package-id"
  for z in "${ZONES[@]}"; do
    if ! grep -qF "$pkgid" <<<"$(peer_admin "$z" lifecycle chaincode queryinstalled 2>/dev/null || true)"; then
      hl_log "installing $CC_LABEL on peer0-$z"
      retry "chaincode install on peer0-$z" \
        peer_admin_ok "$z" 'chaincode already successfully installed' lifecycle chaincode install "$pkg"
    fi
  done
  start_chaincode "$pkgid"
  for ch in "${CHANNELS[@]}"; do
    if peer_admin "$ANCHOR_ZONE" lifecycle chaincode querycommitted -C "$ch" -n "$CC_NAME" >/dev/null 2>&1 ||
      { [[ "$ch" == app-* ]] && peer_admin "${ch#app-}" lifecycle chaincode querycommitted -C "$ch" -n "$CC_NAME" >/dev/null 2>&1; }; then
      continue
    fi
    oz="$(channel_orderer_zone "$ch")"
    ocafile="$(orderer_dir "$oz" 0)/tls/ca.crt"
    local zones=() peers=()
    read -ra zones <<<"$(channel_zones "$ch")"
    for z in "${zones[@]}"; do
      hl_log "approving $CC_NAME on $ch for $(peer_msp "$z")"
      retry "approveformyorg $ch $z" peer_admin_ok "$z" 'unchanged content' lifecycle chaincode approveformyorg \
        -o "127.0.0.1:$(orderer_port "$oz" 0)" --tls --cafile "$ocafile" --channelID "$ch" \
        --name "$CC_NAME" --version "$CC_VERSION" --package-id "$pkgid" --sequence 1
      peers+=(--peerAddresses "127.0.0.1:$(peer_port "$z")" --tlsRootCertFiles "$(peer_dir "$z")/tls/ca.crt")
    done
    hl_log "committing $CC_NAME on $ch"
    retry "chaincode commit on $ch" peer_admin_ok "${zones[0]}" 'new definition must be sequence 2' lifecycle chaincode commit \
      -o "127.0.0.1:$(orderer_port "$oz" 0)" --tls --cafile "$ocafile" --channelID "$ch" \
      --name "$CC_NAME" --version "$CC_VERSION" --sequence 1 "${peers[@]}"
  done
}

# run a peer CLI command as the operator's admin (OperatorMSP) against ZONE's peer
operator_cli() { # ZONE ARGS...
  local z="$1"
  shift
  FABRIC_CFG_PATH="$STATE/config" \
    CORE_PEER_TLS_ENABLED=true \
    CORE_PEER_ADDRESS="127.0.0.1:$(peer_port "$z")" \
    CORE_PEER_LOCALMSPID="$OPERATOR_MSP" \
    CORE_PEER_MSPCONFIGPATH="$CRYPTO/peerOrganizations/$OPERATOR_DOMAIN/users/Admin@$OPERATOR_DOMAIN/msp" \
    CORE_PEER_TLS_ROOTCERT_FILE="$(peer_dir "$z")/tls/ca.crt" \
    CORE_VM_ENDPOINT='' \
    FABRIC_LOGGING_SPEC=warning \
    "$BIN/peer" "$@"
}

channel_contract() { case "$1" in device-ledger) echo device ;; network-ledger) echo network ;; *) echo application ;; esac; }

# The contracts' access configuration (as the embedded ledger's genesis does): the operator and
# the channel's zone orgs write, the operator administers. Done once per channel.
init_contracts() {
  local ch z oz contract args
  for ch in "${CHANNELS[@]}"; do
    contract="$(channel_contract "$ch")"
    oz="$(channel_orderer_zone "$ch")"
    z="$(channel_zones "$ch" | cut -d' ' -f1)"
    if operator_cli "$z" chaincode query -C "$ch" -n "$CC_NAME" \
      -c "{\"Args\":[\"$contract:get_config\"]}" >/dev/null 2>&1; then
      continue
    fi
    args="$("$PY" -c 'import json, sys
fn, writers, admin = sys.argv[1], sys.argv[2].split(), sys.argv[3]
cfg = json.dumps({"writers": writers, "admins": [admin]}, separators=(",", ":"))
print(json.dumps({"Args": [fn, cfg]}))' "$contract:init_ledger" "$OPERATOR_MSP $(for zz in $(channel_zones "$ch"); do printf '%s ' "$(peer_msp "$zz")"; done)" "$OPERATOR_MSP")"
    hl_log "initialising contract $contract on $ch"
    retry "init_ledger on $ch" operator_cli "$z" chaincode invoke \
      -o "127.0.0.1:$(orderer_port "$oz" 0)" --tls --cafile "$(orderer_dir "$oz" 0)/tls/ca.crt" \
      -C "$ch" -n "$CC_NAME" --peerAddresses "127.0.0.1:$(peer_port "$z")" \
      --tlsRootCertFiles "$(peer_dir "$z")/tls/ca.crt" --waitForEvent -c "$args"
  done
}

write_connection_profile() {
  local out="$STATE/connection.json" args=() z ch
  for z in "${ZONES[@]}"; do
    args+=("peer=$z|$(peer_msp "$z")|127.0.0.1:$(peer_port "$z")|$(peer_host "$z")|$(peer_dir "$z")/tls/ca.crt")
  done
  for ch in "${CHANNELS[@]}"; do
    args+=("channel=$ch|$(channel_orderer_zone "$ch")|$(channel_zones "$ch")")
  done
  "$PY" - "$out" "$FABRIC_PROFILE" "$OPERATOR_MSP" \
    "$CRYPTO/peerOrganizations/$OPERATOR_DOMAIN/users/User1@$OPERATOR_DOMAIN/msp" "$CC_NAME" "${args[@]}" <<'EOF'
import json, sys
out, profile, msp_id, msp_dir, cc = sys.argv[1:6]
peers, channels = {}, {}
for arg in sys.argv[6:]:
    kind, _, value = arg.partition("=")
    parts = value.split("|")
    if kind == "peer":
        zone, pmsp, addr, host, ca = parts
        peers[zone] = {"msp_id": pmsp, "address": addr, "server_name": host, "tls_ca": ca}
    else:
        name, ozone, zones = parts
        members = zones.split()
        channels[name] = {"chaincode": cc, "orderer_zone": ozone, "zones": members,
                          "gateway_zone": ozone if ozone in members else members[0]}
doc = {"profile": profile, "client": {"msp_id": msp_id, "msp_dir": msp_dir},
       "peers": peers, "channels": channels}
open(out, "w", encoding="utf-8").write(json.dumps(doc, indent=2) + "\n")
EOF
}

cmd_up() {
  need_bins
  local t0 z i
  t0="$(hl_now_ns)"
  mkdir -p "$STATE" "$RUN" "$LOGS"
  generate_artifacts
  for z in "${ZONES[@]}"; do
    for ((i = 0; i < ORDERERS_PER_ZONE; i++)); do start_orderer "$z" "$i"; done
  done
  for z in "${ZONES[@]}"; do start_peer "$z"; done
  join_orderers
  join_peers
  deploy_chaincode
  init_contracts
  write_connection_profile
  hl_log "Fabric network up ($FABRIC_PROFILE) in $(hl_elapsed "$t0") s; client profile: $STATE/connection.json"
}

cmd_down() {
  local wipe=0 f
  [[ "${1:-}" == "--wipe" ]] && wipe=1
  if [[ -d "$RUN" ]]; then
    for f in "$RUN"/chaincode.pid "$RUN"/peer*.pid "$RUN"/orderer*.pid; do
      [[ -e "$f" ]] || continue
      hl_stop_pid "$(basename "$f" .pid)" "$f" 20
    done
  fi
  if [[ $wipe -eq 1 ]]; then
    hl_log "deleting $STATE"
    rm -rf "$STATE"
  fi
}

cmd_status() {
  local f name up=0 ch z
  if [[ ! -d "$RUN" ]]; then
    echo "fabric: not running (no state in $STATE)"
    return 3
  fi
  printf '%-22s %-8s %s\n' PROCESS PID STATE
  for f in "$RUN"/*.pid; do
    [[ -e "$f" ]] || continue
    name="$(basename "$f" .pid)"
    if hl_pid_alive "$f"; then
      printf '%-22s %-8s %s\n' "$name" "$(cat "$f")" running
      up=1
    else
      printf '%-22s %-8s %s\n' "$name" - stopped
    fi
  done
  echo "ports (127.0.0.1, TLS):"
  for z in "${ZONES[@]}"; do
    for ((i = 0; i < ORDERERS_PER_ZONE; i++)); do
      echo "  orderer$i-$z  grpc $(orderer_port "$z" "$i")  admin $(orderer_admin_port "$z" "$i")  operations $(orderer_ops_port "$z" "$i")"
    done
    echo "  peer0-$z  grpc/gateway $(peer_port "$z")  chaincode $(peer_cc_port "$z")  operations $(peer_ops_port "$z")"
  done
  echo "  chaincode server $(ccaas_port)"
  if [[ $up -eq 0 ]]; then return 3; fi
  echo "channel heights:"
  for ch in "${CHANNELS[@]}"; do
    z="$(channel_orderer_zone "$ch")"
    [[ " $(channel_zones "$ch") " == *" $z "* ]] || z="$(channel_zones "$ch" | cut -d' ' -f1)"
    local h
    h="$(peer_admin "$z" channel getinfo -c "$ch" 2>/dev/null | sed -n 's/.*"height":"\{0,1\}\([0-9]*\).*/\1/p')"
    echo "  $ch: ${h:-?}"
  done
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) shift; cmd_down "$@" ;;
  status) cmd_status ;;
  render) # write crypto-config.yaml and configtx.yaml only (no binaries needed; for checks)
    mkdir -p "$STATE" "$LOGS"
    write_crypto_config
    write_configtx
    ;;
  *)
    echo "usage: $0 {build|up|down [--wipe]|status}" >&2
    exit 2
    ;;
esac
