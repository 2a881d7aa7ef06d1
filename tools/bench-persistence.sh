#!/usr/bin/env bash
# Persistence figures on this machine (Release build in build-bench/):
#  1. snapshot writer flush: N rooms dirty at once -> all in Redis (and in the embedded log; with
#     CANDIDATES=1 also in the per-room files of the store before it, and in LMDB when built)
#  2. restart: partyd boots over 10,000 snapshots; time from exec until /ready answers 200
#     (Redis, the log, and "upgrade": per-room files of the older format read into the log)
# Starts its own redis-server on a free port on 127.0.0.1 and removes everything it made.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build-bench}
FLUSH_ROOMS=${FLUSH_ROOMS:-100000}
RESTART_ROOMS=${RESTART_ROOMS:-10000}
REPEAT=${REPEAT:-3}

cmake -S . -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARTYD_BENCH=ON -DPARTYD_TESTS=OFF >/dev/null
cmake --build "$BUILD" -j2 --target persistence_bench partyd >/dev/null

work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly no --daemonize no \
  >"$work/redis.log" 2>&1 &
redis_pid=$!
server_pid=""
cleanup() {
  [[ -n "$server_pid" ]] && kill -9 "$server_pid" 2>/dev/null || true
  kill "$redis_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
for _ in $(seq 100); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.05; done

echo "# snapshot flush: $FLUSH_ROOMS rooms dirty at once"
for i in $(seq "$REPEAT"); do
  redis-cli -p "$port" flushall >/dev/null
  "$BUILD/bench/persistence_bench" --store "redis://127.0.0.1:$port" --rooms "$FLUSH_ROOMS"
  rm -rf "$work/files"
  "$BUILD/bench/persistence_bench" --store "file:$work/files" --rooms "$FLUSH_ROOMS"
  if [[ -n "${CANDIDATES:-}" ]]; then
    rm -rf "$work/files"
    "$BUILD/bench/persistence_bench" --store "per-room-files:$work/files" --rooms "$FLUSH_ROOMS"
    rm -rf "$work/files"
    "$BUILD/bench/persistence_bench" --store "lmdb:$work/files" --rooms "$FLUSH_ROOMS" || true
  fi
done

echo "# restart over $RESTART_ROOMS rooms: exec -> /ready 200"
for store in redis file upgrade; do
  if [[ $store == redis ]]; then setting="redis://127.0.0.1:$port"; else setting="file:$work/files"; fi
  written=$setting
  [[ $store == upgrade ]] && written="per-room-files:$work/files"
  for i in $(seq "$REPEAT"); do
    # Every run over the same fresh data: an upgrade deletes the files it read in.
    rm -rf "$work/files"
    redis-cli -p "$port" flushall >/dev/null
    "$BUILD/bench/persistence_bench" --store "$written" --rooms "$RESTART_ROOMS" >/dev/null
    rm -f "$work/port"
    start=$(date +%s%N)
    "$BUILD/partyd" --port 0 --port-file "$work/port" --bind 127.0.0.1 --store "$setting" \
      --log-level info 2>"$work/partyd.log" &
    server_pid=$!
    until [[ -s "$work/port" ]] && curl -fs "http://127.0.0.1:$(cat "$work/port")/ready" >/dev/null; do
      sleep 0.002
    done
    end=$(date +%s%N)
    restored=$(grep -o '"restored":[0-9]*' "$work/partyd.log" | head -1)
    restore_ms=$(grep -o '"restore_complete".*"ms":[0-9]*' "$work/partyd.log" | grep -o '"ms":[0-9]*')
    echo "{\"bench\":\"restart\",\"store\":\"$store\",\"rooms\":$RESTART_ROOMS,\"ready_ms\":$(( (end - start) / 1000000 )),${restored},${restore_ms/\"ms\"/\"restore_ms\"}}"
    kill -9 "$server_pid"; wait "$server_pid" 2>/dev/null || true; server_pid=""
  done
done
