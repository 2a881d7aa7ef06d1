// io/auth: the token verifier (algorithms, signatures, claims) and where a token is taken from.
// Tokens are signed here by hand with OpenSSL (tests/support/jwt_tokens.hpp); keys are generated
// per run.
#include "io/auth.hpp"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/jwt_tokens.hpp"

namespace partyd {
namespace {

namespace json = boost::json;
using testing::fresh_claims;
using testing::hs256_token;
using testing::signed_token;
using testing::unix_now;

const std::string kSecret = "an-hs256-secret-of-at-least-32-bytes!";

// One key pair of each kind for the whole run (RSA generation takes a while).
EVP_PKEY* rsa_key() {
  static const testing::evp_key key = testing::make_rsa_key();
  return key.get();
}
EVP_PKEY* ec_key() {
  static const testing::evp_key key = testing::make_ec_key();
  return key.get();
}

// A file in the temp directory, removed with the object.
class temp_file {
 public:
  explicit temp_file(std::string_view content) {
    static int serial = 0;
    path_ = (std::filesystem::temp_directory_path() /
             ("partyd-auth-test-" + std::to_string(::getpid()) + "-" + std::to_string(++serial)))
                .string();
    std::ofstream(path_, std::ios::binary) << content;
  }
  ~temp_file() {
    std::error_code ignored;
    std::filesystem::remove(path_, ignored);
  }
  const std::string& path() const noexcept { return path_; }

 private:
  std::string path_;
};

token_verifier make_verifier(auth_options options) {
  std::string error;
  auto verifier = token_verifier::make(options, error);
  EXPECT_TRUE(verifier) << error;
  return verifier ? std::move(*verifier) : token_verifier();
}

token_verifier hs_verifier(auth_options options = {}) {
  options.jwt_secret = kSecret;
  return make_verifier(std::move(options));
}

token_verifier key_verifier(EVP_PKEY* key, auth_options options = {}) {
  const temp_file file(testing::public_pem(key));
  options.jwt_public_key_file = file.path();
  return make_verifier(std::move(options));
}

::testing::AssertionResult refused_with(const auth_outcome& outcome, auth_refusal expected) {
  if (outcome.refusal == expected && !outcome.identity) {
    return ::testing::AssertionSuccess();
  }
  return ::testing::AssertionFailure()
         << "expected " << auth_refusal_code(expected) << ", got "
         << auth_refusal_code(outcome.refusal)
         << (outcome.identity ? " with identity " + outcome.identity->user_id : std::string());
}

TEST(AuthVerifier, valid_hs256_token_gives_sub_and_name) {
  const token_verifier verifier = hs_verifier();
  EXPECT_EQ(verifier.mode(), auth_mode::jwt_hs256);
  EXPECT_EQ(auth_mode_name(verifier.mode()), "jwt-hs256");
  json::object claims = fresh_claims("user-7");
  claims["name"] = "Ann";
  const auth_outcome outcome = verifier.verify(hs256_token(claims, kSecret), unix_now());
  ASSERT_TRUE(outcome) << auth_refusal_code(outcome.refusal);
  ASSERT_TRUE(outcome.identity);
  EXPECT_EQ(outcome.identity->user_id, "user-7");
  EXPECT_EQ(outcome.identity->display_name, "Ann");
}

TEST(AuthVerifier, display_name_claim_is_configurable_and_falls_back_to_sub) {
  auth_options options;
  options.name_claim = "nickname";
  const token_verifier verifier = hs_verifier(options);
  json::object claims = fresh_claims("user-8");
  claims["name"] = "not this one";
  auto outcome = verifier.verify(hs256_token(claims, kSecret), unix_now());
  ASSERT_TRUE(outcome.identity);
  EXPECT_EQ(outcome.identity->display_name, "user-8");  // no nickname claim
  claims["nickname"] = "Bea";
  outcome = verifier.verify(hs256_token(claims, kSecret), unix_now());
  ASSERT_TRUE(outcome.identity);
  EXPECT_EQ(outcome.identity->display_name, "Bea");
  claims["nickname"] = 42;  // not a string
  outcome = verifier.verify(hs256_token(claims, kSecret), unix_now());
  ASSERT_TRUE(outcome.identity);
  EXPECT_EQ(outcome.identity->display_name, "user-8");
}

TEST(AuthVerifier, valid_rs256_token) {
  const token_verifier verifier = key_verifier(rsa_key());
  EXPECT_EQ(verifier.mode(), auth_mode::jwt_rs256);
  const auth_outcome outcome = verifier.verify(signed_token(fresh_claims(), rsa_key()), unix_now());
  ASSERT_TRUE(outcome) << auth_refusal_code(outcome.refusal);
  EXPECT_EQ(outcome.identity->user_id, "user-42");
  EXPECT_EQ(outcome.identity->display_name, "user-42");
}

TEST(AuthVerifier, valid_es256_token) {
  const token_verifier verifier = key_verifier(ec_key());
  EXPECT_EQ(verifier.mode(), auth_mode::jwt_es256);
  EXPECT_EQ(auth_mode_name(verifier.mode()), "jwt-es256");
  const auth_outcome outcome = verifier.verify(signed_token(fresh_claims(), ec_key()), unix_now());
  ASSERT_TRUE(outcome) << auth_refusal_code(outcome.refusal);
  EXPECT_EQ(outcome.identity->user_id, "user-42");
}

TEST(AuthVerifier, expired_token_is_refused_past_the_leeway) {
  const token_verifier verifier = hs_verifier();  // leeway 30 s
  const std::int64_t now = unix_now();
  json::object claims = fresh_claims();
  claims["exp"] = now - 31;
  EXPECT_TRUE(
      refused_with(verifier.verify(hs256_token(claims, kSecret), now), auth_refusal::expired));
  claims["exp"] = now - 10;  // within the leeway
  EXPECT_TRUE(verifier.verify(hs256_token(claims, kSecret), now));
  claims["exp"] = static_cast<double>(now) - 3600.5;  // NumericDate may be fractional
  EXPECT_TRUE(
      refused_with(verifier.verify(hs256_token(claims, kSecret), now), auth_refusal::expired));
  claims["exp"] = "tomorrow";
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), now),
                           auth_refusal::invalid_token));
}

TEST(AuthVerifier, leeway_zero_refuses_at_exp) {
  auth_options options;
  options.leeway_s = 0;
  const token_verifier verifier = hs_verifier(options);
  const std::int64_t now = unix_now();
  json::object claims = fresh_claims();
  claims["exp"] = now;
  EXPECT_TRUE(
      refused_with(verifier.verify(hs256_token(claims, kSecret), now), auth_refusal::expired));
  claims["exp"] = now + 1;
  EXPECT_TRUE(verifier.verify(hs256_token(claims, kSecret), now));
}

TEST(AuthVerifier, token_not_yet_valid_is_refused_past_the_leeway) {
  const token_verifier verifier = hs_verifier();
  const std::int64_t now = unix_now();
  json::object claims = fresh_claims();
  claims["nbf"] = now + 120;
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), now),
                           auth_refusal::not_yet_valid));
  claims["nbf"] = now + 20;  // a clock a little ahead of ours
  EXPECT_TRUE(verifier.verify(hs256_token(claims, kSecret), now));
}

TEST(AuthVerifier, wrong_signature_is_refused) {
  const token_verifier hs = hs_verifier();
  EXPECT_TRUE(refused_with(
      hs.verify(hs256_token(fresh_claims(), "another-secret-of-at-least-32-bytes"), unix_now()),
      auth_refusal::invalid_token));

  // A payload swapped under a valid signature.
  const std::string good = signed_token(fresh_claims("alice"), rsa_key());
  const std::string other = signed_token(fresh_claims("mallory"), rsa_key());
  const auto cut = [](const std::string& token, int part) {
    const std::size_t a = token.find('.');
    const std::size_t b = token.find('.', a + 1);
    return part == 0   ? token.substr(0, a)
           : part == 1 ? token.substr(a + 1, b - a - 1)
                       : token.substr(b + 1);
  };
  const std::string forged = cut(good, 0) + "." + cut(other, 1) + "." + cut(good, 2);
  const token_verifier rs = key_verifier(rsa_key());
  EXPECT_TRUE(rs.verify(good, unix_now()));
  EXPECT_TRUE(refused_with(rs.verify(forged, unix_now()), auth_refusal::invalid_token));

  // Signed by another key of the right kind.
  const testing::evp_key stranger = testing::make_ec_key();
  const token_verifier es = key_verifier(ec_key());
  EXPECT_TRUE(refused_with(es.verify(signed_token(fresh_claims(), stranger.get()), unix_now()),
                           auth_refusal::invalid_token));
}

TEST(AuthVerifier, alg_none_is_refused) {
  const std::string token = testing::unsigned_token(fresh_claims());
  EXPECT_TRUE(refused_with(hs_verifier().verify(token, unix_now()), auth_refusal::wrong_algorithm));
  EXPECT_TRUE(refused_with(key_verifier(rsa_key()).verify(token, unix_now()),
                           auth_refusal::wrong_algorithm));
  // With a signature part anyway.
  EXPECT_TRUE(refused_with(hs_verifier().verify(token + "c2ln", unix_now()),
                           auth_refusal::wrong_algorithm));
}

TEST(AuthVerifier, hs256_signed_with_the_public_key_pem_is_refused) {
  // The classic confusion: the public key is public, so an HMAC keyed with it is forgeable.
  const std::string pem = testing::public_pem(rsa_key());
  const std::string token = hs256_token(fresh_claims("attacker"), pem);
  EXPECT_TRUE(refused_with(key_verifier(rsa_key()).verify(token, unix_now()),
                           auth_refusal::wrong_algorithm));
  const std::string ec_pem = testing::public_pem(ec_key());
  EXPECT_TRUE(
      refused_with(key_verifier(ec_key()).verify(hs256_token(fresh_claims(), ec_pem), unix_now()),
                   auth_refusal::wrong_algorithm));
}

TEST(AuthVerifier, an_algorithm_other_than_the_keys_is_refused) {
  const std::int64_t now = unix_now();
  EXPECT_TRUE(refused_with(hs_verifier().verify(signed_token(fresh_claims(), rsa_key()), now),
                           auth_refusal::wrong_algorithm));
  EXPECT_TRUE(
      refused_with(key_verifier(rsa_key()).verify(signed_token(fresh_claims(), ec_key()), now),
                   auth_refusal::wrong_algorithm));
  EXPECT_TRUE(
      refused_with(key_verifier(ec_key()).verify(signed_token(fresh_claims(), rsa_key()), now),
                   auth_refusal::wrong_algorithm));
  // HS512 with the right secret: still not the configured algorithm.
  EXPECT_TRUE(refused_with(hs_verifier().verify(hs256_token(fresh_claims(), kSecret, "HS512"), now),
                           auth_refusal::wrong_algorithm));
  EXPECT_TRUE(refused_with(hs_verifier().verify(hs256_token(fresh_claims(), kSecret, "hs256"), now),
                           auth_refusal::wrong_algorithm));
}

TEST(AuthVerifier, issuer_must_match_when_configured) {
  auth_options options;
  options.issuer = "https://app.example.com";
  const token_verifier verifier = hs_verifier(options);
  json::object claims = fresh_claims();
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::wrong_issuer));  // none
  claims["iss"] = "https://evil.example.com";
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::wrong_issuer));
  claims["iss"] = "https://app.example.com";
  EXPECT_TRUE(verifier.verify(hs256_token(claims, kSecret), unix_now()));
  // Without the flag any issuer passes.
  claims["iss"] = "anyone";
  EXPECT_TRUE(hs_verifier().verify(hs256_token(claims, kSecret), unix_now()));
}

TEST(AuthVerifier, audience_must_match_when_configured) {
  auth_options options;
  options.audience = "partyd";
  const token_verifier verifier = hs_verifier(options);
  json::object claims = fresh_claims();
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::wrong_audience));  // none
  claims["aud"] = "billing";
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::wrong_audience));
  claims["aud"] = "partyd";
  EXPECT_TRUE(verifier.verify(hs256_token(claims, kSecret), unix_now()));
}

TEST(AuthVerifier, audience_may_be_an_array) {
  auth_options options;
  options.audience = "partyd";
  const token_verifier verifier = hs_verifier(options);
  json::object claims = fresh_claims();
  claims["aud"] = json::array{"billing", "partyd"};
  EXPECT_TRUE(verifier.verify(hs256_token(claims, kSecret), unix_now()));
  claims["aud"] = json::array{"billing", "chat"};
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::wrong_audience));
  claims["aud"] = json::array{};
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::wrong_audience));
}

TEST(AuthVerifier, sub_is_required) {
  const token_verifier verifier = hs_verifier();
  json::object claims = fresh_claims();
  claims.erase("sub");
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::invalid_token));
  claims["sub"] = "";
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::invalid_token));
  claims["sub"] = 42;
  EXPECT_TRUE(refused_with(verifier.verify(hs256_token(claims, kSecret), unix_now()),
                           auth_refusal::invalid_token));
}

TEST(AuthVerifier, malformed_tokens_are_invalid) {
  const token_verifier verifier = hs_verifier();
  const std::string good = hs256_token(fresh_claims(), kSecret);
  for (const std::string& bad :
       {std::string(), std::string("abc"), std::string("a.b"), std::string("a.b.c.d"),
        std::string(".."), good + ".x", good.substr(0, good.size() - 1) + "=", "!" + good,
        std::string(9000, 'a') + "." + good, testing::base64url("[1,2]") + ".e30.c2ln",
        testing::base64url("not json") + ".e30.c2ln",
        std::string("e30.e30.c2ln"),             // {} header: no alg
        good.substr(0, good.rfind('.') + 1)}) {  // no signature
    EXPECT_TRUE(refused_with(verifier.verify(bad, unix_now()), auth_refusal::invalid_token))
        << bad.substr(0, 80);
  }
  // A header that asks for extensions we do not know.
  const std::string crit =
      testing::signing_input({{"alg", "HS256"}, {"crit", json::array{"b64"}}}, fresh_claims());
  EXPECT_TRUE(refused_with(
      verifier.verify(crit + "." + testing::base64url(testing::hmac_sha256(kSecret, crit)),
                      unix_now()),
      auth_refusal::invalid_token));
}

TEST(AuthVerifier, missing_token_is_refused_only_where_required) {
  const token_verifier verifier = hs_verifier();
  const upgrade_credentials none{"", "", "/ws/relay"};
  EXPECT_TRUE(
      refused_with(verifier.authenticate(none, true, unix_now()), auth_refusal::missing_token));
  const auth_outcome anonymous = verifier.authenticate(none, false, unix_now());
  EXPECT_TRUE(anonymous);
  EXPECT_FALSE(anonymous.identity);
}

TEST(AuthVerifier, a_presented_token_is_checked_also_where_none_is_required) {
  const token_verifier verifier = hs_verifier();
  const std::string good = hs256_token(fresh_claims("u1"), kSecret);
  const std::string query = "/ws/relay?token=" + good;
  const auth_outcome valid = verifier.authenticate({"", "", query}, false, unix_now());
  ASSERT_TRUE(valid.identity);
  EXPECT_EQ(valid.identity->user_id, "u1");
  EXPECT_EQ(valid.source, token_source::query);
  const std::string bad = "/ws/relay?token=" + hs256_token(fresh_claims(), "wrong-secret");
  EXPECT_TRUE(refused_with(verifier.authenticate({"", "", bad}, false, unix_now()),
                           auth_refusal::invalid_token));
}

TEST(AuthTokenSources, cookie_then_header_then_query) {
  const upgrade_credentials all{"theme=dark; partyd_token=from-cookie; x=1", "Bearer from-header",
                                "/ws/relay?a=1&token=from-query"};
  auto found = find_token(all, "partyd_token");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->token, "from-cookie");
  EXPECT_EQ(found->source, token_source::cookie);

  found = find_token({"theme=dark", "Bearer from-header", all.target}, "partyd_token");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->token, "from-header");
  EXPECT_EQ(found->source, token_source::header);

  found = find_token({"", "", all.target}, "partyd_token");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->token, "from-query");
  EXPECT_EQ(found->source, token_source::query);

  EXPECT_FALSE(find_token({"theme=dark", "", "/ws/relay?x=token"}, "partyd_token"));
}

TEST(AuthTokenSources, precedence_decides_which_token_is_verified) {
  const token_verifier verifier = hs_verifier();
  const std::string good = hs256_token(fresh_claims("cookie-user"), kSecret);
  const std::string bad = hs256_token(fresh_claims(), "wrong-secret");
  // A valid cookie wins over a bad header; a bad cookie is not rescued by a good header.
  auto outcome =
      verifier.authenticate({"partyd_token=" + good, "Bearer " + bad, "/"}, true, unix_now());
  ASSERT_TRUE(outcome.identity);
  EXPECT_EQ(outcome.identity->user_id, "cookie-user");
  EXPECT_EQ(outcome.source, token_source::cookie);
  outcome = verifier.authenticate({"partyd_token=" + bad, "Bearer " + good, "/"}, true, unix_now());
  EXPECT_TRUE(refused_with(outcome, auth_refusal::invalid_token));
  EXPECT_EQ(outcome.source, token_source::cookie);
  outcome =
      verifier.authenticate({"", "Bearer " + good, "/ws/relay?token=" + bad}, true, unix_now());
  EXPECT_TRUE(outcome);
  EXPECT_EQ(outcome.source, token_source::header);
}

TEST(AuthTokenSources, cookie_name_is_configurable_and_exact) {
  const upgrade_credentials request{"partyd_token=default; sess=mine", "", "/"};
  auto found = find_token(request, "sess");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->token, "mine");
  EXPECT_FALSE(find_token({"xpartyd_token=a; partyd_tokenx=b", "", "/"}, "partyd_token"));
  found = find_token({"partyd_token=\"quoted\"", "", "/"}, "partyd_token");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->token, "quoted");
  // An empty cookie (a logout) leaves the next source in charge.
  found = find_token({"partyd_token=", "Bearer next", "/"}, "partyd_token");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->source, token_source::header);
}

TEST(AuthTokenSources, bearer_scheme_is_case_insensitive_and_others_are_ignored) {
  auto found = find_token({"", "bearer abc", "/"}, "partyd_token");
  ASSERT_TRUE(found);
  EXPECT_EQ(found->token, "abc");
  EXPECT_FALSE(find_token({"", "Basic dXNlcjpwdw==", "/"}, "partyd_token"));
  EXPECT_FALSE(find_token({"", "Bearer", "/"}, "partyd_token"));
  EXPECT_FALSE(find_token({"", "Bearerabc", "/"}, "partyd_token"));
}

TEST(AuthTokenSources, query_parameters_are_percent_decoded) {
  EXPECT_EQ(query_parameter("/ws?name=Ann%20B", "name"), "Ann B");
  EXPECT_EQ(query_parameter("/ws?name=Ann+B&x=1", "name"), "Ann B");
  EXPECT_EQ(query_parameter("/ws?x=1&name=Z%C3%BC", "name"), "Z\xC3\xBC");
  EXPECT_EQ(query_parameter("/ws?name=a&name=b", "name"), "a");  // the first wins
  EXPECT_EQ(query_parameter("/ws?name", "name"), "");
  EXPECT_FALSE(query_parameter("/ws?name=%zz", "name"));
  EXPECT_FALSE(query_parameter("/ws?name=%4", "name"));
  EXPECT_FALSE(query_parameter("/ws", "name"));
  EXPECT_FALSE(query_parameter("/ws?names=x", "name"));
}

TEST(AuthDevelopment, required_games_take_a_name) {
  const token_verifier dev;
  EXPECT_TRUE(dev.development());
  EXPECT_EQ(auth_mode_name(dev.mode()), "development");
  auth_outcome outcome = dev.authenticate({"", "", "/ws/relay?name=Ann%20B"}, true, unix_now());
  ASSERT_TRUE(outcome.identity);
  EXPECT_EQ(outcome.identity->user_id, "dev:Ann B");
  EXPECT_EQ(outcome.identity->display_name, "Ann B");
  const std::vector<std::string> bad_names = {
      "/ws/relay",
      "/ws/relay?name=",
      "/ws/relay?name=" + std::string(33, 'a'),
      "/ws/relay?name=a%0Ab",
      "/ws/relay?name=%20%20",
      "/ws/relay?name=%FF",
      "/ws/relay?name=a%C2%85"};  // no name, empty, 33 long, a newline, blank, not UTF-8, C1
  for (const std::string& target : bad_names) {
    EXPECT_TRUE(refused_with(dev.authenticate({"", "", target}, true, unix_now()),
                             auth_refusal::invalid_name))
        << target;
  }
  // 32 code points, not bytes.
  std::string umlauts;
  for (int i = 0; i < 32; ++i) umlauts += "%C3%BC";
  EXPECT_TRUE(dev.authenticate({"", "", "/ws/relay?name=" + umlauts}, true, unix_now()));
  // A game that does not require authentication asks for nothing, and a token is not looked at.
  outcome = dev.authenticate({"partyd_token=x", "", "/ws/relay"}, false, unix_now());
  EXPECT_TRUE(outcome);
  EXPECT_FALSE(outcome.identity);
}

TEST(AuthVerifier, required_for_combines_module_and_flag) {
  auth_options options;
  options.required_games = {"relay"};
  const token_verifier verifier = hs_verifier(options);
  EXPECT_TRUE(verifier.required_for("relay", false));
  EXPECT_FALSE(verifier.required_for("brainrot", false));
  EXPECT_TRUE(verifier.required_for("quiz", true));
}

TEST(AuthVerifier, unusable_keys_are_refused_at_start) {
  std::string error;
  auth_options both;
  both.jwt_secret = kSecret;
  both.jwt_public_key_file = "/nonexistent";
  EXPECT_FALSE(token_verifier::make(both, error));
  EXPECT_EQ(error.find(kSecret), std::string::npos);

  const auto refused = [&](std::string_view content) {
    const temp_file file(content);
    auth_options options;
    options.jwt_public_key_file = file.path();
    error.clear();
    return !token_verifier::make(options, error) && !error.empty();
  };
  EXPECT_TRUE(refused("not a key"));
  EXPECT_TRUE(refused(""));
  const testing::evp_key small_rsa = testing::make_rsa_key(1024);
  EXPECT_TRUE(refused(testing::public_pem(small_rsa.get())));
  EXPECT_NE(error.find("2048"), std::string::npos) << error;
  const testing::evp_key p384 = testing::make_ec_key("P-384");
  EXPECT_TRUE(refused(testing::public_pem(p384.get())));
  EXPECT_NE(error.find("P-256"), std::string::npos) << error;
  // A private key is not what the server should hold.
  BIO* out = BIO_new(BIO_s_mem());
  PEM_write_bio_PrivateKey(out, ec_key(), nullptr, nullptr, 0, nullptr, nullptr);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out, &data);
  const std::string private_pem(data, static_cast<std::size_t>(size));
  BIO_free(out);
  EXPECT_TRUE(refused(private_pem));

  auth_options missing;
  missing.jwt_public_key_file = "/nonexistent/partyd.pem";
  EXPECT_FALSE(token_verifier::make(missing, error));
  EXPECT_NE(error.find("/nonexistent/partyd.pem"), std::string::npos) << error;
}

}  // namespace
}  // namespace partyd
