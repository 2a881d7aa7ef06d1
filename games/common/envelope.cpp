#include "games/common/envelope.hpp"

#include <algorithm>
#include <cmath>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

namespace partyd {

namespace json = boost::json;

namespace {

// Boost.JSON reads 1e400 as an infinite double and would write it back as `Infinity`, which is not
// JSON: relayed, it breaks every reader; stored, the room's snapshot no longer restores.
//
// Boost.JSON 1.81 also reads some long decimals a unit in the last place away from the nearest
// double, so a double it wrote can read back as a different one: a room holding it would write
// a different snapshot after each restart. Each double is replaced by the value its own text
// reads back as, once that is stable (at most a few rounds); one that never settles is refused.
bool settle_double(json::value& v) {
  double current = v.get_double();
  for (int round = 0; round < 4; ++round) {
    if (!std::isfinite(current)) return false;
    boost::system::error_code ec;
    const json::value reread = json::parse(json::serialize(json::value(current)), ec);
    if (ec || !reread.is_double()) return false;
    if (reread.get_double() == current) {
      v = current;
      return true;
    }
    current = reread.get_double();
  }
  return false;
}

bool settle_numbers(json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      return settle_double(v);
    case json::kind::array:
      return std::all_of(v.get_array().begin(), v.get_array().end(), settle_numbers);
    case json::kind::object:
      return std::all_of(v.get_object().begin(), v.get_object().end(),
                         [](json::key_value_pair& kv) { return settle_numbers(kv.value()); });
    default:
      return true;
  }
}

}  // namespace

envelope parse_envelope(std::string_view text, std::span<const std::string_view> type_names) {
  envelope result;
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 32;
  result.parsed = json::parse(text, ec, json::storage_ptr(), options);
  if (ec || !result.parsed.is_object() || !settle_numbers(result.parsed)) {
    result.outcome = envelope::status::not_an_object;
    return result;
  }
  const json::value* type_field = result.object().if_contains("type");
  if (type_field == nullptr || !type_field->is_string()) {
    result.outcome = envelope::status::no_type;
    return result;
  }
  const std::string_view type_name = type_field->get_string();
  const auto found = std::find(type_names.begin(), type_names.end(), type_name);
  if (found == type_names.end()) {
    result.outcome = envelope::status::unknown_type;
    return result;
  }
  result.type_index = static_cast<std::size_t>(found - type_names.begin());
  result.outcome = envelope::status::ok;
  return result;
}

envelope parse_message(std::string_view text, std::size_t max_bytes,
                       std::span<const std::string_view> type_names, std::string_view invalid_code,
                       std::string& error_code, std::string& error_message) {
  if (text.size() > max_bytes) {
    error_code = "message_too_large";
    error_message = "a message may have at most " + std::to_string(max_bytes) + " bytes";
    return envelope{};
  }
  envelope message = parse_envelope(text, type_names);
  if (message.outcome == envelope::status::unknown_type) {
    error_code = "unknown_type";
    error_message = "unknown message type";
  } else if (message.outcome != envelope::status::ok) {
    error_code = std::string(invalid_code);
    error_message = "a message is a JSON object with a string \"type\"";
  }
  return message;
}

}  // namespace partyd
