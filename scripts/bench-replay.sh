#!/usr/bin/env bash
# Startup replay rate: fluxkv vs Redis loading an AOF of N SET records
# (same keys, same 64-byte values), side by side on this machine.
#
#   scripts/bench-replay.sh [records]      (default 5000000)
#
# Uses ports 16510/16511 and a temporary directory; never touches 6379.
set -euo pipefail
cd "$(dirname "$0")/.."
records="${1:-5000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin fluxkv >/dev/null
fluxkv="$CARGO_TARGET_DIR/release/fluxkv"
work="$(mktemp -d /var/tmp/fluxkv-replay.XXXXXX)"
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

wait_port() {
  for _ in $(seq 600); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.1; done
  echo "server on port $1 did not start" >&2; exit 1
}
fill() { # port
  "$fluxkv" bench --port "$1" -t set -n "$records" -r "$records" -c 50 -P 64 >/dev/null
}

runs=3
# fluxkv: fill, stop cleanly, then restart $runs times, reading its
# "loaded the AOF" line each time.
"$fluxkv" serve --resp-addr 127.0.0.1:16510 --data-dir "$work/fluxkv" 2>"$work/fluxkv-fill.log" &
wait_port 16510; fill 16510; kill -TERM $!; wait $! || true
flux_seconds=()
for run in $(seq "$runs"); do
  "$fluxkv" serve --resp-addr 127.0.0.1:16510 --data-dir "$work/fluxkv" 2>"$work/fluxkv-$run.log" &
  wait_port 16510; kill -TERM $!; wait $! || true
  flux_seconds+=("$(grep 'loaded the AOF' "$work/fluxkv-$run.log" | sed -E 's/.*seconds=([0-9.]+).*/\1/')")
done

# Redis: a plain AOF (no RDB preamble), the same fill, $runs restarts.
redis_args=(--port 16511 --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec
  --aof-use-rdb-preamble no --dir "$work/redis" --daemonize no)
mkdir -p "$work/redis"
redis-server "${redis_args[@]}" --logfile "$work/redis-fill.log" &
wait_port 16511; fill 16511; redis-cli -p 16511 shutdown nosave >/dev/null 2>&1 || true; wait $! || true
redis_seconds=()
for run in $(seq "$runs"); do
  redis-server "${redis_args[@]}" --logfile "$work/redis-$run.log" &
  wait_port 16511; redis-cli -p 16511 shutdown nosave >/dev/null 2>&1 || true; wait $! || true
  redis_seconds+=("$(grep -oE 'loaded from (append only|incr) file[^:]*: [0-9.]+ seconds' "$work/redis-$run.log" \
    | grep -oE '[0-9.]+ seconds' | awk '{s += $1} END {print s}')")
done

echo "| run | records | Redis s | Redis records/s | fluxkv s | fluxkv records/s | fluxkv/Redis |"
echo "|---|---:|---:|---:|---:|---:|---:|"
for run in $(seq "$runs"); do
  awk -v r="$run" -v n="$records" -v rs="${redis_seconds[$((run - 1))]}" -v fs="${flux_seconds[$((run - 1))]}" \
    'BEGIN { printf "| %d | %d | %.3f | %.0f | %.3f | %.0f | %.2f |\n", r, n, rs, n / rs, fs, n / fs, rs / fs }'
done
