#!/usr/bin/env bash
# Builds partyd (Release, in build/) and starts it on port 8080 with the embedded default store
# (no Redis). Extra arguments are passed to partyd, e.g.:
#   tools/run-server.sh --admin-token secret
# Environment: BUILD_DIR (default build), PARTYD_PORT (default 8080).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

BUILD_DIR="${BUILD_DIR:-build}"
PORT="${PARTYD_PORT:-8080}"
JOBS="${JOBS:-2}"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.ccache}"

"$ROOT/tools/setup-deps.sh"

# Ninja for a new build dir; an existing one keeps the generator it was made with.
gen=()
[[ -f "$BUILD_DIR/CMakeCache.txt" ]] || gen=(-G Ninja)
cmake -S . -B "$BUILD_DIR" "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DPARTYD_TESTS=ON \
  -DPARTYD_ASAN=OFF -DPARTYD_TSAN=OFF
cmake --build "$BUILD_DIR" --target partyd -j "$JOBS"

exec "$BUILD_DIR/partyd" --port "$PORT" "$@"
