// libFuzzer target: the WebSocket frame reader (io/ws_codec) on arbitrary bytes, fed in pieces
// the way a connection gets them (the first byte picks the piece size), as a server reading
// masked client frames and as a client reading server frames. Invariants: no crash or sanitizer
// report, never more consumed than offered, nothing consumed after a close or an error, and no
// message longer than the limit.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>

#include "io/ws_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) {
    return 0;
  }
  const std::size_t piece = 1 + data[0] % 64;
  constexpr std::size_t kMaxMessage = 4096;
  for (const bool server : {true, false}) {
    partyd::ws::frame_reader reader(kMaxMessage, /*expect_masked=*/server);
    std::string pending;
    for (std::size_t at = 1; at < size; at += piece) {
      const bool finished_before = reader.finished();
      pending.append(reinterpret_cast<const char*>(data) + at, std::min(piece, size - at));
      const std::size_t used =
          reader.parse(pending.data(), pending.size(), [](const partyd::ws::reader_event& event) {
            if (event.what == partyd::ws::reader_event::kind::message &&
                event.payload.size() > kMaxMessage) {
              __builtin_trap();
            }
            return true;
          });
      if (used > pending.size() || (finished_before && used != 0)) {
        __builtin_trap();
      }
      pending.erase(0, used);
    }
  }
  return 0;
}
