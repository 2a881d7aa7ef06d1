// HTTP endpoints of the real partyd binary: /health, /ready, /metrics, the admin API
// (/api/rooms) and the command line (--help, SIGTERM).
#include <signal.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/relay_fixture.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

using http_test = relay_fixture;

const json::object* find_room(const json::value& listing, const std::string& code) {
  if (!listing.is_object()) return nullptr;
  const auto* rooms = listing.as_object().if_contains("rooms");
  if (!rooms || !rooms->is_array()) return nullptr;
  for (const auto& room : rooms->as_array()) {
    if (room.is_object() && str(room.as_object(), "roomCode") == code) {
      return &room.as_object();
    }
  }
  return nullptr;
}

std::int64_t int_at(const json::object& object, std::string_view key) {
  const auto* value = object.if_contains(key);
  return value && value->is_int64() ? value->as_int64() : -1;
}

TEST_F(http_test, health_reports_ok) {
  start_server();
  const auto reply = server_->http("GET", "/health", {}, std::nullopt);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto body = reply.json();
  ASSERT_TRUE(body.is_object()) << reply.body;
  EXPECT_EQ(str(body.as_object(), "status"), "ok");
  EXPECT_EQ(int_at(body.as_object(), "rooms"), 0);
  EXPECT_EQ(int_at(body.as_object(), "connections"), 0);
  EXPECT_TRUE(body.as_object().contains("uptimeSeconds"));

  create_room();
  const auto after = server_->http("GET", "/health", {}, std::nullopt).json();
  ASSERT_TRUE(after.is_object());
  EXPECT_EQ(int_at(after.as_object(), "rooms"), 1);
}

TEST_F(http_test, ready_is_200_once_started) {
  start_server();
  const auto reply = server_->http("GET", "/ready", {}, std::nullopt);
  ASSERT_EQ(reply.status, 200) << reply.body;
  const auto body = reply.json();
  ASSERT_TRUE(body.is_object()) << reply.body;
  EXPECT_EQ(body.as_object().at("ready"), json::value(true));
}

TEST_F(http_test, unknown_endpoint_is_404) {
  start_server();
  EXPECT_EQ(server_->http("GET", "/nope", {}, std::nullopt).status, 404);
  // A WebSocket upgrade on a path no game serves is refused too.
  ws_client client;
  EXPECT_FALSE(client.connect(server_->port(), "/no-game-here"));
  EXPECT_EQ(client.upgrade_status(), 404);
}

TEST_F(http_test, admin_api_requires_the_bearer_token) {
  start_server();
  for (const auto& [method, path] :
       {std::pair{"GET", "/api/rooms"}, std::pair{"POST", "/api/rooms"},
        std::pair{"DELETE", "/api/rooms/ABCDEF"}}) {
    const auto missing = server_->http(method, path, {}, std::nullopt);
    EXPECT_EQ(missing.status, 401) << method << " " << path << ": " << missing.body;
    const auto wrong = server_->http(method, path, {}, "wrong-token");
    EXPECT_EQ(wrong.status, 401) << method << " " << path << ": " << wrong.body;
    const auto prefix = server_->http(method, path, {}, "test-toke");
    EXPECT_EQ(prefix.status, 401) << method << " " << path << ": " << prefix.body;
  }
  const auto body = server_->http("GET", "/api/rooms", {}, "nope").json();
  ASSERT_TRUE(body.is_object());
  EXPECT_EQ(str(body.as_object(), "error"), "unauthorized");
  // No room was created by the refused POSTs.
  const auto listing = server_->http("GET", "/api/rooms").json();
  ASSERT_TRUE(listing.is_object());
  EXPECT_EQ(int_at(listing.as_object(), "count"), 0);
  const auto failures = server_->metric("partyd_admin_auth_failures_total");
  ASSERT_TRUE(failures);
  EXPECT_GE(*failures, 10);
}

TEST_F(http_test, admin_api_is_forbidden_without_an_admin_token) {
  start_server({"--admin-token", ""});
  const auto reply = server_->http("POST", "/api/rooms", "{}", std::nullopt);
  EXPECT_EQ(reply.status, 403) << reply.body;
  EXPECT_EQ(server_->http("GET", "/api/rooms", {}, "").status, 403);
  EXPECT_EQ(server_->http("GET", "/api/rooms", {}, "test-token").status, 403);
  const auto body = reply.json();
  ASSERT_TRUE(body.is_object()) << reply.body;
  EXPECT_EQ(str(body.as_object(), "error"), "admin_disabled");
}

TEST_F(http_test, create_room_returns_code_and_host_key) {
  start_server();
  const auto reply =
      server_->http("POST", "/api/rooms", R"({"password":"pw","maxPlayers":8,"maxAudience":3})");
  ASSERT_EQ(reply.status, 201) << reply.body;
  const auto body = reply.json();
  ASSERT_TRUE(body.is_object()) << reply.body;
  const auto& room = body.as_object();
  const std::string code = str(room, "roomCode");
  ASSERT_EQ(code.size(), 6u) << reply.body;
  const std::string alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
  for (char ch : code) {
    EXPECT_NE(alphabet.find(ch), std::string::npos) << "'" << ch << "' in " << code;
  }
  EXPECT_FALSE(str(room, "hostKey").empty());
  EXPECT_EQ(str(room, "game"), "relay");
  EXPECT_EQ(int_at(room, "maxPlayers"), 8);
  EXPECT_EQ(int_at(room, "maxAudience"), 3);
  EXPECT_EQ(room.at("hasPassword"), json::value(true));
  EXPECT_FALSE(room.contains("password"));

  // Defaults, and codes and keys differ between rooms.
  const auto second = server_->create_relay_room();
  EXPECT_NE(str(second, "roomCode"), code);
  EXPECT_NE(str(second, "hostKey"), str(room, "hostKey"));
  EXPECT_EQ(int_at(second, "maxPlayers"), 0);
  EXPECT_EQ(second.at("hasPassword"), json::value(false));

  // The new room serves its host.
  relay_room created{code, str(room, "hostKey")};
  auto host = join_host(created);
  ASSERT_TRUE(host);
  EXPECT_EQ(str(host.response, "roomCode"), code);
}

TEST_F(http_test, create_room_rejects_bad_options) {
  start_server();
  const std::vector<std::string> bad_bodies = {
      R"({"maxPlayers":-1})",
      R"({"maxPlayers":1001})",
      R"({"maxPlayers":"8"})",
      R"({"maxPlayers":2.5})",
      R"({"maxAudience":-5})",
      R"({"maxAudience":true})",
      R"({"password":42})",
      R"({"password":")" + std::string(129, 'p') + R"("})",
      R"([1,2])",
      R"({not json)",
  };
  for (const auto& body : bad_bodies) {
    const auto reply = server_->http("POST", "/api/rooms", body);
    EXPECT_EQ(reply.status, 400) << body << " -> " << reply.body;
    const auto parsed = reply.json();
    EXPECT_TRUE(parsed.is_object() && str(parsed.as_object(), "error") == "bad_request")
        << body << " -> " << reply.body;
  }
  // The limits themselves are accepted.
  const auto edge = server_->http(
      "POST", "/api/rooms",
      R"({"maxPlayers":1000,"maxAudience":5000,"password":")" + std::string(128, 'p') + R"("})");
  EXPECT_EQ(edge.status, 201) << edge.body;
  const auto listing = server_->http("GET", "/api/rooms").json();
  ASSERT_TRUE(listing.is_object());
  EXPECT_EQ(int_at(listing.as_object(), "count"), 1);
}

TEST_F(http_test, list_rooms_shows_connection_counts) {
  start_server();
  const relay_room room = create_room({{"maxPlayers", 4}});
  const relay_room other = create_room();
  auto host = join_host(room);
  auto p1 = join_player(room);
  auto p2 = join_player(room);
  auto a1 = join_audience(room);
  ASSERT_TRUE(host && p1 && p2 && a1);
  // The host saw all three joins, so the room processed them.
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(host->receive_until("client_joined"));
  }
  p2->drop();  // seat kept, not connected
  ASSERT_TRUE(host->receive_until("client_disconnected"));

  const json::object* listed = nullptr;
  json::value listing;
  const bool settled = eventually([&] {
    listing = server_->http("GET", "/api/rooms").json();
    listed = find_room(listing, room.code);
    if (!listed) return false;
    const auto* connections = listed->if_contains("connections");
    return connections && connections->is_object() &&
           int_at(connections->as_object(), "player") == 1;
  });
  ASSERT_TRUE(listed) << json::serialize(listing);
  EXPECT_TRUE(settled) << json::serialize(listing);
  EXPECT_EQ(int_at(listing.as_object(), "count"), 2);
  EXPECT_EQ(str(*listed, "game"), "relay");
  EXPECT_EQ(int_at(*listed, "seats"), 2);
  const auto& connections = listed->at("connections").as_object();
  EXPECT_EQ(int_at(connections, "host"), 1);
  EXPECT_EQ(int_at(connections, "player"), 1);
  EXPECT_EQ(int_at(connections, "audience"), 1);
  EXPECT_TRUE(listed->contains("createdAt"));
  EXPECT_TRUE(listed->contains("lastActivity"));
  EXPECT_FALSE(listed->contains("hostKey"));

  const json::object* empty = find_room(listing, other.code);
  ASSERT_TRUE(empty);
  EXPECT_EQ(int_at(*empty, "seats"), 0);

  // GET of one room.
  const auto one = server_->http("GET", "/api/rooms/" + room.code);
  ASSERT_EQ(one.status, 200) << one.body;
  EXPECT_EQ(str(one.json().as_object(), "roomCode"), room.code);
  EXPECT_EQ(server_->http("GET", "/api/rooms/NOSUCH").status, 404);
}

TEST_F(http_test, delete_room_closes_it_for_every_client) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && player && audience);

  const auto reply = server_->http("DELETE", "/api/rooms/" + room.code);
  ASSERT_EQ(reply.status, 200) << reply.body;
  for (ws_client* client : {host.ws.get(), player.ws.get(), audience.ws.get()}) {
    auto closed = client->receive_until("room_closed");
    ASSERT_TRUE(closed);
    EXPECT_EQ(str(*closed, "reason"), "closed_by_admin");
    EXPECT_TRUE(closed_with(*client, 1000, "closed_by_admin"));
  }
  EXPECT_TRUE(
      eventually([&] { return server_->http("GET", "/api/rooms/" + room.code).status == 404; }));
  EXPECT_EQ(server_->http("DELETE", "/api/rooms/" + room.code).status, 404);
  EXPECT_FALSE(find_room(server_->http("GET", "/api/rooms").json(), room.code));
  // The code no longer routes.
  auto [late, first] = try_handshake(handshake_message(room.code, "audience"));
  ASSERT_TRUE(late);
  EXPECT_TRUE(handshake_refused(*late, first, "room_not_found"));
}

TEST_F(http_test, metrics_expose_the_documented_series) {
  start_server();
  const relay_room room = create_room({{"password", "pw"}});
  auto host = join_host(room);
  auto player = join_player(room, {{"password", "pw"}});
  ASSERT_TRUE(host && player);
  ASSERT_TRUE(host->send(json::object{{"type", "set_game_state"}, {"state", {{"n", 1}}}}));
  ASSERT_TRUE(player->receive_until("game_state"));
  auto [intruder, first] =
      try_handshake(handshake_message(room.code, "player", {{"password", "nope"}}));
  ASSERT_TRUE(intruder);
  EXPECT_TRUE(handshake_refused(*intruder, first, "wrong_password"));

  std::string text;
  EXPECT_TRUE(eventually([&] {
    text = server_->metrics_text();
    const auto players = find_metric(text, R"(partyd_connections{game="relay",role="player"})");
    return players && *players == 1;
  })) << text;
  EXPECT_EQ(find_metric(text, R"(partyd_connections{game="relay",role="host"})"), 1.0) << text;
  EXPECT_EQ(find_metric(text, R"(partyd_rooms{game="relay"})"), 1.0) << text;
  EXPECT_GE(
      find_metric(text, R"(partyd_messages_in_total{game="relay",type="handshake"})").value_or(0),
      3)
      << text;
  EXPECT_GE(find_metric(text, R"(partyd_messages_in_total{game="relay",type="set_game_state"})")
                .value_or(0),
            1)
      << text;
  EXPECT_GE(
      find_metric(text, R"(partyd_messages_out_total{game="relay",type="game_state"})").value_or(0),
      1)
      << text;
  EXPECT_GE(
      find_metric(text, R"(partyd_errors_total{game="relay",code="wrong_password"})").value_or(0),
      1)
      << text;
  EXPECT_NE(text.find("partyd_step_latency_seconds_bucket{"), std::string::npos) << text;
  // Every client message read counts its wait for the step; every frame written, its flush wait.
  EXPECT_GE(find_metric(text, R"(partyd_inbox_wait_seconds_count{worker="0"})").value_or(0), 4)
      << text;
  EXPECT_GE(find_metric(text, "partyd_flush_wait_seconds_count").value_or(0), 4) << text;
  EXPECT_TRUE(find_metric(text, "partyd_inbox_depth")) << text;
  EXPECT_TRUE(find_metric(text, "partyd_outbox_bytes")) << text;
  EXPECT_NE(text.find("# TYPE partyd_messages_in_total counter"), std::string::npos);
}

TEST_F(http_test, sigterm_closes_clients_with_1001_and_exits_0) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && player && audience);
  auto idle = connect();  // upgraded, no handshake yet
  ASSERT_TRUE(idle);

  server_->signal(SIGTERM);
  for (ws_client* client : {host.ws.get(), player.ws.get(), audience.ws.get(), idle.get()}) {
    EXPECT_TRUE(closed_with(*client, 1001, "server_shutdown", 10s));
  }
  const auto status = server_->wait_exit(10s);
  ASSERT_TRUE(status) << "partyd still running 10 s after SIGTERM";
  EXPECT_EQ(*status, 0);
}

TEST_F(http_test, threads_are_named_by_role) {
  start_server({"--io-threads", "2", "--workers", "2"});
  std::multiset<std::string> names;
  const std::string tasks = "/proc/" + std::to_string(server_->pid()) + "/task";
  for (const auto& task : std::filesystem::directory_iterator(tasks)) {
    std::ifstream comm(task.path() / "comm");
    std::string name;
    std::getline(comm, name);
    names.insert(name);
  }
  for (const char* expected :
       {"partyd-io-0", "partyd-io-1", "partyd-worker-0", "partyd-worker-1", "partyd-writer"}) {
    EXPECT_EQ(names.count(expected), 1u) << expected;
  }
}

TEST(partyd_cli, help_exits_0_and_lists_flags) {
  const auto [status, output] = run_command(std::string(PARTYD_BINARY) + " --help");
  EXPECT_EQ(status, 0) << output;
  EXPECT_NE(output.find("--port"), std::string::npos) << output;
  EXPECT_NE(output.find("--admin-token"), std::string::npos) << output;
}

}  // namespace
}  // namespace partyd::testing
