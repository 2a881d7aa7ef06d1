// Checks that stay on in every build, Release included.
//
// PARTYD_CHECK(cond): an engine invariant. When it fails the process cannot trust its own
// bookkeeping, so it logs `invariant_failed` (file, line, the condition) and aborts; the
// supervisor restarts it and every room comes back from the store. Cheap conditions only: it
// runs on hot paths.
//
// A game rule that finds its own state impossible throws instead (game_rule_violation, or any
// exception): the worker's step guard closes only that room, counts it and keeps its last good
// snapshot aside (ARCHITECTURE.md, "Failures").
#pragma once

#include <stdexcept>

namespace partyd {

[[noreturn]] void invariant_failed(const char* condition, const char* file, int line) noexcept;

// Thrown by game code when a rule finds its state impossible; caught by the worker's step guard.
class game_rule_violation : public std::logic_error {
 public:
  using std::logic_error::logic_error;
};

}  // namespace partyd

#define PARTYD_CHECK(condition)                                   \
  do {                                                            \
    if (!(condition)) [[unlikely]] {                              \
      ::partyd::invariant_failed(#condition, __FILE__, __LINE__); \
    }                                                             \
  } while (false)
