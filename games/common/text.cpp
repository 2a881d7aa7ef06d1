#include "games/common/text.hpp"

namespace partyd {

std::size_t utf8_length(std::string_view text) noexcept {
  std::size_t length = 0;
  for (const char c : text) {
    if ((static_cast<unsigned char>(c) & 0xC0) != 0x80) {
      ++length;
    }
  }
  return length;
}

std::size_t utf16_length(std::string_view text) noexcept {
  std::size_t length = 0;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if ((byte & 0xC0) != 0x80) {
      length += byte >= 0xF0 ? 2 : 1;  // a 4-byte sequence is a surrogate pair in UTF-16
    }
  }
  return length;
}

std::string_view trim(std::string_view text) noexcept {
  constexpr std::string_view space = " \t\n\r\f\v";
  const std::size_t begin = text.find_first_not_of(space);
  if (begin == std::string_view::npos) {
    return {};
  }
  const std::size_t end = text.find_last_not_of(space);
  return text.substr(begin, end - begin + 1);
}

std::size_t json_string_bytes(std::string_view text) noexcept {
  std::size_t bytes = 2;
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte == '"' || byte == '\\' || byte == '\b' || byte == '\f' || byte == '\n' ||
        byte == '\r' || byte == '\t') {
      bytes += 2;
    } else if (byte < 0x20) {
      bytes += 6;
    } else {
      bytes += 1;
    }
  }
  return bytes;
}

}  // namespace partyd
