#include "games/common/json_writer.hpp"

#include <cassert>

namespace partyd {

void json_writer::separate() {
  if (after_key_) {
    after_key_ = false;
    return;
  }
  if (depth_ > 0) {
    const std::uint64_t bit = std::uint64_t{1} << (depth_ - 1);
    if (has_member_ & bit) {
      out_.push_back(',');
    }
    has_member_ |= bit;
  }
}

json_writer& json_writer::open(char bracket) {
  separate();
  out_.push_back(bracket);
  assert(depth_ < 64);
  ++depth_;
  has_member_ &= ~(std::uint64_t{1} << (depth_ - 1));
  return *this;
}

json_writer& json_writer::close(char bracket) {
  assert(depth_ > 0 && !after_key_);
  --depth_;
  out_.push_back(bracket);
  return *this;
}

json_writer& json_writer::key(std::string_view name) {
  separate();
  append_json_string(out_, name);
  out_.push_back(':');
  after_key_ = true;
  return *this;
}

json_writer& json_writer::string(std::string_view text) {
  separate();
  append_json_string(out_, text);
  return *this;
}

json_writer& json_writer::number(std::int64_t v) {
  append_integer(v);
  return *this;
}

json_writer& json_writer::number(std::uint64_t v) {
  append_integer(v);
  return *this;
}

json_writer& json_writer::boolean(bool v) {
  separate();
  out_.append(v ? "true" : "false");
  return *this;
}

json_writer& json_writer::null() {
  separate();
  out_.append("null");
  return *this;
}

json_writer& json_writer::raw(std::string_view json_text) {
  separate();
  out_.append(json_text);
  return *this;
}

}  // namespace partyd
