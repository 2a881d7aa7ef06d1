// JSON helpers every game's codec and snapshot use.
//
// Writing: strings_to_json.
// Reading a snapshot: the strict readers below throw snapshot_malformed on anything unexpected;
// restore_guarded() turns that (and std::bad_alloc on absurd sizes) into "cannot restore", so a
// restore reads like the schema it checks and still never throws.
// Thread: pure.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace partyd {

boost::json::array strings_to_json(const std::vector<std::string>& strings);

// Passing JSON through unchanged. Boost.JSON keeps numbers as 64-bit integers or doubles, so a
// value parsed and written again can change (123456789012345678901234567890 comes back as
// 1.2345678901234568E29, 0.1 as 1E-1); a relay must forward what it was sent.
// The text of member `key`'s value in the JSON object `text`, exactly as written. nullopt when the
// key is absent, appears more than once, or `text` is not an object. `text` must be valid JSON
// (it was parsed already): this only finds the boundaries.
std::optional<std::string_view> raw_member(std::string_view text, std::string_view key);
// `object_text` (a serialized JSON object) with `"key":raw` appended as its last member.
std::string with_raw_member(std::string object_text, std::string_view key, std::string_view raw);
// The same for several members, appended in the order given: with the members a frame has before
// and after its raw one, the frame keeps its member order.
struct raw_json_member {
  std::string_view key;
  std::string_view raw;
};
std::string with_raw_members(std::string object_text,
                             std::initializer_list<raw_json_member> members);

namespace snapshot_read {

// Thrown by the readers; caught by restore_guarded().
struct snapshot_malformed {};

inline void require(bool condition) {
  if (!condition) throw snapshot_malformed{};
}

const boost::json::value& field(const boost::json::object& object, std::string_view key);
const boost::json::object& as_object(const boost::json::value& v);
const boost::json::array& as_array(const boost::json::value& v);
std::string as_string(const boost::json::value& v);
std::string as_id(const boost::json::value& v);  // a non-empty string
bool as_bool(const boost::json::value& v);
std::uint64_t as_uint(const boost::json::value& v);
std::int64_t as_int(const boost::json::value& v);
std::vector<std::string> as_strings(const boost::json::value& v);
std::vector<std::string> as_ids(const boost::json::value& v);
// "sha256:" + 64 lower-case hex digits, as engine/secrets.hpp writes them; "" when allow_empty.
std::string as_hash(const boost::json::value& v, bool allow_empty);
// Every game's snapshot document starts {"schema": N, "game": name}; restore requires both.
boost::json::object snapshot_document(std::int64_t schema, std::string_view game);
void require_header(const boost::json::object& root, std::int64_t schema, std::string_view game);
// The same for a game that still reads older schemas: returns the document's, oldest..newest.
std::int64_t require_header(const boost::json::object& root, std::int64_t oldest,
                            std::int64_t newest, std::string_view game);
// Parses a snapshot document (nesting up to `max_depth`); throws when it is not a JSON object.
boost::json::value parse_document(std::string_view bytes, unsigned max_depth = 64);
// Client JSON a snapshot keeps as its text, to relay it byte for byte: `text` must be exactly one
// JSON value, nested at most `max_depth` levels, with every number finite (1e400 is refused, as
// decoding refuses it). Returns it parsed, for the caller's own checks (e.g. is it an object).
boost::json::value parse_json_text(std::string_view text, unsigned max_depth);
// A string field holding such text; returns the text.
std::string as_json_text(const boost::json::value& v, unsigned max_depth);

}  // namespace snapshot_read

// Runs `restore` (which may throw snapshot_malformed or std::bad_alloc) and returns its result,
// or nullptr when it threw.
template <class Restore>
auto restore_guarded(Restore&& restore) noexcept -> decltype(restore()) {
  try {
    return restore();
  } catch (...) {
    return nullptr;
  }
}

}  // namespace partyd
