// Unguessable identifiers from OpenSSL's CSPRNG: room codes, host keys, seat tokens, rng seeds.
// Thread safety: all functions may be called from any thread.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace partyd {

// Room code alphabet: no look-alikes (no 0/O, 1/I/L).
inline constexpr std::string_view room_code_alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";

// `length` characters drawn uniformly (rejection sampling) from `alphabet`.
std::string random_code(std::size_t length, std::string_view alphabet = room_code_alphabet);
// `bytes` secure random bytes, base64url without padding.
std::string random_token(std::size_t bytes = 16);
std::uint64_t random_u64();
// "sha256:<64 hex digits>" of `text`: how rooms keep keys and passwords (never the plain text).
std::string sha256_tagged(std::string_view text);
// Constant-time comparison for secrets.
bool secrets_equal(std::string_view a, std::string_view b) noexcept;

}  // namespace partyd
