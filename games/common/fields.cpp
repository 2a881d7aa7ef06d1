#include "games/common/fields.hpp"

#include "games/common/text.hpp"

namespace partyd {

std::optional<std::int64_t> integer_of(const boost::json::value& v) {
  if (v.is_int64()) return v.get_int64();
  if (v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX)) {
    return static_cast<std::int64_t>(v.get_uint64());
  }
  return std::nullopt;
}

bool text_field(const boost::json::value& v, std::size_t max_chars, std::string& out,
                std::string& why) {
  if (!v.is_string()) {
    why = "must be a string";
    return false;
  }
  const std::string_view text = trim(v.get_string());
  if (text.empty()) {
    why = "must not be empty";
    return false;
  }
  if (utf8_length(text) > max_chars) {
    why = "must be at most " + std::to_string(max_chars) + " characters";
    return false;
  }
  out = std::string(text);
  return true;
}

bool range_field(const boost::json::value& v, std::int64_t low, std::int64_t high,
                 std::uint32_t& out, std::string& why) {
  const std::optional<std::int64_t> n = integer_of(v);
  if (!n || *n < low || *n > high) {
    why = "must be an integer from " + std::to_string(low) + " to " + std::to_string(high);
    return false;
  }
  out = static_cast<std::uint32_t>(*n);
  return true;
}

}  // namespace partyd
