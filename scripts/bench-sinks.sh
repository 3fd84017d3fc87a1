#!/usr/bin/env bash
# What the broker sinks cost and how fast they deliver, on the brokers of
# scripts/services.sh (RabbitMQ 127.0.0.1:5672, tansu on 127.0.0.1:9092):
#
#  (a) SET throughput of a node with no sinks and of a node with a Kafka and
#      a RabbitMQ sink (both JSON), in the same run (no sinks, sinks, no
#      sinks again: the mean of the two runs without is the reference),
#      with the CPU time the node and each broker used meanwhile;
#  (b) catch-up: a node whose AOF already holds a backlog of writes (made
#      with no sink configured) is restarted with both sinks; each sink's
#      checkpoint is polled (`fluxkv sinks status --json`, every 100 ms)
#      until it reaches the last seq: events/s per sink, both running at
#      once, as after an outage.
#
#   scripts/bench-sinks.sh [requests] [backlog] [pipeline]   (default 1000000 1000000 16)
#
# Each run uses its own Kafka topics (4 partitions, created by the sink)
# and RabbitMQ exchange; a queue bound to it with `fluxkv.#` (held by an
# `amqp-consume` from amqp-tools, capped at 10,000 messages by a policy, as
# if a consumer kept up) makes every message routable. All of it is
# deleted at the end. Needs root for `rabbitmqctl` (the policy, the
# exchange's deletion).
#
# Ports 16540-16542 and a temporary directory; never touches 6379.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-1000000}"
backlog="${2:-1000000}"
pipeline="${3:-16}"
amqp_url="amqp://guest:guest@127.0.0.1:5672/%2f"
tansu="${FLUXKV_TANSU:-/var/tmp/fluxkv-services/bin/tansu}"
resp=16540 grpc=16541 http=16542

port_open() { timeout 1 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
port_open 5672 || { echo "RabbitMQ is not reachable on 127.0.0.1:5672: run scripts/services.sh" >&2; exit 1; }
port_open 9092 || { echo "no Kafka broker on 127.0.0.1:9092: run scripts/services.sh (it starts tansu)" >&2; exit 1; }
for tool in redis-benchmark redis-cli amqp-consume amqp-delete-queue rabbitmqctl; do
  command -v "$tool" >/dev/null || {
    echo "$tool is missing (redis-tools, amqp-tools, rabbitmq-server: apt-get install them)" >&2
    exit 1
  }
done

export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin fluxkv >/dev/null
fluxkv="$CARGO_TARGET_DIR/release/fluxkv"
work="$(mktemp -d /var/tmp/fluxkv-sinks.XXXXXX)"
run="fluxkv-bench-sinks-$$-$(date +%s)"
exchange="$run" queue="$run" topic_a="$run-write" topic_b="$run-catchup"
node="" holder=""
cleanup() {
  [ -z "$node" ] || { kill -9 "$node" 2>/dev/null || true; }
  if [ -n "$holder" ]; then
    pkill -P "$holder" 2>/dev/null || true # its `sleep`
    kill "$holder" 2>/dev/null || true
  fi
  wait 2>/dev/null || true
  # The queue is auto-delete (gone with its consumer); the rest by hand.
  amqp-delete-queue --url "$amqp_url" -q "$queue" >/dev/null 2>&1 || true
  rabbitmqctl -q clear_policy "$run" >/dev/null 2>&1 || true
  rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$exchange\">>), false, <<\"bench-sinks\">>)." >/dev/null 2>&1 || true
  for topic in "$topic_a" "$topic_b"; do
    timeout 10 "$tansu" topic delete --broker tcp://127.0.0.1:9092 "$topic" >/dev/null 2>&1 || true
  done
  rm -rf "$work"
}
trap cleanup EXIT

now_ms() { date +%s%3N; }

config() { # config FILE TOPIC: both sinks, JSON
  cat >"$1" <<EOF
[sinks.to_kafka]
kind = "kafka"
encoding = "json"
brokers = "127.0.0.1:9092"
topic = "$2"
create_topic = { partitions = 4, replication = 1 }

[sinks.to_rabbit]
kind = "rabbitmq"
encoding = "json"
uri = "$amqp_url"
exchange = "$exchange"
EOF
}

start() { # start DATA_DIR [flags...]: a node on our ports, waits until it answers
  local data=$1
  shift
  "$fluxkv" serve --data-dir "$data" --resp-addr "127.0.0.1:$resp" --grpc-addr "127.0.0.1:$grpc" \
    --http-addr "127.0.0.1:$http" "$@" 2>>"$work/serve.log" &
  node=$!
  for _ in $(seq 600); do redis-cli -p "$resp" ping >/dev/null 2>&1 && return; sleep 0.1; done
  echo "fluxkv serve did not come up; log:" >&2
  tail -20 "$work/serve.log" >&2
  exit 1
}

stop() { # SIGTERM, then SIGKILL after 30 s
  kill "$node" 2>/dev/null || true
  for _ in $(seq 300); do kill -0 "$node" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$node" 2>/dev/null || true
  wait "$node" 2>/dev/null || true
  node=""
}

sets() { # sets N: SET requests/s
  redis-benchmark -p "$resp" -t set -c 100 -n "$1" -r 100000 -d 64 -P "$pipeline" -q 2>/dev/null \
    | tr '\r' '\n' | awk '/requests per second/ {print $2}' | tail -1
}

# Where the CPU goes: user + system ticks of the node and of the brokers
# (found by their listening ports).
listener() { ss -ltnpH "sport = :$1" 2>/dev/null | grep -o 'pid=[0-9]*' | head -n1 | cut -d= -f2 || true; }
rabbit_pid=$(listener 5672) kafka_pid=$(listener 9092)
ticks() { if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then awk '{print $14 + $15}' "/proc/$1/stat"; else echo 0; fi; }
measured() { # measured N: runs sets N; sets $rate and $cpu ("node X s, ...")
  local n0 r0 k0 t0
  n0=$(ticks "$node") r0=$(ticks "$rabbit_pid") k0=$(ticks "$kafka_pid") t0=$(now_ms)
  rate=$(sets "$1")
  cpu=$(awk -v n="$(($(ticks "$node") - n0))" -v r="$(($(ticks "$rabbit_pid") - r0))" \
    -v k="$(($(ticks "$kafka_pid") - k0))" -v w="$(($(now_ms) - t0))" -v hz="$(getconf CLK_TCK)" \
    'BEGIN { printf "%.1f s of wall time: fluxkv %.1f s of CPU, RabbitMQ %.1f s, tansu %.1f s", w / 1000, n / hz, r / hz, k / hz }')
}

status() { "$fluxkv" sinks status --json --addr "http://127.0.0.1:$grpc" 2>/dev/null; }
field() { # field STATUS SINK NAME: a number from the sink's JSON line
  grep "\"name\":\"$2\"" <<<"$1" | sed -n "s/.*\"$3\":\\([0-9]*\\).*/\\1/p"
}

# ------------------------------------------------------------ (a) throughput

start "$work/none-1"
measured "$requests"
base1=$rate cpu_none=$cpu
stop

config "$work/write.toml" "$topic_a"
start "$work/sinks" --config "$work/write.toml"
# The sink declared the exchange on startup; bind a queue to it before the
# first write, so nothing is unroutable (dead-lettered) from here on.
for _ in $(seq 100); do
  rabbitmqctl -q list_exchanges name 2>/dev/null | grep -qx "$exchange" && break
  sleep 0.1
done
rabbitmqctl -q set_policy --apply-to queues "$run" "^$queue\$" '{"max-length":10000}' >/dev/null
amqp-consume --url "$amqp_url" -q "$queue" -e "$exchange" -r 'fluxkv.#' -p 1 sleep 86400 \
  >/dev/null 2>>"$work/amqp.log" &
holder=$!
bound=""
for _ in $(seq 100); do
  if rabbitmqctl -q list_bindings source_name destination_name routing_key 2>/dev/null \
    | grep -qF "$exchange"$'\t'"$queue"$'\t''fluxkv.#'; then
    bound=1
    break
  fi
  sleep 0.2
done
[ -n "$bound" ] || { echo "could not bind a queue to $exchange; see $work/amqp.log" >&2; cat "$work/amqp.log" >&2; exit 1; }
measured "$requests"
with=$rate cpu_with=$cpu
after=$(status)
stop

start "$work/none-2"
base2=$(sets "$requests")
stop

echo "SET, redis-benchmark -c 100 -n $requests -r 100000 -d 64 -P $pipeline:"
echo
echo "| sinks | req/s | with / without (mean of both runs without) |"
echo "|---|---:|---:|"
awk -v b1="$base1" -v b2="$base2" -v w="$with" 'BEGIN {
  base = (b1 + b2) / 2
  printf "| none (first run) | %.0f | %.3f |\n", b1, b1 / base
  printf "| Kafka + RabbitMQ (json) | %.0f | **%.3f** (%+.1f %%) |\n", w, w / base, (w / base - 1) * 100
  printf "| none (last run) | %.0f | %.3f |\n", b2, b2 / base
}'
echo
echo "When the run with sinks ended they were behind by $(field "$after" to_kafka lag_events) (Kafka) and" \
  "$(field "$after" to_rabbit lag_events) (RabbitMQ) events: writers do not wait for sinks, they share" \
  "the cores with them and with the brokers. CPU, first run without sinks: $cpu_none;" \
  "with sinks: $cpu_with."

# -------------------------------------------------------------- (b) catch-up

# The backlog, written with no sink configured.
start "$work/catchup"
redis-benchmark -p "$resp" -t set -c 100 -n "$backlog" -r 100000 -d 64 -P "$pipeline" -q >/dev/null 2>&1
stop
config "$work/catchup.toml" "$topic_b"
t0=$(now_ms)
start "$work/catchup" --config "$work/catchup.toml"
ready=$(($(now_ms) - t0))
last="" kafka_ms="" rabbit_ms=""
deadline=$((t0 + 900000))
while [ -z "$kafka_ms" ] || [ -z "$rabbit_ms" ]; do
  s=$(status) || s=""
  t=$(($(now_ms) - t0))
  if [ -n "$s" ]; then
    k=$(field "$s" to_kafka checkpoint)
    r=$(field "$s" to_rabbit checkpoint)
    if [ -z "$last" ] && [ -n "$k" ]; then # nothing is written now: committed = checkpoint + lag
      last=$((k + $(field "$s" to_kafka lag_events)))
    fi
    [ -n "$kafka_ms" ] || [ -z "$last" ] || [ "${k:-0}" -lt "$last" ] || kafka_ms=$t
    [ -n "$rabbit_ms" ] || [ -z "$last" ] || [ "${r:-0}" -lt "$last" ] || rabbit_ms=$t
  fi
  if [ "$(now_ms)" -gt "$deadline" ]; then
    echo "the sinks did not catch up within 900 s: $s" >&2
    exit 1
  fi
  sleep 0.1
done
final=$(status)
stop

echo
echo "Catch-up: a backlog of $last writes in the AOF (redis-benchmark -n $backlog -r 100000 -d 64)," \
  "node restarted with both sinks (json, Kafka topic of 4 partitions), both delivering at once;" \
  "time from the restart until each checkpoint reached seq $last (node ready after $ready ms):"
echo
echo "| sink | caught up after | events/s | retries | dead-lettered |"
echo "|---|---:|---:|---:|---:|"
awk -v n="$last" -v k="$kafka_ms" -v r="$rabbit_ms" \
  -v kr="$(field "$final" to_kafka retries)" -v kd="$(field "$final" to_kafka dead_lettered)" \
  -v rr="$(field "$final" to_rabbit retries)" -v rd="$(field "$final" to_rabbit dead_lettered)" 'BEGIN {
  printf "| Kafka (tansu) | %.1f s | %.0f | %d | %d |\n", k / 1000, n / (k / 1000), kr, kd
  printf "| RabbitMQ | %.1f s | %.0f | %d | %d |\n", r / 1000, n / (r / 1000), rr, rd
}'
