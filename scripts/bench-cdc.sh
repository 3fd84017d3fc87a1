#!/usr/bin/env bash
# What the change stream costs writers: SET throughput of one fluxkv node
# with no Watch subscriber, with two active ones, and with one stalled
# (SIGSTOPped, so its gRPC stream stops reading), in the same run, plus
# Watch delivery latency at a fixed write rate and gRPC Set throughput.
#
#   scripts/bench-cdc.sh [requests] [pipeline]     (default 1000000 16)
#
# Ports 16520-16522 and a temporary directory; never touches 6379.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-1000000}"
pipeline="${2:-16}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin fluxkv >/dev/null
fluxkv="$CARGO_TARGET_DIR/release/fluxkv"
work="$(mktemp -d /var/tmp/fluxkv-cdc.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -CONT "$pid" 2>/dev/null || true; kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

"$fluxkv" serve --data-dir "$work/data" --resp-addr 127.0.0.1:16520 \
  --grpc-addr 127.0.0.1:16521 --http-addr 127.0.0.1:16522 2>"$work/serve.log" &
pids+=($!)
for _ in $(seq 100); do redis-cli -p 16520 ping >/dev/null 2>&1 && break; sleep 0.1; done

sets() {
  redis-benchmark -p 16520 -t set -c 100 -n "$requests" -r 100000 -d 64 -P "$pipeline" -q 2>/dev/null \
    | tr '\r' '\n' | awk '/requests per second/ {print $2}' | tail -1
}
watcher() { # a subscriber that decodes every event and throws it away
  "$fluxkv" watch --addr http://127.0.0.1:16521 --from 0 --format protobuf >/dev/null 2>>"$work/watch.log" &
  pids+=($!)
  echo $!
}

base1=$(sets)
w1=$(watcher); w2=$(watcher); sleep 0.5
active=$(sets)
kill "$w1" "$w2"; wait "$w1" "$w2" 2>/dev/null || true
stalled_pid=$(watcher); sleep 0.5; kill -STOP "$stalled_pid"
stalled=$(sets)
kill -CONT "$stalled_pid"; kill "$stalled_pid"; wait "$stalled_pid" 2>/dev/null || true
base2=$(sets)

echo "SET, redis-benchmark -c 100 -n $requests -r 100000 -d 64 -P $pipeline:"
echo
echo "| subscribers | req/s | vs. none (mean of both runs without) |"
echo "|---|---:|---:|"
awk -v b1="$base1" -v b2="$base2" -v a="$active" -v s="$stalled" 'BEGIN {
  base = (b1 + b2) / 2
  printf "| none (first run) | %.0f | %+.1f %% |\n", b1, (b1 / base - 1) * 100
  printf "| two active Watch clients | %.0f | %+.1f %% |\n", a, (a / base - 1) * 100
  printf "| one stalled Watch client | %.0f | %+.1f %% |\n", s, (s / base - 1) * 100
  printf "| none (last run) | %.0f | %+.1f %% |\n", b2, (b2 / base - 1) * 100
}'
echo
echo "Watch delivery latency at 20,000 writes/s (fluxkv bench --watch-latency):"
"$fluxkv" bench --watch-latency --addr http://127.0.0.1:16521 --rate 20000 --duration 10
echo
echo "gRPC Set, 100 requests in flight (fluxkv bench --grpc):"
"$fluxkv" bench --grpc --addr http://127.0.0.1:16521 -t set --in-flight 100 -n 500000 -r 100000 -d 64
