// The first step of every game's decode: the message must be one JSON object whose string field
// "type" names one of the game's message types. Each game maps a failure to its own error codes
// (relay: invalid_json / unknown_type; brainrot: bad_request with a detail).
// Thread: pure; called on io threads.
#pragma once

#include <cstddef>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace partyd {

struct envelope {
  enum class status { ok, not_an_object, no_type, unknown_type };
  status outcome = status::not_an_object;
  boost::json::value parsed;   // the whole message (an object when outcome is ok)
  std::size_t type_index = 0;  // index into the type names given to parse_envelope

  const boost::json::object& object() const { return parsed.get_object(); }
};

// Parses `text` (nesting limited to 32 levels) and looks up its "type" in `type_names`. A number
// too large for a double (1e400) makes the message invalid JSON, like a syntax error: it could
// not be relayed or stored as JSON. Every double is settled on the value its own text reads back
// as, so that what a room stores writes the same bytes after a restore.
envelope parse_envelope(std::string_view text, std::span<const std::string_view> type_names);

// The same behind a message size limit, for games whose errors are {code, message}: a message
// over `max_bytes` (`message_too_large`), not an object with a known string "type"
// (`invalid_code`, or `unknown_type` for a type not in `type_names`) sets `error` and leaves the
// envelope's outcome not ok.
envelope parse_message(std::string_view text, std::size_t max_bytes,
                       std::span<const std::string_view> type_names, std::string_view invalid_code,
                       std::string& error_code, std::string& error_message);

}  // namespace partyd
