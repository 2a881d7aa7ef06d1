// libFuzzer target: the embedded store's log scan (storage/log_codec) on arbitrary bytes, as a
// boot reads whatever a crash or a damaged disk left. Every record it accepts must re-encode to
// the very bytes it was read from, the stretches it reports must add up to the input, and a
// record appended where the scan says the good records end must be read back last.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "storage/log_codec.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  namespace log = partyd::snapshot_log;
  std::string bytes(log::file_magic);
  bytes.append(reinterpret_cast<const char*>(data), size);
  std::size_t good_bytes = 0;
  std::size_t records = 0;
  const log::scan_result result =
      log::scan(bytes, [&](const log::record& r, std::size_t offset, std::size_t length) {
        std::string again;
        log::append_record(again, r);
        if (again != std::string_view(bytes).substr(offset, length)) {
          __builtin_trap();
        }
        good_bytes += length;
        ++records;
      });
  if (result.valid_end > bytes.size() ||
      log::file_magic.size() + good_bytes + result.corrupt_bytes + result.torn_bytes !=
          bytes.size()) {
    __builtin_trap();
  }
  bytes.resize(result.valid_end);
  log::append_record(bytes, log::record{log::record_kind::put, "LAST", 7, "value"});
  std::size_t seen = 0;
  bool last_is_new = false;
  log::scan(bytes, [&](const log::record& r, std::size_t, std::size_t) {
    ++seen;
    last_is_new = r.key == "LAST" && r.value == "value" && r.expires_at == 7;
  });
  if (seen != records + 1 || !last_is_new) {
    __builtin_trap();
  }
  return 0;
}
