// libFuzzer target: Alias snapshot restore on arbitrary bytes, with the default limits. A snapshot
// that restores must encode again to bytes that restore to the same snapshot (a fixed point after
// one round).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "games/alias/game.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const partyd::alias_config config{};
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto restored = partyd::alias_restore(config, bytes);
  if (!restored) {
    return 0;
  }
  const std::string once = restored->snapshot();
  auto again = partyd::alias_restore(config, once);
  if (!again || again->snapshot() != once) {
    __builtin_trap();
  }
  return 0;
}
