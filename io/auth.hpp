// Authentication at the WebSocket upgrade: the app's backend issues a signed token (JWT) and
// partyd verifies it before any WebSocket exists (docs/operations.md, "Authentication").
// A token is looked for in this order, the first one present wins: the cookie named
// --auth-cookie, an `Authorization: Bearer` header, a `token` query parameter.
// The algorithm is fixed by the configured key (HS256 for a secret, RS256 or ES256 for a public
// key, from its PEM type); a token whose header names any other algorithm is refused before its
// signature is looked at, so neither `none` nor an HMAC made with the public key can pass.
// Without a key the server runs in development mode: a game that requires authentication takes
// a `name` query parameter instead, unverified.
// Tokens and secrets are never logged and never part of an error.
// Thread: a token_verifier is immutable after start-up; verify() and authenticate() may be called
// from any thread at once.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.hpp"

namespace partyd {

// The flags (io/config.cpp); empty strings are unset.
struct auth_options {
  std::string jwt_secret;           // HS256 shared secret, at least 32 bytes
  std::string jwt_public_key_file;  // PEM public key (RSA: RS256, EC P-256: ES256)
  std::string issuer;               // when set, `iss` must equal it
  std::string audience;             // when set, `aud` (a string or an array) must contain it
  std::string cookie_name = "partyd_token";
  std::string name_claim = "name";  // the display name's claim; `sub` when absent
  std::int64_t leeway_s = 30;       // clock skew allowed on `exp` and `nbf`
  // Games that require a token besides those whose module says so (game_module::requires_auth).
  std::vector<std::string> required_games;

  bool key_configured() const noexcept {
    return !jwt_secret.empty() || !jwt_public_key_file.empty();
  }
};

enum class auth_mode : std::uint8_t { development, jwt_hs256, jwt_rs256, jwt_es256 };
// "development", "jwt-hs256", "jwt-rs256", "jwt-es256" (/health, the start-up log).
std::string_view auth_mode_name(auth_mode mode) noexcept;

// Why an upgrade is refused; the code is the 401's `error` and the metric's label.
enum class auth_refusal : std::uint8_t {
  none,
  missing_token,
  invalid_token,  // malformed, bad signature, unusable claims (no `sub`)
  expired,
  not_yet_valid,
  wrong_issuer,
  wrong_audience,
  wrong_algorithm,
  invalid_name,  // development mode: `name` missing or not 1-32 printable characters
};
inline constexpr std::size_t auth_refusal_count = 9;
std::string_view auth_refusal_code(auth_refusal refusal) noexcept;
// A sentence for the 401's `message`; never names the token.
std::string_view auth_refusal_message(auth_refusal refusal) noexcept;

enum class token_source : std::uint8_t { none, cookie, header, query };
std::string_view token_source_name(token_source source) noexcept;

struct found_token {
  std::string token;
  token_source source = token_source::none;
};

// The upgrade request's parts a token can come from. `cookies`: every Cookie header's value,
// joined with "; "; `target`: the request target (path and query).
struct upgrade_credentials {
  std::string_view cookies;
  std::string_view authorization;
  std::string_view target;
};

// The first token present, in the documented order; nullopt when there is none. Empty values
// count as absent.
std::optional<found_token> find_token(const upgrade_credentials& request,
                                      std::string_view cookie_name);
// The value of query parameter `name` in `target`, percent-decoded ('+' is a space); nullopt
// when absent or badly encoded.
std::optional<std::string> query_parameter(std::string_view target, std::string_view name);
// Development mode names: valid UTF-8, 1-32 code points, no control characters, not blank.
bool valid_display_name(std::string_view name);

struct auth_outcome {
  auth_refusal refusal = auth_refusal::none;
  std::optional<connection_identity> identity;  // set when a token (or a dev name) was accepted
  token_source source = token_source::none;
  explicit operator bool() const noexcept { return refusal == auth_refusal::none; }
};

class token_verifier {
 public:
  // Development mode.
  token_verifier() = default;
  // From the flags: reads and checks the key file. nullopt with `error` (which never contains the
  // secret) when the key cannot be used.
  static std::optional<token_verifier> make(const auth_options& options, std::string& error);

  auth_mode mode() const noexcept { return mode_; }
  bool development() const noexcept { return mode_ == auth_mode::development; }
  // Whether upgrades to `game` need a token: its module says so, or --auth-required-games.
  bool required_for(std::string_view game, bool module_requires) const;

  // One token at `now_s` (Unix seconds). Checks, in this order: the header's algorithm, the
  // signature, `exp`, `nbf`, `iss`, `aud`, `sub`.
  auth_outcome verify(std::string_view token, std::int64_t now_s) const;
  // The whole decision for an upgrade. With a key: a token present must be valid (also for a game
  // that does not require one); none is missing_token when `required`. Development mode: when
  // `required`, the `name` query parameter becomes the identity {"dev:<name>", name}.
  auth_outcome authenticate(const upgrade_credentials& request, bool required,
                            std::int64_t now_s) const;

 private:
  auth_mode mode_ = auth_mode::development;
  std::string key_;  // the HS256 secret, or the public key as PEM (what libjwt verifies with)
  auth_options options_;
};

}  // namespace partyd
