#!/usr/bin/env bash
# `fluxkv replay` throughput: N events of history (SETs with 64-byte values
# over 100,000 keys) re-delivered from the AOF of a node at rest — counted
# only (--dry-run), into a file sink (JSON lines) and into a Kafka topic
# (tansu on 127.0.0.1:9092, from scripts/services.sh) — three runs each.
#
#   scripts/bench-replay-history.sh [events]   (default 1000000)
#
# Port 16550 and a temporary directory; never touches 6379.
set -euo pipefail
cd "$(dirname "$0")/.."
events="${1:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
timeout 1 bash -c 'exec 3<>/dev/tcp/127.0.0.1/9092' 2>/dev/null \
  || { echo "no Kafka broker on 127.0.0.1:9092: run scripts/services.sh (it starts tansu)" >&2; exit 1; }
cargo build --release --locked --bin fluxkv >/dev/null
fluxkv="$CARGO_TARGET_DIR/release/fluxkv"
work="$(mktemp -d /var/tmp/fluxkv-replay-history.XXXXXX)"
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT
run_id="$(date +%s)"

"$fluxkv" serve --resp-addr 127.0.0.1:16550 --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --data-dir "$work/data" 2>"$work/fill.log" &
for _ in $(seq 600); do redis-cli -p 16550 ping 2>/dev/null | grep -q PONG && break; sleep 0.05; done
"$fluxkv" bench --port 16550 -t set -n "$events" -r 100000 -d 64 -c 50 -P 64 >/dev/null
kill -TERM $!; wait $! || true

cat >"$work/replay.toml" <<TOML
[sinks.file]
kind = "file"
encoding = "json"
dir = "$work/out"
batch = { max_events = 10000, max_bytes = 8388608 }

[sinks.kafka]
kind = "kafka"
encoding = "json"
brokers = "127.0.0.1:9092"
topic = "fluxkv.replay-bench.$run_id"
batch = { max_events = 10000, max_bytes = 8388608 }
TOML

rate() { # replay args… → events/s from the --json report
  "$fluxkv" replay --config "$work/replay.toml" --data-dir "$work/data" --json "$@" \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); assert r["complete"], r; print(r["events_per_sec"])'
}
echo "events=$events (SET, 64-byte values); events/s, three runs each"
echo "| target | run 1 | run 2 | run 3 |"
echo "|---|---:|---:|---:|"
for target in "--dry-run" "--sink file" "--sink kafka"; do
  rates=()
  for _ in 1 2 3; do
    rm -rf "$work/out"
    # shellcheck disable=SC2086
    rates+=("$(rate $target)")
  done
  echo "| replay $target | ${rates[0]} | ${rates[1]} | ${rates[2]} |"
done
