// The WebSocket layer of the real partyd binary (io/ws_codec, io/ws_session), driven by a raw
// client that can send what a client library never would: the upgrade's answers, fragmented and
// control frames, protocol violations, the close handshake, frame coalescing and the slow-reader
// path. The game on the wire is relay (docs/protocol/relay.md).
#include <sys/wait.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <optional>
#include <string>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/raw_ws_client.hpp"
#include "support/relay_fixture.hpp"
#include "support/test_server.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;
using websocket_test = relay_fixture;

std::string handshake_json(const relay_room& room, const std::string& role) {
  json::object message{{"type", "handshake"}, {"roomCode", room.code}, {"role", role}};
  if (role == "host") {
    message["hostKey"] = room.host_key;
  }
  return json::serialize(message);
}

// Reads frames until a text frame whose JSON has `type`; nullopt if the stream ends first.
std::optional<json::object> receive_type(raw_ws_client& client, std::string_view type) {
  while (auto frame = client.receive()) {
    if (frame->op != ws::opcode::text) {
      continue;
    }
    json::value parsed = json::parse(frame->payload);
    if (parsed.is_object() && parsed.as_object().contains("type") &&
        parsed.as_object().at("type").as_string() == type) {
      return parsed.as_object();
    }
  }
  return std::nullopt;
}

bool joined_ok(raw_ws_client& client) {
  auto response = receive_type(client, "handshake_response");
  return response && response->at("status").as_string() == "success";
}

std::string lower_copy(std::string text) {
  for (char& c : text) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return text;
}

// Connects a raw client, upgrades and joins `room` as `role`.
::testing::AssertionResult join_raw(raw_ws_client& client, std::uint16_t port,
                                    const relay_room& room, const std::string& role,
                                    int receive_buffer = 0) {
  if (!client.connect(port, receive_buffer)) {
    return ::testing::AssertionFailure() << "connect failed";
  }
  if (const int status = client.upgrade(relay_path()); status != 101) {
    return ::testing::AssertionFailure() << "upgrade answered " << status;
  }
  if (!client.send_frame(ws::opcode::text, handshake_json(room, role))) {
    return ::testing::AssertionFailure() << "could not send the handshake";
  }
  if (!joined_ok(client)) {
    return ::testing::AssertionFailure() << "no successful handshake_response";
  }
  return ::testing::AssertionSuccess();
}

double metric(const test_server& server, std::string_view name) {
  return server.metric(name).value_or(-1);
}

// The status of a well-formed upgrade to the relay path with this Origin header (none: nullopt).
int upgrade_from(std::uint16_t port, const std::optional<std::string>& origin,
                 std::string* content_type = nullptr) {
  raw_ws_client client;
  if (!client.connect(port)) {
    return 0;
  }
  std::string request =
      "GET " + relay_path() +
      " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
      "Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n";
  if (origin) {
    request += "Origin: " + *origin + "\r\n";
  }
  request += "\r\n";
  const int status = client.upgrade_with(request);
  if (content_type != nullptr) {
    const auto found = client.headers().find("content-type");
    *content_type = found == client.headers().end() ? std::string() : found->second;
  }
  return status;
}

TEST_F(websocket_test, upgrade_answers_101_with_the_rfc_accept_key) {
  start_server();
  raw_ws_client client;
  ASSERT_TRUE(client.connect(server_->port()));
  ASSERT_EQ(client.upgrade(relay_path()), 101);
  EXPECT_EQ(client.headers().at("sec-websocket-accept"), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  EXPECT_EQ(lower_copy(client.headers().at("upgrade")), "websocket");
}

TEST_F(websocket_test, bad_upgrades_are_refused_with_a_reason) {
  start_server();
  raw_ws_client old_version;
  ASSERT_TRUE(old_version.connect(server_->port()));
  EXPECT_EQ(old_version.upgrade_with("GET " + relay_path() +
                                     " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                     "Connection: Upgrade\r\nSec-WebSocket-Version: 8\r\n"
                                     "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"),
            426);
  EXPECT_EQ(old_version.headers().at("sec-websocket-version"), "13");

  raw_ws_client bad_key;
  ASSERT_TRUE(bad_key.connect(server_->port()));
  EXPECT_EQ(bad_key.upgrade(relay_path(), "short"), 400);
  EXPECT_EQ(metric(*server_, "partyd_ws_connections_open"), 0);
}

// --allowed-origins (docs/operations.md): exact matches only; an upgrade without Origin is not
// from a browser and is accepted; a refusal is a 403 before any WebSocket exists, counted.
TEST_F(websocket_test, an_origin_outside_the_allow_list_is_refused_with_403) {
  start_server({"--allowed-origins", "https://party.example.com, http://localhost:5173"});
  const std::uint16_t port = server_->port();
  EXPECT_EQ(upgrade_from(port, "https://party.example.com"), 101);
  EXPECT_EQ(upgrade_from(port, "http://localhost:5173"), 101);
  EXPECT_EQ(upgrade_from(port, std::nullopt), 101);
  EXPECT_EQ(metric(*server_, "partyd_ws_origin_rejected_total"), 0);

  std::string content_type;
  EXPECT_EQ(upgrade_from(port, "https://evil.example", &content_type), 403);
  EXPECT_EQ(content_type, "application/json");
  EXPECT_EQ(metric(*server_, "partyd_ws_origin_rejected_total"), 1);
  for (const char* near_miss :
       {"https://party.example.com.evil.example", "http://party.example.com",
        "https://party.example.com:8443", "null"}) {
    EXPECT_EQ(upgrade_from(port, std::string(near_miss)), 403) << near_miss;
  }
  EXPECT_EQ(metric(*server_, "partyd_ws_origin_rejected_total"), 5);
  // Only the three accepted upgrades became WebSockets.
  EXPECT_EQ(metric(*server_, "partyd_ws_connections_accepted_total"), 3);
  // Plain HTTP is not affected.
  EXPECT_EQ(server_->http("GET", "/health").status, 200);
}

TEST_F(websocket_test, without_an_allow_list_any_origin_is_accepted) {
  start_server();
  EXPECT_EQ(upgrade_from(server_->port(), "https://anywhere.example"), 101);
  EXPECT_EQ(upgrade_from(server_->port(), "null"), 101);
  EXPECT_EQ(metric(*server_, "partyd_ws_origin_rejected_total"), 0);
}

TEST(partyd_cli_origins, the_environment_sets_the_list_and_a_malformed_entry_stops_the_start) {
  // A path is not part of an origin: refused at start-up, read from PARTYD_ALLOWED_ORIGINS. If the
  // variable were ignored partyd would start and serve: `timeout` bounds that (status 124).
  const auto [status, output] =
      run_command("PARTYD_ALLOWED_ORIGINS='https://party.example.com/' timeout 10 " +
                  std::string(PARTYD_BINARY) + " --port 0 --bind 127.0.0.1 --store memory");
  EXPECT_EQ(status, 2) << output;
  EXPECT_NE(output.find("--allowed-origins"), std::string::npos) << output;
}

TEST_F(websocket_test, a_connection_that_never_sends_its_request_is_closed) {
  start_server({"--http-timeout-ms", "300"});
  raw_ws_client silent;
  ASSERT_TRUE(silent.connect(server_->port()));
  EXPECT_TRUE(silent.wait_eof(std::chrono::seconds(3)));
  // A prompt client on the same server is served.
  raw_ws_client prompt;
  ASSERT_TRUE(prompt.connect(server_->port()));
  EXPECT_EQ(prompt.upgrade(relay_path()), 101);
}

TEST_F(websocket_test, a_fragmented_message_with_a_ping_inside_is_reassembled) {
  start_server();
  const relay_room room = create_room();
  raw_ws_client client;
  ASSERT_TRUE(client.connect(server_->port()));
  ASSERT_EQ(client.upgrade(relay_path()), 101);
  const std::string hello = handshake_json(room, "player");
  ASSERT_TRUE(client.send_frame(ws::opcode::text, hello.substr(0, 10), false));
  ASSERT_TRUE(client.send_frame(ws::opcode::ping, "are you there"));
  ASSERT_TRUE(client.send_frame(ws::opcode::continuation, hello.substr(10, 10), false));
  ASSERT_TRUE(client.send_frame(ws::opcode::continuation, hello.substr(20)));
  auto pong = client.receive();
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->op, ws::opcode::pong);
  EXPECT_EQ(pong->payload, "are you there");
  EXPECT_TRUE(joined_ok(client));
}

TEST_F(websocket_test, bytes_sent_right_behind_the_upgrade_request_are_read) {
  start_server();
  const relay_room room = create_room();
  raw_ws_client client;
  ASSERT_TRUE(client.connect(server_->port()));
  std::string frame;
  ws::append_masked_frame(frame, ws::opcode::text, handshake_json(room, "player"), 0x01020304u);
  ASSERT_EQ(client.upgrade_with("GET " + relay_path() +
                                " HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                                "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                                "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n" +
                                frame),
            101);
  EXPECT_TRUE(joined_ok(client));
}

struct violation {
  const char* name;
  std::string bytes;
  std::uint16_t code;
  const char* reason;
};

TEST_F(websocket_test, protocol_violations_close_with_the_rfc_code_and_touch_nothing_else) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);

  std::string unmasked;
  ws::append_frame(unmasked, ws::opcode::text, "{}");
  std::string bad_utf8;
  ws::append_masked_frame(bad_utf8, ws::opcode::text, "{\"x\":\"\xC3\x28\"}", 7u);
  std::string reserved_bit;
  ws::append_masked_frame(reserved_bit, ws::opcode::text, "{}", 7u);
  reserved_bit[0] = static_cast<char>(reserved_bit[0] | 0x20);
  const violation cases[] = {
      {"unmasked", unmasked, ws::close_protocol_error, "unmasked_frame"},
      {"invalid utf-8", bad_utf8, ws::close_invalid_payload, "invalid_utf8"},
      {"reserved bit", reserved_bit, ws::close_protocol_error, "reserved_bits_set"},
  };
  for (const auto& c : cases) {
    raw_ws_client client;
    ASSERT_TRUE(join_raw(client, server_->port(), room, "player")) << c.name;
    ASSERT_TRUE(client.send_bytes(c.bytes));
    std::optional<raw_frame> close;
    while (auto frame = client.receive()) {
      if (frame->op == ws::opcode::close) {
        close = frame;
        break;
      }
    }
    ASSERT_TRUE(close) << c.name;
    EXPECT_EQ(close->close_code, c.code) << c.name;
    EXPECT_EQ(close->close_reason, c.reason) << c.name;
    EXPECT_TRUE(client.wait_eof()) << c.name;
  }
  EXPECT_GE(server_->wait_metric_at_least("partyd_ws_protocol_errors_total", 3).value_or(0), 3);
  // The room and its host are untouched: a new player joins and gets the host's next state.
  auto probe = join_player(room);
  ASSERT_TRUE(probe);
  ASSERT_TRUE(
      host->send(json::object{{"type", "set_game_state"}, {"state", json::object{{"round", 2}}}}));
  auto state = probe->receive_until("game_state");
  ASSERT_TRUE(state);
  EXPECT_EQ(state->at("state").as_object().at("round").as_int64(), 2);
}

TEST_F(websocket_test, a_client_close_is_echoed_and_the_server_closes_tcp) {
  start_server();
  const relay_room room = create_room();
  raw_ws_client client;
  ASSERT_TRUE(join_raw(client, server_->port(), room, "player"));
  ASSERT_TRUE(client.send_frame(ws::opcode::close, ws::close_payload(4100, "bye")));
  std::optional<raw_frame> close;
  while (auto frame = client.receive()) {
    if (frame->op == ws::opcode::close) {
      close = frame;
      break;
    }
  }
  ASSERT_TRUE(close);
  EXPECT_EQ(close->close_code, 4100);
  EXPECT_TRUE(client.wait_eof());
}

TEST_F(websocket_test, frames_queued_together_leave_in_fewer_writes) {
  start_server({"--rate-limit-messages", "1000"});
  const relay_room room = create_room();
  raw_ws_client host;
  ASSERT_TRUE(join_raw(host, server_->port(), room, "host"));
  raw_ws_client player;
  ASSERT_TRUE(join_raw(player, server_->port(), room, "player"));
  ASSERT_TRUE(receive_type(host, "client_joined"));

  const double frames_before = metric(*server_, "partyd_ws_frames_out_total");
  const double writes_before = metric(*server_, "partyd_ws_writes_total");
  // 50 states in one TCP write: the io thread reads them in one go, so the worker's replies
  // queue up behind a single pending flush.
  constexpr int kStates = 50;
  std::string burst;
  for (int i = 0; i < kStates; ++i) {
    ws::append_masked_frame(
        burst, ws::opcode::text,
        "{\"type\":\"set_game_state\",\"state\":{\"seq\":" + std::to_string(i) + "}}", 0xABCDEF01u);
  }
  ASSERT_TRUE(host.send_bytes(burst));
  for (int i = 0; i < kStates; ++i) {
    auto state = receive_type(player, "game_state");
    ASSERT_TRUE(state) << i;
    EXPECT_EQ(state->at("state").as_object().at("seq").as_int64(), i);
  }
  const double frames = metric(*server_, "partyd_ws_frames_out_total") - frames_before;
  const double writes = metric(*server_, "partyd_ws_writes_total") - writes_before;
  EXPECT_GE(frames, kStates);
  EXPECT_LT(writes, frames) << "every frame went out in a write of its own";
}

TEST_F(websocket_test, a_reader_with_a_tiny_buffer_gets_every_frame_in_order) {
  start_server({"--outbox-max-bytes", "8388608"});
  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);
  raw_ws_client player;
  ASSERT_TRUE(join_raw(player, server_->port(), room, "player", /*receive_buffer=*/4096));
  ASSERT_TRUE(host->receive_until("client_joined"));

  // 3 MB for a client that does not read yet: far more than the socket buffers hold.
  constexpr int kStates = 100;
  const std::string padding(30000, 'p');
  for (int i = 0; i < kStates; ++i) {
    ASSERT_TRUE(host->send(json::object{{"type", "set_game_state"},
                                        {"state", json::object{{"seq", i}, {"pad", padding}}}}));
  }
  EXPECT_GE(server_->wait_metric_at_least("partyd_ws_write_waits_total", 1).value_or(0), 1);
  // What waits for the socket is counted while it waits.
  EXPECT_GE(server_->wait_metric_at_least("partyd_outbox_bytes", 30000).value_or(0), 30000);
  for (int i = 0; i < kStates; ++i) {
    auto state = receive_type(player, "game_state");
    ASSERT_TRUE(state) << i;
    const auto& body = state->at("state").as_object();
    EXPECT_EQ(body.at("seq").as_int64(), i);
    EXPECT_EQ(body.at("pad").as_string().size(), padding.size());
  }
  EXPECT_EQ(server_->metric("partyd_slow_consumer_disconnects_total").value_or(-1), 0);
  EXPECT_EQ(server_->wait_metric_at_most("partyd_outbox_bytes", 0).value_or(-1), 0);
}

TEST_F(websocket_test, silent_clients_are_pinged_and_closed_after_the_idle_timeout) {
  start_server({"--idle-timeout-ms", "600"});
  const relay_room room = create_room();
  raw_ws_client silent;
  raw_ws_client answering;
  for (raw_ws_client* client : {&silent, &answering}) {
    ASSERT_TRUE(join_raw(*client, server_->port(), room, "player"));
  }
  // The answering client replies to every ping for about three idle timeouts.
  const auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(1800);
  int pings = 0;
  while (std::chrono::steady_clock::now() < until) {
    auto frame = answering.receive(std::chrono::milliseconds(100));
    if (frame && frame->op == ws::opcode::ping) {
      ++pings;
      ASSERT_TRUE(answering.send_frame(ws::opcode::pong, frame->payload));
    }
  }
  EXPECT_GE(pings, 2);
  EXPECT_TRUE(silent.wait_eof(std::chrono::milliseconds(100)))
      << "the silent client was not closed";
  EXPECT_GE(server_->metric("partyd_ws_idle_timeouts_total").value_or(0), 1);
  // Still open: a frame sent now is answered.
  ASSERT_TRUE(answering.send_frame(ws::opcode::ping, "still here"));
  std::optional<raw_frame> pong;
  while (auto frame = answering.receive()) {
    if (frame->op == ws::opcode::pong) {
      pong = frame;
      break;
    }
  }
  ASSERT_TRUE(pong);
  EXPECT_EQ(pong->payload, "still here");
}

}  // namespace
}  // namespace partyd::testing
