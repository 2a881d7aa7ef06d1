#!/usr/bin/env bash
# Runs the Socket.IO client tests (node --test) against the partyd binary named by PARTYD_BIN.
# ctest's socketio_client runs this; exit status 77 (ctest's SKIP_RETURN_CODE) when Node or the
# npm packages are missing: install them with `npm ci` in tests/socketio.
#
#   PARTYD_BIN=build/partyd tests/socketio/run-tests.sh [node --test options...]
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if ! command -v node >/dev/null 2>&1; then
  echo "socketio_client: SKIPPED: node is not installed (Node.js 18 or later is needed)"
  exit 77
fi
if [[ ! -d "$here/node_modules/socket.io-client" ]]; then
  echo "socketio_client: SKIPPED: tests/socketio/node_modules is missing; run 'npm ci' in tests/socketio"
  exit 77
fi
if [[ -z "${PARTYD_BIN:-}" ]]; then
  echo "socketio_client: PARTYD_BIN is not set (the path of the partyd binary)" >&2
  exit 2
fi
PARTYD_BIN="$(cd "$(dirname "$PARTYD_BIN")" && pwd)/$(basename "$PARTYD_BIN")"
export PARTYD_BIN

cd "$here"
# The test files by name: every Node version takes a list of files (directories and globs differ).
exec node --test "$@" ./*.test.mjs
