#include "engine/check.hpp"

#include <cstdlib>

#include "engine/log.hpp"

namespace partyd {

void invariant_failed(const char* condition, const char* file, int line) noexcept {
  try {
    log::error("invariant_failed", {{"condition", condition}, {"file", file}, {"line", line}});
  } catch (...) {
    // Out of memory while logging: abort all the same.
  }
  std::abort();
}

}  // namespace partyd
