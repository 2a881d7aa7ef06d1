#include "engine/json_string.hpp"

#include <array>

namespace partyd {
namespace {

// The character after the backslash of a two-byte escape; 'u' for \u00XX; 0 for none needed.
constexpr std::array<char, 256> escape_of = [] {
  std::array<char, 256> escapes{};
  for (int c = 0; c < 0x20; ++c) {
    escapes[c] = 'u';
  }
  escapes['"'] = '"';
  escapes['\\'] = '\\';
  escapes['\b'] = 'b';
  escapes['\f'] = 'f';
  escapes['\n'] = 'n';
  escapes['\r'] = 'r';
  escapes['\t'] = 't';
  return escapes;
}();

}  // namespace

void append_json_string(std::string& out, std::string_view text) {
  static constexpr char hex[] = "0123456789abcdef";
  out.reserve(out.size() + text.size() + text.size() / 4 + 2);
  out.push_back('"');
  std::size_t plain = 0;  // start of the run of bytes that need no escape
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char escape = escape_of[static_cast<unsigned char>(text[i])];
    if (escape == 0) {
      continue;
    }
    out.append(text.data() + plain, i - plain);
    plain = i + 1;
    if (escape != 'u') {
      const char pair[2] = {'\\', escape};
      out.append(pair, 2);
    } else {
      const auto c = static_cast<unsigned char>(text[i]);
      const char unicode[6] = {'\\', 'u', '0', '0', hex[c >> 4], hex[c & 0xf]};
      out.append(unicode, 6);
    }
  }
  out.append(text.data() + plain, text.size() - plain);
  out.push_back('"');
}

}  // namespace partyd
