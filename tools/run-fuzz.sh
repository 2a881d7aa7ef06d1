#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/) with clang in build-fuzz/ and runs each one for a
# bounded time on a copy of its seed corpus; one line per target with its number of runs.
#
#   tools/run-fuzz.sh                    every target, FUZZ_SECONDS each
#   tools/run-fuzz.sh TARGET...          only these, e.g. tools/run-fuzz.sh brainrot_codec_fuzz
#   tools/run-fuzz.sh [--build-dir DIR] [TARGET...]
#
# Target X_fuzz starts from tests/fuzz/corpus/X/, copied to a temporary directory first: new
# inputs never land in the tree. A crash, leak, timeout or sanitizer report fails the run (exit 1);
# the input that caused it is written to <build dir>/fuzz-artifacts/<target>/.
# Environment: FUZZ_SECONDS (default 30), FUZZ_PARALLEL (targets at a time, default JOBS),
# JOBS (build jobs, default 2), CCACHE_DIR (default ~/.ccache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,13s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

# Every target with its -max_len: a few times its largest seed, and room for the real messages.
declare -A MAX_LEN=(
  [relay_codec_fuzz]=4096
  [relay_snapshot_fuzz]=4096
  [brainrot_codec_fuzz]=4096
  [brainrot_snapshot_fuzz]=8192
  [quiz_codec_fuzz]=4096
  [quiz_snapshot_fuzz]=8192
  [alias_codec_fuzz]=4096
  [alias_snapshot_fuzz]=8192
  [mafia_codec_fuzz]=4096
  [mafia_snapshot_fuzz]=16384
  [room_snapshot_fuzz]=8192
  [ws_frame_fuzz]=8192
  [socketio_codec_fuzz]=4096
  [game_session_fuzz]=8192
  [session_fuzz]=4096
  [snapshot_log_fuzz]=4096
)
ALL_TARGETS=(relay_codec_fuzz relay_snapshot_fuzz brainrot_codec_fuzz brainrot_snapshot_fuzz
             quiz_codec_fuzz quiz_snapshot_fuzz alias_codec_fuzz alias_snapshot_fuzz
             mafia_codec_fuzz mafia_snapshot_fuzz room_snapshot_fuzz ws_frame_fuzz game_session_fuzz
             session_fuzz snapshot_log_fuzz socketio_codec_fuzz)

build_dir=build-fuzz
targets=()
while (($#)); do
  case "$1" in
    --build-dir)
      [[ $# -ge 2 ]] || { echo "run-fuzz: --build-dir needs a value" >&2; exit 2; }
      build_dir="$2"; shift ;;
    --build-dir=*) build_dir="${1#*=}" ;;
    -h|--help) usage; exit 0 ;;
    -*) echo "run-fuzz: unknown argument: $1" >&2; usage >&2; exit 2 ;;
    *)
      [[ -n "${MAX_LEN[$1]:-}" ]] || { echo "run-fuzz: unknown target: $1" >&2; exit 2; }
      targets+=("$1") ;;
  esac
  shift
done
((${#targets[@]})) || targets=("${ALL_TARGETS[@]}")

FUZZ_SECONDS="${FUZZ_SECONDS:-30}"
[[ "$FUZZ_SECONDS" =~ ^[1-9][0-9]*$ ]] || { echo "run-fuzz: FUZZ_SECONDS must be > 0" >&2; exit 2; }
JOBS="${JOBS:-2}"
FUZZ_PARALLEL="${FUZZ_PARALLEL:-$JOBS}"
[[ "$FUZZ_PARALLEL" =~ ^[1-9][0-9]*$ ]] || { echo "run-fuzz: FUZZ_PARALLEL must be > 0" >&2; exit 2; }
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
# Paths relative to the checkout, so a fresh clone elsewhere hits the same cache entries.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}"
# UBSan reports only stop the process (and so reach libFuzzer as a crash) with halt_on_error.
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"

"$ROOT/tools/setup-deps.sh"

# -g1: line tables are all a crash's stack needs (as for the sanitizer builds of run-tests.sh).
cmake_args=(-DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER=clang++
            "-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O2 -g1 -DNDEBUG"
            -DPARTYD_FUZZ=ON -DPARTYD_TESTS=OFF -DPARTYD_BENCH=OFF
            -DPARTYD_ASAN=OFF -DPARTYD_TSAN=OFF)
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake_args+=(-G Ninja)
fi

echo "run-fuzz: build_dir=$build_dir seconds=$FUZZ_SECONDS targets=${targets[*]}"
cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j "$JOBS" --target "${targets[@]}"

work="$(mktemp -d "${TMPDIR:-/tmp}/partyd-fuzz.XXXXXX")"
# On an early exit (Ctrl-C, a failed step), stop the fuzzers still running before removing their
# directories.
cleanup() {
  local pid_file
  for pid_file in "$work"/*/pid; do
    [[ -f "$pid_file" ]] && kill "$(cat "$pid_file")" 2>/dev/null || true
  done
  wait || true
  rm -rf "$work"
}
trap cleanup EXIT

# Runs one target; leaves its output in $work/<target>/log and its exit code in .../rc.
run_target() {
  local target="$1"
  local seeds="tests/fuzz/corpus/${target%_fuzz}"
  local dir="$work/$target"
  local artifacts="$build_dir/fuzz-artifacts/$target"
  mkdir -p "$dir/corpus" "$artifacts"
  if [[ -d "$seeds" ]]; then
    cp -- "$seeds"/* "$dir/corpus"/
  fi
  find "$dir/corpus" -type f | wc -l >"$dir/seeds"
  local rc=0
  "$build_dir/tests/fuzz/$target" -max_total_time="$FUZZ_SECONDS" -max_len="${MAX_LEN[$target]}" \
    -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="$artifacts/" "$dir/corpus" >"$dir/log" 2>&1 &
  echo "$!" >"$dir/pid"
  wait "$!" || rc=$?
  rm -f "$dir/pid"
  echo "$rc" >"$dir/rc"
}

echo "run-fuzz: running ${#targets[@]} targets, $FUZZ_PARALLEL at a time, ${FUZZ_SECONDS}s each"
for target in "${targets[@]}"; do
  while (($(jobs -pr | wc -l) >= FUZZ_PARALLEL)); do
    wait -n || true
  done
  echo "run-fuzz: $target: started (-max_len=${MAX_LEN[$target]})"
  run_target "$target" &
done
wait

summary=()
failed=0
for target in "${targets[@]}"; do
  dir="$work/$target"
  rc="$(cat "$dir/rc" 2>/dev/null || echo '?')"
  runs="$(sed -n 's/^Done \([0-9]*\) runs in .*/\1/p' "$dir/log" | tail -n 1)"
  [[ -n "$runs" ]] || runs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log" | tail -n 1)"
  [[ -n "$runs" ]] || runs="?"
  if [[ "$rc" == 0 ]]; then
    corpus_size="$(find "$dir/corpus" -type f | wc -l)"
    summary+=("$target: $runs runs in ${FUZZ_SECONDS}s, corpus $(cat "$dir/seeds") -> $corpus_size, ok")
  else
    failed=1
    input="$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$dir/log" | tail -n 1)"
    summary+=("$target: FAILED (exit $rc) after $runs runs, input: ${input:-see its output}")
    # The report from its first line on (sanitizer, timeout, leak), else the end of the output.
    first="$(grep -n -m 1 -E '==ERROR|ERROR: libFuzzer|runtime error:' "$dir/log" | cut -d: -f1)"
    echo
    echo "--- $target: its report ---"
    if [[ -n "$first" ]]; then
      sed -n "$first,$((first + 150))p" "$dir/log"
    else
      tail -n 80 "$dir/log"
    fi
    echo "---"
  fi
done

echo
echo "=== fuzz summary ==="
for line in "${summary[@]}"; do echo "  $line"; done
if ((failed)); then
  echo "run-fuzz: FAILED" >&2
  exit 1
fi
echo "run-fuzz: ok"
