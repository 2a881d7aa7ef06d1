#!/bin/sh
# The session layer's figures (bench/README.md, "Sessions"): relay fan-out with and without
# --sessions (server CPU per delivery), server RSS per connection with and without sessions
# (idle, and a fan-out long enough to fill every ring), and the resume of N sessions at once,
# also after a kill -9 and restart on the file store. partyd on core 0, partyload on core 1,
# 127.0.0.1 only, a fresh server for every run; every partyload JSON line is appended to
# bench/results/<date>-<commit>-sessions.jsonl with a "label" member.
#
#   bench/sessions-figures.sh [--build DIR] [--runs N] [--only fanout|memory|storm|restart]
set -eu
BUILD=build-bench
RUNS=3
ONLY=
while [ $# -gt 0 ]; do
  case $1 in
    --build) BUILD=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --only) ONLY=$2; shift 2 ;;
    *) echo "usage: $0 [--build DIR] [--runs N] [--only fanout|memory|storm|restart]" >&2; exit 2 ;;
  esac
done
OUT_NAME=sessions
# shellcheck source=bench/figures-lib.sh
. "$(dirname "$0")/figures-lib.sh"

fanout() {
  for rate in 2.5 5; do
    for run in $(seq "$RUNS"); do
      for mode in plain sessions; do
        flag=
        [ $mode = sessions ] && flag=--sessions
        start_server memory
        load "fanout-$mode-P$rate" --rooms 1000 --players 8 --rate "$rate" --size 200 --duration 10 $flag
        stop_server
      done
    done
  done
}

memory() {
  for run in $(seq "$RUNS"); do
    for mode in plain sessions; do
      flag=
      [ $mode = sessions ] && flag=--sessions
      start_server memory
      load "idle-$mode" --scenario idle --rooms 100 --connections 9000 --duration 5 $flag
      stop_server
    done
  done
  # 256 frames at 10 a second: every ring is full after 26 s.
  for mode in plain sessions; do
    flag=
    [ $mode = sessions ] && flag=--sessions
    start_server memory
    load "fanout-rings-$mode" --rooms 1000 --players 8 --rate 10 --size 200 --duration 35 $flag
    stop_server
  done
}

storm() {
  for run in $(seq "$RUNS"); do
    for mode in plain sessions; do
      flag=
      [ $mode = sessions ] && flag=--sessions
      start_server memory
      load "storm-$mode" --scenario reconnect-storm --rooms 100 --connections 9000 --duration 30 $flag
      stop_server
    done
  done
}

restart() {
  cat >"$WORK/restart.sh" <<SCRIPT
#!/bin/sh
# Lets every room's snapshot (1 s interval) land, kill -9, restart on the same data dir.
sleep 2
kill -9 \$(cat $WORK/pid)
sleep 0.2
taskset -c 0 $PARTYD --store file:$WORK/data $SERVER_ARGS >$WORK/partyd2.log 2>&1 &
echo \$! >$WORK/pid
for _ in \$(seq 600); do
  curl -sf -o /dev/null http://127.0.0.1:$PORT/ready && exit 0
  sleep 0.05
done
exit 1
SCRIPT
  chmod +x "$WORK/restart.sh"
  for run in $(seq "$RUNS"); do
    rm -rf "$WORK/data"
    start_server "file:$WORK/data"
    load "storm-restart-sessions" --scenario reconnect-storm --rooms 100 --connections 9000 \
      --duration 60 --sessions --before-storm "$WORK/restart.sh"
    stop_server
  done
}

case $ONLY in
  "") fanout; memory; storm; restart ;;
  fanout | memory | storm | restart) $ONLY ;;
  *) echo "unknown --only $ONLY" >&2; exit 2 ;;
esac
echo "results: $OUT" >&2
