#include "engine/room_snapshot.hpp"

#include <boost/crc.hpp>
#include <boost/json.hpp>

namespace partyd {

namespace json = boost::json;

namespace {

std::uint32_t crc32_of(std::string_view bytes) {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

template <class T>
bool read_int(const json::object& object, std::string_view field, T& out) {
  const json::value* value = object.if_contains(field);
  if (!value) return false;
  if (value->is_int64()) {
    out = static_cast<T>(value->as_int64());
    return true;
  }
  if (value->is_uint64()) {
    out = static_cast<T>(value->as_uint64());
    return true;
  }
  return false;
}

bool read_u64_string(const json::object& object, std::string_view field, std::uint64_t& out) {
  const json::value* value = object.if_contains(field);
  if (!value || !value->is_string()) return false;
  try {
    std::size_t used = 0;
    const std::string text(value->as_string());
    out = std::stoull(text, &used);
    return used == text.size();
  } catch (...) {
    return false;
  }
}

}  // namespace

std::string encode_room_snapshot(const room_snapshot& snapshot) {
  json::array timers;
  for (const auto& [key, deadline] : snapshot.timers) {
    timers.push_back(json::array{std::to_string(key), deadline});
  }
  // 64-bit values that JSON readers may round (seed, keys) are written as strings.
  json::object envelope{{"schema", room_snapshot_schema},
                        {"game", snapshot.game},
                        {"code", snapshot.code},
                        {"createdAt", snapshot.created_at},
                        {"lastActivity", snapshot.last_activity},
                        {"version", snapshot.version},
                        {"rngSeed", std::to_string(snapshot.rng_seed)},
                        {"rngDraws", snapshot.rng_draws},
                        {"timers", std::move(timers)},
                        {"crc32", crc32_of(snapshot.state)},
                        {"state", snapshot.state}};
  return json::serialize(envelope);
}

std::optional<room_snapshot> decode_room_snapshot(std::string_view bytes, std::string& error) {
  json::error_code ec;
  json::value parsed = json::parse(bytes, ec);
  if (ec || !parsed.is_object()) {
    error = "not a JSON object";
    return std::nullopt;
  }
  const json::object& envelope = parsed.as_object();
  int schema = 0;
  if (!read_int(envelope, "schema", schema) || schema != room_snapshot_schema) {
    error = "unknown schema";
    return std::nullopt;
  }
  room_snapshot out;
  const json::value* game = envelope.if_contains("game");
  const json::value* code = envelope.if_contains("code");
  const json::value* state = envelope.if_contains("state");
  const json::value* timers = envelope.if_contains("timers");
  std::uint32_t crc = 0;
  if (!game || !game->is_string() || !code || !code->is_string() || !state || !state->is_string() ||
      !timers || !timers->is_array() || !read_int(envelope, "createdAt", out.created_at) ||
      !read_int(envelope, "lastActivity", out.last_activity) ||
      !read_int(envelope, "version", out.version) ||
      !read_u64_string(envelope, "rngSeed", out.rng_seed) ||
      !read_int(envelope, "rngDraws", out.rng_draws) || !read_int(envelope, "crc32", crc)) {
    error = "missing or mistyped field";
    return std::nullopt;
  }
  out.game = std::string(game->as_string());
  out.code = std::string(code->as_string());
  out.state = std::string(state->as_string());
  if (crc32_of(out.state) != crc) {
    error = "checksum mismatch";
    return std::nullopt;
  }
  for (const auto& item : timers->as_array()) {
    const json::array* pair = item.if_array();
    std::uint64_t key = 0;
    if (!pair || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_int64()) {
      error = "bad timer";
      return std::nullopt;
    }
    try {
      key = std::stoull(std::string((*pair)[0].as_string()));
    } catch (...) {
      error = "bad timer key";
      return std::nullopt;
    }
    out.timers.emplace_back(key, (*pair)[1].as_int64());
  }
  return out;
}

}  // namespace partyd
