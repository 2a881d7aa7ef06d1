// Reads rooms' snapshots behind partyd's back from the embedded store: the log
// `<dir>/snapshots.log` (storage/log_store.hpp), replayed the way the store replays it at boot.
#pragma once

#include <fstream>
#include <iterator>
#include <map>
#include <optional>
#include <string>

#include "storage/log_codec.hpp"

namespace partyd::testing {

struct stored_snapshots {
  std::map<std::string, std::string> live;
  std::map<std::string, std::string> quarantined;
};

inline stored_snapshots read_snapshot_log(const std::string& dir) {
  std::ifstream in(dir + "/snapshots.log", std::ios::binary);
  const std::string log((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  stored_snapshots out;
  snapshot_log::scan(log, [&](const snapshot_log::record& r, std::size_t, std::size_t) {
    const std::string key(r.key);
    switch (r.kind) {
      case snapshot_log::record_kind::put:
        out.live[key] = std::string(r.value);
        break;
      case snapshot_log::record_kind::put_quarantined:
        out.quarantined[key] = std::string(r.value);
        break;
      case snapshot_log::record_kind::remove:
        out.live.erase(key);
        break;
      case snapshot_log::record_kind::quarantine:
        if (auto it = out.live.find(key); it != out.live.end()) {
          out.quarantined[key] = std::move(it->second);
          out.live.erase(it);
        }
        break;
    }
  });
  return out;
}

inline std::optional<std::string> read_file_snapshot(const std::string& dir,
                                                     const std::string& code) {
  stored_snapshots stored = read_snapshot_log(dir);
  auto it = stored.live.find(code);
  if (it == stored.live.end()) return std::nullopt;
  return std::move(it->second);
}

inline std::optional<std::string> read_quarantined_snapshot(const std::string& dir,
                                                            const std::string& code) {
  stored_snapshots stored = read_snapshot_log(dir);
  auto it = stored.quarantined.find(code);
  if (it == stored.quarantined.end()) return std::nullopt;
  return std::move(it->second);
}

// Puts `value` under `code` as the per-room file older versions wrote (`<dir>/<code>.snap`: a
// header line, then the bytes), which the next boot reads into the log.
inline bool write_older_snapshot_file(const std::string& dir, const std::string& code,
                                      const std::string& value) {
  std::ofstream out(dir + "/" + code + ".snap", std::ios::binary | std::ios::trunc);
  out << "partyd-snapshot 1 0\n" << value;
  return static_cast<bool>(out.flush());
}

}  // namespace partyd::testing
