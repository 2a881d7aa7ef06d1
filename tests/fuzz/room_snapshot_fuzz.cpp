// libFuzzer target: the room snapshot envelope (engine/room_snapshot) on arbitrary bytes. An
// envelope that decodes must encode to bytes that decode to the same fields and encode to the
// same bytes again (a fixed point after one round).
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "engine/room_snapshot.hpp"

namespace {

bool same(const partyd::room_snapshot& a, const partyd::room_snapshot& b) {
  return a.game == b.game && a.code == b.code && a.created_at == b.created_at &&
         a.last_activity == b.last_activity && a.version == b.version &&
         a.rng_state == b.rng_state && a.timers == b.timers && a.state == b.state &&
         a.sessions == b.sessions;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  std::string error;
  std::optional<partyd::room_snapshot> decoded = partyd::decode_room_snapshot(bytes, error);
  if (!decoded) {
    return 0;
  }
  const std::string once = partyd::encode_room_snapshot(*decoded);
  std::optional<partyd::room_snapshot> again = partyd::decode_room_snapshot(once, error);
  if (!again || !same(*decoded, *again) || partyd::encode_room_snapshot(*again) != once) {
    __builtin_trap();
  }
  return 0;
}
