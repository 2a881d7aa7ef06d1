#include "games/common/json_io.hpp"

#include <cmath>
#include <utility>

#include <boost/json/parse.hpp>

namespace partyd {

namespace json = boost::json;

json::array strings_to_json(const std::vector<std::string>& strings) {
  json::array list;
  list.reserve(strings.size());
  for (const std::string& s : strings) {
    list.emplace_back(s);
  }
  return list;
}

namespace {

std::size_t skip_space(std::string_view text, std::size_t at) {
  while (at < text.size() &&
         (text[at] == ' ' || text[at] == '\t' || text[at] == '\n' || text[at] == '\r')) {
    ++at;
  }
  return at;
}

// `at` is on an opening quote; returns the position after the closing one.
std::size_t skip_string(std::string_view text, std::size_t at) {
  for (++at; at < text.size(); ++at) {
    if (text[at] == '\\') {
      ++at;
    } else if (text[at] == '"') {
      return at + 1;
    }
  }
  return text.size();
}

// `at` is on the first character of a value; returns the position after it.
std::size_t skip_value(std::string_view text, std::size_t at) {
  if (at >= text.size()) return at;
  if (text[at] == '"') return skip_string(text, at);
  if (text[at] == '{' || text[at] == '[') {
    int depth = 0;
    while (at < text.size()) {
      const char c = text[at];
      if (c == '"') {
        at = skip_string(text, at);
        continue;
      }
      if (c == '{' || c == '[') ++depth;
      if (c == '}' || c == ']') {
        if (--depth == 0) return at + 1;
      }
      ++at;
    }
    return at;
  }
  while (at < text.size() && text[at] != ',' && text[at] != '}' && text[at] != ']' &&
         text[at] != ' ' && text[at] != '\t' && text[at] != '\n' && text[at] != '\r') {
    ++at;
  }
  return at;
}

}  // namespace

std::optional<std::string_view> raw_member(std::string_view text, std::string_view key) {
  std::size_t at = skip_space(text, 0);
  if (at >= text.size() || text[at] != '{') return std::nullopt;
  std::optional<std::string_view> found;
  at = skip_space(text, at + 1);
  while (at < text.size() && text[at] == '"') {
    const std::size_t key_end = skip_string(text, at);
    const std::string_view name = text.substr(at + 1, key_end - at - 2);
    at = skip_space(text, key_end);
    if (at >= text.size() || text[at] != ':') return std::nullopt;
    at = skip_space(text, at + 1);
    const std::size_t value_end = skip_value(text, at);
    // A key written with escapes could also spell `key`: not worth decoding, give up instead.
    if (name == key || name.find('\\') != std::string_view::npos) {
      if (found || name != key) return std::nullopt;
      found = text.substr(at, value_end - at);
    }
    at = skip_space(text, value_end);
    if (at < text.size() && text[at] == ',') at = skip_space(text, at + 1);
  }
  return found;
}

std::string with_raw_member(std::string object_text, std::string_view key, std::string_view raw) {
  return with_raw_members(std::move(object_text), {{key, raw}});
}

std::string with_raw_members(std::string object_text,
                             std::initializer_list<raw_json_member> members) {
  const std::size_t close = object_text.rfind('}');
  if (close == std::string::npos) return object_text;
  bool first = object_text.find(':') == std::string::npos;
  std::string added;
  for (const raw_json_member& member : members) {
    added += first ? "\"" : ",\"";
    added += member.key;
    added += "\":";
    added += member.raw;
    first = false;
  }
  object_text.insert(close, added);
  return object_text;
}

namespace {

bool all_numbers_finite(const json::value& v) {
  switch (v.kind()) {
    case json::kind::double_:
      return std::isfinite(v.get_double());
    case json::kind::array:
      for (const json::value& item : v.get_array()) {
        if (!all_numbers_finite(item)) return false;
      }
      return true;
    case json::kind::object:
      for (const json::key_value_pair& member : v.get_object()) {
        if (!all_numbers_finite(member.value())) return false;
      }
      return true;
    default:
      return true;
  }
}

}  // namespace

namespace snapshot_read {

const json::value& field(const json::object& object, std::string_view key) {
  const json::value* found = object.if_contains(key);
  require(found != nullptr);
  return *found;
}

const json::object& as_object(const json::value& v) {
  require(v.is_object());
  return v.get_object();
}

const json::array& as_array(const json::value& v) {
  require(v.is_array());
  return v.get_array();
}

std::string as_string(const json::value& v) {
  require(v.is_string());
  return std::string(v.get_string());
}

std::string as_id(const json::value& v) {
  std::string id = as_string(v);
  require(!id.empty());
  return id;
}

bool as_bool(const json::value& v) {
  require(v.is_bool());
  return v.get_bool();
}

std::uint64_t as_uint(const json::value& v) {
  if (v.is_uint64()) {
    return v.get_uint64();
  }
  require(v.is_int64() && v.get_int64() >= 0);
  return static_cast<std::uint64_t>(v.get_int64());
}

std::int64_t as_int(const json::value& v) {
  if (v.is_int64()) {
    return v.get_int64();
  }
  require(v.is_uint64() && v.get_uint64() <= static_cast<std::uint64_t>(INT64_MAX));
  return static_cast<std::int64_t>(v.get_uint64());
}

std::vector<std::string> as_strings(const json::value& v) {
  std::vector<std::string> strings;
  for (const json::value& item : as_array(v)) {
    strings.push_back(as_string(item));
  }
  return strings;
}

std::vector<std::string> as_ids(const json::value& v) {
  std::vector<std::string> ids;
  for (const json::value& item : as_array(v)) {
    ids.push_back(as_id(item));
  }
  return ids;
}

std::string as_hash(const json::value& v, bool allow_empty) {
  std::string hash = as_string(v);
  if (hash.empty() && allow_empty) {
    return hash;
  }
  require(hash.size() == 7 + 64 && hash.compare(0, 7, "sha256:") == 0 &&
          hash.find_first_not_of("0123456789abcdef", 7) == std::string::npos);
  return hash;
}

json::object snapshot_document(std::int64_t schema, std::string_view game) {
  return json::object{{"schema", schema}, {"game", game}};
}

void require_header(const json::object& root, std::int64_t schema, std::string_view game) {
  const json::value& version = field(root, "schema");
  require(version.is_int64() && version.get_int64() == schema &&
          as_string(field(root, "game")) == game);
}

std::int64_t require_header(const json::object& root, std::int64_t oldest, std::int64_t newest,
                            std::string_view game) {
  const json::value& version = field(root, "schema");
  require(version.is_int64() && version.get_int64() >= oldest && version.get_int64() <= newest &&
          as_string(field(root, "game")) == game);
  return version.get_int64();
}

json::value parse_document(std::string_view bytes, unsigned max_depth) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = max_depth;
  json::value parsed = json::parse(bytes, ec, json::storage_ptr(), options);
  require(!ec && parsed.is_object());
  return parsed;
}

json::value parse_json_text(std::string_view text, unsigned max_depth) {
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = max_depth;
  json::value parsed = json::parse(text, ec, json::storage_ptr(), options);
  require(!ec && all_numbers_finite(parsed));
  return parsed;
}

std::string as_json_text(const json::value& v, unsigned max_depth) {
  std::string text = as_string(v);
  parse_json_text(text, max_depth);
  return text;
}

}  // namespace snapshot_read
}  // namespace partyd
