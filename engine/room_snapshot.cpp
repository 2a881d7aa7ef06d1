#include "engine/room_snapshot.hpp"

#include <zlib.h>

#include <boost/json.hpp>

#include "engine/json_string.hpp"

namespace partyd {

namespace json = boost::json;

namespace {

// The IEEE CRC-32 (as Boost's crc_32_type computed it before): zlib's runs several bytes a
// cycle instead of one table lookup a byte.
std::uint32_t crc32_of(std::string_view bytes) {
  return static_cast<std::uint32_t>(
      ::crc32(0L, reinterpret_cast<const Bytef*>(bytes.data()), static_cast<uInt>(bytes.size())));
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

bool parse_u64(std::string_view text, std::uint64_t& out) {
  if (text.empty() || text.size() > 20) return false;
  std::uint64_t value = 0;
  for (const char ch : text) {
    if (ch < '0' || ch > '9') return false;
    const std::uint64_t digit = static_cast<std::uint64_t>(ch - '0');
    if (value > (UINT64_MAX - digit) / 10) return false;
    value = value * 10 + digit;
  }
  out = value;
  return true;
}

bool read_u64_string(const json::object& object, std::string_view field, std::uint64_t& out) {
  const json::value* value = object.if_contains(field);
  return value && value->is_string() && parse_u64(value->as_string(), out);
}

// Schema 2: "rng": four decimal strings.
bool read_rng_state(const json::object& object, room_rng::state_type& out) {
  const json::value* value = object.if_contains("rng");
  const json::array* words = value ? value->if_array() : nullptr;
  if (!words || words->size() != out.size()) return false;
  for (std::size_t i = 0; i < out.size(); ++i) {
    if (!(*words)[i].is_string() || !parse_u64((*words)[i].as_string(), out[i])) return false;
  }
  return true;
}

// Schema 1: a seed and the number of draws since. The generator was replaced by a smaller one in
// schema 2; no game drew before that, so a seed with draws is continued from the seed's state
// advanced by the draws (bounded: an absurd count is a corrupt snapshot).
bool read_rng_seed_and_draws(const json::object& object, room_rng::state_type& out) {
  std::uint64_t seed = 0;
  std::uint64_t draws = 0;
  if (!read_u64_string(object, "rngSeed", seed) || !read_int(object, "rngDraws", draws) ||
      draws > 1'000'000) {
    return false;
  }
  room_rng rng(seed);
  for (std::uint64_t i = 0; i < draws; ++i) rng.next();
  out = rng.state();
  return true;
}

}  // namespace

std::string encode_room_snapshot(const room_snapshot& snapshot) {
  // Written member by member rather than through a json::object: the state (most of the bytes)
  // is escaped once, straight into the output, instead of being copied into the object first.
  // 64-bit values that JSON readers may round (rng words, keys) are written as strings.
  std::string out;
  out.reserve(snapshot.state.size() + snapshot.sessions.size() + 512);
  out += "{\"schema\":";
  out += std::to_string(room_snapshot_schema);
  out += ",\"game\":";
  append_json_string(out, snapshot.game);
  out += ",\"code\":";
  append_json_string(out, snapshot.code);
  out += ",\"createdAt\":";
  out += std::to_string(snapshot.created_at);
  out += ",\"lastActivity\":";
  out += std::to_string(snapshot.last_activity);
  out += ",\"version\":";
  out += std::to_string(snapshot.version);
  out += ",\"rng\":[";
  for (std::size_t i = 0; i < snapshot.rng_state.size(); ++i) {
    out += i == 0 ? "\"" : ",\"";
    out += std::to_string(snapshot.rng_state[i]);
    out += '"';
  }
  out += "],\"timers\":[";
  for (std::size_t i = 0; i < snapshot.timers.size(); ++i) {
    out += i == 0 ? "[\"" : ",[\"";
    out += std::to_string(snapshot.timers[i].first);
    out += "\",";
    out += std::to_string(snapshot.timers[i].second);
    out += ']';
  }
  out += "],\"crc32\":";
  out += std::to_string(crc32_of(snapshot.state));
  out += ",\"state\":";
  append_json_string(out, snapshot.state);
  if (!snapshot.sessions.empty()) {
    out += ",\"sessions\":";  // covered by its own check: the table restores it
    append_json_string(out, snapshot.sessions);
  }
  out += '}';
  return out;
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
  if (!read_int(envelope, "schema", schema) || schema < 1 || schema > room_snapshot_schema) {
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
      !(schema == 1 ? read_rng_seed_and_draws(envelope, out.rng_state)
                    : read_rng_state(envelope, out.rng_state)) ||
      !read_int(envelope, "crc32", crc)) {
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
  if (const json::value* sessions = envelope.if_contains("sessions")) {
    if (!sessions->is_string()) {
      error = "bad sessions";
      return std::nullopt;
    }
    out.sessions = std::string(sessions->as_string());
  }
  for (const auto& item : timers->as_array()) {
    const json::array* pair = item.if_array();
    std::uint64_t key = 0;
    if (!pair || pair->size() != 2 || !(*pair)[0].is_string() || !(*pair)[1].is_int64()) {
      error = "bad timer";
      return std::nullopt;
    }
    if (!parse_u64((*pair)[0].as_string(), key)) {
      error = "bad timer key";
      return std::nullopt;
    }
    out.timers.emplace_back(key, (*pair)[1].as_int64());
  }
  return out;
}

}  // namespace partyd
