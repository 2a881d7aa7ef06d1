// Text measures every game's limits use. Inputs are valid UTF-8 (io checks every text frame).
// Thread: pure.
#pragma once

#include <cstddef>
#include <string_view>

namespace partyd {

// Code points.
std::size_t utf8_length(std::string_view text) noexcept;
// UTF-16 code units (JavaScript's String.length): a code point past U+FFFF counts 2.
std::size_t utf16_length(std::string_view text) noexcept;
// Without leading and trailing ASCII whitespace.
std::string_view trim(std::string_view text) noexcept;
// Bytes of `text` serialized as a JSON string by Boost.JSON, quotes included: `"` and `\\` and
// \b \f \n \r \t take 2, other control characters 6 (\u00XX), every other byte 1.
std::size_t json_string_bytes(std::string_view text) noexcept;

}  // namespace partyd
