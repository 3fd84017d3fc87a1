#!/usr/bin/env bash
# Side-by-side throughput: fluxkv vs Redis on this machine, same run, same
# redis-benchmark command, both with an AOF (everysec, then always).
# Prints a Markdown table with the ratio fluxkv/Redis for docs/BENCHMARKS.md.
#
#   scripts/bench-vs-redis.sh [requests]      (default 500000)
#
# It starts its own servers on ports 16500-16503 in a temporary directory
# and stops them at the end; the Redis on 6379 is never touched.
set -euo pipefail
cd "$(dirname "$0")/.."
requests="${1:-500000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin fluxkv >/dev/null
fluxkv="$CARGO_TARGET_DIR/release/fluxkv"
work="$(mktemp -d /var/tmp/fluxkv-bench.XXXXXX)"
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

start_redis() { # port fsync
  mkdir -p "$work/redis-$1"
  redis-server --port "$1" --bind 127.0.0.1 --save "" --appendonly yes \
    --appendfsync "$2" --dir "$work/redis-$1" --daemonize no \
    --logfile "$work/redis-$1.log" &
  pids+=($!)
}
start_fluxkv() { # port fsync
  "$fluxkv" serve --resp-addr "127.0.0.1:$1" --aof-fsync "$2" \
    --data-dir "$work/fluxkv-$1" 2>"$work/fluxkv-$1.log" &
  pids+=($!)
}
wait_port() {
  for _ in $(seq 100); do redis-cli -p "$1" ping >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "server on port $1 did not start" >&2; exit 1
}
rps() { # port test pipeline
  redis-benchmark -p "$1" -t "$2" -c 100 -n "$requests" -r 100000 -d 64 -P "$3" -q 2>/dev/null \
    | tr '\r' '\n' | awk '/requests per second/ {print $2}' | tail -1
}

start_redis 16500 everysec; start_fluxkv 16501 everysec
start_redis 16502 always;   start_fluxkv 16503 always
for port in 16500 16501 16502 16503; do wait_port "$port"; done

echo "| fsync | test | pipeline | Redis req/s | fluxkv req/s | fluxkv/Redis |"
echo "|---|---|---|---:|---:|---:|"
row() { # fsync test pipeline redis_port fluxkv_port
  local r f
  r=$(rps "$4" "$2" "$3"); f=$(rps "$5" "$2" "$3")
  awk -v fs="$1" -v t="$2" -v p="$3" -v r="$r" -v f="$f" \
    'BEGIN { printf "| %s | %s | %s | %.0f | %.0f | %.2f |\n", fs, t, p, r, f, f / r }'
}
for pipeline in 1 16; do
  for test in set get; do row everysec "$test" "$pipeline" 16500 16501; done
done
for pipeline in 1 16; do row always set "$pipeline" 16502 16503; done
