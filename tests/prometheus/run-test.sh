#!/usr/bin/env bash
# Checks docs/prometheus against promtool and a real Prometheus scraping the real partyd
# (docs/prometheus/README.md). ctest's prometheus_scrape runs this; exit status 77 (ctest's
# SKIP_RETURN_CODE) when prometheus or promtool is missing (Debian's prometheus package has both).
#
#   PARTYD_BIN=build/partyd tests/prometheus/run-test.sh
#
# 1. promtool check config (a copy of prometheus.yml with alerts.yml beside it), check rules and
#    test rules (alerts_test.yml).
# 2. partyd on 127.0.0.1 with a free port (--port 0 --port-file, --store memory, admin token t),
#    one relay room made through POST /api/rooms.
# 3. Prometheus on 127.0.0.1 with a free port and its own data directory, its configuration made
#    from prometheus.yml (partyd's port, scrape and evaluation every 1 s, the same alerts.yml):
#    waits until GET /api/v1/query?query=partyd_rooms gives a sample >= 1 (60 s at most), and
#    checks that GET /api/v1/rules lists every group of alerts.yml and that no rule failed.
# Every process started here is stopped and the temporary directory removed on exit. Nothing
# depends on a Prometheus started by the Debian package (it uses port 9090 and /var/lib).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
docs="$repo/docs/prometheus"
name=prometheus_scrape

for tool in prometheus promtool; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "$name: SKIPPED: $tool is not installed (Debian: apt-get install prometheus, or tools/setup-deps.sh)"
    exit 77
  fi
done
if ! command -v curl >/dev/null 2>&1; then
  echo "$name: curl is not installed" >&2
  exit 2
fi
if [[ -z "${PARTYD_BIN:-}" ]]; then
  echo "$name: PARTYD_BIN is not set (the path of the partyd binary)" >&2
  exit 2
fi
if [[ ! -x "$PARTYD_BIN" ]]; then
  echo "$name: PARTYD_BIN=$PARTYD_BIN is not an executable file" >&2
  exit 2
fi

tmp="$(mktemp -d "${TMPDIR:-/tmp}/partyd-prometheus.XXXXXX")"
partyd_pid=""
prom_pid=""

stop() { # pid: SIGTERM, up to 5 s, then SIGKILL; only a process this script started.
  local pid="$1" i
  [[ -n "$pid" ]] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  stop "$prom_pid"
  stop "$partyd_pid"
  if ((status != 0 && status != 77)); then
    [[ -s "$tmp/partyd.log" ]] && { echo "--- partyd log (last 40 lines)"; tail -n 40 "$tmp/partyd.log"; } >&2
    [[ -s "$tmp/prometheus.log" ]] && { echo "--- prometheus log (last 40 lines)"; tail -n 40 "$tmp/prometheus.log"; } >&2
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

fail() {
  echo "$name: FAILED: $*" >&2
  exit 1
}

# --- 1. promtool ---------------------------------------------------------------------------------
mkdir "$tmp/docs"
cp "$docs/prometheus.yml" "$docs/alerts.yml" "$tmp/docs/"
echo "$name: promtool check config (copy of docs/prometheus/prometheus.yml)"
promtool check config "$tmp/docs/prometheus.yml" || fail "promtool check config"
echo "$name: promtool check rules docs/prometheus/alerts.yml"
promtool check rules "$docs/alerts.yml" || fail "promtool check rules"
echo "$name: promtool test rules docs/prometheus/alerts_test.yml"
promtool test rules "$docs/alerts_test.yml" || fail "promtool test rules"

# The alert groups Prometheus must list: every `- name:` of alerts.yml.
mapfile -t groups < <(sed -n 's/^  - name: *\([^ #]*\).*/\1/p' "$docs/alerts.yml")
((${#groups[@]} > 0)) || fail "no alert groups found in docs/prometheus/alerts.yml"

# --- 2. partyd -----------------------------------------------------------------------------------
# The child gets no PARTYD_* settings of ours (each is a flag): this script sets every flag.
unset_partyd=()
while IFS= read -r var; do unset_partyd+=(-u "$var"); done < <(compgen -e | grep '^PARTYD_' || true)
env "${unset_partyd[@]}" "$PARTYD_BIN" --port 0 --port-file "$tmp/partyd.port" --bind 127.0.0.1 \
  --store memory --admin-token t --log-level warn >"$tmp/partyd.log" 2>&1 &
partyd_pid=$!

partyd_port=""
deadline=$((SECONDS + 15))
while [[ -z "$partyd_port" ]]; do
  kill -0 "$partyd_pid" 2>/dev/null || fail "partyd exited before listening"
  ((SECONDS < deadline)) || fail "partyd wrote no port file within 15 s"
  # A complete port file ends with a newline.
  if [[ -s "$tmp/partyd.port" && "$(tail -c 1 "$tmp/partyd.port" | od -An -tx1)" == *0a* ]]; then
    partyd_port="$(tr -d '[:space:]' <"$tmp/partyd.port")"
  else
    sleep 0.1
  fi
done
[[ "$partyd_port" =~ ^[0-9]+$ ]] || fail "bad port file content: $partyd_port"
partyd_url="http://127.0.0.1:$partyd_port"

until [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$partyd_url/ready" || true)" == 200 ]]; do
  kill -0 "$partyd_pid" 2>/dev/null || fail "partyd exited before /ready"
  ((SECONDS < deadline)) || fail "partyd /ready did not answer 200 within 15 s"
  sleep 0.1
done
echo "$name: partyd ready on $partyd_url"

room="$(curl -sS --max-time 5 -w '\n%{http_code}' -X POST -H 'Authorization: Bearer t' \
  -H 'Content-Type: application/json' -d '{"game":"relay"}' "$partyd_url/api/rooms")" ||
  fail "POST /api/rooms: request failed"
[[ "${room##*$'\n'}" == 201 ]] || fail "POST /api/rooms answered: $room"
[[ "$room" == *'"roomCode":"'* ]] || fail "POST /api/rooms: no roomCode in: $room"
room_code="$(sed -n 's/.*"roomCode":"\([A-Z0-9]*\)".*/\1/p' <<<"$room" | head -n 1)"
echo "$name: created relay room $room_code"

# --- 3. Prometheus -------------------------------------------------------------------------------
# The shipped configuration with partyd's port and 1 s intervals; alerts.yml beside it.
mkdir "$tmp/prom"
cp "$docs/alerts.yml" "$tmp/prom/alerts.yml"
sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$partyd_port/" \
  -e 's/^\(  *\)scrape_interval: 5s/\1scrape_interval: 1s/' \
  -e 's/^\(  *\)evaluation_interval: 5s/\1evaluation_interval: 1s/' \
  -e 's/^\(  *\)scrape_timeout: 4s/\1scrape_timeout: 1s/' \
  "$docs/prometheus.yml" >"$tmp/prom/prometheus.yml"
grep -q "127.0.0.1:$partyd_port" "$tmp/prom/prometheus.yml" ||
  fail "prometheus.yml has no 127.0.0.1:8080 target to point at partyd"
if grep -q 'scrape_interval: 5s' "$tmp/prom/prometheus.yml"; then
  fail "prometheus.yml: a scrape_interval was not rewritten to 1s"
fi
promtool check config "$tmp/prom/prometheus.yml" >/dev/null || fail "promtool check config (generated)"

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# A free port: a random one nobody listens on; should another process take it first, Prometheus
# exits at once and the next attempt takes another.
prom_port=""
for ((attempt = 1; attempt <= 5; attempt++)); do
  candidate=$((20000 + RANDOM % 30000))
  port_in_use "$candidate" && continue
  prometheus --config.file="$tmp/prom/prometheus.yml" --storage.tsdb.path="$tmp/prom/data" \
    --web.listen-address="127.0.0.1:$candidate" --log.level=warn >"$tmp/prometheus.log" 2>&1 &
  prom_pid=$!
  deadline=$((SECONDS + 20))
  while ((SECONDS < deadline)); do
    kill -0 "$prom_pid" 2>/dev/null || break
    if [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$candidate/-/ready" || true)" == 200 ]]; then
      prom_port="$candidate"
      break
    fi
    sleep 0.2
  done
  [[ -n "$prom_port" ]] && break
  if kill -0 "$prom_pid" 2>/dev/null; then
    fail "prometheus did not become ready on 127.0.0.1:$candidate within 20 s"
  fi
  wait "$prom_pid" 2>/dev/null || true
  prom_pid=""
  grep -q 'address already in use' "$tmp/prometheus.log" || fail "prometheus exited at start"
done
[[ -n "$prom_port" ]] || fail "no free port for prometheus after 5 attempts"
prom_url="http://127.0.0.1:$prom_port"
echo "$name: prometheus ready on $prom_url (data in $tmp/prom/data)"

# Waits for a scraped partyd_rooms sample >= 1 (the room made above).
rooms_value=""
deadline=$((SECONDS + 60))
while :; do
  kill -0 "$partyd_pid" 2>/dev/null || fail "partyd exited"
  kill -0 "$prom_pid" 2>/dev/null || fail "prometheus exited"
  answer="$(curl -s --max-time 2 -G --data-urlencode 'query=partyd_rooms' "$prom_url/api/v1/query" || true)"
  # "result":[{"metric":{"__name__":"partyd_rooms","game":"relay",...},"value":[1700000000.123,"1"]},...]
  if [[ "$answer" == *'"status":"success"'* ]]; then
    while IFS= read -r v; do
      if awk -v v="$v" 'BEGIN { exit !(v + 0 >= 1) }'; then
        rooms_value="$v"
        break
      fi
    done < <(grep -o '"value":\[[^]]*\]' <<<"$answer" | sed 's/.*,"\([^"]*\)"\]$/\1/')
  fi
  [[ -n "$rooms_value" ]] && break
  ((SECONDS < deadline)) || fail "no partyd_rooms sample >= 1 within 60 s; last answer: $answer"
  sleep 0.5
done
series="$(grep -o '"metric":{[^}]*"game":"relay"[^}]*},"value":\[[^]]*\]' <<<"$answer" || true)"
echo "$name: partyd_rooms >= 1 scraped: ${series:-value $rooms_value}"

# The alert groups of alerts.yml, loaded and evaluated without errors.
deadline=$((SECONDS + 30))
while :; do
  rules="$(curl -s --max-time 2 "$prom_url/api/v1/rules?type=alert" || true)"
  missing=()
  for g in "${groups[@]}"; do
    [[ "$rules" == *"\"name\":\"$g\""* ]] || missing+=("$g")
  done
  # Every rule evaluated at least once ("health":"unknown" before its first evaluation).
  if ((${#missing[@]} == 0)) && [[ "$rules" == *'"status":"success"'* && "$rules" != *'"health":"unknown"'* ]]; then
    break
  fi
  ((SECONDS < deadline)) || fail "/api/v1/rules: groups missing (${missing[*]:-none}) or not evaluated; answer: $rules"
  sleep 0.5
done
[[ "$rules" != *'"health":"err"'* ]] || fail "/api/v1/rules: a rule failed to evaluate: $rules"
alert_count="$(grep -o '"type":"alerting"' <<<"$rules" | wc -l)"
echo "$name: /api/v1/rules lists ${groups[*]} ($alert_count alert rules, all evaluated, health ok)"

echo "$name: PASSED"
