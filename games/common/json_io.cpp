#include "games/common/json_io.hpp"

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

}  // namespace snapshot_read
}  // namespace partyd
