#!/usr/bin/env bash
# Apache Kafka (KRaft, one node acting as broker and controller) as a native process.
#   deploy/kafka/kafka.sh install   resolve the broker jars from Maven Central into the cache
#   deploy/kafka/kafka.sh start     write the config, format storage once, start in background
#   deploy/kafka/kafka.sh wait      block until the broker answers a metadata request
#   deploy/kafka/kafka.sh stop      SIGTERM, wait, SIGKILL if it will not go
#   deploy/kafka/kafka.sh status    exit 0 when running (prints pid and address), 3 when not
#   deploy/kafka/kafka.sh clean     stop and delete this broker's state (data, logs, config)
# Settings (environment): KAFKA_PORT (9092), KAFKA_CONTROLLER_PORT (KAFKA_PORT+1),
# KAFKA_VERSION (the pom's), KAFKA_HEAP_OPTS ("-Xms256m -Xmx512m"), KAFKA_WAIT_TIMEOUT (90 s),
# KAFKA_PARTITIONS (default partitions of a topic created without a count, 1),
# HYPERLORA_STATE_DIR, HYPERLORA_CACHE_DIR. Everything listens on 127.0.0.1 only.
# Needs Java 17+ and Maven (first install only; later runs are offline).
set -euo pipefail
HL_NAME=kafka
# shellcheck source-path=SCRIPTDIR source=../lib.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/../lib.sh"

HERE="$HL_ROOT/deploy/kafka"
POM="$HERE/pom.xml"
KAFKA_PORT="${KAFKA_PORT:-9092}"
KAFKA_CONTROLLER_PORT="${KAFKA_CONTROLLER_PORT:-$((KAFKA_PORT + 1))}"
KAFKA_HEAP_OPTS="${KAFKA_HEAP_OPTS:--Xms256m -Xmx512m}"
KAFKA_WAIT_TIMEOUT="${KAFKA_WAIT_TIMEOUT:-90}"
KAFKA_PARTITIONS="${KAFKA_PARTITIONS:-1}"
POM_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$POM")"
KAFKA_VERSION="${KAFKA_VERSION:-$POM_VERSION}"

LIBS="$HL_CACHE_DIR/kafka/$KAFKA_VERSION/libs"
M2="$HL_CACHE_DIR/m2"
STATE="$HL_STATE_DIR/kafka"
PROPS="$STATE/server.properties"
LOG4J="$STATE/log4j2.properties"
PIDFILE="$STATE/kafka.pid"
LOGFILE="$STATE/kafka.log"
DATA="$STATE/data"

JAVA="${JAVA_HOME:+$JAVA_HOME/bin/}java"

check_java() {
  command -v "$JAVA" >/dev/null 2>&1 || hl_die "java not found (Kafka 4 needs Java 17+)"
  local v
  v="$("$JAVA" -XshowSettings:properties -version 2>&1 | sed -n 's/^ *java.specification.version = //p')"
  [[ "${v%%.*}" -ge 17 ]] 2>/dev/null || hl_die "Kafka 4 needs Java 17+, found '$v'"
}

jar_count() { find "$LIBS" -maxdepth 1 -name '*.jar' | wc -l; }

stamp_value() {
  printf '%s %s\n' "$KAFKA_VERSION" "$(sha256sum "$POM" | cut -d' ' -f1)"
}

cmd_install() {
  local stamp="$LIBS/.hyperlora-stamp"
  if [[ -f "$stamp" && "$(cat "$stamp")" == "$(stamp_value)" ]]; then
    hl_log "Kafka $KAFKA_VERSION jars already in $LIBS ($(jar_count) jars)"
    return 0
  fi
  command -v mvn >/dev/null 2>&1 || hl_die "mvn not found (needed once, to fetch the jars)"
  local t0 tmp
  t0="$(hl_now_ns)"
  hl_log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION from Maven Central into $LIBS"
  mkdir -p "$M2" "$(dirname "$LIBS")"
  tmp="$(mktemp -d "$(dirname "$LIBS")/libs.tmp.XXXXXX")"
  local mvnlog="$HL_CACHE_DIR/kafka/mvn-$KAFKA_VERSION.log"
  if ! mvn -B -Dstyle.color=never -f "$POM" \
    -Dmaven.repo.local="$M2" \
    -Dkafka.version="$KAFKA_VERSION" \
    dependency:copy-dependencies \
    -DoutputDirectory="$tmp" >"$mvnlog" 2>&1; then
    rm -rf "$tmp"
    rmdir "$(dirname "$LIBS")" 2>/dev/null || true
    tail -n 30 "$mvnlog" >&2
    hl_die "mvn could not resolve Kafka $KAFKA_VERSION (is it on Maven Central?); log: $mvnlog"
  fi
  ls "$tmp"/kafka_2.13-"$KAFKA_VERSION".jar >/dev/null 2>&1 || {
    rm -rf "$tmp"
    hl_die "kafka_2.13-$KAFKA_VERSION.jar missing after copy-dependencies"
  }
  stamp_value >"$tmp/.hyperlora-stamp"
  rm -rf "$LIBS"
  mv "$tmp" "$LIBS"
  hl_log "installed $(jar_count) jars in $(hl_elapsed "$t0")s"
}

write_config() {
  mkdir -p "$STATE" "$DATA"
  cat >"$PROPS" <<EOF
# Written by deploy/kafka/kafka.sh: edit the script or its environment, not this file.
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$KAFKA_CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
log.dirs=$DATA
num.partitions=$KAFKA_PARTITIONS
default.replication.factor=1
min.insync.replicas=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
delete.topic.enable=true
log.retention.hours=168
num.network.threads=2
num.io.threads=4
num.recovery.threads.per.data.dir=1
EOF
  cat >"$LOG4J" <<EOF
# Written by deploy/kafka/kafka.sh. The broker's stdout goes to kafka.log.
status = warn
appender.out.type = Console
appender.out.name = STDOUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = STDOUT
logger.kafka.name = kafka
logger.kafka.level = INFO
logger.state.name = state.change.logger
logger.state.level = WARN
logger.request.name = kafka.request.logger
logger.request.level = WARN
logger.clients.name = org.apache.kafka.clients
logger.clients.level = WARN
EOF
}

format_storage() {
  local id_file="$STATE/cluster.id" id
  if [[ ! -s "$id_file" ]]; then
    id="$("$JAVA" -cp "$LIBS/*" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n1)"
    [[ -n "$id" ]] || hl_die "StorageTool random-uuid printed nothing"
    printf '%s\n' "$id" >"$id_file"
  fi
  id="$(cat "$id_file")"
  if [[ -f "$DATA/meta.properties" ]]; then
    return 0
  fi
  hl_log "formatting KRaft storage in $DATA (cluster id $id)"
  "$JAVA" -Dlog4j2.configurationFile="$LOG4J" -cp "$LIBS/*" kafka.tools.StorageTool \
    format -t "$id" -c "$PROPS" --ignore-formatted >>"$LOGFILE" 2>&1 ||
    hl_die "storage format failed (see $LOGFILE)"
}

cmd_start() {
  if hl_pid_alive "$PIDFILE"; then
    hl_log "already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$KAFKA_PORT"
    return 0
  fi
  check_java
  cmd_install
  if hl_port_open 127.0.0.1 "$KAFKA_PORT"; then
    hl_die "port $KAFKA_PORT is taken by another process (set KAFKA_PORT)"
  fi
  if hl_port_open 127.0.0.1 "$KAFKA_CONTROLLER_PORT"; then
    hl_die "port $KAFKA_CONTROLLER_PORT is taken by another process (set KAFKA_CONTROLLER_PORT)"
  fi
  write_config
  format_storage
  hl_log "starting Kafka $KAFKA_VERSION on 127.0.0.1:$KAFKA_PORT (controller :$KAFKA_CONTROLLER_PORT)"
  rm -f "$PIDFILE"
  # shellcheck disable=SC2016,SC2086  # $$/$1 are the inner shell's; HEAP_OPTS is a list
  setsid bash -c 'echo $$ >"$1"; shift; exec "$@"' _ "$PIDFILE" \
    "$JAVA" $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$LOG4J" -Dkafka.logs.dir="$STATE" \
    -cp "$LIBS/*" kafka.Kafka "$PROPS" </dev/null >>"$LOGFILE" 2>&1 &
  local i
  for ((i = 0; i < 50; i++)); do
    [[ -s "$PIDFILE" ]] && break
    sleep 0.1
  done
  hl_pid_alive "$PIDFILE" || hl_die "Kafka exited at once (see $LOGFILE)"
  hl_log "started (pid $(cat "$PIDFILE")); log: $LOGFILE"
}

venv_python() {
  local py="${HYPERLORA_PYTHON:-$HL_ROOT/.venv/bin/python}"
  if [[ -x "$py" ]] && "$py" -c 'import aiokafka' 2>/dev/null; then
    printf '%s\n' "$py"
  fi
}

cmd_wait() {
  local t0 py pid
  t0="$(hl_now_ns)"
  hl_pid_alive "$PIDFILE" || hl_die "Kafka is not running (start it first)"
  pid="$(cat "$PIDFILE")"
  py="$(venv_python)"
  if [[ -n "$py" ]]; then
    "$py" - "127.0.0.1:$KAFKA_PORT" "$KAFKA_WAIT_TIMEOUT" "$pid" <<'PY' || hl_die "Kafka not ready within ${KAFKA_WAIT_TIMEOUT}s (see $LOGFILE)"
import asyncio, logging, os, sys, time

from aiokafka import AIOKafkaClient

logging.disable(logging.CRITICAL)
bootstrap, timeout, pid = sys.argv[1], float(sys.argv[2]), int(sys.argv[3])


async def ready() -> bool:
    client = AIOKafkaClient(bootstrap_servers=bootstrap, request_timeout_ms=3000)
    try:
        await client.bootstrap()  # a metadata request
        return bool(client.cluster.brokers())
    except Exception:
        return False
    finally:
        await client.close()


async def main() -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            print("broker process exited", file=sys.stderr)
            return 2
        if await ready():
            return 0
        await asyncio.sleep(0.25)
    return 1


sys.exit(asyncio.run(main()))
PY
  else
    hl_log "no .venv with aiokafka: waiting for the port only"
    local i
    for ((i = 0; i < KAFKA_WAIT_TIMEOUT * 4; i++)); do
      hl_port_open 127.0.0.1 "$KAFKA_PORT" && break
      kill -0 "$pid" 2>/dev/null || hl_die "Kafka exited (see $LOGFILE)"
      sleep 0.25
    done
    hl_port_open 127.0.0.1 "$KAFKA_PORT" || hl_die "Kafka not ready within ${KAFKA_WAIT_TIMEOUT}s"
  fi
  hl_log "ready on 127.0.0.1:$KAFKA_PORT after $(hl_elapsed "$t0")s of waiting"
}

cmd_status() {
  if hl_pid_alive "$PIDFILE"; then
    echo "kafka running pid=$(cat "$PIDFILE") bootstrap=127.0.0.1:$KAFKA_PORT state=$STATE"
    return 0
  fi
  echo "kafka stopped"
  return 3
}

cmd_stop() { hl_stop_pid kafka "$PIDFILE" "${KAFKA_STOP_TIMEOUT:-30}"; }

cmd_clean() {
  cmd_stop
  hl_log "removing $STATE"
  rm -rf "$STATE"
}

case "${1:-}" in
  install) check_java && cmd_install ;;
  start) cmd_start ;;
  wait) cmd_wait ;;
  stop) cmd_stop ;;
  status) cmd_status ;;
  clean) cmd_clean ;;
  *)
    echo "usage: $0 {install|start|stop|status|wait|clean}" >&2
    exit 2
    ;;
esac
