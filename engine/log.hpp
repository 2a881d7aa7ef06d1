// Structured logging: one JSON object per line on stderr, e.g.
//   {"ts":"2026-11-22T10:00:00.123Z","level":"info","event":"room_created","room":"ABC234"}
// Callers never pass secrets (host keys, passwords, seat tokens) as fields.
// Thread safety: any thread; each line is written with one write() call.
#pragma once

#include <string_view>

#include <boost/json/object.hpp>

namespace partyd::log {

enum class level { debug = 0, info = 1, warn = 2, error = 3 };

void set_level(level minimum);
bool parse_level(std::string_view text, level& out);
bool enabled(level at);
void write(level at, std::string_view event, boost::json::object fields = {});

inline void debug(std::string_view event, boost::json::object fields = {}) {
  if (enabled(level::debug)) write(level::debug, event, std::move(fields));
}
inline void info(std::string_view event, boost::json::object fields = {}) {
  write(level::info, event, std::move(fields));
}
inline void warn(std::string_view event, boost::json::object fields = {}) {
  write(level::warn, event, std::move(fields));
}
inline void error(std::string_view event, boost::json::object fields = {}) {
  write(level::error, event, std::move(fields));
}

}  // namespace partyd::log
