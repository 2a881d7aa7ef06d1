# Shared by the figure scripts (bench/*-figures.sh), sourced after they set BUILD and OUT_NAME:
# a fresh partyd on core 0 per run (start_server STORE, stop_server) and one partyload run on
# core 1 (load LABEL ARGS...), whose JSON line, labelled, is appended to
# bench/results/<date>-<commit>-<OUT_NAME>.jsonl.
cd "$(dirname "$0")/.."
PARTYD=$PWD/$BUILD/partyd
PARTYLOAD=$PWD/$BUILD/partyload
COMMIT=$(git rev-parse --short HEAD)
OUT=bench/results/$(date -u +%Y-%m-%d)-$COMMIT-$OUT_NAME.jsonl
WORK=$(mktemp -d /tmp/partyd-figures-XXXXXX)
PORT=$((20000 + $$ % 20000))
SERVER_ARGS="--admin-token t --port $PORT --rate-limit-messages 100000000 --max-connections 20000"
SERVER_ARGS="$SERVER_ARGS --max-connections-per-ip 0 --create-rate-per-ip 0 --create-quota-per-ip 0"
PID=

stop_server() {
  if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; wait "$PID" 2>/dev/null || true; fi
  PID=$(cat "$WORK/pid" 2>/dev/null || true)
  if [ -n "$PID" ]; then kill -9 "$PID" 2>/dev/null || true; fi
  PID=
  rm -f "$WORK/pid"
}
trap 'stop_server; rm -rf "$WORK"' EXIT

wait_ready() {
  for _ in $(seq 400); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" && return 0
    sleep 0.05
  done
  echo "partyd did not become ready" >&2
  return 1
}

# start_server STORE: a fresh partyd on core 0.
start_server() {
  # shellcheck disable=SC2086
  taskset -c 0 "$PARTYD" --store "$1" $SERVER_ARGS >"$WORK/partyd.log" 2>&1 &
  PID=$!
  echo "$PID" >"$WORK/pid"
  wait_ready
}

# load LABEL ARGS...: one partyload run on core 1; its JSON line, labelled, goes to $OUT.
load() {
  label=$1
  shift
  line=$(taskset -c 1 timeout 700 "$PARTYLOAD" --port "$PORT" --token t --server-pid "$PID" "$@" \
    2>"$WORK/partyload.err") || { tail -20 "$WORK/partyload.err" >&2; echo "$label: partyload failed" >&2; }
  [ -n "$line" ] || return 0
  echo "{\"label\":\"$label\",\"commit\":\"$COMMIT\",${line#\{}" >>"$OUT"
  echo "$label: $line" | cut -c1-200 >&2
}

