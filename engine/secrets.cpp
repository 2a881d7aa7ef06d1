#include "engine/secrets.hpp"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include <array>
#include <cstdlib>
#include <stdexcept>
#include <vector>

namespace partyd {
namespace {

void fill_random(unsigned char* out, std::size_t size) {
  // RAND_bytes only fails when the CSPRNG cannot be seeded; continuing would hand out guessable
  // secrets, so this is fatal.
  if (RAND_bytes(out, static_cast<int>(size)) != 1) {
    std::abort();
  }
}

}  // namespace

std::string random_code(std::size_t length, std::string_view alphabet) {
  std::string code;
  code.reserve(length);
  // Rejection sampling keeps every character uniform: bytes at or above the largest multiple of
  // the alphabet size are redrawn instead of folded with a biased modulo.
  const std::size_t limit = 256 - (256 % alphabet.size());
  std::array<unsigned char, 32> pool{};
  std::size_t used = pool.size();
  while (code.size() < length) {
    if (used == pool.size()) {
      fill_random(pool.data(), pool.size());
      used = 0;
    }
    const unsigned char byte = pool[used++];
    if (byte < limit) {
      code.push_back(alphabet[byte % alphabet.size()]);
    }
  }
  return code;
}

std::string random_token(std::size_t bytes) {
  static constexpr char base64url[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::vector<unsigned char> raw(bytes);
  fill_random(raw.data(), raw.size());
  std::string out;
  out.reserve((bytes * 4 + 2) / 3);
  std::size_t i = 0;
  for (; i + 3 <= bytes; i += 3) {
    const unsigned v = (raw[i] << 16) | (raw[i + 1] << 8) | raw[i + 2];
    out.push_back(base64url[(v >> 18) & 63]);
    out.push_back(base64url[(v >> 12) & 63]);
    out.push_back(base64url[(v >> 6) & 63]);
    out.push_back(base64url[v & 63]);
  }
  if (bytes - i == 1) {
    const unsigned v = raw[i] << 16;
    out.push_back(base64url[(v >> 18) & 63]);
    out.push_back(base64url[(v >> 12) & 63]);
  } else if (bytes - i == 2) {
    const unsigned v = (raw[i] << 16) | (raw[i + 1] << 8);
    out.push_back(base64url[(v >> 18) & 63]);
    out.push_back(base64url[(v >> 12) & 63]);
    out.push_back(base64url[(v >> 6) & 63]);
  }
  return out;
}

std::uint64_t random_u64() {
  std::uint64_t value = 0;
  fill_random(reinterpret_cast<unsigned char*>(&value), sizeof(value));
  return value;
}

std::string sha256_tagged(std::string_view text) {
  std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
  unsigned int length = 0;
  if (EVP_Digest(text.data(), text.size(), digest.data(), &length, EVP_sha256(), nullptr) != 1) {
    std::abort();  // cannot happen with a built-in digest; a wrong hash would lock rooms out
  }
  static constexpr char hex[] = "0123456789abcdef";
  std::string tagged = "sha256:";
  tagged.reserve(7 + 2 * length);
  for (unsigned int i = 0; i < length; ++i) {
    tagged.push_back(hex[digest[i] >> 4]);
    tagged.push_back(hex[digest[i] & 0x0F]);
  }
  return tagged;
}

bool secrets_equal(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) {
    return false;
  }
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace partyd
