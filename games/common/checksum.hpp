// FNV-1a, 32 bits, as 8 lower-case hex digits: the documented checksum of a viewer's critical
// fields that session games give heartbeats (docs/protocol/sessions.md; each game's page lists
// the fields). Clients compute it the same way.
// Thread: pure.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace partyd {

class fnv1a {
 public:
  void add(std::string_view text) noexcept {
    for (unsigned char c : text) {
      hash_ = (hash_ ^ c) * 16777619u;
    }
  }
  void add(std::int64_t n) { add(std::to_string(n)); }
  std::string hex() const {
    static constexpr char digits[] = "0123456789abcdef";
    std::string out(8, '0');
    for (std::size_t i = 0; i < 8; ++i) {
      out[7 - i] = digits[(hash_ >> (4 * i)) & 0xF];
    }
    return out;
  }

 private:
  std::uint32_t hash_ = 2166136261u;
};

}  // namespace partyd
