#include "engine/clock.hpp"

#include <chrono>

namespace partyd {

time_ms wall_clock_ms() noexcept {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace partyd
