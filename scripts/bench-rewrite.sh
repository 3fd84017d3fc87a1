#!/usr/bin/env bash
# Writer latency while the AOF is rewritten vs not, same run: fluxkv
# (shard-by-shard copy, no fork) and Redis (fork + copy-on-write), each
# preloaded with K keys, then a SET load with and without back-to-back
# BGREWRITEAOFs.
#
#   scripts/bench-rewrite.sh [keys] [requests]   (default 2000000 1000000)
#
# Uses ports 16530/16531 and a temporary directory; never touches 6379.
set -euo pipefail
cd "$(dirname "$0")/.."
keys="${1:-2000000}"
requests="${2:-1000000}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
cargo build --release --locked --bin fluxkv >/dev/null
fluxkv="$CARGO_TARGET_DIR/release/fluxkv"
work="$(mktemp -d /var/tmp/fluxkv-rewrite.XXXXXX)"
trap 'pkill -f "$work" 2>/dev/null || true; rm -rf "$work"' EXIT

wait_port() {
  for _ in $(seq 600); do redis-cli -p "$1" ping 2>/dev/null | grep -q PONG && return 0; sleep 0.05; done
  echo "server on port $1 did not start" >&2; exit 1
}
bench() { # port → "p50 p99 p99.9 max req/s" of a SET load
  "$fluxkv" bench --port "$1" -t set -n "$requests" -r "$keys" -c 50 -P 1 --json \
    | python3 -c 'import json,sys; r=json.load(sys.stdin); l=r["latency_ms"]; print(l["p50"], l["p99"], l["p99_9"], l["max"], round(r["throughput_rps"]))'
}
# Rewrites back to back until the file `stop` appears; counts them.
rewrite_loop() { # port
  local n=0
  until [ -e "$work/stop" ]; do
    if redis-cli -p "$1" bgrewriteaof 2>/dev/null | grep -q started; then n=$((n + 1)); fi
    while redis-cli -p "$1" info persistence | grep -q 'aof_rewrite_in_progress:1'; do sleep 0.05; done
  done
  echo "$n" >"$work/rewrites-$1"
}
measure() { # name port
  "$fluxkv" bench --port "$2" -t set -n "$keys" -r "$keys" -c 50 -P 64 >/dev/null
  local quiet busy
  quiet=$(bench "$2")
  rm -f "$work/stop"; rewrite_loop "$2" & local loop=$!
  busy=$(bench "$2")
  touch "$work/stop"; wait "$loop"
  echo "$1 $quiet $busy $(cat "$work/rewrites-$2")" >>"$work/results"
}

"$fluxkv" serve --resp-addr 127.0.0.1:16530 --grpc-addr 127.0.0.1:0 --http-addr 127.0.0.1:0 \
  --data-dir "$work/fluxkv" --aof-auto-rewrite-percentage 0 2>"$work/fluxkv.log" &
flux=$!
wait_port 16530
measure fluxkv 16530
kill -TERM "$flux"; wait "$flux" || true

mkdir -p "$work/redis"
redis-server --port 16531 --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
  --auto-aof-rewrite-percentage 0 --dir "$work/redis" --daemonize no --logfile "$work/redis.log" &
redis=$!
wait_port 16531
measure redis 16531
redis-cli -p 16531 shutdown nosave >/dev/null 2>&1 || true; wait "$redis" || true

echo "keys=$keys requests=$requests (SET, 50 connections, no pipelining; latency in ms)"
echo "| server | p50 | p99 | p99.9 | max | req/s | p50 rewriting | p99 rewriting | p99.9 rewriting | max rewriting | req/s rewriting | rewrites |"
echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"
while read -r name a b c d e f g h i j n; do
  echo "| $name | $a | $b | $c | $d | $e | $f | $g | $h | $i | $j | $n |"
done <"$work/results"
