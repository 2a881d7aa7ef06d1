// Field readers the games' decoders share: a message's numbers and texts checked against their
// limits, with the reason in words for the game's error frame.
// Thread: pure.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include <boost/json/value.hpp>

namespace partyd {

// The value as a signed 64-bit integer (an unsigned one that fits too); nullopt otherwise.
std::optional<std::int64_t> integer_of(const boost::json::value& v);
// A string of 1..max_chars code points after trimming ASCII whitespace: `out` gets the trimmed
// text; else false with `why` ("must be a string", "must not be empty", "must be at most N
// characters").
bool text_field(const boost::json::value& v, std::size_t max_chars, std::string& out,
                std::string& why);
// An integer from `low` to `high`; else false with `why`.
bool range_field(const boost::json::value& v, std::int64_t low, std::int64_t high,
                 std::uint32_t& out, std::string& why);

}  // namespace partyd
