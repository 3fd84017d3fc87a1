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

# fluxkv: fill, stop cleanly, restart and read its "loaded the AOF" line.
"$fluxkv" serve --resp-addr 127.0.0.1:16510 --data-dir "$work/fluxkv" 2>"$work/fluxkv-1.log" &
wait_port 16510; fill 16510; kill -TERM $!; wait $! || true
"$fluxkv" serve --resp-addr 127.0.0.1:16510 --data-dir "$work/fluxkv" 2>"$work/fluxkv-2.log" &
wait_port 16510; kill -TERM $!; wait $! || true
flux_line=$(grep 'loaded the AOF' "$work/fluxkv-2.log")
flux_records=$(sed -E 's/.*records=([0-9]+).*/\1/' <<<"$flux_line")
flux_seconds=$(sed -E 's/.*seconds=([0-9.]+).*/\1/' <<<"$flux_line")

# Redis: a plain AOF (no RDB preamble), the same fill, restart, its log.
redis_args=(--port 16511 --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec
  --aof-use-rdb-preamble no --dir "$work/redis" --daemonize no)
mkdir -p "$work/redis"
redis-server "${redis_args[@]}" --logfile "$work/redis-1.log" &
wait_port 16511; fill 16511; redis-cli -p 16511 shutdown nosave >/dev/null 2>&1 || true; wait $! || true
redis-server "${redis_args[@]}" --logfile "$work/redis-2.log" &
wait_port 16511; redis-cli -p 16511 shutdown nosave >/dev/null 2>&1 || true; wait $! || true
redis_seconds=$(grep -oE 'loaded from (append only|incr) file[^:]*: [0-9.]+ seconds' "$work/redis-2.log" \
  | grep -oE '[0-9.]+ seconds' | awk '{s += $1} END {print s}')

awk -v n="$flux_records" -v fs="$flux_seconds" -v rs="$redis_seconds" 'BEGIN {
  printf "| server | records | seconds | records/s |\n|---|---:|---:|---:|\n"
  printf "| Redis | %d | %.3f | %.0f |\n", n, rs, n / rs
  printf "| fluxkv | %d | %.3f | %.0f |\n", n, fs, n / fs
  printf "\nfluxkv/Redis: %.2f\n", rs / fs
}'
