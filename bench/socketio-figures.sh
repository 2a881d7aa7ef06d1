#!/bin/sh
# Socket.IO figures: relay fan-out over Socket.IO (R = 1000 rooms x (1 host + 8 players), 200 B
# states) on partyd's Socket.IO edge and on a stock Node.js socket.io 4.x server doing the same job
# (bench/socketio/server.js), under `partyload --scenario relay-fanout --transport socketio`.
# A ladder of host rates (8,000 x P deliveries/s offered), every step RUNS times on a fresh server
# of each kind (partyd, then Node), DURATION seconds measured each; a server stops climbing after
# the first step whose median p99 is >= 100 ms or that lost or refused anything. The server runs
# on core 0 (partyd with --store memory and figures-lib.sh's limits: --max-connections 20000
# --max-connections-per-ip 0, no message or creation limits in the way), partyload on core 1,
# 127.0.0.1 only. The JSON lines go to bench/results/<date>-<commit>-socketio.jsonl; the table
# (deliveries/s reached with p99 < 100 ms and no loss, server CPU per delivery at equal rates) is
# printed at the end. A run starts only while DURATION + 25 s more stays within BUDGET_S (default
# 780 s) of the script's start: a run takes DURATION + ~15 s (1000 rooms made, 9,000 joins, 1 s of
# warm-up) and partyload bounds a stuck one at ~80 s, so the script ends within 15 minutes. The
# runs left out are said so.
#
#   BUILD_DIR=/path/to/release-build bench/socketio-figures.sh [--runs N] [--rates "0.625 1.25 2.5 5 7.5 10"]
#       [--servers "partyd node"] [--duration S] [--rooms R (default 1000; fewer for a smoke run)]
# BUILD_DIR (default build, beside bench/) holds partyd and partyload from a Release build;
# PARTYD_SOCKETIO_ARGS adds flags to partyd's command line; RESULTS=FILE writes the JSON lines
# there instead (a smoke run's). bench/socketio/node_modules is made by `npm ci` from the lock
# file when missing.
set -eu
SCRIPT_DIR=$(cd "$(dirname "$0")" && pwd)
BUILD=${BUILD_DIR:-build}
case $BUILD in
  /*) ;;
  *) BUILD=$(dirname "$SCRIPT_DIR")/$BUILD ;;
esac
RUNS=3
RATES="0.625 1.25 2.5 5 7.5 10"  # 5,000 to 80,000 deliveries/s
SERVERS="partyd node"
DURATION=10
ROOMS=1000
BUDGET_S=${BUDGET_S:-780}
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --rates) RATES=$2; shift 2 ;;
    --servers) SERVERS=$2; shift 2 ;;
    --duration) DURATION=$2; shift 2 ;;
    --rooms) ROOMS=$2; shift 2 ;;
    *) echo "usage: $0 [--runs N] [--rates LIST] [--servers LIST] [--duration S] [--rooms R]" >&2; exit 2 ;;
  esac
done
STARTED=$(date +%s)
OUT_NAME=socketio
# shellcheck source=bench/figures-lib.sh
. "$SCRIPT_DIR/figures-lib.sh"
# figures-lib.sh names the binaries under a relative BUILD; ours may be anywhere.
PARTYD=$BUILD/partyd
PARTYLOAD=$BUILD/partyload
SERVER_ARGS="$SERVER_ARGS ${PARTYD_SOCKETIO_ARGS:-}"
OUT=${RESULTS:-$OUT}
NODE_DIR=$SCRIPT_DIR/socketio
PLAYERS=8
SIZE=200

case " $SERVERS " in
  *" partyd "*) binaries="$PARTYD $PARTYLOAD" ;;
  *) binaries=$PARTYLOAD ;;
esac
for binary in $binaries; do
  [ -x "$binary" ] || { echo "no $binary (BUILD_DIR names a Release build)" >&2; exit 1; }
done
grep -q '^CMAKE_BUILD_TYPE:STRING=Release$' "$BUILD/CMakeCache.txt" 2>/dev/null ||
  echo "warning: $BUILD is not a Release build" >&2
# 1000 rooms x 9 clients = 9,000 sockets in each process (dash and bash both have ulimit -n).
# shellcheck disable=SC3045
ulimit -n 20000
if [ ! -d "$NODE_DIR/node_modules/socket.io" ]; then
  (cd "$NODE_DIR" && npm ci --no-audit --no-fund >&2)
fi
mkdir -p "$(dirname "$OUT")"
[ -f "$OUT" ] || : >"$OUT"
FIRST_LINE=$(($(wc -l <"$OUT") + 1))  # this run's lines start here (the file may hold earlier ones)

# start_node: a fresh Node server on core 0, in PID like partyd's.
start_node() {
  taskset -c 0 node "$NODE_DIR/server.js" --port "$PORT" --admin-token t >"$WORK/node.log" 2>&1 &
  PID=$!
  echo "$PID" >"$WORK/pid"
  for _ in $(seq 200); do
    curl -sf -o /dev/null "http://127.0.0.1:$PORT/ready" && return 0
    sleep 0.05
  done
  cat "$WORK/node.log" >&2
  echo "the Node server did not become ready" >&2
  return 1
}

start() {
  case $1 in
    partyd) start_server memory ;;
    node) start_node ;;
    *) echo "unknown server $1" >&2; exit 2 ;;
  esac
}

# A server joins the ladder only if a small Socket.IO fan-out on it runs clean.
CLIMBING=
for server in $SERVERS; do
  start "$server"
  if taskset -c 1 timeout 60 "$PARTYLOAD" --port "$PORT" --token t --transport socketio \
    --rooms 2 --players 2 --rate 5 --duration 1 >/dev/null 2>"$WORK/check.err"; then
    CLIMBING="$CLIMBING $server"
  else
    tail -8 "$WORK/check.err" >&2
    echo "$server: the Socket.IO check failed; left out" >&2
  fi
  stop_server
done
[ -n "$CLIMBING" ] || { echo "no server passed the Socket.IO check" >&2; exit 1; }

# This invocation's lines of $OUT (the file may hold earlier ones of the same day and commit).
run_lines() {
  tail -n +"$FIRST_LINE" "$OUT" >"$WORK/run.jsonl"
  echo "$WORK/run.jsonl"
}

# step_failed SERVER RATE: true when the step's median p99 is >= 100 ms, or a run has errors, lost
# deliveries (fewer than 99% of sent x players, or under 97% of the offered rate) or is missing.
step_failed() {
  python3 - "$(run_lines)" "socketio-$1-P$2" "$RUNS" <<'EOF'
import json, sys
path, label, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(path) as f:
    rows = [r for r in map(json.loads, filter(str.strip, f)) if r["label"] == label]
def lost(r):
    offered = r["rooms"] * r["players"] * r["rate"]
    return (r["errors"] > 0 or r["to_players"]["count"] < 0.99 * r["sent"] * r["players"]
            or r["delivered_per_s"] < 0.97 * offered)
p99 = sorted(r["to_players_p99_ms"] for r in rows)
bad = len(rows) < runs or any(map(lost, rows)) or p99[len(p99) // 2] >= 100
sys.exit(0 if bad else 1)
EOF
}

for rate in $RATES; do
  [ -n "$CLIMBING" ] || break
  for run in $(seq "$RUNS"); do
    for server in $CLIMBING; do
      if [ $(($(date +%s) - STARTED + DURATION + 25)) -gt "$BUDGET_S" ]; then
        echo "time budget ($BUDGET_S s) reached: $server P=$rate run $run and later steps skipped" >&2
        break 3
      fi
      offered=$(awk "BEGIN { print $ROOMS * $PLAYERS * $rate }")
      echo "== $server P=$rate ($offered deliveries/s offered), run $run of $RUNS" >&2
      start "$server"
      load "socketio-$server-P$rate" --transport socketio --rooms "$ROOMS" --players "$PLAYERS" \
        --rate "$rate" --size "$SIZE" --duration "$DURATION"
      stop_server
    done
  done
  still=
  for server in $CLIMBING; do
    if step_failed "$server" "$rate"; then
      echo "$server stops climbing at P=$rate" >&2
    else
      still="$still $server"
    fi
  done
  CLIMBING=$still
done

echo "results: $OUT ($(($(date +%s) - STARTED)) s)" >&2
python3 - "$(run_lines)" <<'EOF'
import json, sys
with open(sys.argv[1]) as f:
    rows = [json.loads(line) for line in f if line.strip()]
if not rows:
    sys.exit("no results")
def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
steps = {}
for r in rows:
    server = r["label"].split("-")[1]  # socketio-<server>-P<rate>
    steps.setdefault((server, r["rate"]), []).append(r)
first = rows[0]
print(f"Commit {first['commit']}; R = {first['rooms']} rooms x (1 host + {first['players']} players), "
      f"S = {first['size']} B, Socket.IO over WebSocket; medians of each step's runs.")
print()
print("| server | P | offered/s | runs | delivered/s | delivered / offered | p50 / p99 (ms) "
      "| server CPU % | CPU us/delivery (min-max) | errors | ok |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |")
folded = {}
for (server, rate), runs in sorted(steps.items()):
    offered = runs[0]["rooms"] * runs[0]["players"] * rate
    us = [r.get("server_cpu_us_per_delivery", 0) for r in runs]
    m = {
        "offered": offered,
        "delivered": median([r["delivered_per_s"] for r in runs]),
        "p50": median([r["to_players_p50_ms"] for r in runs]),
        "p99": median([r["to_players_p99_ms"] for r in runs]),
        "cpu": median([r.get("server_cpu_percent", 0) for r in runs]),
        "us": median(us),
        "errors": sum(r["errors"] for r in runs),
        "lost": any(r["to_players"]["count"] < 0.99 * r["sent"] * r["players"]
                    or r["delivered_per_s"] < 0.97 * offered for r in runs),
    }
    m["ok"] = m["p99"] < 100 and m["errors"] == 0 and not m["lost"]
    folded[(server, rate)] = m
    print(f"| {server} | {rate:g} | {offered:,.0f} | {len(runs)} | {m['delivered']:,.0f} "
          f"| {m['delivered'] / offered:.3f} | {m['p50']:.2f} / {m['p99']:.2f} | {m['cpu']:.0f} "
          f"| {m['us']:.1f} ({min(us):.1f}-{max(us):.1f}) | {m['errors']} "
          f"| {'yes' if m['ok'] else 'no'} |")
print()
print("Reached: the highest median delivered/s of a step with median p99 < 100 ms, no error and "
      "no loss")
print()
print("| server | delivered/s | at P | p99 (ms) | server CPU % | CPU us/delivery |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
for server in sorted({s for s, _ in folded}):
    ok = [(rate, m) for (s, rate), m in folded.items() if s == server and m["ok"]]
    if not ok:
        print(f"| {server} | none | | | | |")
        continue
    rate, m = max(ok, key=lambda item: item[1]["delivered"])
    print(f"| {server} | {m['delivered']:,.0f} | {rate:g} | {m['p99']:.2f} | {m['cpu']:.0f} "
          f"| {m['us']:.1f} |")
print()
print("Server CPU per delivery at equal rates (medians)")
print()
print("| offered/s | partyd us | node us | node / partyd |")
print("| ---: | ---: | ---: | ---: |")
for rate in sorted({rate for _, rate in folded}):
    p, n = folded.get(("partyd", rate)), folded.get(("node", rate))
    if p and n:
        ratio = f"{n['us'] / p['us']:.2f}" if p["us"] else "-"
        print(f"| {p['offered']:,.0f} | {p['us']:.1f} | {n['us']:.1f} | {ratio} |")
EOF
