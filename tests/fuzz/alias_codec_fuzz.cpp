// libFuzzer target: the Alias wire decoder on arbitrary bytes, as first and as later message, with
// the default limits. Any input must give a command or a protocol error: no crash, no exception,
// no sanitizer report.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "games/alias/codec.hpp"
#include "games/alias/module.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const partyd::alias_config config{};
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const bool first : {true, false}) {
    partyd::decode_result result = partyd::alias::decode(config, text, first);
    if (!result.error && !result.cmd) {
      __builtin_trap();  // a decode must produce one or the other
    }
  }
  return 0;
}
