// Authentication at the WebSocket upgrade against the real binary: a token from a cookie, an
// Authorization: Bearer header or the token query parameter (HS256 with --auth-jwt-secret,
// RS256 with --auth-jwt-public-key), every refusal a 401 at the HTTP level with no 101, and the
// development mode without a key. The relay requires no token by itself: --auth-required-games
// makes it.
#include <sys/wait.h>
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/jwt_tokens.hpp"
#include "support/raw_ws_client.hpp"
#include "support/relay_fixture.hpp"
#include "support/tcp_probe.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

const std::string kSecret = "integration-secret-of-at-least-32-bytes";
const std::string kIssuer = "https://app.example.com";
const std::string kAudience = "partyd-tests";

struct upgrade_answer {
  int status = 0;                              // 0: no answer
  std::map<std::string, std::string> headers;  // names in lower case
  std::string body;
  json::value json() const {
    boost::system::error_code ec;
    json::value parsed = json::parse(body, ec);
    return ec ? json::value() : parsed;
  }
};

// A WebSocket upgrade request for `target` with `extra_headers` ("Name: value" lines).
std::string upgrade_request(const std::string& target,
                            const std::vector<std::string>& extra_headers = {}) {
  std::string request = "GET " + target +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  for (const std::string& header : extra_headers) {
    request += header + "\r\n";
  }
  return request + "\r\n";
}

// One upgrade request to `target` with `extra_headers`, read to the end of its answer: what a
// browser's WebSocket would get before any frame.
upgrade_answer raw_upgrade(std::uint16_t port, const std::string& target,
                           const std::vector<std::string>& extra_headers = {}) {
  const std::string request = upgrade_request(target, extra_headers);
  upgrade_answer answer;
  tcp_socket socket;
  if (!socket.connect(port) || !socket.send_all(request)) {
    return answer;
  }
  const auto complete = [](std::string_view bytes) {
    const std::size_t end = bytes.find("\r\n\r\n");
    if (end == std::string_view::npos) return false;
    if (bytes.substr(0, 12).find(" 101 ") != std::string_view::npos) return true;
    const std::size_t length_at = bytes.find("Content-Length: ");
    if (length_at == std::string_view::npos || length_at > end) return true;
    const std::size_t length = std::strtoul(bytes.data() + length_at + 16, nullptr, 10);
    return bytes.size() >= end + 4 + length;
  };
  const std::string bytes = socket.read_until(complete, 5s);
  const std::size_t end = bytes.find("\r\n\r\n");
  if (end == std::string::npos || bytes.size() < 12) {
    return answer;
  }
  answer.status = std::atoi(bytes.c_str() + 9);
  std::size_t at = bytes.find("\r\n") + 2;
  while (at < end) {
    const std::size_t line_end = bytes.find("\r\n", at);
    const std::string line = bytes.substr(at, line_end - at);
    const std::size_t colon = line.find(':');
    if (colon != std::string::npos) {
      std::string name = line.substr(0, colon);
      for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      answer.headers[name] = line.substr(line.find_first_not_of(' ', colon + 1));
    }
    at = line_end + 2;
  }
  answer.body = bytes.substr(end + 4);
  return answer;
}

// A 401 with the server's JSON error body naming `reason`, the Bearer challenge, and no 101.
::testing::AssertionResult refused_401(const upgrade_answer& answer, const std::string& reason) {
  if (answer.status != 401) {
    return ::testing::AssertionFailure()
           << "expected 401 " << reason << ", got HTTP " << answer.status << " " << answer.body;
  }
  const json::value body = answer.json();
  if (!body.is_object() || str(body.as_object(), "error") != reason ||
      str(body.as_object(), "message").empty()) {
    return ::testing::AssertionFailure() << "expected {error:" << reason << "}: " << answer.body;
  }
  const auto challenge = answer.headers.find("www-authenticate");
  if (challenge == answer.headers.end() || challenge->second != "Bearer") {
    return ::testing::AssertionFailure() << "no WWW-Authenticate: Bearer on " << answer.body;
  }
  return ::testing::AssertionSuccess();
}

std::string refused_series(const std::string& reason) {
  return "partyd_ws_auth_refused_total{reason=\"" + reason + "\"}";
}

json::object claims_for(const std::string& sub) {
  json::object claims = fresh_claims(sub);
  claims["iss"] = kIssuer;
  claims["aud"] = kAudience;
  return claims;
}

class AuthUpgrade : public relay_fixture {
 protected:
  void start_hs256(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--auth-jwt-secret", kSecret,  "--auth-issuer", kIssuer,
                                     "--auth-audience",   kAudience};
    args.insert(args.end(), extra.begin(), extra.end());
    start_server(std::move(args));
  }

  // A relay client upgraded with `token` in the query, then joined with `handshake`.
  joined join_with_token(const std::string& token, const json::object& handshake) {
    auto client = std::make_unique<ws_client>();
    if (!client->connect(server_->port(), relay_path() + "?token=" + token)) {
      ADD_FAILURE() << "upgrade with a valid token failed: HTTP " << client->upgrade_status();
      return {};
    }
    EXPECT_TRUE(client->send(handshake));
    auto first = client->receive();
    if (!first || str(*first, "status") != "success") {
      ADD_FAILURE() << "handshake failed: " << dump(first);
      return {};
    }
    joined result;
    result.ws = std::move(client);
    result.response = std::move(*first);
    result.client_id = str(result.response, "clientId");
    return result;
  }

  std::string health_auth() const {
    const auto health = server_->http("GET", "/health", {}, std::nullopt).json();
    return health.is_object() ? str(health.as_object(), "auth") : std::string("<no json>");
  }
};

TEST_F(AuthUpgrade, every_hs256_refusal_is_a_401_before_any_websocket) {
  start_hs256({"--auth-required-games", "relay", "--log-level", "info"});
  EXPECT_EQ(health_auth(), "jwt-hs256");
  const std::uint16_t port = server_->port();
  const std::string path = relay_path();
  const std::int64_t now = unix_now();

  json::object expired = claims_for("u-expired");
  expired["exp"] = now - 600;
  json::object early = claims_for("u-early");
  early["nbf"] = now + 600;
  json::object stranger = claims_for("u-iss");
  stranger["iss"] = "https://elsewhere.example.com";
  json::object other_audience = claims_for("u-aud");
  other_audience["aud"] = json::array{"billing"};
  const evp_key rsa = make_rsa_key();

  const std::vector<std::pair<std::string, std::string>> cases = {
      {"expired", hs256_token(expired, kSecret)},
      {"not_yet_valid", hs256_token(early, kSecret)},
      {"invalid_token", hs256_token(claims_for("u-sig"), "some-other-secret-of-32-bytes-or-more")},
      {"wrong_algorithm", unsigned_token(claims_for("u-none"))},
      {"wrong_algorithm", signed_token(claims_for("u-rs"), rsa.get())},
      {"wrong_issuer", hs256_token(stranger, kSecret)},
      {"wrong_audience", hs256_token(other_audience, kSecret)},
      {"invalid_token", "not-a-token"},
  };
  std::map<std::string, double> expected_counts;
  for (const auto& [reason, token] : cases) {
    // The same refusal from each place a token can come from.
    EXPECT_TRUE(refused_401(raw_upgrade(port, path + "?token=" + token), reason)) << "query";
    EXPECT_TRUE(refused_401(raw_upgrade(port, path, {"Authorization: Bearer " + token}), reason))
        << "header";
    EXPECT_TRUE(
        refused_401(raw_upgrade(port, path, {"Cookie: a=b; partyd_token=" + token}), reason))
        << "cookie";
    expected_counts[reason] += 3;
  }
  EXPECT_TRUE(refused_401(raw_upgrade(port, path), "missing_token"));
  EXPECT_TRUE(
      refused_401(raw_upgrade(port, path, {"Authorization: Basic dXNlcjpwdw=="}), "missing_token"));
  expected_counts["missing_token"] += 2;

  for (const auto& [reason, count] : expected_counts) {
    EXPECT_EQ(server_->metric(refused_series(reason)), count) << reason;
  }
  // Nothing got as far as a WebSocket.
  EXPECT_EQ(server_->metric("partyd_ws_connections_accepted_total"), 0);
  EXPECT_TRUE(server_->log_events("client_connected").empty());
  // Refusals are logged (rate-limited) by reason; neither a token nor the secret is.
  const auto refused = server_->wait_log_event("connection_refused", [](const json::object& line) {
    return str(line, "reason") == "expired";
  });
  ASSERT_TRUE(refused) << server_->log();
  EXPECT_EQ(str(*refused, "game"), "relay");
  EXPECT_EQ(str(*refused, "source"), "query");
  const std::string log = server_->log();
  EXPECT_EQ(log.find(kSecret), std::string::npos);
  for (const auto& [reason, token] : cases) {
    EXPECT_EQ(log.find(token), std::string::npos) << reason;
  }
}

TEST_F(AuthUpgrade, a_valid_token_gets_101_and_the_relay_works) {
  start_hs256({"--auth-required-games", "relay", "--log-level", "info"});
  const relay_room room = create_room();
  json::object host_claims = claims_for("host-user");
  host_claims["name"] = "Hannah";
  auto host = join_with_token(hs256_token(host_claims, kSecret),
                              handshake_message(room.code, "host", {{"hostKey", room.host_key}}));
  ASSERT_TRUE(host);

  // A player whose token comes in the Authorization header.
  raw_ws_client player;
  ASSERT_TRUE(player.connect(server_->port()));
  const std::string request = upgrade_request(
      relay_path(), {"Authorization: Bearer " + hs256_token(claims_for("player-user"), kSecret)});
  ASSERT_EQ(player.upgrade_with(request), 101);
  ASSERT_TRUE(
      player.send_frame(ws::opcode::text, json::serialize(handshake_message(room.code, "player"))));
  auto response = player.receive();
  ASSERT_TRUE(response);
  const json::value joined_reply = json::parse(response->payload);
  EXPECT_EQ(str(joined_reply.as_object(), "status"), "success") << response->payload;
  ASSERT_TRUE(host->receive_until("client_joined"));

  ASSERT_TRUE(
      player.send_frame(ws::opcode::text, R"({"type":"message_to_host","message":{"move":"e4"}})"));
  auto relayed = host->receive_until("client_message");
  ASSERT_TRUE(relayed);
  EXPECT_EQ(relayed->at("message"), json::value(json::object{{"move", "e4"}}));

  // An audience member with the token in the cookie.
  raw_ws_client audience;
  ASSERT_TRUE(audience.connect(server_->port()));
  const std::string cookie_request = upgrade_request(
      relay_path(),
      {"Cookie: theme=dark; partyd_token=" + hs256_token(claims_for("audience-user"), kSecret)});
  ASSERT_EQ(audience.upgrade_with(cookie_request), 101);

  // Each connection carries the identity its token proved.
  std::vector<std::string> users;
  ASSERT_TRUE(eventually([&] {
    users.clear();
    for (const json::object& line : server_->log_events("client_connected")) {
      users.push_back(str(line, "user"));
    }
    return users.size() == 3;
  })) << server_->log();
  EXPECT_EQ(users, (std::vector<std::string>{"host-user", "player-user", "audience-user"}));
  EXPECT_EQ(server_->metric("partyd_ws_connections_accepted_total"), 3);
  EXPECT_EQ(server_->metric(refused_series("missing_token")), 0);
}

TEST_F(AuthUpgrade, a_game_that_requires_no_token_still_refuses_a_bad_one) {
  start_hs256();  // no --auth-required-games: the relay does not require a token itself
  const std::uint16_t port = server_->port();
  EXPECT_EQ(raw_upgrade(port, relay_path()).status, 101);  // anonymous
  EXPECT_EQ(
      raw_upgrade(port, relay_path() + "?token=" + hs256_token(claims_for("u"), kSecret)).status,
      101);
  EXPECT_TRUE(refused_401(
      raw_upgrade(port, relay_path() + "?token=" + hs256_token(claims_for("u"), "wrong-secret")),
      "invalid_token"));
  json::object expired = claims_for("u");
  expired["exp"] = unix_now() - 600;
  EXPECT_TRUE(refused_401(
      raw_upgrade(port, relay_path(), {"Authorization: Bearer " + hs256_token(expired, kSecret)}),
      "expired"));
}

TEST_F(AuthUpgrade, rs256_public_key_file) {
  const evp_key key = make_rsa_key();
  const std::string pem = public_pem(key.get());
  const std::string key_file = (std::filesystem::temp_directory_path() /
                                ("partyd-auth-it-" + std::to_string(::getpid()) + ".pem"))
                                   .string();
  std::ofstream(key_file) << pem;
  start_server({"--auth-jwt-public-key", key_file, "--auth-required-games", "relay"});
  std::filesystem::remove(key_file);  // read at start-up
  EXPECT_EQ(health_auth(), "jwt-rs256");
  const std::uint16_t port = server_->port();
  const std::string path = relay_path() + "?token=";

  // HS256 keyed with the public key's PEM: a forgery anyone could make.
  EXPECT_TRUE(refused_401(raw_upgrade(port, path + hs256_token(fresh_claims("attacker"), pem)),
                          "wrong_algorithm"));
  EXPECT_TRUE(refused_401(raw_upgrade(port, path + unsigned_token(fresh_claims("attacker"))),
                          "wrong_algorithm"));
  const evp_key other = make_rsa_key();
  EXPECT_TRUE(refused_401(raw_upgrade(port, path + signed_token(fresh_claims(), other.get())),
                          "invalid_token"));
  json::object expired = fresh_claims();
  expired["exp"] = unix_now() - 600;
  EXPECT_TRUE(refused_401(raw_upgrade(port, path + signed_token(expired, key.get())), "expired"));
  json::object early = fresh_claims();
  early["nbf"] = unix_now() + 600;
  EXPECT_TRUE(
      refused_401(raw_upgrade(port, path + signed_token(early, key.get())), "not_yet_valid"));
  EXPECT_TRUE(refused_401(raw_upgrade(port, relay_path()), "missing_token"));
  EXPECT_EQ(server_->metric(refused_series("wrong_algorithm")), 2);

  // The real thing: 101, then the relay serves the host.
  const relay_room room = create_room();
  auto host = join_with_token(signed_token(fresh_claims("host-user"), key.get()),
                              handshake_message(room.code, "host", {{"hostKey", room.host_key}}));
  ASSERT_TRUE(host);
  EXPECT_EQ(str(host.response, "roomCode"), room.code);
}

class AuthDevelopmentMode : public AuthUpgrade {};

TEST_F(AuthDevelopmentMode, a_required_game_takes_a_name_and_health_says_development) {
  start_server({"--auth-required-games", "relay"});
  EXPECT_EQ(health_auth(), "development");
  const auto announced = server_->wait_log_event("auth_development_mode");
  ASSERT_TRUE(announced) << server_->log();
  EXPECT_EQ(str(*announced, "level"), "warn");

  const std::uint16_t port = server_->port();
  EXPECT_TRUE(refused_401(raw_upgrade(port, relay_path()), "invalid_name"));
  EXPECT_TRUE(refused_401(raw_upgrade(port, relay_path() + "?name=" + std::string(33, 'x')),
                          "invalid_name"));
  EXPECT_TRUE(refused_401(raw_upgrade(port, relay_path() + "?name=a%0Ab"), "invalid_name"));
  // A token is no substitute: without a key there is nothing to verify it with.
  EXPECT_TRUE(refused_401(
      raw_upgrade(port, relay_path() + "?token=" + hs256_token(fresh_claims(), kSecret)),
      "invalid_name"));
  EXPECT_EQ(server_->metric(refused_series("invalid_name")), 4);

  const relay_room room = create_room();
  auto host = std::make_unique<ws_client>();
  ASSERT_TRUE(host->connect(port, relay_path() + "?name=Ann%20B"));
  ASSERT_TRUE(host->send(handshake_message(room.code, "host", {{"hostKey", room.host_key}})));
  auto reply = host->receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(str(*reply, "status"), "success") << dump(reply);
}

TEST_F(AuthDevelopmentMode, without_required_games_nothing_is_asked) {
  start_server();
  EXPECT_EQ(health_auth(), "development");
  EXPECT_EQ(raw_upgrade(server_->port(), relay_path()).status, 101);
}

std::pair<int, std::string> run_partyd(const std::string& args) {
  return run_command("timeout 10 " + std::string(PARTYD_BINARY) +
                     " --port 0 --bind 127.0.0.1 --store memory " + args);
}

TEST(AuthConfig, unusable_auth_flags_stop_the_start) {
  const auto [unknown_status, unknown] = run_partyd("--auth-required-games relay,quizz");
  EXPECT_EQ(unknown_status, 2) << unknown;
  EXPECT_NE(unknown.find("quizz"), std::string::npos) << unknown;

  const auto [short_status, short_secret] = run_partyd("--auth-jwt-secret too-short-secret");
  EXPECT_EQ(short_status, 2) << short_secret;
  EXPECT_EQ(short_secret.find("too-short-secret"), std::string::npos) << short_secret;

  const auto [both_status, both] =
      run_partyd("--auth-jwt-secret " + kSecret + " --auth-jwt-public-key /etc/hostname");
  EXPECT_EQ(both_status, 2) << both;
  EXPECT_EQ(both.find(kSecret), std::string::npos) << both;

  const auto [missing_status, missing] = run_partyd("--auth-jwt-public-key /nonexistent/key.pem");
  EXPECT_EQ(missing_status, 2) << missing;
  EXPECT_NE(missing.find("/nonexistent/key.pem"), std::string::npos) << missing;

  const auto [issuer_status, issuer] = run_partyd("--auth-issuer " + kIssuer);
  EXPECT_EQ(issuer_status, 2) << issuer;
}

}  // namespace
}  // namespace partyd::testing
