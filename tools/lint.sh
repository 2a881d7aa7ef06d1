#!/usr/bin/env bash
# Lint for partyd. Exits non-zero on any finding.
#
# 1. Formatting: clang-format --dry-run --Werror (style in .clang-format) over the C++ files in
#    engine/ games/ io/ storage/ tools/ tests/ bench/.
#    `tools/lint.sh --fix` rewrites the files in place instead of only checking them.
# 2. Layering and determinism rules for engine/ and games/ (rooms are deterministic state
#    machines; the network edge lives in io/, Redis in storage/):
#    - no #include of boost/asio, boost/beast or hiredis;
#    - no std::rand / rand() / srand(), std::random_device, and no reads of
#      system_clock::now / steady_clock::now / high_resolution_clock::now.
#      Rooms get time and randomness from the runtime (timers, engine/rng.hpp) instead.
#
# Allowlist for the clock / randomness rule (and only that rule): these files are where the
# engine legitimately reads the clock or the OS entropy source and hands it to the rest.
#   engine/log.cpp      log timestamps
#   engine/secrets.cpp  room codes, tokens and RNG seeds from OS randomness
#   engine/runtime.cpp  the clock that drives worker timer wheels
#   engine/worker.cpp   step latency for the metrics histogram (never reaches game state)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

ALLOWLIST=(engine/clock.cpp engine/log.cpp engine/secrets.cpp engine/runtime.cpp engine/worker.cpp)
FORMAT_DIRS=(engine games io storage tools tests bench)
RULE_DIRS=(engine games)

fix=0
case "${1:-}" in
  --fix) fix=1 ;;
  -h|--help) sed -n '2,20s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
  "") ;;
  *) echo "lint: unknown argument: $1" >&2; exit 2 ;;
esac

# Lists C++ files under the given dirs (those that exist), sorted, NUL-separated.
cxx_files() {
  local dirs=() d
  for d in "$@"; do [[ -d "$d" ]] && dirs+=("$d"); done
  ((${#dirs[@]})) || return 0
  find "${dirs[@]}" -type f \( -name '*.cpp' -o -name '*.hpp' -o -name '*.cc' -o -name '*.h' \
    -o -name '*.hh' -o -name '*.cxx' -o -name '*.hxx' -o -name '*.ipp' \) -print0 | sort -z
}

failed=0

# 1. Formatting.
mapfile -d '' fmt_files < <(cxx_files "${FORMAT_DIRS[@]}")
if ((${#fmt_files[@]} == 0)); then
  echo "lint: no C++ files to format-check"
elif ((fix)); then
  clang-format -i "${fmt_files[@]}"
  echo "lint: formatted ${#fmt_files[@]} files"
elif clang-format --dry-run --Werror "${fmt_files[@]}"; then
  echo "lint: format ok (${#fmt_files[@]} files)"
else
  echo "lint: formatting differs from .clang-format; run tools/lint.sh --fix" >&2
  failed=1
fi

# 2. Rules for engine/ and games/.
mapfile -d '' rule_files < <(cxx_files "${RULE_DIRS[@]}")

BANNED_INCLUDES='^[[:space:]]*#[[:space:]]*include[[:space:]]*[<"](boost/asio|boost/beast|hiredis)'
BANNED_NONDETERMINISM='std::s?rand\b|(^|[^[:alnum:]_.:>])s?rand[[:space:]]*\(|random_device|(system_clock|steady_clock|high_resolution_clock)[[:space:]]*::[[:space:]]*now\b'

is_allowlisted() {
  local f="$1" a
  for a in "${ALLOWLIST[@]}"; do [[ "$f" == "$a" ]] && return 0; done
  return 1
}

for f in "${rule_files[@]}"; do
  if grep -nHE "$BANNED_INCLUDES" "$f"; then
    echo "lint: $f: engine/ and games/ must not include Asio, Beast or hiredis" >&2
    failed=1
  fi
  if ! is_allowlisted "$f" && grep -nHE "$BANNED_NONDETERMINISM" "$f"; then
    echo "lint: $f: engine/ and games/ must not read clocks or randomness directly" \
      "(use the runtime's timers and engine/rng.hpp)" >&2
    failed=1
  fi
done
echo "lint: rules checked on ${#rule_files[@]} files in engine/ games/"

if ((failed)); then
  echo "lint: FAILED" >&2
  exit 1
fi
echo "lint: ok"
