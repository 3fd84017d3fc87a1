#!/usr/bin/env bash
# Startup time from a base of K keys plus I increments: fluxkv (AOF
# rewrite → base + log) vs Redis (BGREWRITEAOF → RDB-preamble base + incr
# AOF), side by side, the same SETs piped into both.
#
#   scripts/bench-startup.sh [keys] [increments]   (default 10000000 1000000)
#
# Uses ports 16520/16521 and a temporary directory under /var/tmp; never
# touches 6379. Needs ~4 GiB of memory and ~3 GiB of disk.
set -euo pipefail
cd "$(dirname "$0")/.."
keys="${1:-10000000}"
increments="${2:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin fluxkv >/dev/null
fluxkv="$CARGO_TARGET_DIR/release/fluxkv"
work="$(mktemp -d /var/tmp/fluxkv-startup.XXXXXX)"
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

wait_port() {
  for _ in $(seq 1200); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done
  echo "server on port $1 did not start" >&2; exit 1
}
# RESP for `count` SETs of key:<i> (i from `first`), 16-byte values tagged `tag`.
gen() { # first count tag
  awk -v first="$1" -v n="$2" -v tag="$3" 'BEGIN {
    for (i = first; i < first + n; i++) {
      k = sprintf("key:%012d", i); v = sprintf("%s-%013d", tag, i)
      printf "*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$%d\r\n%s\r\n", length(k), k, length(v), v
    }
  }'
}
gen 0 "$keys" v1 >"$work/keys.resp"
# Increments overwrite keys spread over the whole keyspace.
gen 0 "$increments" v2 | sed 's/key:0/key:9/' >"$work/incr.resp"
load() { redis-cli -p "$1" --pipe <"$2" >/dev/null; }
runs=3

# fluxkv: keys, rewrite (base), increments, clean stop; then time restarts.
flux_args=(serve --resp-addr 127.0.0.1:16520 --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0
  --data-dir "$work/fluxkv" --aof-auto-rewrite-percentage 0)
"$fluxkv" "${flux_args[@]}" 2>"$work/fluxkv-fill.log" &
wait_port 16520
load 16520 "$work/keys.resp"
"$fluxkv" aof rewrite --addr 127.0.0.1:16520 >/dev/null
load 16520 "$work/incr.resp"
kill -TERM $!; wait $! || true
flux_load=(); flux_ready=()
for run in $(seq "$runs"); do
  start=$(date +%s.%N)
  "$fluxkv" "${flux_args[@]}" 2>"$work/fluxkv-$run.log" &
  wait_port 16520
  flux_ready+=("$(echo "$(date +%s.%N) - $start" | bc)")
  kill -TERM $!; wait $! || true
  flux_load+=("$(grep 'loaded the AOF' "$work/fluxkv-$run.log" | sed -E 's/.*seconds=([0-9.]+).*/\1/')")
done

# Redis: the same data; BGREWRITEAOF makes an RDB-preamble base.
redis_args=(--port 16521 --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec
  --aof-use-rdb-preamble yes --auto-aof-rewrite-percentage 0 --dir "$work/redis" --daemonize no)
mkdir -p "$work/redis"
redis-server "${redis_args[@]}" --logfile "$work/redis-fill.log" &
wait_port 16521
load 16521 "$work/keys.resp"
redis-cli -p 16521 bgrewriteaof >/dev/null
until redis-cli -p 16521 info persistence | grep -q 'aof_rewrite_in_progress:0' \
  && ! redis-cli -p 16521 info persistence | grep -q 'aof_rewrite_scheduled:1'; do sleep 0.2; done
load 16521 "$work/incr.resp"
redis-cli -p 16521 shutdown >/dev/null 2>&1 || true; wait $! || true
redis_load=(); redis_ready=()
for run in $(seq "$runs"); do
  start=$(date +%s.%N)
  redis-server "${redis_args[@]}" --logfile "$work/redis-$run.log" &
  wait_port 16521
  redis_ready+=("$(echo "$(date +%s.%N) - $start" | bc)")
  redis-cli -p 16521 shutdown nosave >/dev/null 2>&1 || true; wait $! || true
  redis_load+=("$(grep -oE 'loaded from (base|append only|incr) file[^:]*: [0-9.]+ seconds' "$work/redis-$run.log" \
    | grep -oE '[0-9.]+ seconds' | awk '{s += $1} END {print s}')")
done

echo "keys=$keys increments=$increments ($(ls "$work/fluxkv/aof" | tr '\n' ' '))"
echo "| run | Redis load s | Redis ready s | fluxkv load s | fluxkv ready s | Redis/fluxkv (ready) |"
echo "|---|---:|---:|---:|---:|---:|"
for run in $(seq "$runs"); do
  i=$((run - 1))
  awk -v r="$run" -v rl="${redis_load[$i]}" -v rr="${redis_ready[$i]}" -v fl="${flux_load[$i]}" -v fr="${flux_ready[$i]}" \
    'BEGIN { printf "| %d | %.2f | %.2f | %.2f | %.2f | %.2f |\n", r, rl, rr, fl, fr, rr / fr }'
done
