#!/usr/bin/env bash
# Installs partyd's build and test dependencies (Debian 12 "bookworm" packages) when missing.
# Idempotent: when everything is already installed it only runs dpkg-query and exits.
# Runs apt-get as root, or through sudo otherwise. `apt-get update` runs at most once.
set -euo pipefail

PACKAGES=(
  build-essential cmake ninja-build ccache pkg-config git curl
  libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev
  libconcurrentqueue-dev libhiredis-dev libssl-dev zlib1g-dev
  libgtest-dev libgmock-dev googletest libbenchmark-dev
  redis-server clang-format
  # io/auth: JWT verification at the WebSocket upgrade. libjwt-dev is the OpenSSL flavour (the
  # GnuTLS one is libjwt-gnutls-dev); linked dynamically, it needs no other -dev package.
  libjwt-dev
  # tools/run-fuzz.sh: clang 14 and its compiler-rt (libFuzzer, ASan and UBSan runtimes; only
  # recommended by clang-14's libclang-common-14-dev, so --no-install-recommends leaves it out).
  clang libclang-rt-14-dev
  # storage/history: finished games written to SQLite or PostgreSQL; its tests run a real
  # PostgreSQL 15 cluster (initdb and postgres from the postgresql package).
  libsqlite3-dev libpq-dev postgresql
  prometheus  # tests/prometheus and docs/prometheus: prometheus and promtool (its service is not used)
  chromium  # tests/console: the web console's browser test (headless, driven by playwright-core)
)

missing=()
for pkg in "${PACKAGES[@]}"; do
  status="$(dpkg-query -W -f='${db:Status-Status}' "$pkg" 2>/dev/null || true)"
  if [[ "$status" != "installed" ]]; then
    missing+=("$pkg")
  fi
done

if ((${#missing[@]} == 0)); then
  echo "setup-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup-deps: installing missing packages: ${missing[*]}"
SUDO=()
if [[ "$(id -u)" -ne 0 ]]; then
  if ! command -v sudo >/dev/null 2>&1; then
    echo "setup-deps: not root and sudo is not available; install as root: apt-get install ${missing[*]}" >&2
    exit 1
  fi
  SUDO=(sudo)
fi

export DEBIAN_FRONTEND=noninteractive
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive \
  apt-get install -y -q --no-install-recommends "${missing[@]}"
echo "setup-deps: done"
