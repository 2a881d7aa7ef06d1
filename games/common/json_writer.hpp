// A streaming JSON writer for the snapshot hot path: members go straight into one string, with
// no document in between (a game's snapshot through a json::object cost one allocation per
// member, and in a busy server's fragmented heap those allocations were most of the cost).
// Strings are escaped as Boost.JSON's serializer escapes them, so a parse of the output gives
// the same values as a parse of json::serialize of the same document.
#pragma once

#include <charconv>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>

#include "engine/json_string.hpp"

namespace partyd {

class json_writer {
 public:
  explicit json_writer(std::size_t reserve = 256) { out_.reserve(reserve); }

  json_writer& begin_object() { return open('{'); }
  json_writer& end_object() { return close('}'); }
  json_writer& begin_array() { return open('['); }
  json_writer& end_array() { return close(']'); }
  // The next member's name, inside an object.
  json_writer& key(std::string_view name);
  json_writer& string(std::string_view text);
  json_writer& number(std::int64_t v);
  json_writer& number(std::uint64_t v);
  json_writer& boolean(bool v);
  json_writer& null();
  // JSON text kept as it came (a client's own JSON, already checked): spliced in unchanged.
  json_writer& raw(std::string_view json_text);

  // key(name) followed by the value.
  template <class T>
  json_writer& member(std::string_view name, const T& v) {
    key(name);
    return value(v);
  }

  std::string take() { return std::move(out_); }

 private:
  json_writer& value(std::string_view v) { return string(v); }
  json_writer& value(const std::string& v) { return string(v); }
  json_writer& value(const char* v) { return string(v); }
  json_writer& value(bool v) { return boolean(v); }
  template <class T>
  json_writer& value(T v) {
    if constexpr (std::is_signed_v<T>) {
      return number(static_cast<std::int64_t>(v));
    } else {
      return number(static_cast<std::uint64_t>(v));
    }
  }
  void separate();  // a comma before every value but the first of its object or array
  json_writer& open(char bracket);
  template <class Integer>
  void append_integer(Integer v) {
    separate();
    char digits[24];
    out_.append(digits, std::to_chars(digits, digits + sizeof digits, v).ptr);
  }
  json_writer& close(char bracket);

  std::string out_;
  std::uint64_t has_member_ = 0;  // bit d: the container at depth d has a value already
  unsigned depth_ = 0;
  bool after_key_ = false;
};

}  // namespace partyd
