#!/bin/sh
# The embedded store's figures (bench/README.md, issue "fast by default"): relay fan-out
# (R = 1000 rooms x 8 players, 200 B states, every message changing its room's state) on
# --store memory, the default embedded log (file:) and a local Redis, at 16,000, 40,000 and
# 64,000 deliveries/s (host rates 2, 5 and 8 a second): server CPU per delivery, p99 and errors.
# partyd on core 0, partyload on core 1, 127.0.0.1 only, a fresh server (and an empty store) for
# every run (Redis on core 1, beside partyload); the JSON lines go to bench/results/<date>-<commit>-store.jsonl.
#
#   bench/store-figures.sh [--build DIR] [--runs N] [--rates "2 5 8"] [--stores "memory file redis"]
set -eu
BUILD=build-bench
RUNS=3
RATES="2 5 8"
STORES="memory file redis"
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --stores) STORES=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--runs N] [--rates LIST] [--stores LIST]" >&2; exit 2 ;;
  esac
done
OUT_NAME=store
# shellcheck source=bench/figures-lib.sh
. "$(dirname "$0")/figures-lib.sh"

REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
taskset -c 1 redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  >"$WORK/redis.log" 2>&1 &
REDIS_PID=$!
trap 'stop_server; kill "$REDIS_PID" 2>/dev/null || true; rm -rf "$WORK"' EXIT
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done
redis-cli -p "$REDIS_PORT" ping >/dev/null || { cat "$WORK/redis.log" >&2; exit 1; }

for rate in $RATES; do
  for run in $(seq "$RUNS"); do
    for store in $STORES; do
      case $store in
        memory) setting=memory ;;
        file) rm -rf "$WORK/data"; setting=file:$WORK/data ;;
        redis) redis-cli -p "$REDIS_PORT" flushall >/dev/null; setting=redis://127.0.0.1:$REDIS_PORT ;;
        *) echo "unknown store $store" >&2; exit 2 ;;
      esac
      start_server "$setting"
      load "fanout-$store-P$rate" --rooms 1000 --players 8 --rate "$rate" --size 200 --duration 10
      stop_server
    done
  done
done
echo "results: $OUT" >&2
