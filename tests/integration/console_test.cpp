// The web console's side of the real partyd binary (docs/operations.md, "Web console"): its
// files and security headers at /, and the admin endpoints it reads: /api/stats (and its stream),
// /api/games, a room's inspector, snapshot download and the disconnect of one connection.
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/relay_fixture.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

using console_test = relay_fixture;

std::string url(const test_server& server, std::string_view path) {
  return "http://127.0.0.1:" + std::to_string(server.port()) + std::string(path);
}

TEST_F(console_test, the_console_page_comes_with_strict_security_headers) {
  start_server();
  const auto [status, out] = run_command("curl -s -D - -o /dev/null " + url(*server_, "/"));
  ASSERT_EQ(status, 0) << out;
  EXPECT_NE(out.find("HTTP/1.1 200"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Type: text/html"), std::string::npos) << out;
  EXPECT_NE(out.find("Content-Security-Policy: default-src 'none'; script-src 'self'"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("frame-ancestors 'none'"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Frame-Options: DENY"), std::string::npos) << out;
  EXPECT_NE(out.find("X-Content-Type-Options: nosniff"), std::string::npos) << out;
  // Nothing outside the console's files is reachable through its path.
  const auto [escape_status, escape] =
      run_command("curl -s -o /dev/null -w '%{http_code}' --path-as-is " +
                  url(*server_, "/console/../CMakeLists.txt"));
  EXPECT_EQ(escape, "404");
}

TEST_F(console_test, stats_and_games_need_the_admin_token) {
  start_server();
  EXPECT_EQ(server_->http("GET", "/api/stats", {}, std::nullopt).status, 401);
  EXPECT_EQ(server_->http("GET", "/api/stats", {}, "wrong").status, 401);
  EXPECT_EQ(server_->http("GET", "/api/games", {}, std::nullopt).status, 401);
  const auto [status, out] =
      run_command("curl -s -o /dev/null -w '%{http_code}' " + url(*server_, "/api/stats/stream"));
  EXPECT_EQ(out, "401");

  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);
  const auto stats = server_->http("GET", "/api/stats");
  ASSERT_EQ(stats.status, 200) << stats.body;
  const json::object body = stats.json().as_object();
  EXPECT_EQ(body.at("rooms").at("relay").to_number<int>(), 1) << stats.body;
  EXPECT_EQ(body.at("connections").at("relay").at("host").to_number<int>(), 1) << stats.body;
  EXPECT_GE(body.at("messagesIn").to_number<int>(), 1) << stats.body;
  // The test server keeps a file store: written, not degraded.
  EXPECT_EQ(body.at("store").at("status"), "ok") << stats.body;
  EXPECT_TRUE(body.at("store").at("target").as_string().starts_with("file:")) << stats.body;
  EXPECT_TRUE(body.at("store").at("lastWriteAgoMs").is_int64()) << stats.body;

  const auto games = server_->http("GET", "/api/games");
  ASSERT_EQ(games.status, 200) << games.body;
  bool relay_listed = false;
  const json::value listed = games.json();
  for (const json::value& game : listed.at("games").as_array()) {
    if (game.at("name") == "relay") {
      relay_listed = true;
      EXPECT_EQ(game.at("wsPath"), "/ws/relay");
      EXPECT_EQ(game.at("socketio"), json::value(true));
    }
  }
  EXPECT_TRUE(relay_listed) << games.body;
}

TEST_F(console_test, the_stats_stream_sends_a_summary_a_second) {
  start_server();
  const auto [status, out] =
      run_command("timeout 2.6 curl -s -N -H 'Authorization: Bearer " + std::string(admin_token) +
                  "' " + url(*server_, "/api/stats/stream") + "; true");
  std::size_t events = 0;
  for (std::size_t at = out.find("event: stats\ndata: {"); at != std::string::npos;
       at = out.find("event: stats\ndata: {", at + 1)) {
    ++events;
  }
  EXPECT_GE(events, 2u) << out;
  EXPECT_LE(events, 4u) << out;
}

TEST_F(console_test, the_inspector_shows_state_connections_timers_and_recent_inputs) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);
  host.ws->send(json::object{{"type", "set_game_state"}, {"state", {{"round", 3}}}});
  json::object inspected;
  ASSERT_TRUE(eventually([&] {
    const auto reply = server_->http("GET", "/api/rooms/" + room.code + "/inspect");
    if (reply.status != 200) return false;
    inspected = reply.json().as_object();
    return inspected.at("recentInputs").as_array().size() >= 3;
  })) << json::serialize(inspected);
  EXPECT_EQ(inspected.at("roomCode"), room.code.c_str());
  EXPECT_EQ(inspected.at("game"), "relay");
  // The game's own full view: the relay keeps the host's state as its text.
  EXPECT_NE(json::serialize(inspected.at("state")).find("round"), std::string::npos);
  const json::array& connections = inspected.at("connections").as_array();
  ASSERT_EQ(connections.size(), 1u);
  EXPECT_EQ(connections[0].at("role"), "host");
  EXPECT_EQ(connections[0].at("connected"), json::value(true));
  EXPECT_GE(connections[0].at("since").to_number<std::int64_t>(),
            inspected.at("createdAt").to_number<std::int64_t>());
  EXPECT_TRUE(connections[0].at("seat").is_null());  // no session: no seat beyond the connection
  bool inactivity = false;
  for (const json::value& timer : inspected.at("timers").as_array()) {
    if (timer.at("name") == "inactivity") {
      inactivity = true;
      EXPECT_GT(timer.at("deadline").to_number<std::int64_t>(),
                inspected.at("now").to_number<std::int64_t>());
    }
  }
  EXPECT_TRUE(inactivity);
  // Newest first: the state, the handshake, the room's creation.
  const json::array& recent = inspected.at("recentInputs").as_array();
  EXPECT_EQ(recent[0].at("type"), "set_game_state");
  EXPECT_EQ(recent[1].at("type"), "handshake");
  EXPECT_EQ(recent.back().at("kind"), "created");

  EXPECT_EQ(server_->http("GET", "/api/rooms/NOSUCH/inspect").status, 404);
  EXPECT_EQ(server_->http("GET", "/api/rooms/" + room.code + "/inspect", {}, std::nullopt).status,
            401);
}

TEST_F(console_test, a_snapshot_downloads_and_a_disconnect_closes_one_connection) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  const auto snapshot = server_->http("GET", "/api/rooms/" + room.code + "/snapshot");
  ASSERT_EQ(snapshot.status, 200) << snapshot.body;
  const json::value envelope = snapshot.json();
  ASSERT_TRUE(envelope.is_object()) << snapshot.body;
  EXPECT_EQ(envelope.at("code"), room.code.c_str());
  EXPECT_TRUE(envelope.as_object().contains("crc32"));

  const auto inspected = server_->http("GET", "/api/rooms/" + room.code + "/inspect").json();
  std::string player_conn;
  for (const json::value& conn : inspected.at("connections").as_array()) {
    if (conn.at("role") == "player") player_conn = json::serialize(conn.at("conn"));
  }
  ASSERT_FALSE(player_conn.empty()) << json::serialize(inspected);
  EXPECT_EQ(server_->http("DELETE", "/api/rooms/" + room.code + "/connections/1").status, 404);
  EXPECT_EQ(server_->http("DELETE", "/api/rooms/" + room.code + "/connections/x").status, 400);
  const auto closed =
      server_->http("DELETE", "/api/rooms/" + room.code + "/connections/" + player_conn);
  ASSERT_EQ(closed.status, 200) << closed.body;
  EXPECT_TRUE(closed_with(*player.ws, 1000, "disconnected_by_admin"));
  // The host stays, and hears of the player's going as of any drop.
  EXPECT_TRUE(host.ws->receive_until("client_disconnected"));
  EXPECT_TRUE(eventually([&] {
    const auto now = server_->http("GET", "/api/rooms/" + room.code + "/inspect").json();
    return now.is_object() && now.at("connections").as_array().size() == 1;
  }));
}

}  // namespace
}  // namespace partyd::testing
