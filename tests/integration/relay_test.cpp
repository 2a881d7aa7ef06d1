// The relay protocol (docs/protocol/relay.md) end to end: the real partyd binary, real
// WebSocket clients on 127.0.0.1. One server per test. Absence of a frame is proven by ordering
// (a probe whose answer must come next), not by sleeping.
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include <boost/json.hpp>
#include <filesystem>

#include "support/relay_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

using relay_test = relay_fixture;

bool starts_with(const std::string& text, std::string_view prefix) {
  return text.rfind(prefix, 0) == 0;
}

json::object set_game_state(json::object state) {
  return {{"type", "set_game_state"}, {"state", std::move(state)}};
}

json::object to_host(json::value message) {
  return {{"type", "message_to_host"}, {"message", std::move(message)}};
}

json::object poll_start(const std::string& id, const std::string& kind, const std::string& question,
                        json::array options) {
  return {{"type", "poll_start"},
          {"pollId", id},
          {"pollType", kind},
          {"question", question},
          {"options", std::move(options)}};
}

json::object poll_response(const std::string& id, json::value response) {
  return {{"type", "poll_response"}, {"pollId", id}, {"response", std::move(response)}};
}

json::object poll_message(const std::string& type, const std::string& id) {
  return {{"type", type}, {"pollId", id}};
}

// ---- handshake ----

TEST_F(relay_test, host_handshake_success_fields) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);
  const auto& r = host.response;
  EXPECT_EQ(str(r, "roomCode"), room.code);
  EXPECT_EQ(str(r, "role"), "host");
  EXPECT_TRUE(starts_with(host.client_id, "h_")) << json::serialize(r);
  EXPECT_EQ(r.at("gameState"), json::value(json::object{}));
  EXPECT_EQ(r.at("clients"), json::value(json::array{}));
  EXPECT_EQ(r.at("polls"), json::value(json::array{}));
  EXPECT_FALSE(r.contains("hostKey"));
}

TEST_F(relay_test, player_handshake_success_fields_and_client_joined) {
  start_server();
  const relay_room room = create_room({{"password", "secret"}});
  auto host = join_host(room);
  ASSERT_TRUE(host);
  auto player = join_player(room, {{"password", "secret"}, {"meta", {{"name", "Alice"}}}});
  ASSERT_TRUE(player);
  const auto& r = player.response;
  EXPECT_EQ(str(r, "roomCode"), room.code);
  EXPECT_EQ(str(r, "role"), "player");
  EXPECT_TRUE(starts_with(player.client_id, "p_")) << json::serialize(r);
  EXPECT_GE(player.client_id.size(), 10u);
  EXPECT_EQ(r.at("gameState"), json::value(json::object{}));
  ASSERT_TRUE(r.contains("playerState"));
  EXPECT_TRUE(r.at("playerState").is_null());

  auto joined_frame = host->receive();
  ASSERT_TRUE(joined_frame);
  EXPECT_EQ(str(*joined_frame, "type"), "client_joined");
  EXPECT_EQ(str(*joined_frame, "clientId"), player.client_id);
  EXPECT_EQ(str(*joined_frame, "role"), "player");
  EXPECT_EQ(joined_frame->at("meta"), json::value(json::object{{"name", "Alice"}}));
  EXPECT_EQ(joined_frame->at("reconnected"), json::value(false));

  // A second player gets another seat token.
  auto second = join_player(room, {{"password", "secret"}});
  ASSERT_TRUE(second);
  EXPECT_NE(second.client_id, player.client_id);
  auto second_joined = host->receive_until("client_joined");
  ASSERT_TRUE(second_joined);
  EXPECT_TRUE(second_joined->at("meta").is_null());

  // A host that connects later sees both seats, in seat order.
  auto host2 = join_host(room);
  ASSERT_TRUE(host2);
  const auto& clients = host2.response.at("clients").as_array();
  ASSERT_EQ(clients.size(), 2u) << json::serialize(host2.response);
  EXPECT_EQ(str(clients[0].as_object(), "clientId"), player.client_id);
  EXPECT_EQ(str(clients[0].as_object(), "role"), "player");
  EXPECT_EQ(clients[0].as_object().at("meta"), json::value(json::object{{"name", "Alice"}}));
  EXPECT_EQ(clients[0].as_object().at("connected"), json::value(true));
  EXPECT_EQ(str(clients[1].as_object(), "clientId"), second.client_id);
}

TEST_F(relay_test, audience_handshake_success_fields_and_client_joined) {
  start_server();
  const relay_room room = create_room({{"password", "secret"}});
  auto host = join_host(room);
  ASSERT_TRUE(host);
  // The audience needs no password.
  auto audience = join_audience(room, {{"meta", {{"name", "Bob"}}}});
  ASSERT_TRUE(audience);
  const auto& r = audience.response;
  EXPECT_EQ(str(r, "roomCode"), room.code);
  EXPECT_EQ(str(r, "role"), "audience");
  EXPECT_TRUE(starts_with(audience.client_id, "a_")) << json::serialize(r);
  EXPECT_EQ(r.at("gameState"), json::value(json::object{}));
  EXPECT_EQ(r.at("polls"), json::value(json::array{}));

  auto joined_frame = host->receive();
  ASSERT_TRUE(joined_frame);
  EXPECT_EQ(str(*joined_frame, "type"), "client_joined");
  EXPECT_EQ(str(*joined_frame, "clientId"), audience.client_id);
  EXPECT_EQ(str(*joined_frame, "role"), "audience");
  EXPECT_EQ(joined_frame->at("meta"), json::value(json::object{{"name", "Bob"}}));
}

// Each handshake-stage error: a handshake_response with status error and the code, then close
// 1008 with the code as reason.
struct handshake_error_case {
  std::string name;
  json::object room_options;
  std::vector<json::object> occupants;  // handshakes (roomCode/hostKey filled in) done first
  std::function<std::string(const relay_room&)> first_message;
  std::string code;
};

class relay_handshake_error : public relay_fixture,
                              public ::testing::WithParamInterface<handshake_error_case> {};

// Fills in the placeholders roomCode "X" and hostKey "KEY".
std::string with_room(const relay_room& room, json::object message) {
  if (str(message, "roomCode") == "X") {
    message["roomCode"] = room.code;
  }
  if (str(message, "hostKey") == "KEY") {
    message["hostKey"] = room.host_key;
  }
  return json::serialize(message);
}

void PrintTo(const handshake_error_case& param, std::ostream* out) { *out << param.name; }

TEST_P(relay_handshake_error, is_answered_and_closed_1008) {
  const auto& param = GetParam();
  start_server();
  const relay_room room = create_room(param.room_options);
  std::vector<joined> occupants;
  for (const auto& occupant : param.occupants) {
    auto message = json::parse(with_room(room, occupant)).as_object();
    occupants.push_back(join(message));
    ASSERT_TRUE(occupants.back());
  }
  auto client = connect();
  ASSERT_TRUE(client);
  ASSERT_TRUE(client->send_raw(param.first_message(room)));
  auto first = client->receive();
  EXPECT_TRUE(handshake_refused(*client, first, param.code));

  const auto counted = server_->wait_metric_at_least(
      R"(partyd_errors_total{game="relay",code=")" + param.code + R"("})", 1);
  EXPECT_GE(counted.value_or(0), 1);
  // The occupants are unaffected.
  for (auto& occupant : occupants) {
    EXPECT_TRUE(occupant->is_open());
  }
}

json::object player_hs(json::object extra = {}) {
  return handshake_message("X", "player", std::move(extra));
}

INSTANTIATE_TEST_SUITE_P(
    relay, relay_handshake_error,
    ::testing::Values(
        handshake_error_case{"room_not_found",
                             {},
                             {},
                             [](const relay_room&) {
                               return json::serialize(handshake_message("ZZZZZZ", "player"));
                             },
                             "room_not_found"},
        handshake_error_case{"wrong_password",
                             {{"password", "secret"}},
                             {},
                             [](const relay_room& r) {
                               return with_room(r, player_hs({{"password", "Secret"}}));
                             },
                             "wrong_password"},
        handshake_error_case{"missing_password",
                             {{"password", "secret"}},
                             {},
                             [](const relay_room& r) { return with_room(r, player_hs()); },
                             "wrong_password"},
        handshake_error_case{
            "wrong_host_key",
            {},
            {},
            [](const relay_room& r) {
              return with_room(r, handshake_message("X", "host", {{"hostKey", "nope"}}));
            },
            "wrong_host_key"},
        handshake_error_case{
            "missing_host_key",
            {},
            {},
            [](const relay_room& r) { return with_room(r, handshake_message("X", "host")); },
            "wrong_host_key"},
        handshake_error_case{"room_full_players",
                             {{"maxPlayers", 1}},
                             {player_hs()},
                             [](const relay_room& r) { return with_room(r, player_hs()); },
                             "room_full"},
        handshake_error_case{
            "room_full_audience",
            {{"maxAudience", 1}},
            {handshake_message("X", "audience")},
            [](const relay_room& r) { return with_room(r, handshake_message("X", "audience")); },
            "room_full"},
        handshake_error_case{"seat_not_found",
                             {},
                             {},
                             [](const relay_room& r) {
                               return with_room(r, player_hs({{"clientId", "p_doesnotexist"}}));
                             },
                             "seat_not_found"},
        handshake_error_case{
            "bad_request_role",
            {},
            {},
            [](const relay_room& r) { return with_room(r, handshake_message("X", "king")); },
            "bad_request"},
        handshake_error_case{"bad_request_room_code_type",
                             {},
                             {},
                             [](const relay_room&) {
                               return std::string(
                                   R"({"type":"handshake","roomCode":42,"role":"player"})");
                             },
                             "bad_request"},
        handshake_error_case{"bad_request_meta_too_large",
                             {},
                             {},
                             [](const relay_room& r) {
                               return with_room(r, player_hs({{"meta", std::string(1100, 'm')}}));
                             },
                             "bad_request"},
        handshake_error_case{"bad_request_room_code_too_long",
                             {},
                             {},
                             [](const relay_room&) {
                               return json::serialize(
                                   handshake_message(std::string(65, 'A'), "audience"));
                             },
                             "bad_request"},
        handshake_error_case{"handshake_required",
                             {},
                             {},
                             [](const relay_room&) {
                               return json::serialize(set_game_state({{"a", 1}}));
                             },
                             "handshake_required"},
        handshake_error_case{"invalid_json",
                             {},
                             {},
                             [](const relay_room&) { return std::string("{not json"); },
                             "invalid_json"},
        handshake_error_case{"invalid_json_array",
                             {},
                             {},
                             [](const relay_room&) { return std::string("[1,2,3]"); },
                             "invalid_json"},
        handshake_error_case{
            "unknown_type",
            {},
            {},
            [](const relay_room&) { return std::string(R"({"type":"dance","roomCode":"X"})"); },
            "unknown_type"}),
    [](const ::testing::TestParamInfo<handshake_error_case>& param_info) {
      return param_info.param.name;
    });

TEST_F(relay_test, second_handshake_is_already_joined_and_connection_stays) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  ASSERT_TRUE(player->send(handshake_message(room.code, "player")));
  EXPECT_TRUE(next_is_error(*player.ws, "already_joined", "handshake"));
  ASSERT_TRUE(player->send(to_host("still here")));
  auto message = host->receive_until("client_message");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->at("message"), json::value("still here"));
}

TEST_F(relay_test, decode_errors_after_the_handshake_keep_the_connection) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  ASSERT_TRUE(host->receive_until("client_joined"));
  ASSERT_TRUE(player->send_raw("{oops"));
  EXPECT_TRUE(next_is_error(*player.ws, "invalid_json"));
  ASSERT_TRUE(player->send_raw(R"({"type":"fly"})"));
  EXPECT_TRUE(next_is_error(*player.ws, "unknown_type"));
  ASSERT_TRUE(player->send_raw(R"({"kind":"message_to_host"})"));
  EXPECT_TRUE(next_is_error(*player.ws, "unknown_type"));
  ASSERT_TRUE(player->send(json::object{{"type", "message_to_host"}}));
  EXPECT_TRUE(next_is_error(*player.ws, "bad_request", "message_to_host"));
  ASSERT_TRUE(player->send(set_game_state({{"a", 1}})));
  EXPECT_TRUE(next_is_error(*player.ws, "forbidden", "set_game_state"));
  ASSERT_TRUE(host->send(json::object{{"type", "set_game_state"}, {"state", json::array{1}}}));
  EXPECT_TRUE(next_is_error(*host.ws, "bad_request", "set_game_state"));
  EXPECT_TRUE(player->is_open());
  ASSERT_TRUE(player->send(to_host(1)));
  EXPECT_TRUE(host->receive_until("client_message"));
}

// docs/protocol/relay.md, error: every error of a message whose type was known names it in
// `requestType`, field errors found while decoding included; only errors found before the type
// (bad JSON, unknown type, rate limit) have none. The frame is compared byte for byte.
TEST_F(relay_test, field_errors_after_the_handshake_carry_the_request_type) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && audience);
  ASSERT_TRUE(host->receive_until("client_joined"));

  ASSERT_TRUE(host->send_raw(R"({"type":"set_game_state","state":[1,2]})"));
  auto error = host->receive();
  ASSERT_TRUE(error);
  EXPECT_EQ(json::serialize(*error),
            R"({"type":"error","code":"bad_request","message":"field 'state' must be an object",)"
            R"("requestType":"set_game_state"})");

  ASSERT_TRUE(audience->send_raw(R"({"type":"poll_response","pollId":7,"response":"A"})"));
  EXPECT_TRUE(next_is_error(*audience.ws, "bad_request", "poll_response"));
  ASSERT_TRUE(audience->send_raw(R"({"type":"handshake","roomCode":"","role":"player"})"));
  EXPECT_TRUE(next_is_error(*audience.ws, "bad_request", "handshake"));
  // Found before the type: none.
  ASSERT_TRUE(audience->send_raw(R"({"type":"poll_response",)"));
  EXPECT_TRUE(next_is_error(*audience.ws, "invalid_json"));
  ASSERT_TRUE(audience->send_raw(R"({"type":"set_gamestate"})"));
  EXPECT_TRUE(next_is_error(*audience.ws, "unknown_type"));
  EXPECT_TRUE(audience->is_open());
  EXPECT_TRUE(host_got_nothing_more(*host.ws));
}

// ---- game and player state ----

// A relay forwards what it was sent: numbers that a parse and a re-serialization would change
// (a big integer, 0.1, an exponent) reach players, later joiners and, after a restart, everyone
// byte for byte.
TEST_F(relay_test, game_state_numbers_pass_through_unchanged_also_after_a_restart) {
  char dir[] = "/tmp/partyd-rn-XXXXXX";
  ASSERT_NE(::mkdtemp(dir), nullptr);
  const std::vector<std::string> args = {"--store", std::string("file:") + dir + "/data"};
  start_server(args);
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  const std::string state = R"({"big":123456789012345678901234567890,"f":0.1,"e":1.5e-7})";
  ASSERT_TRUE(host->send_raw(R"({"type":"set_game_state","state":)" + state + "}"));
  auto relayed = player->receive_text();
  ASSERT_TRUE(relayed);
  EXPECT_EQ(*relayed, R"({"type":"game_state","state":)" + state + "}");

  const auto joined_text = [&](const json::object& handshake) -> std::string {
    ws_client client;
    if (!client.connect(server_->port(), relay_path()) || !client.send(handshake)) return {};
    return client.receive_text().value_or("");
  };
  const json::object late = handshake_message(room.code, "player", {});
  EXPECT_NE(joined_text(late).find(R"("gameState":)" + state), std::string::npos);
  host = {};
  player = {};
  EXPECT_EQ(server_->stop(), 0);  // the last snapshot is written on the way out
  start_server(args);
  const std::string after =
      joined_text(handshake_message(room.code, "host", {{"hostKey", room.host_key}}));
  EXPECT_NE(after.find(R"("gameState":)" + state), std::string::npos) << after;
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

// The same for the rest of what clients send: a player's meta (to the host, in client_joined and
// its client list), a message to the host (at once and from the queue of an absent host) and a
// player state (in player_state and the player's handshake_response), also after a restart.
TEST_F(relay_test, meta_messages_and_player_states_pass_through_unchanged_also_after_a_restart) {
  temp_dir dir;
  const std::vector<std::string> args = {"--store", "file:" + dir.path() + "/data"};
  start_server(args);
  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);
  const std::string meta = R"({"name":"\u00e9l\ud83d\ude00", "big":123456789012345678901234567890,)"
                           R"("f":[1.10,1e2,-0,0.1],"deep":[[[1e2]],[]]})";
  const std::string message = R"([123456789012345678901234567890, 1.10,1e2,-0,0.1,"\u00e9"])";
  std::string state = R"({"hand":[[1.10],[-0,[1e2]]],"n":123456789012345678901234567890)";
  for (int i = 0; i < 200; ++i) state += ",\"k" + std::to_string(i) + "\":0.1";
  state += "}";

  const auto handshake_text = [&](const std::string& role, const std::string& extra) {
    return R"({"type":"handshake","roomCode":")" + room.code + R"(","role":")" + role + "\"" +
           extra + "}";
  };
  ws_client player;
  ASSERT_TRUE(player.connect(server_->port(), relay_path()));
  ASSERT_TRUE(player.send_raw(handshake_text("player", R"(,"meta":)" + meta)));
  const auto response = player.receive();
  ASSERT_TRUE(response);
  const std::string id = str(*response, "clientId");
  const std::string reclaim =
      R"(,"clientId":")" + id + R"(","seatToken":")" + str(*response, "seatToken") + "\"";
  const std::string joined = R"({"type":"client_joined","clientId":")" + id +
                             R"(","role":"player","meta":)" + meta + R"(,"reconnected":false})";
  EXPECT_EQ(host->receive_text().value_or(""), joined);

  const auto client_message = [&](const std::string& text) {
    return R"({"type":"client_message","clientId":")" + id + R"(","role":"player","message":)" +
           text + "}";
  };
  ASSERT_TRUE(player.send_raw(R"({"type":"message_to_host","message":)" + message + "}"));
  EXPECT_EQ(host->receive_text().value_or(""), client_message(message));
  ASSERT_TRUE(host->send_raw(R"({"type":"set_player_state","clientId":")" + id + R"(","state":)" +
                             state + "}"));
  EXPECT_EQ(player.receive_text().value_or(""), R"({"type":"player_state","state":)" + state + "}");

  // The host leaves; a message waits for the next one, which lists the seat with its meta. A
  // message the player may not send is answered after everything it sent before: the checkpoint
  // that the room took those.
  const auto queue_for_the_host = [&](const std::string& text) {
    return player.send_raw(R"({"type":"message_to_host","message":)" + text + "}") &&
           player.send_raw(R"({"type":"poll_end","pollId":"p"})") &&
           next_is_error(player, "forbidden", "poll_end");
  };
  const auto leave = [](ws_client& client) {
    return client.send_raw(R"({"type":"leave"})") && closed_with(client, 1000, "left");
  };
  // A host's first two frames: its handshake_response and the one message queued.
  const auto host_sees = [&](ws_client& client) {
    std::vector<std::string> frames;
    if (client.connect(server_->port(), relay_path()) &&
        client.send_raw(handshake_text("host", R"(,"hostKey":")" + room.host_key + "\""))) {
      for (int i = 0; i < 2; ++i) frames.push_back(client.receive_text().value_or(""));
    }
    return frames;
  };
  ASSERT_TRUE(leave(*host.ws));
  const std::string queued = R"({"nested":[[1e2],{"x":-0}],"s":"\ud83d\ude00"})";
  ASSERT_TRUE(queue_for_the_host(queued));
  const std::string listed = R"({"clientId":")" + id + R"(","role":"player","meta":)" + meta;
  ws_client second_host;
  std::vector<std::string> frames = host_sees(second_host);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_NE(frames[0].find(listed + R"(,"connected":true})"), std::string::npos) << frames[0];
  EXPECT_EQ(frames[1], client_message(queued));

  // Restarted from the store: the same bytes again (the seat, the player state, a queued message).
  ASSERT_TRUE(leave(second_host));
  ASSERT_TRUE(queue_for_the_host(message));
  player.close();
  EXPECT_EQ(server_->stop(), 0);  // the last snapshot is written on the way out
  start_server(args);
  ws_client third_host;
  frames = host_sees(third_host);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_NE(frames[0].find(listed + R"(,"connected":false})"), std::string::npos) << frames[0];
  EXPECT_EQ(frames[1], client_message(message));
  ws_client back;
  ASSERT_TRUE(back.connect(server_->port(), relay_path()));
  ASSERT_TRUE(back.send_raw(handshake_text("player", reclaim)));
  const std::string reply = back.receive_text().value_or("");
  EXPECT_NE(reply.find(R"("playerState":)" + state + R"(,"gameState":{}})"), std::string::npos)
      << reply;
}

TEST_F(relay_test, game_state_goes_to_players_and_audience_not_host_and_to_later_joiners) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && player && audience);
  ASSERT_TRUE(host->receive_until("client_joined"));
  ASSERT_TRUE(host->receive_until("client_joined"));

  const json::object state{{"round", 3}, {"scores", {{"p_x", 10}}}};
  ASSERT_TRUE(host->send(set_game_state(state)));
  for (ws_client* client : {player.ws.get(), audience.ws.get()}) {
    auto frame = client->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(str(*frame, "type"), "game_state") << dump(frame);
    EXPECT_EQ(frame->at("state"), json::value(state));
  }
  EXPECT_TRUE(host_got_nothing_more(*host.ws));

  // Replaced, not merged.
  const json::object next{{"round", 4}};
  ASSERT_TRUE(host->send(set_game_state(next)));
  auto frame = player->receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(frame->at("state"), json::value(next));

  auto late_player = join_player(room);
  auto late_audience = join_audience(room);
  auto late_host = join_host(room);
  ASSERT_TRUE(late_player && late_audience && late_host);
  EXPECT_EQ(late_player.response.at("gameState"), json::value(next));
  EXPECT_EQ(late_audience.response.at("gameState"), json::value(next));
  EXPECT_EQ(late_host.response.at("gameState"), json::value(next));
}

TEST_F(relay_test, player_state_goes_to_one_player_and_is_redelivered_on_reconnect) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto alice = join_player(room, {{"meta", {{"name", "Alice"}}}});
  auto bob = join_player(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && alice && bob && audience);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(host->receive_until("client_joined"));

  const json::object hand{{"hand", json::array{"c1", "c2"}}};
  ASSERT_TRUE(host->send(
      json::object{{"type", "set_player_state"}, {"clientId", alice.client_id}, {"state", hand}}));
  auto frame = alice->receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(str(*frame, "type"), "player_state") << dump(frame);
  EXPECT_EQ(frame->at("state"), json::value(hand));

  // Bob and the audience got nothing: their next frame is the following game state.
  ASSERT_TRUE(host->send(set_game_state({{"marker", 1}})));
  for (ws_client* client : {bob.ws.get(), audience.ws.get()}) {
    auto next = client->receive();
    ASSERT_TRUE(next);
    EXPECT_EQ(str(*next, "type"), "game_state") << dump(next);
  }
  EXPECT_TRUE(host_got_nothing_more(*host.ws));

  // Alice drops: the host is told, the seat stays.
  alice->drop();
  auto gone = host->receive_until("client_disconnected");
  ASSERT_TRUE(gone);
  EXPECT_EQ(str(*gone, "clientId"), alice.client_id);
  EXPECT_EQ(str(*gone, "role"), "player");

  // State set while she is away is kept too.
  const json::object hand2{{"hand", json::array{"c3"}}};
  ASSERT_TRUE(host->send(
      json::object{{"type", "set_player_state"}, {"clientId", alice.client_id}, {"state", hand2}}));
  EXPECT_TRUE(host_got_nothing_more(*host.ws));

  auto again = join_player(room, alice.reclaim());
  ASSERT_TRUE(again);
  EXPECT_EQ(again.client_id, alice.client_id);
  EXPECT_EQ(again.response.at("playerState"), json::value(hand2));
  EXPECT_EQ(again.response.at("gameState"), json::value(json::object{{"marker", 1}}));
  auto rejoined = host->receive_until("client_joined");
  ASSERT_TRUE(rejoined);
  EXPECT_EQ(str(*rejoined, "clientId"), alice.client_id);
  EXPECT_EQ(rejoined->at("reconnected"), json::value(true));
  // meta is kept with the seat when the reclaim sends none.
  EXPECT_EQ(rejoined->at("meta"), json::value(json::object{{"name", "Alice"}}));
}

TEST_F(relay_test, set_player_state_for_unknown_client_is_unknown_client) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && audience);
  ASSERT_TRUE(host->receive_until("client_joined"));
  ASSERT_TRUE(host->send(
      json::object{{"type", "set_player_state"}, {"clientId", "p_nobody"}, {"state", {{"a", 1}}}}));
  EXPECT_TRUE(next_is_error(*host.ws, "unknown_client", "set_player_state"));
  // An audience id names no seat either.
  ASSERT_TRUE(host->send(json::object{
      {"type", "set_player_state"}, {"clientId", audience.client_id}, {"state", {{"a", 1}}}}));
  EXPECT_TRUE(next_is_error(*host.ws, "unknown_client", "set_player_state"));
}

// ---- messages to the host ----

TEST_F(relay_test, message_to_host_carries_client_id_and_role) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && player && audience);
  ASSERT_TRUE(host->receive_until("client_joined"));
  ASSERT_TRUE(host->receive_until("client_joined"));

  ASSERT_TRUE(player->send(to_host(json::object{{"move", "e4"}})));
  auto from_player = host->receive();
  ASSERT_TRUE(from_player);
  EXPECT_EQ(str(*from_player, "type"), "client_message") << dump(from_player);
  EXPECT_EQ(str(*from_player, "clientId"), player.client_id);
  EXPECT_EQ(str(*from_player, "role"), "player");
  EXPECT_EQ(from_player->at("message"), json::value(json::object{{"move", "e4"}}));

  ASSERT_TRUE(audience->send(to_host(json::array{1, "two", nullptr})));
  auto from_audience = host->receive();
  ASSERT_TRUE(from_audience);
  EXPECT_EQ(str(*from_audience, "clientId"), audience.client_id);
  EXPECT_EQ(str(*from_audience, "role"), "audience");
  EXPECT_EQ(from_audience->at("message"), json::value(json::array{1, "two", nullptr}));

  // The host may not message itself.
  ASSERT_TRUE(host->send(to_host(1)));
  EXPECT_TRUE(next_is_error(*host.ws, "forbidden", "message_to_host"));
}

TEST_F(relay_test, messages_wait_for_an_absent_host_and_arrive_in_order) {
  start_server();
  const relay_room room = create_room();
  auto player = join_player(room);  // no host yet
  auto audience = join_audience(room);
  ASSERT_TRUE(player && audience);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(player->send(to_host(i)));
  }
  // The room processed them before the audience sends: the player's own next message proves it
  // (answered with an error, in order). Likewise for the audience before the host arrives.
  ASSERT_TRUE(player->send(set_game_state({})));
  ASSERT_TRUE(next_is_error(*player.ws, "forbidden", "set_game_state"));
  ASSERT_TRUE(audience->send(to_host("from audience")));
  ASSERT_TRUE(audience->send(set_game_state({})));
  ASSERT_TRUE(next_is_error(*audience.ws, "forbidden", "set_game_state"));

  auto host = join_host(room);
  ASSERT_TRUE(host);
  const auto& clients = host.response.at("clients").as_array();
  EXPECT_EQ(clients.size(), 2u) << json::serialize(host.response);
  for (int i = 0; i < 3; ++i) {
    auto frame = host->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(str(*frame, "type"), "client_message") << dump(frame);
    EXPECT_EQ(str(*frame, "clientId"), player.client_id);
    EXPECT_EQ(frame->at("message"), json::value(i));
  }
  auto last = host->receive();
  ASSERT_TRUE(last);
  EXPECT_EQ(str(*last, "role"), "audience");
  EXPECT_EQ(last->at("message"), json::value("from audience"));
  EXPECT_TRUE(host_got_nothing_more(*host.ws));

  // The host leaves: closed 1000 left, the room stays and queues again.
  ASSERT_TRUE(host->send(json::object{{"type", "leave"}}));
  EXPECT_TRUE(closed_with(*host.ws, 1000, "left"));
  ASSERT_TRUE(player->send(to_host("after leave")));
  ASSERT_TRUE(player->send(set_game_state({})));
  ASSERT_TRUE(next_is_error(*player.ws, "forbidden", "set_game_state"));
  auto host2 = join_host(room);
  ASSERT_TRUE(host2);
  auto queued = host2->receive();
  ASSERT_TRUE(queued);
  EXPECT_EQ(queued->at("message"), json::value("after leave")) << dump(queued);
  // Delivered once: a third host gets nothing queued.
  auto host3 = join_host(room);
  ASSERT_TRUE(host3);
  EXPECT_TRUE(host_got_nothing_more(*host3.ws));
}

// ---- leaving and disconnecting ----

TEST_F(relay_test, player_leave_frees_the_seat) {
  start_server();
  const relay_room room = create_room({{"maxPlayers", 1}});
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  ASSERT_TRUE(host->receive_until("client_joined"));
  ASSERT_TRUE(host->send(json::object{
      {"type", "set_player_state"}, {"clientId", player.client_id}, {"state", {{"a", 1}}}}));
  ASSERT_TRUE(player->receive_until("player_state"));

  ASSERT_TRUE(player->send(json::object{{"type", "leave"}}));
  EXPECT_TRUE(closed_with(*player.ws, 1000, "left"));
  auto left = host->receive();
  ASSERT_TRUE(left);
  EXPECT_EQ(str(*left, "type"), "client_left") << dump(left);
  EXPECT_EQ(str(*left, "clientId"), player.client_id);
  EXPECT_EQ(str(*left, "role"), "player");
  EXPECT_EQ(str(*left, "reason"), "left");

  // The clientId stops working and its state is gone.
  auto [reclaim, first] = try_handshake(handshake_message(room.code, "player", player.reclaim()));
  ASSERT_TRUE(reclaim);
  EXPECT_TRUE(handshake_refused(*reclaim, first, "seat_not_found"));
  ASSERT_TRUE(host->send(json::object{
      {"type", "set_player_state"}, {"clientId", player.client_id}, {"state", {{"a", 2}}}}));
  EXPECT_TRUE(next_is_error(*host.ws, "unknown_client", "set_player_state"));
  // The only seat is free again.
  auto next = join_player(room);
  ASSERT_TRUE(next);
  EXPECT_NE(next.client_id, player.client_id);
  EXPECT_TRUE(host->receive_until("client_joined"));
  EXPECT_TRUE(host_got_nothing_more(*host.ws));
}

TEST_F(relay_test, audience_leave_and_drop_are_client_left) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto leaver = join_audience(room);
  auto dropper = join_audience(room);
  ASSERT_TRUE(host && leaver && dropper);
  ASSERT_TRUE(host->receive_until("client_joined"));
  ASSERT_TRUE(host->receive_until("client_joined"));

  ASSERT_TRUE(leaver->send(json::object{{"type", "leave"}}));
  EXPECT_TRUE(closed_with(*leaver.ws, 1000, "left"));
  auto left = host->receive();
  ASSERT_TRUE(left);
  EXPECT_EQ(str(*left, "type"), "client_left") << dump(left);
  EXPECT_EQ(str(*left, "clientId"), leaver.client_id);
  EXPECT_EQ(str(*left, "role"), "audience");
  EXPECT_EQ(str(*left, "reason"), "left");

  dropper->drop();
  auto dropped = host->receive();
  ASSERT_TRUE(dropped);
  EXPECT_EQ(str(*dropped, "type"), "client_left") << dump(dropped);
  EXPECT_EQ(str(*dropped, "clientId"), dropper.client_id);
  EXPECT_EQ(str(*dropped, "reason"), "disconnected");
}

TEST_F(relay_test, player_socket_drop_is_client_disconnected) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  ASSERT_TRUE(host->receive_until("client_joined"));
  player->drop();
  auto frame = host->receive();
  ASSERT_TRUE(frame);
  EXPECT_EQ(str(*frame, "type"), "client_disconnected") << dump(frame);
  EXPECT_EQ(str(*frame, "clientId"), player.client_id);
  EXPECT_EQ(str(*frame, "role"), "player");

  // A clean close frame from the client is a disconnect too (not a leave).
  auto second = join_player(room);
  ASSERT_TRUE(second);
  ASSERT_TRUE(host->receive_until("client_joined"));
  second->close();
  auto closed = host->receive();
  ASSERT_TRUE(closed);
  EXPECT_EQ(str(*closed, "type"), "client_disconnected") << dump(closed);
  EXPECT_EQ(str(*closed, "clientId"), second.client_id);

  // The host's list shows both seats, not connected.
  auto host2 = join_host(room);
  ASSERT_TRUE(host2);
  const auto& clients = host2.response.at("clients").as_array();
  ASSERT_EQ(clients.size(), 2u);
  for (const auto& client : clients) {
    EXPECT_EQ(client.as_object().at("connected"), json::value(false));
  }
}

// ---- polls ----

TEST_F(relay_test, single_choice_poll_lifecycle) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto a1 = join_audience(room);
  auto a2 = join_audience(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && a1 && a2 && player);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(host->receive_until("client_joined"));

  ASSERT_TRUE(host->send(poll_start("q1", "single_choice", "Best colour?", {"Red", "Blue"})));
  for (ws_client* client : {a1.ws.get(), a2.ws.get()}) {
    auto started = client->receive();
    ASSERT_TRUE(started);
    EXPECT_EQ(str(*started, "type"), "poll_started") << dump(started);
    EXPECT_EQ(str(*started, "pollId"), "q1");
    EXPECT_EQ(str(*started, "pollType"), "single_choice");
    EXPECT_EQ(str(*started, "question"), "Best colour?");
    EXPECT_EQ(started->at("options"), json::value(json::array{"Red", "Blue"}));
  }
  // Players do not get polls.
  ASSERT_TRUE(host->send(set_game_state({{"m", 1}})));
  auto player_next = player->receive();
  ASSERT_TRUE(player_next);
  EXPECT_EQ(str(*player_next, "type"), "game_state") << dump(player_next);
  ASSERT_TRUE(a1->receive_until("game_state"));
  ASSERT_TRUE(a2->receive_until("game_state"));

  // A late audience member gets the active poll in its handshake.
  auto late = join_audience(room);
  ASSERT_TRUE(late);
  const auto& polls = late.response.at("polls").as_array();
  ASSERT_EQ(polls.size(), 1u) << json::serialize(late.response);
  EXPECT_EQ(str(polls[0].as_object(), "pollId"), "q1");
  EXPECT_EQ(polls[0].as_object().at("options"), json::value(json::array{"Red", "Blue"}));
  ASSERT_TRUE(host->receive_until("client_joined"));

  ASSERT_TRUE(a1->send(poll_response("q1", "Blue")));
  auto response = host->receive();
  ASSERT_TRUE(response);
  EXPECT_EQ(str(*response, "type"), "poll_response") << dump(response);
  EXPECT_EQ(str(*response, "pollId"), "q1");
  EXPECT_EQ(str(*response, "clientId"), a1.client_id);
  EXPECT_EQ(response->at("response"), json::value("Blue"));

  ASSERT_TRUE(a2->send(poll_response("q1", "Red")));
  ASSERT_TRUE(host->receive_until("poll_response"));
  // The last response wins.
  ASSERT_TRUE(a2->send(poll_response("q1", "Blue")));
  ASSERT_TRUE(host->receive_until("poll_response"));
  ASSERT_TRUE(late->send(poll_response("q1", "Green")));
  EXPECT_TRUE(next_is_error(*late.ws, "invalid_response", "poll_response"));
  ASSERT_TRUE(late->send(poll_response("q1", json::array{"Red"})));
  EXPECT_TRUE(next_is_error(*late.ws, "invalid_response", "poll_response"));
  // Players may not answer.
  ASSERT_TRUE(player->send(poll_response("q1", "Red")));
  EXPECT_TRUE(next_is_error(*player.ws, "forbidden", "poll_response"));

  ASSERT_TRUE(host->send(poll_message("poll_results_request", "q1")));
  auto results = host->receive();
  ASSERT_TRUE(results);
  EXPECT_EQ(str(*results, "type"), "poll_results") << dump(results);
  EXPECT_EQ(str(*results, "pollId"), "q1");
  EXPECT_EQ(str(*results, "pollType"), "single_choice");
  EXPECT_EQ(results->at("active"), json::value(true));
  EXPECT_EQ(results->at("counts"), json::value(json::object{{"Red", 0}, {"Blue", 2}}));
  EXPECT_EQ(results->at("totalResponses"), json::value(2));

  ASSERT_TRUE(host->send(poll_message("poll_end", "q1")));
  for (ws_client* client : {a1.ws.get(), a2.ws.get(), late.ws.get()}) {
    auto ended = client->receive();
    ASSERT_TRUE(ended);
    EXPECT_EQ(str(*ended, "type"), "poll_ended") << dump(ended);
    EXPECT_EQ(str(*ended, "pollId"), "q1");
  }
  ASSERT_TRUE(a1->send(poll_response("q1", "Red")));
  EXPECT_TRUE(next_is_error(*a1.ws, "poll_not_active", "poll_response"));
  ASSERT_TRUE(host->send(poll_message("poll_end", "q1")));
  EXPECT_TRUE(next_is_error(*host.ws, "poll_not_active", "poll_end"));

  ASSERT_TRUE(host->send(poll_message("poll_results_request", "q1")));
  auto final_results = host->receive();
  ASSERT_TRUE(final_results);
  EXPECT_EQ(final_results->at("active"), json::value(false)) << dump(final_results);
  EXPECT_EQ(final_results->at("counts"), json::value(json::object{{"Red", 0}, {"Blue", 2}}));

  // An ended poll is not offered to new audience members but stays in the host's list.
  auto later = join_audience(room);
  ASSERT_TRUE(later);
  EXPECT_EQ(later.response.at("polls"), json::value(json::array{}));
  auto host2 = join_host(room);
  ASSERT_TRUE(host2);
  const auto& host_polls = host2.response.at("polls").as_array();
  ASSERT_EQ(host_polls.size(), 1u);
  EXPECT_EQ(host_polls[0].as_object().at("active"), json::value(false));
}

TEST_F(relay_test, multiple_choice_and_free_text_results) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto a1 = join_audience(room);
  auto a2 = join_audience(room);
  auto a3 = join_audience(room);
  ASSERT_TRUE(host && a1 && a2 && a3);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(host->receive_until("client_joined"));

  ASSERT_TRUE(host->send(
      poll_start("toppings", "multiple_choice", "Pick toppings", {"Ham", "Olives", "Corn"})));
  for (ws_client* client : {a1.ws.get(), a2.ws.get(), a3.ws.get()}) {
    ASSERT_TRUE(client->receive_until("poll_started"));
  }
  ASSERT_TRUE(a1->send(poll_response("toppings", json::array{"Ham", "Corn"})));
  ASSERT_TRUE(a2->send(poll_response("toppings", json::array{"Ham"})));
  for (int i = 0; i < 2; ++i) {
    auto response = host->receive();
    ASSERT_TRUE(response);
    EXPECT_EQ(str(*response, "type"), "poll_response") << dump(response);
  }
  ASSERT_TRUE(a3->send(poll_response("toppings", json::array{"Ham", "Ham"})));
  EXPECT_TRUE(next_is_error(*a3.ws, "invalid_response", "poll_response"));
  ASSERT_TRUE(a3->send(poll_response("toppings", json::array{})));
  EXPECT_TRUE(next_is_error(*a3.ws, "invalid_response", "poll_response"));
  ASSERT_TRUE(a3->send(poll_response("toppings", "Ham")));
  EXPECT_TRUE(next_is_error(*a3.ws, "invalid_response", "poll_response"));
  ASSERT_TRUE(host->send(poll_message("poll_results_request", "toppings")));
  auto results = host->receive();
  ASSERT_TRUE(results);
  EXPECT_EQ(str(*results, "pollType"), "multiple_choice") << dump(results);
  EXPECT_EQ(results->at("counts"),
            json::value(json::object{{"Ham", 2}, {"Olives", 0}, {"Corn", 1}}));
  EXPECT_EQ(results->at("totalResponses"), json::value(2));
  // Counts keep option order.
  std::vector<std::string> keys;
  for (const auto& [key, value] : results->at("counts").as_object()) keys.emplace_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"Ham", "Olives", "Corn"}));

  ASSERT_TRUE(host->send(json::object{
      {"type", "poll_start"}, {"pollId", "why"}, {"pollType", "free_text"}, {"question", "Why?"}}));
  for (ws_client* client : {a1.ws.get(), a2.ws.get(), a3.ws.get()}) {
    auto started = client->receive_until("poll_started");
    ASSERT_TRUE(started);
    EXPECT_EQ(started->at("options"), json::value(json::array{}));
  }
  ASSERT_TRUE(a1->send(poll_response("why", "  because  ")));
  auto trimmed = host->receive();
  ASSERT_TRUE(trimmed);
  EXPECT_EQ(trimmed->at("response"), json::value("because")) << dump(trimmed);
  ASSERT_TRUE(a2->send(poll_response("why", "because")));
  ASSERT_TRUE(a3->send(poll_response("why", "42")));
  ASSERT_TRUE(host->receive_until("poll_response"));
  ASSERT_TRUE(host->receive_until("poll_response"));
  ASSERT_TRUE(a3->send(poll_response("why", "   ")));
  EXPECT_TRUE(next_is_error(*a3.ws, "invalid_response", "poll_response"));
  ASSERT_TRUE(a3->send(poll_response("why", json::array{"x"})));
  EXPECT_TRUE(next_is_error(*a3.ws, "invalid_response", "poll_response"));

  ASSERT_TRUE(host->send(poll_message("poll_results_request", "why")));
  auto text_results = host->receive();
  ASSERT_TRUE(text_results);
  EXPECT_EQ(str(*text_results, "pollType"), "free_text") << dump(text_results);
  EXPECT_EQ(text_results->at("totalResponses"), json::value(3));
  EXPECT_EQ(text_results->at("counts"), json::value(json::object{{"because", 2}, {"42", 1}}));
  keys.clear();
  for (const auto& [key, value] : text_results->at("counts").as_object()) keys.emplace_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"because", "42"}));

  // Both polls are active: a late audience member gets them in start order.
  auto late = join_audience(room);
  ASSERT_TRUE(late);
  const auto& polls = late.response.at("polls").as_array();
  ASSERT_EQ(polls.size(), 2u);
  EXPECT_EQ(str(polls[0].as_object(), "pollId"), "toppings");
  EXPECT_EQ(str(polls[1].as_object(), "pollId"), "why");
}

TEST_F(relay_test, poll_errors_forbidden_exists_not_found_bad_request) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && player && audience);
  for (int i = 0; i < 2; ++i) ASSERT_TRUE(host->receive_until("client_joined"));

  const auto q1 = poll_start("q1", "single_choice", "Q?", {"A", "B"});
  for (ws_client* client : {player.ws.get(), audience.ws.get()}) {
    ASSERT_TRUE(client->send(q1));
    EXPECT_TRUE(next_is_error(*client, "forbidden", "poll_start"));
    ASSERT_TRUE(client->send(poll_message("poll_end", "q1")));
    EXPECT_TRUE(next_is_error(*client, "forbidden", "poll_end"));
    ASSERT_TRUE(client->send(poll_message("poll_results_request", "q1")));
    EXPECT_TRUE(next_is_error(*client, "forbidden", "poll_results_request"));
  }
  ASSERT_TRUE(host->send(poll_response("q1", "A")));
  EXPECT_TRUE(next_is_error(*host.ws, "forbidden", "poll_response"));

  ASSERT_TRUE(host->send(q1));
  ASSERT_TRUE(audience->receive_until("poll_started"));
  ASSERT_TRUE(host->send(q1));
  EXPECT_TRUE(next_is_error(*host.ws, "poll_exists", "poll_start"));
  ASSERT_TRUE(host->send(poll_message("poll_end", "q1")));
  ASSERT_TRUE(audience->receive_until("poll_ended"));
  // Unique even after it ended.
  ASSERT_TRUE(host->send(q1));
  EXPECT_TRUE(next_is_error(*host.ws, "poll_exists", "poll_start"));

  ASSERT_TRUE(audience->send(poll_response("nope", "A")));
  EXPECT_TRUE(next_is_error(*audience.ws, "poll_not_found", "poll_response"));
  ASSERT_TRUE(host->send(poll_message("poll_end", "nope")));
  EXPECT_TRUE(next_is_error(*host.ws, "poll_not_found", "poll_end"));
  ASSERT_TRUE(host->send(poll_message("poll_results_request", "nope")));
  EXPECT_TRUE(next_is_error(*host.ws, "poll_not_found", "poll_results_request"));

  const std::vector<json::object> bad = {
      poll_start("", "single_choice", "Q?", {"A", "B"}),
      poll_start(std::string(65, 'x'), "single_choice", "Q?", {"A", "B"}),
      poll_start("b1", "ranked", "Q?", {"A", "B"}),
      poll_start("b2", "single_choice", "", {"A", "B"}),
      poll_start("b3", "single_choice", std::string(501, 'q'), {"A", "B"}),
      poll_start("b4", "single_choice", "Q?", {"A"}),
      poll_start("b5", "single_choice", "Q?", {"A", "A"}),
      poll_start("b6", "single_choice", "Q?", {"A", ""}),
      poll_start("b7", "multiple_choice", "Q?", {"A", json::string(std::string(201, 'o'))}),
      poll_start("b8", "free_text", "Q?", {"A", "B"}),
  };
  for (const auto& message : bad) {
    ASSERT_TRUE(host->send(message));
    EXPECT_TRUE(next_is_error(*host.ws, "bad_request", "poll_start")) << json::serialize(message);
  }
  // None of them started a poll.
  EXPECT_TRUE(host_got_nothing_more(*host.ws));
  auto late = join_audience(room);
  ASSERT_TRUE(late);
  EXPECT_EQ(late.response.at("polls"), json::value(json::array{}));
}

TEST_F(relay_test, the_101st_poll_is_limit_reached) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);
  for (int i = 0; i < 100; ++i) {
    std::string poll_id = "p";  // not "p" + to_string(i): GCC 12 warns falsely (-Wrestrict)
    poll_id += std::to_string(i);
    ASSERT_TRUE(host->send(poll_start(poll_id, "free_text", "Q?", {})));
  }
  EXPECT_TRUE(host_got_nothing_more(*host.ws));  // all 100 accepted
  ASSERT_TRUE(host->send(poll_start("p100", "free_text", "Q?", {})));
  EXPECT_TRUE(next_is_error(*host.ws, "limit_reached", "poll_start"));
}

TEST_F(relay_test, host_queue_drops_the_oldest_beyond_its_limit) {
  start_server({"--relay-host-queue-max", "3"});
  const relay_room room = create_room();
  auto player = join_player(room);
  ASSERT_TRUE(player);
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(player->send(to_host(i)));
  }
  ASSERT_TRUE(player->send(set_game_state({})));
  ASSERT_TRUE(next_is_error(*player.ws, "forbidden", "set_game_state"));
  auto host = join_host(room);
  ASSERT_TRUE(host);
  for (int i = 2; i < 5; ++i) {
    auto frame = host->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->at("message"), json::value(i)) << dump(frame);
  }
  EXPECT_TRUE(host_got_nothing_more(*host.ws));
  EXPECT_GE(server_
                ->wait_metric_at_least(
                    R"(partyd_game_events_total{game="relay",event="relay_host_queue_dropped"})", 2)
                .value_or(0),
            2);
}

// ---- closing the room, replacing the host, reclaiming seats ----

TEST_F(relay_test, close_room_reaches_everyone_and_removes_the_room) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  auto audience = join_audience(room);
  ASSERT_TRUE(host && player && audience);

  ASSERT_TRUE(host->send(json::object{{"type", "close_room"}, {"reason", "game over"}}));
  for (ws_client* client : {host.ws.get(), player.ws.get(), audience.ws.get()}) {
    auto closed = client->receive_until("room_closed");
    ASSERT_TRUE(closed);
    EXPECT_EQ(str(*closed, "reason"), "game over");
    EXPECT_TRUE(closed_with(*client, 1000, "game over"));
  }
  auto [late, first] = try_handshake(handshake_message(room.code, "player"));
  ASSERT_TRUE(late);
  EXPECT_TRUE(handshake_refused(*late, first, "room_not_found"));
  EXPECT_TRUE(
      eventually([&] { return server_->http("GET", "/api/rooms/" + room.code).status == 404; }));

  // Default reason; players may not close.
  const relay_room second = create_room();
  auto host2 = join_host(second);
  auto player2 = join_player(second);
  ASSERT_TRUE(host2 && player2);
  ASSERT_TRUE(host2->receive_until("client_joined"));
  ASSERT_TRUE(player2->send(json::object{{"type", "close_room"}}));
  EXPECT_TRUE(next_is_error(*player2.ws, "forbidden", "close_room"));
  ASSERT_TRUE(host2->send(json::object{{"type", "close_room"}, {"reason", std::string(201, 'r')}}));
  EXPECT_TRUE(next_is_error(*host2.ws, "bad_request", "close_room"));
  ASSERT_TRUE(host2->send(json::object{{"type", "close_room"}}));
  auto closed = player2->receive_until("room_closed");
  ASSERT_TRUE(closed);
  EXPECT_EQ(str(*closed, "reason"), "closed_by_host");
}

// A WebSocket close frame holds at most 123 bytes of reason, a room close reason up to 200 code
// points: the room_closed frame carries it whole, the close frame a prefix, and the server lives.
TEST_F(relay_test, long_close_reason_fits_the_close_frame) {
  start_server();
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  std::string reason(150, 'r');
  for (int i = 0; i < 50; ++i) reason += "\xc3\xa9";  // U+00E9: 200 code points, 250 bytes
  ASSERT_TRUE(host->send(json::object{{"type", "close_room"}, {"reason", reason}}));
  for (ws_client* client : {host.ws.get(), player.ws.get()}) {
    auto closed = client->receive_until("room_closed");
    ASSERT_TRUE(closed);
    EXPECT_EQ(str(*closed, "reason"), reason);
    const close_info info = client->expect_closed();
    EXPECT_TRUE(info.close_frame && info.code == 1000) << info;
    EXPECT_LE(info.reason.size(), 123u) << info;
    EXPECT_TRUE(starts_with(reason, info.reason)) << info;
  }
  EXPECT_EQ(server_->http("GET", "/health", {}, std::nullopt).status, 200);
  EXPECT_TRUE(server_->running());
}

TEST_F(relay_test, newer_host_replaces_older_with_4001) {
  start_server();
  const relay_room room = create_room();
  auto old_host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(old_host && player);
  ASSERT_TRUE(old_host->receive_until("client_joined"));

  auto new_host = join_host(room);
  ASSERT_TRUE(new_host);
  EXPECT_NE(new_host.client_id, old_host.client_id);
  auto replaced = old_host->receive();
  ASSERT_TRUE(replaced);
  EXPECT_EQ(str(*replaced, "type"), "host_replaced") << dump(replaced);
  EXPECT_TRUE(closed_with(*old_host.ws, 4001, "host_replaced"));

  ASSERT_TRUE(player->send(to_host("hi")));
  auto message = new_host->receive_until("client_message");
  ASSERT_TRUE(message);
  EXPECT_EQ(message->at("message"), json::value("hi"));
}

TEST_F(relay_test, seat_reclaim_from_second_socket_closes_old_with_4002) {
  start_server();
  const relay_room room = create_room({{"password", "pw"}});
  auto host = join_host(room);
  auto first = join_player(room, {{"password", "pw"}, {"meta", {{"name", "A"}}}});
  ASSERT_TRUE(host && first);
  ASSERT_TRUE(host->receive_until("client_joined"));

  // The reclaim needs the password too.
  auto [no_pw, refused] = try_handshake(handshake_message(room.code, "player", first.reclaim()));
  ASSERT_TRUE(no_pw);
  EXPECT_TRUE(handshake_refused(*no_pw, refused, "wrong_password"));
  EXPECT_TRUE(first->is_open());

  auto second = join_player(room, {{"password", "pw"},
                                   {"clientId", first.client_id},
                                   {"seatToken", first.seat_token},
                                   {"meta", {{"name", "A2"}}}});
  ASSERT_TRUE(second);
  EXPECT_EQ(second.client_id, first.client_id);
  auto reclaimed = first->receive();
  ASSERT_TRUE(reclaimed);
  EXPECT_EQ(str(*reclaimed, "type"), "seat_reclaimed") << dump(reclaimed);
  EXPECT_TRUE(closed_with(*first.ws, 4002, "seat_reclaimed"));

  auto rejoined = host->receive_until("client_joined");
  ASSERT_TRUE(rejoined);
  EXPECT_EQ(rejoined->at("reconnected"), json::value(true));
  EXPECT_EQ(rejoined->at("meta"), json::value(json::object{{"name", "A2"}}));
  // The seat now belongs to the new socket.
  ASSERT_TRUE(host->send(json::object{
      {"type", "set_player_state"}, {"clientId", first.client_id}, {"state", {{"x", 1}}}}));
  auto state = second->receive();
  ASSERT_TRUE(state);
  EXPECT_EQ(str(*state, "type"), "player_state") << dump(state);
}

// ---- limits ----

TEST_F(relay_test, oversized_frame_closes_1009) {
  start_server({"--max-message-bytes", "4096"});
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  ASSERT_TRUE(host->receive_until("client_joined"));
  const double before = server_->metric("partyd_messages_too_large_total").value_or(-1);
  EXPECT_EQ(before, 0);

  // Just under the limit is fine.
  const std::string padding(4096 - 60, 'x');
  ASSERT_TRUE(player->send(to_host(json::string(padding))));
  ASSERT_TRUE(host->receive_until("client_message"));

  player->send_bytes(8 * 1024);  // may fail once the server closed
  const close_info info = player->expect_closed();
  EXPECT_TRUE(info.close_frame && info.code == 1009) << info;
  EXPECT_EQ(info.reason, "message_too_big") << info;
  EXPECT_GE(server_->wait_metric_at_least("partyd_messages_too_large_total", 1).value_or(0), 1);
  auto gone = host->receive_until("client_disconnected");
  EXPECT_TRUE(gone);
}

TEST_F(relay_test, rate_limit_drops_the_sixth_client_message_but_not_the_host) {
  start_server({"--rate-limit-messages", "5", "--rate-limit-window-ms", "60000"});
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);  // message 1 of the player's window: the handshake
  ASSERT_TRUE(host && player);
  ASSERT_TRUE(host->receive_until("client_joined"));

  for (int i = 2; i <= 5; ++i) {
    ASSERT_TRUE(player->send(to_host(i)));
  }
  for (int i = 2; i <= 5; ++i) {
    auto frame = host->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->at("message"), json::value(i)) << dump(frame);
  }
  ASSERT_TRUE(player->send(to_host(6)));
  EXPECT_TRUE(next_is_error(*player.ws, "rate_limited"));
  EXPECT_TRUE(host_got_nothing_more(*host.ws));
  EXPECT_GE(server_->wait_metric_at_least("partyd_rate_limited_total", 1).value_or(0), 1);
  EXPECT_TRUE(player->is_open());

  // The host is exempt.
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(host->send(set_game_state({{"i", i}})));
  }
  for (int i = 0; i < 20; ++i) {
    auto frame = player->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(str(*frame, "type"), "game_state") << dump(frame);
  }
  EXPECT_TRUE(host_got_nothing_more(*host.ws));
}

TEST_F(relay_test, silent_connection_is_closed_handshake_timeout) {
  start_server({"--handshake-timeout-ms", "300"});
  const relay_room room = create_room();
  auto silent = connect();
  ASSERT_TRUE(silent);
  const auto started = std::chrono::steady_clock::now();
  EXPECT_TRUE(closed_with(*silent, 1008, "handshake_timeout", 5s));
  EXPECT_GE(std::chrono::steady_clock::now() - started, 200ms);
  EXPECT_GE(server_->wait_metric_at_least("partyd_handshake_timeouts_total", 1).value_or(0), 1);

  // A client that hand-shakes in time stays past the deadline (its own traffic proves it).
  auto host = join_host(room);
  ASSERT_TRUE(host);
  auto player = join_player(room);
  ASSERT_TRUE(player);
  ASSERT_TRUE(host->receive_until("client_joined"));
  std::this_thread::sleep_for(400ms);  // past the handshake deadline
  ASSERT_TRUE(player->send(to_host("alive")));
  auto message = host->receive_until("client_message");
  ASSERT_TRUE(message);
  EXPECT_TRUE(player->is_open());
}

TEST_F(relay_test, slow_consumer_is_disconnected_and_others_keep_receiving) {
  // Every game's largest reply must fit the outbox (a start-up check): the limits are made to.
  start_server({"--outbox-max-bytes", "262144", "--max-message-bytes", "40000",
                "--relay-reply-max-bytes", "131072", "--relay-host-queue-max-bytes", "98304",
                "--relay-session-ring-bytes", "65536", "--brainrot-max-message-bytes", "65536",
                "--brainrot-avatar-max-chars", "60000", "--brainrot-reply-max-bytes", "200000"});
  const relay_room room = create_room();
  auto host = join_host(room);
  auto reader = join_player(room);
  // Never reads; a small receive buffer makes the server's outbox fill quickly.
  auto slow = join_player(room, {}, connect_options{5s, 4096});
  ASSERT_TRUE(host && reader && slow);
  ASSERT_TRUE(host->receive_until("client_joined"));
  ASSERT_TRUE(host->receive_until("client_joined"));

  const std::string blob(32 * 1024, 'z');
  bool dropped = false;
  int sent = 0;
  const auto deadline = std::chrono::steady_clock::now() + 60s;
  while (!dropped && sent < 2000 && std::chrono::steady_clock::now() < deadline) {
    ASSERT_TRUE(host->send(set_game_state({{"n", sent}, {"blob", blob}})));
    auto frame = reader->receive();
    ASSERT_TRUE(frame) << "the reading player stopped receiving after " << sent << " states";
    ASSERT_EQ(frame->at("state").as_object().at("n"), json::value(sent));
    ++sent;
    if (sent % 8 == 0) {
      dropped = server_->metric("partyd_slow_consumer_disconnects_total").value_or(0) > 0;
    }
  }
  ASSERT_TRUE(dropped) << "no slow consumer disconnect after " << sent << " states of 32 KiB";
  const close_info info = slow->expect_closed(10s);
  EXPECT_TRUE(info.closed) << info;
  auto gone = host->receive_until("client_disconnected", 10s);
  ASSERT_TRUE(gone);
  EXPECT_EQ(str(*gone, "clientId"), slow.client_id);

  // The reader still gets every state.
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(host->send(set_game_state({{"n", sent + i}})));
    auto frame = reader->receive();
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->at("state").as_object().at("n"), json::value(sent + i));
  }
  EXPECT_EQ(server_->metric("partyd_slow_consumer_disconnects_total").value_or(0), 1);
  // The dropped connection's unwritten bytes no longer count.
  EXPECT_EQ(server_->wait_metric_at_most("partyd_outbox_bytes", 0).value_or(-1), 0);
}

TEST_F(relay_test, upgrade_beyond_max_connections_is_503) {
  start_server({"--max-connections", "3"});
  const relay_room room = create_room();
  auto host = join_host(room);
  auto player = join_player(room);
  auto idle = connect();  // no handshake: counts too
  ASSERT_TRUE(host && player && idle);

  ws_client fourth;
  EXPECT_FALSE(fourth.connect(server_->port(), relay_path()));
  EXPECT_EQ(fourth.upgrade_status(), 503) << fourth.last_error();
  EXPECT_GE(server_->metric(R"(partyd_ws_connections_refused_total{reason="max_connections"})")
                .value_or(0),
            1);
  // Plain HTTP still works.
  EXPECT_EQ(server_->http("GET", "/health", {}, std::nullopt).status, 200);

  // A freed slot is usable again.
  idle->drop();
  bool reconnected = eventually([&] {
    ws_client retry;
    return retry.connect(server_->port(), relay_path());
  });
  EXPECT_TRUE(reconnected);
  EXPECT_TRUE(host->is_open() && player->is_open());
}

TEST_F(relay_test, inactive_room_closes_with_reason_inactive) {
  start_server({"--room-inactivity-ms", "400"});
  const relay_room room = create_room();
  const relay_room busy = create_room();  // created, never used: closes too
  auto host = join_host(room);
  auto player = join_player(room);
  ASSERT_TRUE(host && player);
  for (ws_client* client : {host.ws.get(), player.ws.get()}) {
    auto closed = client->receive_until("room_closed", 10s);
    ASSERT_TRUE(closed);
    EXPECT_EQ(str(*closed, "reason"), "inactive");
    EXPECT_TRUE(closed_with(*client, 1000, "inactive"));
  }
  EXPECT_TRUE(eventually(
      [&] {
        const auto body = server_->http("GET", "/api/rooms").body;
        return body.find(room.code) == std::string::npos &&
               body.find(busy.code) == std::string::npos;
      },
      10s));
  EXPECT_EQ(server_->http("GET", "/api/rooms/" + room.code).status, 404);
}

// ---- structured logs (docs/operations.md, Logs) ----

TEST_F(relay_test, auth_failures_and_connections_are_logged_without_secrets) {
  start_server({"--log-level", "info"});
  const std::string password = "pw-never-logged";
  const relay_room room = create_room({{"password", password}});
  const std::string tried_key = "tried-host-key-never-logged";

  auto [intruder, first] =
      try_handshake(handshake_message(room.code, "host", {{"hostKey", tried_key}}));
  ASSERT_TRUE(intruder);
  EXPECT_TRUE(handshake_refused(*intruder, first, "wrong_host_key"));
  auto [guesser, guess] =
      try_handshake(handshake_message(room.code, "player", {{"password", "wrong-guess"}}));
  ASSERT_TRUE(guesser);
  EXPECT_TRUE(handshake_refused(*guesser, guess, "wrong_password"));

  auto failed = server_->wait_log_event(
      "auth_failed", [](const json::object& line) { return str(line, "role") == "host"; });
  ASSERT_TRUE(failed) << server_->log();
  EXPECT_EQ(str(*failed, "room"), room.code);
  EXPECT_EQ(str(*failed, "game"), "relay");
  EXPECT_EQ(str(*failed, "reason"), "invalid_host_key");
  EXPECT_EQ(str(*failed, "level"), "warn");
  ASSERT_TRUE(failed->contains("conn"));
  const json::value intruder_conn = failed->at("conn");
  auto failed_player = server_->wait_log_event(
      "auth_failed", [](const json::object& line) { return str(line, "role") == "player"; });
  ASSERT_TRUE(failed_player);
  EXPECT_EQ(str(*failed_player, "reason"), "invalid_password");

  // The refused connection: connected with its address, disconnected with the close it got.
  auto connected = server_->wait_log_event("client_connected", [&](const json::object& line) {
    return line.at("conn") == intruder_conn;
  });
  ASSERT_TRUE(connected);
  EXPECT_EQ(str(*connected, "game"), "relay");
  EXPECT_TRUE(starts_with(str(*connected, "remote"), "127.0.0.1:")) << json::serialize(*connected);
  auto refused = server_->wait_log_event("client_disconnected", [&](const json::object& line) {
    return line.at("conn") == intruder_conn;
  });
  ASSERT_TRUE(refused);
  EXPECT_EQ(str(*refused, "room"), room.code);
  EXPECT_EQ(refused->at("code"), json::value(1008));
  EXPECT_EQ(str(*refused, "reason"), "wrong_host_key");
  EXPECT_FALSE(refused->contains("role")) << "it never joined";
  EXPECT_TRUE(refused->at("duration_ms").is_int64());

  // A player that joins and leaves.
  auto player = join_player(room, {{"password", password}});
  ASSERT_TRUE(player);
  ASSERT_TRUE(player->send(json::object{{"type", "leave"}}));
  EXPECT_TRUE(closed_with(*player.ws, 1000, "left"));
  auto left = server_->wait_log_event("client_disconnected", [](const json::object& line) {
    return str(line, "reason") == "left";
  });
  ASSERT_TRUE(left);
  EXPECT_EQ(str(*left, "room"), room.code);
  EXPECT_EQ(str(*left, "role"), "player");
  EXPECT_EQ(left->at("code"), json::value(1000));
  EXPECT_GE(left->at("duration_ms").to_number<double>(), 0);
  EXPECT_EQ(server_->log_events("client_connected").size(), 3u);

  // A connection that never names a room, dropped without a close frame.
  auto silent = connect();
  ASSERT_TRUE(silent);
  silent->drop();
  auto dropped = server_->wait_log_event(
      "client_disconnected", [](const json::object& line) { return !line.contains("room"); });
  ASSERT_TRUE(dropped);
  EXPECT_EQ(dropped->at("code"), json::value(1006));
  EXPECT_EQ(str(*dropped, "reason"), "connection_lost");

  const std::string log = server_->log();
  for (const std::string& secret :
       {tried_key, password, std::string("wrong-guess"), room.host_key, player.client_id}) {
    EXPECT_EQ(log.find(secret), std::string::npos) << secret << " appears in the log";
  }
}

}  // namespace
}  // namespace partyd::testing
