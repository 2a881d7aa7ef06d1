#include "storage/snapshot_store.hpp"

#include <utility>

#include "storage/log_store.hpp"
#include "storage/redis_store.hpp"

namespace partyd {

std::unique_ptr<snapshot_store> make_snapshot_store(const std::string& setting,
                                                    const std::string& prefix, std::string& error,
                                                    const std::string& quarantine_prefix) {
  error.clear();
  const std::string_view s = setting;
  if (s == "memory") {
    return nullptr;
  }
  if (s.starts_with("redis://")) {
    redis_settings settings;
    if (!parse_redis_url(s, settings, error)) {
      error = "--store: " + error;
      return nullptr;
    }
    if (quarantine_prefix.empty() || quarantine_prefix.starts_with(prefix) ||
        prefix.starts_with(quarantine_prefix)) {
      // Boot scans prefix*: a quarantined key under it would be restored.
      error =
          "--store-quarantine-prefix must be non-empty and neither contain nor be contained "
          "in --store-prefix";
      return nullptr;
    }
    return std::make_unique<redis_store>(std::move(settings), prefix, quarantine_prefix);
  }
  if (s.starts_with("file:")) {
    std::string dir(s.substr(5));
    if (dir.empty()) {
      error = "--store: file: needs a directory, e.g. file:/var/lib/partyd";
      return nullptr;
    }
    return std::make_unique<log_store>(std::move(dir));
  }
  if (s.starts_with('/') || s.starts_with('.')) {
    return std::make_unique<log_store>(setting);
  }
  // Never echo the setting when it could be a URL carrying a password.
  const bool may_hold_secret = s.find('@') != std::string_view::npos;
  error = "unknown --store " + (may_hold_secret ? std::string("setting") : "'" + setting + "'") +
          " (expected memory, redis://[:password@]host[:port][/db], file:/dir or a directory path)";
  return nullptr;
}

}  // namespace partyd
