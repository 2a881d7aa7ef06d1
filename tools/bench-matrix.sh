#!/usr/bin/env bash
# Relay fan-out matrix: partyd (--store memory) against bench/baseline/fanout_baseline, the
# smallest fan-out server, under `partyload --scenario relay-fanout`.
#
# For each server and each R (rooms, 1 host + M players each, S-byte states) the host state rate P
# is stepped up until to_players p99 >= 100 ms or partyload reports errors. Every step starts a
# fresh server pinned to core 0 (partyload runs on core 1) so that earlier rooms cost nothing.
# Each partyload JSON line, with the server, commit, date and machine, is appended to
# bench/results/<date>-<commit>.jsonl; then a markdown table and the saturation point per
# (server, R) are printed (and written into bench/README.md with --update-readme).
#
# Usage: tools/bench-matrix.sh [--quick] [--update-readme] [--build-dir DIR] [--step-seconds N]
#                              [--servers "partyd baseline"] [--rooms "100 1000 2000"] [--no-build]
#                              [--repeat N] [--max-offered DELIVERIES_PER_S]
#        tools/bench-matrix.sh --report FILE.jsonl [--update-readme]   (table only, no runs)
#   --quick   R = 100 only, 2 steps of 3 s per server: a smoke test in under a minute.
#   --repeat  runs per step, each on a fresh server: the table shows medians, the climb stops on
#             the median p99, and a second table gives partyd / baseline CPU per delivery.
#   --max-offered  climb no higher than this many offered deliveries a second.
# Needs 2 cores (taskset -c 0 and 1), python3, and a file limit >= 20,000 for R = 2000.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

build_dir="build-matrix"
step_seconds=6
servers="partyd baseline"
rooms_list="100 1000 2000"
players=8
size=200
p99_limit_ms=100
max_steps=20
quick=false
update_readme=false
build=true
report_file=""
repeat=1
max_offered=1000000000
token=bench-matrix

while [[ $# -gt 0 ]]; do
  case $1 in
    --quick) quick=true ;;
    --update-readme) update_readme=true ;;
    --build-dir) build_dir=$2; shift ;;
    --step-seconds) step_seconds=$2; shift ;;
    --servers) servers=$2; shift ;;
    --rooms) rooms_list=$2; shift ;;
    --no-build) build=false ;;
    --report) report_file=$2; shift ;;
    --repeat) repeat=$2; shift ;;
    --max-offered) max_offered=$2; shift ;;
    -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-matrix: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
if $quick; then
  rooms_list=100
  max_steps=2
  step_seconds=3
fi

# Markdown table and saturation points from the JSON lines in the files named as arguments.
render_table() {
  python3 - "$p99_limit_ms" "$@" <<'EOF'
import json, sys
limit = float(sys.argv[1])
rows = []
for name in sys.argv[2:]:
    with open(name) as f:
        rows += [json.loads(line) for line in f if line.strip()]
if not rows:
    sys.exit("bench-matrix: no results")
first = rows[0]
print(f"Commit `{first['commit']}`, {first['date']}, {first['cpu_model']} ({first['nproc']} cores), "
      f"Linux {first['kernel']}; server on core 0, partyload on core 1; "
      f"M = {first['players']} players per room, S = {first['size']} B states.")
print()
# Runs of one step (server, R, P) fold into one row of medians.
def median(values):
    values = sorted(values)
    mid = len(values) // 2
    return values[mid] if len(values) % 2 else (values[mid - 1] + values[mid]) / 2
steps = {}
for r in rows:
    steps.setdefault((r['server'], r['rooms'], r['rate']), []).append(r)
folded = []
for runs in steps.values():
    m = dict(runs[0])
    for key in ('delivered_per_s', 'to_players_p50_ms', 'to_players_p99_ms', 'server_cpu_percent',
                'server_cpu_us_per_delivery'):
        m[key] = median([r.get(key, 0) for r in runs])
    us = [r.get('server_cpu_us_per_delivery', 0) for r in runs]
    m['us_range'] = (min(us), max(us))
    m['errors'] = sum(r['errors'] for r in runs)
    m['runs'] = len(runs)
    folded.append(m)
rows = folded
if any(r['runs'] > 1 for r in rows):
    print(f"Each row is the median of up to {max(r['runs'] for r in rows)} runs, each on a fresh "
          "server; CPU µs/delivery also as min-max.")
    print()
print("| server | R | P | offered/s | delivered/s | p50 / p99 (ms) | server CPU % | CPU µs/delivery | errors |")
print("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
def n(x, digits=0):
    return f"{x:,.{digits}f}"
for r in rows:
    us = f"{r.get('server_cpu_us_per_delivery', 0):.1f}"
    if r['runs'] > 1:
        us += f" ({r['us_range'][0]:.1f}-{r['us_range'][1]:.1f})"
    print(f"| {r['server']} | {r['rooms']} | {r['rate']:g} | {n(r['offered_per_s'])} "
          f"| {n(r['delivered_per_s'])} | {r['to_players_p50_ms']:.2f} / {r['to_players_p99_ms']:.2f} "
          f"| {r.get('server_cpu_percent', 0):.0f} | {us} | {r['errors']} |")
pairs = [(p, b) for p in rows for b in rows
         if p['server'] == 'partyd' and b['server'] == 'baseline'
         and p['rooms'] == b['rooms'] and p['rate'] == b['rate']
         and p.get('server_cpu_us_per_delivery') and b.get('server_cpu_us_per_delivery')]
if pairs:
    print()
    print("Server CPU per delivery, partyd / baseline at the same load:")
    print()
    print("| R | offered/s | partyd µs | baseline µs | ratio |")
    print("| ---: | ---: | ---: | ---: | ---: |")
    for p, b in pairs:
        ratio = p['server_cpu_us_per_delivery'] / b['server_cpu_us_per_delivery']
        print(f"| {p['rooms']} | {n(p['offered_per_s'])} | {p['server_cpu_us_per_delivery']:.1f} "
              f"| {b['server_cpu_us_per_delivery']:.1f} | {ratio:.2f} |")
print()
print(f"Saturation (highest delivered/s with p99 < {limit:g} ms and no errors):")
print()
print("| server | R | delivered/s | at P | p99 (ms) | server CPU % |")
print("| --- | ---: | ---: | ---: | ---: | ---: |")
seen = []
for r in rows:
    if (r['server'], r['rooms']) not in seen:
        seen.append((r['server'], r['rooms']))
for server, rooms in seen:
    ok = [r for r in rows if r['server'] == server and r['rooms'] == rooms
          and r['to_players_p99_ms'] < limit and r['errors'] == 0]
    if not ok:
        print(f"| {server} | {rooms} | none under the limit | | | |")
        continue
    best = max(ok, key=lambda r: r['delivered_per_s'])
    print(f"| {server} | {rooms} | {n(best['delivered_per_s'])} | {best['rate']:g} "
          f"| {best['to_players_p99_ms']:.2f} | {best.get('server_cpu_percent', 0):.0f} |")
EOF
}

# Replaces the text between the matrix markers of bench/README.md with $1.
update_readme_section() {
  python3 - "$root/bench/README.md" "$1" <<'EOF'
import sys
path = sys.argv[1]
table = sys.argv[2].rstrip("\n")
begin, end = "<!-- matrix:begin -->", "<!-- matrix:end -->"
text = open(path).read()
if begin not in text or end not in text:
    sys.exit(f"bench-matrix: {path} has no {begin} ... {end} section")
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
open(path, "w").write(f"{head}{begin}\n{table}\n{end}{tail}")
EOF
}

if [[ -n $report_file ]]; then
  table=$(render_table "$report_file")
  echo "$table"
  if $update_readme; then update_readme_section "$table"; fi
  exit 0
fi

if $build; then
  # An existing build dir keeps its settings; Ninja -j1 unless JOBS says otherwise (shared
  # machines).
  if [[ ! -f $build_dir/build.ninja ]]; then
    cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=Release -DPARTYD_TESTS=OFF >/dev/null
  fi
  ninja -C "$build_dir" -j "${JOBS:-1}" partyd partyload fanout_baseline >/dev/null
fi
for binary in partyd partyload fanout_baseline; do
  [[ -x $build_dir/$binary ]] || { echo "bench-matrix: no $build_dir/$binary" >&2; exit 1; }
done

# 2000 rooms x 9 clients = 18,000 sockets in each process.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < 20000 )); then
  echo "bench-matrix: warning: file limit $(ulimit -n) < 20,000; R = 2000 will fail" >&2
fi

commit=$(git rev-parse --short HEAD)
git diff --quiet HEAD -- . 2>/dev/null || commit="$commit-dirty"
date=$(date -u +%Y-%m-%d)
stamp=$(date -u +%Y-%m-%dT%H:%M:%SZ)
cpu_model=$(grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
kernel=$(uname -r)
mkdir -p bench/results
results=bench/results/$date-$commit.jsonl
run_lines=$(mktemp)
work=$(mktemp -d)
server_pid=""
cleanup() {
  if [[ -n $server_pid ]]; then kill "$server_pid" 2>/dev/null || true; fi
  rm -rf "$work" "$run_lines"
}
trap cleanup EXIT

start_server() {
  rm -f "$work/port"
  case $1 in
    partyd)
      taskset -c 0 "$build_dir/partyd" --store memory --admin-token "$token" --bind 127.0.0.1 \
        --port 0 --port-file "$work/port" --rate-limit-messages 100000000 \
        --max-connections 20000 --max-connections-per-ip 0 >"$work/server.log" 2>&1 &
      ;;
    baseline)
      taskset -c 0 "$build_dir/fanout_baseline" --admin-token "$token" --port 0 \
        --port-file "$work/port" >"$work/server.log" 2>&1 &
      ;;
    *) echo "bench-matrix: unknown server $1" >&2; exit 2 ;;
  esac
  server_pid=$!
  for _ in $(seq 200); do [[ -s $work/port ]] && return 0; sleep 0.05; done
  echo "bench-matrix: $1 did not start:" >&2
  cat "$work/server.log" >&2
  exit 1
}

stop_server() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
  server_pid=""
}

# Offered deliveries per second (to players) for each step; P = offered / (R * M).
ladder="5000 10000 20000 30000 40000 50000 60000 80000 100000 120000 140000 170000 200000 250000 300000 400000"

for server in $servers; do
  for rooms in $rooms_list; do
    step=0
    for offered in $ladder; do
      (( step++ < max_steps )) || break
      (( offered <= max_offered )) || break
      rate=$(python3 -c "print(round($offered / ($rooms * $players), 3))")
      step_lines=$(mktemp)
      for run in $(seq "$repeat"); do
        start_server "$server"
        echo "== $server R=$rooms P=$rate ($offered/s offered), run $run of $repeat" >&2
        timeout $((step_seconds + 90)) taskset -c 1 "$build_dir/partyload" --scenario relay-fanout \
          --token "$token" --port "$(cat "$work/port")" --server-pid "$server_pid" \
          --rooms "$rooms" --players "$players" --rate "$rate" --size "$size" \
          --duration "$step_seconds" >"$work/load.out" 2>"$work/load.err" || true
        stop_server
        line=$(tail -n 1 "$work/load.out")
        if [[ ${line:0:1} != "{" ]]; then
          echo "bench-matrix: partyload gave no result; its stderr:" >&2
          tail -n 5 "$work/load.err" >&2
          continue
        fi
        record=$(jq -c --arg server "$server" --arg commit "$commit" --arg date "$stamp" \
          --arg cpu "$cpu_model" --arg kernel "$kernel" --argjson nproc "$(nproc)" \
          '{server: $server, commit: $commit, date: $date, cpu_model: $cpu, kernel: $kernel,
            nproc: $nproc, offered_per_s: (.rooms * .players * .rate)} + .' <<<"$line")
        echo "$record" >>"$results"
        echo "$record" >>"$run_lines"
        echo "$record" >>"$step_lines"
        jq -r '"   delivered/s \(.delivered_per_s | floor)  p50 \(.to_players_p50_ms) ms  p99 \(.to_players_p99_ms) ms  cpu \(.server_cpu_percent // 0 | floor)%  errors \(.errors)"' \
          <<<"$record" >&2
      done
      # Climb no further once the median p99 reaches the limit, or on an error or a missing result.
      stop=$(jq -s --argjson limit "$p99_limit_ms" --argjson want "$repeat" \
        'if length < $want or any(.[]; .errors > 0) then true
         else ([.[].to_players_p99_ms] | sort | .[(length - 1) / 2 | floor]) >= $limit end' \
        "$step_lines")
      rm -f "$step_lines"
      [[ $stop == false ]] || break
    done
  done
done

echo "results appended to $results" >&2
table=$(render_table "$run_lines")
echo "$table"
if $update_readme; then update_readme_section "$table"; fi
