#!/usr/bin/env bash
# Builds partyd and its test suite, then runs every test with ctest.
#
#   tools/run-tests.sh            Release build in build/
#   tools/run-tests.sh --asan     AddressSanitizer + UBSan, Debug -O1, in build-asan/
#   tools/run-tests.sh --tsan     ThreadSanitizer, Debug -O1, in build-tsan/
#   tools/run-tests.sh [--asan|--tsan] [--build-dir DIR] [-- CTEST_ARGS...]
#
# Examples: tools/run-tests.sh -- -R Relay        (only tests whose name matches Relay)
#           tools/run-tests.sh --asan -- -E Integration  (skip tests matching Integration)
# Environment: JOBS (default 2), CCACHE_DIR (default ~/.ccache).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

usage() { sed -n '2,11s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; }

mode=release
build_dir=""
ctest_args=()
while (($#)); do
  case "$1" in
    --asan) mode=asan ;;
    --tsan) mode=tsan ;;
    --build-dir)
      [[ $# -ge 2 ]] || { echo "run-tests: --build-dir needs a value" >&2; exit 2; }
      build_dir="$2"; shift ;;
    --build-dir=*) build_dir="${1#*=}" ;;
    -h|--help) usage; exit 0 ;;
    --) shift; ctest_args=("$@"); break ;;
    *) echo "run-tests: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
  shift
done

JOBS="${JOBS:-2}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"
# Paths relative to the checkout, so a fresh clone elsewhere hits the same cache entries.
export CCACHE_BASEDIR="${CCACHE_BASEDIR:-$ROOT}"
# The test targets use a precompiled header: ccache caches them only when told that the header's
# macros and timestamps may be trusted.
export CCACHE_SLOPPINESS="${CCACHE_SLOPPINESS:-pch_defines,time_macros,include_file_mtime,include_file_ctime}"

cmake_args=(-DPARTYD_TESTS=ON)
# Sanitizer builds use -g1: line tables are all a sanitizer report needs, and without full debug
# info a cold ASan build of the suite took 700 s instead of about 985 s on 2 cores.
case "$mode" in
  release)
    build_dir="${build_dir:-build}"
    cmake_args+=(-DCMAKE_BUILD_TYPE=Release -DPARTYD_ASAN=OFF -DPARTYD_TSAN=OFF)
    ;;
  asan)
    build_dir="${build_dir:-build-asan}"
    cmake_args+=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -O1"
                 -DPARTYD_ASAN=ON -DPARTYD_TSAN=OFF)
    # Exported before the build too: gtest_discover_tests runs the test binaries at build time.
    export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
    export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
    ;;
  tsan)
    build_dir="${build_dir:-build-tsan}"
    cmake_args+=(-DCMAKE_BUILD_TYPE=Debug "-DCMAKE_CXX_FLAGS_DEBUG=-g1 -O1"
                 -DPARTYD_ASAN=OFF -DPARTYD_TSAN=ON)
    export TSAN_OPTIONS="${TSAN_OPTIONS:-halt_on_error=1:second_deadlock_stack=1}"
    ;;
esac

# Pick Ninja for a new build dir; keep whatever generator an existing one was made with.
if [[ ! -f "$build_dir/CMakeCache.txt" ]]; then
  cmake_args+=(-G Ninja)
fi

"$ROOT/tools/setup-deps.sh"
# The npm packages of the Node-driven tests (ctest's socketio_client and console_browser), each
# from its lockfile, once; without npm those tests are skipped.
npm_ci_once() {
  local dir="$ROOT/$1"
  [[ -f "$dir/package-lock.json" ]] || return 0
  if [[ -f "$dir/node_modules/.package-lock.json" && ! "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]]; then
    return 0
  fi
  if command -v npm >/dev/null 2>&1; then
    npm ci --prefix "$dir" --no-audit --no-fund
  else
    echo "run-tests: npm not found: the tests in $1 will be skipped" >&2
  fi
}
npm_ci_once tests/socketio
npm_ci_once tests/console

echo "run-tests: mode=$mode build_dir=$build_dir"
cmake -S . -B "$build_dir" "${cmake_args[@]}"
cmake --build "$build_dir" -j "$JOBS"

# --no-tests=error: a suite that discovered nothing is a failure, not a pass.
# --repeat until-pass:2: a test that fails is run once more, and its first failure stays in the
# output. One relay close test has failed once in about 60 runs under ASan on a loaded machine
# (its wait for the room_closed frame ended after 60 ms, not at its 5 s timeout); until that is
# understood, a single flake must not sink a run, while anything that fails twice still does.
ctest --test-dir "$build_dir" --output-on-failure --no-tests=error --repeat until-pass:2 \
  -j "$JOBS" "${ctest_args[@]}"
