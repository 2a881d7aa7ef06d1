#include "io/auth.hpp"

#include <jwt.h>
#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <memory>

#include <boost/json.hpp>

#include "io/ws_codec.hpp"

namespace partyd {

namespace json = boost::json;

namespace {

// Far above any real token (a few hundred bytes); keeps libjwt's stack copies small.
constexpr std::size_t kMaxTokenBytes = 8192;
// A key file is a few hundred bytes of PEM; a path to something else must not be read whole.
constexpr std::size_t kMaxKeyFileBytes = 64 * 1024;
// `sub` and the display name: longer values are not identities anyone means.
constexpr std::size_t kMaxClaimBytes = 256;
constexpr std::size_t kMaxDevNameCodePoints = 32;
constexpr int kMinRsaBits = 2048;

bool base64url_char(char c) noexcept {
  return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '_';
}

int base64url_value(char c) noexcept {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '-') return 62;
  if (c == '_') return 63;
  return -1;
}

// Unpadded base64url (RFC 7515 section 2); nullopt for anything else.
std::optional<std::string> base64url_decode(std::string_view text) {
  if (text.size() % 4 == 1) {
    return std::nullopt;
  }
  std::string out;
  out.reserve(text.size() * 3 / 4);
  std::uint32_t bits = 0;
  int count = 0;
  for (char c : text) {
    const int value = base64url_value(c);
    if (value < 0) {
      return std::nullopt;
    }
    bits = (bits << 6) | static_cast<std::uint32_t>(value);
    count += 6;
    if (count >= 8) {
      count -= 8;
      out.push_back(static_cast<char>((bits >> count) & 0xFF));
    }
  }
  return out;
}

std::optional<json::object> parse_object(std::string_view text) {
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) {
    return std::nullopt;
  }
  return std::move(parsed.as_object());
}

// RFC 7519 NumericDate: seconds, possibly fractional; nullopt when not a number.
std::optional<std::int64_t> numeric_date(const json::value& value) {
  if (value.is_int64()) {
    return value.as_int64();
  }
  if (value.is_uint64()) {
    return std::numeric_limits<std::int64_t>::max();  // past any int64: far in the future
  }
  if (value.is_double()) {
    const double seconds = value.as_double();
    if (!std::isfinite(seconds)) {
      return std::nullopt;
    }
    constexpr double limit = 9.0e18;  // inside int64, and centuries away either way
    return static_cast<std::int64_t>(std::floor(std::clamp(seconds, -limit, limit)));
  }
  return std::nullopt;
}

std::string_view trim_spaces(std::string_view text) noexcept {
  const std::size_t begin = text.find_first_not_of(" \t");
  if (begin == std::string_view::npos) {
    return {};
  }
  return text.substr(begin, text.find_last_not_of(" \t") - begin + 1);
}

bool iequals(std::string_view a, std::string_view b) noexcept {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           const auto lower = [](char c) {
             return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c;
           };
           return lower(x) == lower(y);
         });
}

std::optional<std::string> percent_decode(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '+') {
      out.push_back(' ');
    } else if (c == '%') {
      if (i + 2 >= text.size()) {
        return std::nullopt;
      }
      const auto hex = [](char h) {
        if (h >= '0' && h <= '9') return h - '0';
        if (h >= 'a' && h <= 'f') return h - 'a' + 10;
        if (h >= 'A' && h <= 'F') return h - 'A' + 10;
        return -1;
      };
      const int high = hex(text[i + 1]);
      const int low = hex(text[i + 2]);
      if (high < 0 || low < 0) {
        return std::nullopt;
      }
      out.push_back(static_cast<char>(high * 16 + low));
      i += 2;
    } else {
      out.push_back(c);
    }
  }
  return out;
}

// The token as the cookie's value: RFC 6265 allows it in double quotes.
std::string_view unquote(std::string_view value) noexcept {
  if (value.size() >= 2 && value.front() == '"' && value.back() == '"') {
    return value.substr(1, value.size() - 2);
  }
  return value;
}

std::optional<std::string> cookie_value(std::string_view cookies, std::string_view name) {
  while (!cookies.empty()) {
    const std::size_t semicolon = cookies.find(';');
    const std::string_view pair = trim_spaces(cookies.substr(0, semicolon));
    cookies =
        semicolon == std::string_view::npos ? std::string_view() : cookies.substr(semicolon + 1);
    const std::size_t equals = pair.find('=');
    if (equals == std::string_view::npos || trim_spaces(pair.substr(0, equals)) != name) {
      continue;
    }
    return std::string(unquote(trim_spaces(pair.substr(equals + 1))));
  }
  return std::nullopt;
}

std::optional<std::string> bearer_token(std::string_view authorization) {
  authorization = trim_spaces(authorization);
  constexpr std::string_view scheme = "Bearer";
  if (authorization.size() <= scheme.size() ||
      !iequals(authorization.substr(0, scheme.size()), scheme) ||
      (authorization[scheme.size()] != ' ' && authorization[scheme.size()] != '\t')) {
    return std::nullopt;
  }
  return std::string(trim_spaces(authorization.substr(scheme.size())));
}

// A code point of valid UTF-8 starting at `at`, which it moves past it.
std::uint32_t next_code_point(std::string_view text, std::size_t& at) noexcept {
  const auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
  const unsigned char lead = byte(at);
  if (lead < 0x80) {
    at += 1;
    return lead;
  }
  const int length = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
  std::uint32_t code = lead & (0x7F >> length);
  for (int i = 1; i < length; ++i) {
    code = (code << 6) | (byte(at + i) & 0x3F);
  }
  at += length;
  return code;
}

struct jwt_deleter {
  void operator()(jwt_t* token) const noexcept { jwt_free(token); }
};
struct bio_deleter {
  void operator()(BIO* bio) const noexcept { BIO_free(bio); }
};
struct pkey_deleter {
  void operator()(EVP_PKEY* key) const noexcept { EVP_PKEY_free(key); }
};

std::string_view expected_alg(auth_mode mode) noexcept {
  switch (mode) {
    case auth_mode::jwt_hs256:
      return "HS256";
    case auth_mode::jwt_rs256:
      return "RS256";
    case auth_mode::jwt_es256:
      return "ES256";
    case auth_mode::development:
      break;
  }
  return {};
}

jwt_alg_t libjwt_alg(auth_mode mode) noexcept {
  switch (mode) {
    case auth_mode::jwt_hs256:
      return JWT_ALG_HS256;
    case auth_mode::jwt_rs256:
      return JWT_ALG_RS256;
    case auth_mode::jwt_es256:
      return JWT_ALG_ES256;
    case auth_mode::development:
      break;
  }
  return JWT_ALG_INVAL;
}

// Reads the public key, decides the algorithm from its type and writes it back as the PEM that
// libjwt reads (SubjectPublicKeyInfo), whatever the file's own line breaks or comments were.
bool load_public_key(const std::string& path, auth_mode& mode, std::string& pem,
                     std::string& error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    error = "--auth-jwt-public-key: cannot read " + path;
    return false;
  }
  std::string text(kMaxKeyFileBytes + 1, '\0');
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxKeyFileBytes) {
    error = "--auth-jwt-public-key: " + path + " is larger than a PEM public key can be";
    return false;
  }
  std::unique_ptr<BIO, bio_deleter> source(
      BIO_new_mem_buf(text.data(), static_cast<int>(text.size())));
  std::unique_ptr<EVP_PKEY, pkey_deleter> key(
      source ? PEM_read_bio_PUBKEY(source.get(), nullptr, nullptr, nullptr) : nullptr);
  ERR_clear_error();  // a failed read leaves its reasons in this thread's queue
  if (!key) {
    error = "--auth-jwt-public-key: " + path +
            " holds no PEM public key (\"-----BEGIN PUBLIC KEY-----\"; a private key or a "
            "certificate is not accepted)";
    return false;
  }
  switch (EVP_PKEY_get_base_id(key.get())) {
    case EVP_PKEY_RSA:
      if (EVP_PKEY_get_bits(key.get()) < kMinRsaBits) {
        error = "--auth-jwt-public-key: an RSA key needs at least 2048 bits";
        return false;
      }
      mode = auth_mode::jwt_rs256;
      break;
    case EVP_PKEY_EC: {
      char group[64] = {};
      std::size_t length = 0;
      if (EVP_PKEY_get_group_name(key.get(), group, sizeof group, &length) != 1 ||
          std::string_view(group, length) != "prime256v1") {
        ERR_clear_error();
        error = "--auth-jwt-public-key: an EC key must be on the P-256 curve (ES256)";
        return false;
      }
      mode = auth_mode::jwt_es256;
      break;
    }
    default:
      error = "--auth-jwt-public-key: the key must be RSA (RS256) or EC P-256 (ES256)";
      return false;
  }
  std::unique_ptr<BIO, bio_deleter> out(BIO_new(BIO_s_mem()));
  if (!out || PEM_write_bio_PUBKEY(out.get(), key.get()) != 1) {
    ERR_clear_error();
    error = "--auth-jwt-public-key: cannot encode the key";
    return false;
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  pem.assign(data, static_cast<std::size_t>(size));
  return true;
}

}  // namespace

std::string_view auth_mode_name(auth_mode mode) noexcept {
  switch (mode) {
    case auth_mode::development:
      return "development";
    case auth_mode::jwt_hs256:
      return "jwt-hs256";
    case auth_mode::jwt_rs256:
      return "jwt-rs256";
    case auth_mode::jwt_es256:
      return "jwt-es256";
  }
  return "development";
}

std::string_view auth_refusal_code(auth_refusal refusal) noexcept {
  switch (refusal) {
    case auth_refusal::none:
      return "none";
    case auth_refusal::missing_token:
      return "missing_token";
    case auth_refusal::invalid_token:
      return "invalid_token";
    case auth_refusal::expired:
      return "expired";
    case auth_refusal::not_yet_valid:
      return "not_yet_valid";
    case auth_refusal::wrong_issuer:
      return "wrong_issuer";
    case auth_refusal::wrong_audience:
      return "wrong_audience";
    case auth_refusal::wrong_algorithm:
      return "wrong_algorithm";
    case auth_refusal::invalid_name:
      return "invalid_name";
  }
  return "invalid_token";
}

std::string_view auth_refusal_message(auth_refusal refusal) noexcept {
  switch (refusal) {
    case auth_refusal::none:
      return "";
    case auth_refusal::missing_token:
      return "this game requires a token: a cookie, an Authorization: Bearer header or a token "
             "query parameter";
    case auth_refusal::invalid_token:
      return "the token is malformed, its signature does not verify, or it has no usable sub";
    case auth_refusal::expired:
      return "the token has expired";
    case auth_refusal::not_yet_valid:
      return "the token is not valid yet (nbf)";
    case auth_refusal::wrong_issuer:
      return "the token's iss is not the expected issuer";
    case auth_refusal::wrong_audience:
      return "the token's aud does not name this server";
    case auth_refusal::wrong_algorithm:
      return "the token's alg is not the algorithm of the configured key";
    case auth_refusal::invalid_name:
      return "development mode: give a name query parameter of 1-32 printable characters";
  }
  return "";
}

std::string_view token_source_name(token_source source) noexcept {
  switch (source) {
    case token_source::none:
      return "none";
    case token_source::cookie:
      return "cookie";
    case token_source::header:
      return "header";
    case token_source::query:
      return "query";
  }
  return "none";
}

std::optional<std::string> query_parameter(std::string_view target, std::string_view name) {
  const std::size_t question = target.find('?');
  if (question == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view query = target.substr(question + 1);
  while (!query.empty()) {
    const std::size_t amp = query.find('&');
    const std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    const std::size_t equals = pair.find('=');
    const auto key = percent_decode(pair.substr(0, equals));
    if (!key || *key != name) {
      continue;
    }
    if (equals == std::string_view::npos) {
      return std::string();
    }
    return percent_decode(pair.substr(equals + 1));
  }
  return std::nullopt;
}

std::optional<found_token> find_token(const upgrade_credentials& request,
                                      std::string_view cookie_name) {
  if (auto value = cookie_value(request.cookies, cookie_name); value && !value->empty()) {
    return found_token{std::move(*value), token_source::cookie};
  }
  if (auto value = bearer_token(request.authorization); value && !value->empty()) {
    return found_token{std::move(*value), token_source::header};
  }
  if (auto value = query_parameter(request.target, "token"); value && !value->empty()) {
    return found_token{std::move(*value), token_source::query};
  }
  return std::nullopt;
}

bool valid_display_name(std::string_view name) {
  if (name.empty() || !ws::valid_utf8(name)) {
    return false;
  }
  std::size_t code_points = 0;
  bool blank = true;
  for (std::size_t at = 0; at < name.size();) {
    const std::uint32_t code = next_code_point(name, at);
    if (code < 0x20 || (code >= 0x7F && code <= 0x9F)) {
      return false;  // control characters (C0, DEL, C1)
    }
    blank = blank && code == ' ';
    ++code_points;
  }
  return !blank && code_points <= kMaxDevNameCodePoints;
}

std::optional<token_verifier> token_verifier::make(const auth_options& options,
                                                   std::string& error) {
  token_verifier verifier;
  verifier.options_ = options;
  if (!options.jwt_secret.empty() && !options.jwt_public_key_file.empty()) {
    error = "give --auth-jwt-secret or --auth-jwt-public-key, not both";
    return std::nullopt;
  }
  if (!options.jwt_secret.empty()) {
    verifier.mode_ = auth_mode::jwt_hs256;
    verifier.key_ = options.jwt_secret;
  } else if (!options.jwt_public_key_file.empty()) {
    if (!load_public_key(options.jwt_public_key_file, verifier.mode_, verifier.key_, error)) {
      return std::nullopt;
    }
  }
  verifier.options_.jwt_secret.clear();  // kept once, in key_
  return verifier;
}

bool token_verifier::required_for(std::string_view game, bool module_requires) const {
  return module_requires ||
         std::find(options_.required_games.begin(), options_.required_games.end(), game) !=
             options_.required_games.end();
}

auth_outcome token_verifier::verify(std::string_view token, std::int64_t now_s) const {
  const auto refuse = [](auth_refusal why) {
    auth_outcome refused;
    refused.refusal = why;
    return refused;
  };
  if (development()) {
    return refuse(auth_refusal::invalid_token);  // nothing to verify with
  }
  // Compact JWS: three unpadded base64url parts (the signature's is empty for `none`, which the
  // algorithm check below names). Checked here so that libjwt only ever sees a short string of
  // known characters.
  const std::size_t first_dot = token.find('.');
  const std::size_t second_dot =
      first_dot == std::string_view::npos ? first_dot : token.find('.', first_dot + 1);
  if (token.size() > kMaxTokenBytes || second_dot == std::string_view::npos || first_dot == 0 ||
      second_dot == first_dot + 1 ||
      !std::all_of(token.begin(), token.end(),
                   [](char c) { return c == '.' || base64url_char(c); }) ||
      token.find('.', second_dot + 1) != std::string_view::npos) {
    return refuse(auth_refusal::invalid_token);
  }
  // The algorithm is ours to choose, not the token's: check the header before any signature
  // check, so that `none` or an HMAC keyed with the public key's PEM never reaches libjwt.
  const auto header_text = base64url_decode(token.substr(0, first_dot));
  const auto header = header_text ? parse_object(*header_text) : std::nullopt;
  const json::value* alg = header ? header->if_contains("alg") : nullptr;
  if (!alg || !alg->is_string()) {
    return refuse(auth_refusal::invalid_token);
  }
  if (alg->as_string() != expected_alg(mode_)) {
    return refuse(auth_refusal::wrong_algorithm);
  }
  if (header->contains("crit")) {
    return refuse(auth_refusal::invalid_token);  // RFC 7515 4.1.11: extensions we do not know
  }
  const std::string terminated(token);
  jwt_t* raw = nullptr;
  const int failed =
      jwt_decode(&raw, terminated.c_str(), reinterpret_cast<const unsigned char*>(key_.data()),
                 static_cast<int>(key_.size()));
  std::unique_ptr<jwt_t, jwt_deleter> decoded(raw);
  if (failed != 0 || !decoded || jwt_get_alg(decoded.get()) != libjwt_alg(mode_)) {
    return refuse(auth_refusal::invalid_token);
  }
  std::unique_ptr<char, decltype(&std::free)> claims_text(
      jwt_get_grants_json(decoded.get(), nullptr), &std::free);
  const auto claims = claims_text ? parse_object(claims_text.get()) : std::nullopt;
  if (!claims) {
    return refuse(auth_refusal::invalid_token);
  }
  if (const json::value* exp = claims->if_contains("exp")) {
    const auto at = numeric_date(*exp);
    if (!at) {
      return refuse(auth_refusal::invalid_token);
    }
    if (now_s - options_.leeway_s >= *at) {
      return refuse(auth_refusal::expired);
    }
  }
  if (const json::value* nbf = claims->if_contains("nbf")) {
    const auto at = numeric_date(*nbf);
    if (!at) {
      return refuse(auth_refusal::invalid_token);
    }
    if (now_s + options_.leeway_s < *at) {
      return refuse(auth_refusal::not_yet_valid);
    }
  }
  if (!options_.issuer.empty()) {
    const json::value* iss = claims->if_contains("iss");
    if (!iss || !iss->is_string() || iss->as_string() != options_.issuer) {
      return refuse(auth_refusal::wrong_issuer);
    }
  }
  if (!options_.audience.empty()) {
    const json::value* aud = claims->if_contains("aud");
    const auto names_us = [this](const json::value& entry) {
      return entry.is_string() && entry.as_string() == options_.audience;
    };
    const bool matches = aud && (names_us(*aud) ||
                                 (aud->is_array() && std::any_of(aud->as_array().begin(),
                                                                 aud->as_array().end(), names_us)));
    if (!matches) {
      return refuse(auth_refusal::wrong_audience);
    }
  }
  const json::value* sub = claims->if_contains("sub");
  if (!sub || !sub->is_string() || sub->as_string().empty() ||
      sub->as_string().size() > kMaxClaimBytes) {
    return refuse(auth_refusal::invalid_token);
  }
  connection_identity who;
  who.user_id = std::string(sub->as_string());
  const json::value* name = claims->if_contains(options_.name_claim);
  if (name && name->is_string() && !name->as_string().empty() &&
      name->as_string().size() <= kMaxClaimBytes) {
    who.display_name = std::string(name->as_string());
  } else {
    who.display_name = who.user_id;
  }
  auth_outcome accepted;
  accepted.identity = std::move(who);
  return accepted;
}

auth_outcome token_verifier::authenticate(const upgrade_credentials& request, bool required,
                                          std::int64_t now_s) const {
  auth_outcome outcome;
  if (development()) {
    if (!required) {
      return outcome;  // nothing can be verified, and nothing is asked for
    }
    outcome.source = token_source::query;
    const auto name = query_parameter(request.target, "name");
    if (!name || !valid_display_name(*name)) {
      outcome.refusal = auth_refusal::invalid_name;
      return outcome;
    }
    outcome.identity = connection_identity{"dev:" + *name, *name};
    return outcome;
  }
  auto found = find_token(request, options_.cookie_name);
  if (!found) {
    if (required) {
      outcome.refusal = auth_refusal::missing_token;
    }
    return outcome;
  }
  // A token presented is checked also where none is required: a client that sends a bad one
  // would otherwise learn of its mistake only from the first game that needs it.
  outcome = verify(found->token, now_s);
  outcome.source = found->source;
  return outcome;
}

}  // namespace partyd
