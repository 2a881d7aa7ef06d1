// jwt_tokens: signed tokens for the authentication tests, made by hand with OpenSSL (not with the
// library the server verifies with), so that a test can also make what no issuer should: `alg`
// none, an algorithm the key does not fit, a bad signature. Keys are generated in memory (EVP),
// never read from files in the tree.
#pragma once

#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

namespace partyd::testing {

inline std::string base64url(std::string_view bytes) {
  static constexpr char alphabet[] =
      "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  std::uint32_t bits = 0;
  int count = 0;
  for (unsigned char byte : bytes) {
    bits = (bits << 8) | byte;
    count += 8;
    while (count >= 6) {
      count -= 6;
      out.push_back(alphabet[(bits >> count) & 0x3F]);
    }
  }
  if (count > 0) {
    out.push_back(alphabet[(bits << (6 - count)) & 0x3F]);
  }
  return out;
}

inline std::int64_t unix_now() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

struct evp_key_deleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};
using evp_key = std::unique_ptr<EVP_PKEY, evp_key_deleter>;

inline evp_key make_rsa_key(unsigned bits = 2048) { return evp_key(EVP_RSA_gen(bits)); }
inline evp_key make_ec_key(const char* curve = "P-256") { return evp_key(EVP_EC_gen(curve)); }

// The public half as "-----BEGIN PUBLIC KEY-----" PEM.
inline std::string public_pem(EVP_PKEY* key) {
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_PUBKEY(out, key);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  std::string pem(data, static_cast<std::size_t>(size));
  BIO_free(out);
  return pem;
}

inline std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), digest, &length);
  return std::string(reinterpret_cast<const char*>(digest), length);
}

// RS256 (PKCS#1 v1.5) or ES256 over SHA-256; ES256 as JWS wants it: r and s, 32 bytes each.
inline std::string sign_sha256(EVP_PKEY* key, std::string_view data) {
  EVP_MD_CTX* context = EVP_MD_CTX_new();
  std::size_t length = 0;
  std::string signature;
  if (EVP_DigestSignInit(context, nullptr, EVP_sha256(), nullptr, key) == 1 &&
      EVP_DigestSign(context, nullptr, &length, reinterpret_cast<const unsigned char*>(data.data()),
                     data.size()) == 1) {
    signature.resize(length);
    EVP_DigestSign(context, reinterpret_cast<unsigned char*>(signature.data()), &length,
                   reinterpret_cast<const unsigned char*>(data.data()), data.size());
    signature.resize(length);
  }
  EVP_MD_CTX_free(context);
  if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
    return signature;
  }
  const unsigned char* der = reinterpret_cast<const unsigned char*>(signature.data());
  ECDSA_SIG* parsed = d2i_ECDSA_SIG(nullptr, &der, static_cast<long>(signature.size()));
  if (!parsed) {
    throw std::runtime_error("ECDSA signature did not parse");
  }
  unsigned char raw[64] = {};
  BN_bn2binpad(ECDSA_SIG_get0_r(parsed), raw, 32);
  BN_bn2binpad(ECDSA_SIG_get0_s(parsed), raw + 32, 32);
  ECDSA_SIG_free(parsed);
  return std::string(reinterpret_cast<const char*>(raw), sizeof raw);
}

// header.payload, both base64url of their JSON.
inline std::string signing_input(const boost::json::object& header,
                                 const boost::json::object& claims) {
  return base64url(boost::json::serialize(header)) + "." +
         base64url(boost::json::serialize(claims));
}

inline std::string hs256_token(const boost::json::object& claims, std::string_view secret,
                               std::string_view alg = "HS256") {
  const std::string input = signing_input({{"alg", alg}, {"typ", "JWT"}}, claims);
  return input + "." + base64url(hmac_sha256(secret, input));
}

// RS256 with an RSA key, ES256 with an EC one.
inline std::string signed_token(const boost::json::object& claims, EVP_PKEY* key) {
  const char* alg = EVP_PKEY_get_base_id(key) == EVP_PKEY_EC ? "ES256" : "RS256";
  const std::string input = signing_input({{"alg", alg}, {"typ", "JWT"}}, claims);
  return input + "." + base64url(sign_sha256(key, input));
}

// `alg` none: no signature at all.
inline std::string unsigned_token(const boost::json::object& claims) {
  return signing_input({{"alg", "none"}, {"typ", "JWT"}}, claims) + ".";
}

// Claims valid for an hour from now, for user `sub`.
inline boost::json::object fresh_claims(std::string_view sub = "user-42") {
  const std::int64_t now = unix_now();
  return {{"sub", sub}, {"iat", now}, {"nbf", now - 5}, {"exp", now + 3600}};
}

}  // namespace partyd::testing
