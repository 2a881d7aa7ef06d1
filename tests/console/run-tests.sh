#!/usr/bin/env bash
# Runs the web console's browser test (node --test console.test.mjs): Debian's Chromium, headless,
# driven by playwright-core, against the partyd binary named by PARTYD_BIN. ctest's
# console_browser runs this; exit status 77 (ctest's SKIP_RETURN_CODE) when Node, the npm
# packages or Chromium are missing: `npm ci` in tests/console, `apt-get install chromium`.
#
#   PARTYD_BIN=build/partyd tests/console/run-tests.sh [node --test options...]
#   CONSOLE_MOCK=1 tests/console/run-tests.sh        (against mock-server.mjs, no binary needed)
#   CONSOLE_DIR=console PARTYD_BIN=... tests/console/run-tests.sh   (the page from disk, not the
#                                                     copy built into the binary)
#
# Screenshots of each page go to $CONSOLE_SCREENSHOTS (default: tests/console/screenshots/).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
chromium="${CONSOLE_CHROMIUM:-/usr/bin/chromium}"

if ! command -v node >/dev/null 2>&1; then
  echo "console_browser: SKIPPED: node is not installed (Node.js 18 or later is needed)"
  exit 77
fi
if [[ ! -d "$here/node_modules/playwright-core" || ! -d "$here/node_modules/ws" ]]; then
  echo "console_browser: SKIPPED: tests/console/node_modules is missing; run 'npm ci' in tests/console"
  exit 77
fi
if [[ ! -x "$chromium" ]]; then
  echo "console_browser: SKIPPED: $chromium is missing; install it with 'apt-get install chromium'"
  exit 77
fi
if [[ "${CONSOLE_MOCK:-}" != 1 ]]; then
  if [[ -z "${PARTYD_BIN:-}" ]]; then
    echo "console_browser: PARTYD_BIN is not set (the path of the partyd binary)" >&2
    exit 2
  fi
  PARTYD_BIN="$(cd "$(dirname "$PARTYD_BIN")" && pwd)/$(basename "$PARTYD_BIN")"
  export PARTYD_BIN
fi
if [[ -n "${CONSOLE_SCREENSHOTS:-}" ]]; then
  mkdir -p "$CONSOLE_SCREENSHOTS"
  CONSOLE_SCREENSHOTS="$(cd "$CONSOLE_SCREENSHOTS" && pwd)"
  export CONSOLE_SCREENSHOTS
fi

cd "$here"
exec node --test "$@" ./console.test.mjs
