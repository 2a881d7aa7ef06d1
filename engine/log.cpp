#include "engine/log.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>

#include <boost/json/serialize.hpp>

namespace partyd::log {
namespace {

std::atomic<int> minimum_level{static_cast<int>(level::info)};

const char* level_name(level at) {
  switch (at) {
    case level::debug:
      return "debug";
    case level::info:
      return "info";
    case level::warn:
      return "warn";
    case level::error:
      return "error";
  }
  return "info";
}

std::string timestamp() {
  // Logging is the edge, not game code: reading the wall clock here is fine.
  const auto now = std::chrono::system_clock::now();
  const auto millis =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(millis / 1000);
  std::tm utc{};
  gmtime_r(&seconds, &utc);
  char buffer[96];
  std::snprintf(buffer, sizeof(buffer), "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", utc.tm_year + 1900,
                utc.tm_mon + 1, utc.tm_mday, utc.tm_hour, utc.tm_min, utc.tm_sec,
                static_cast<int>(millis % 1000));
  return buffer;
}

}  // namespace

void set_level(level minimum) { minimum_level.store(static_cast<int>(minimum)); }

bool parse_level(std::string_view text, level& out) {
  if (text == "debug")
    out = level::debug;
  else if (text == "info")
    out = level::info;
  else if (text == "warn")
    out = level::warn;
  else if (text == "error")
    out = level::error;
  else
    return false;
  return true;
}

bool enabled(level at) {
  return static_cast<int>(at) >= minimum_level.load(std::memory_order_relaxed);
}

void write(level at, std::string_view event, boost::json::object fields) {
  if (!enabled(at)) {
    return;
  }
  boost::json::object line;
  line.reserve(fields.size() + 3);
  line["ts"] = timestamp();
  line["level"] = level_name(at);
  line["event"] = event;
  for (auto& field : fields) {
    line[field.key()] = std::move(field.value());
  }
  std::string text = boost::json::serialize(line);
  text.push_back('\n');
  // One write() per line keeps lines from different threads whole.
  const char* data = text.data();
  std::size_t left = text.size();
  while (left > 0) {
    const ssize_t written = ::write(STDERR_FILENO, data, left);
    if (written <= 0) {
      return;
    }
    data += written;
    left -= static_cast<std::size_t>(written);
  }
}

}  // namespace partyd::log
