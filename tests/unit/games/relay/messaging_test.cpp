// Relay messaging rules: roles, game and player state, messages to the host and its queue,
// room close (host, inactivity, admin) and engine inputs.
#include "relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

constexpr role_mask clients_mask = role_bit(player_role) | role_bit(audience_role);
constexpr role_mask everyone_mask = role_bit(host_role) | clients_mask;

TEST(RelayMessaging, RolePermissionTable) {
  struct row {
    const char* role;  // "host", "player", "audience", "none"
    json::object message;
    const char* code;  // expected error code, "" = allowed
  };
  const json::object poll{
      {"type", "poll_start"}, {"pollId", "p"}, {"pollType", "free_text"}, {"question", "q"}};
  std::vector<row> rows = {
      {"player", {{"type", "set_game_state"}, {"state", json::object{}}}, "forbidden"},
      {"audience", {{"type", "set_game_state"}, {"state", json::object{}}}, "forbidden"},
      {"player",
       {{"type", "set_player_state"}, {"clientId", "x"}, {"state", json::object{}}},
       "forbidden"},
      {"host", {{"type", "message_to_host"}, {"message", "hi"}}, "forbidden"},
      {"player", poll, "forbidden"},
      {"audience", poll, "forbidden"},
      {"player", {{"type", "poll_response"}, {"pollId", "p"}, {"response", "x"}}, "forbidden"},
      {"host", {{"type", "poll_response"}, {"pollId", "p"}, {"response", "x"}}, "forbidden"},
      {"audience", {{"type", "poll_end"}, {"pollId", "p"}}, "forbidden"},
      {"player", {{"type", "poll_results_request"}, {"pollId", "p"}}, "forbidden"},
      {"audience", {{"type", "close_room"}}, "forbidden"},
      {"player", {{"type", "close_room"}}, "forbidden"},
      {"none", {{"type", "set_game_state"}, {"state", json::object{}}}, "not_joined"},
      {"none", {{"type", "leave"}}, "not_joined"},
      {"player", {{"type", "message_to_host"}, {"message", "hi"}}, ""},
      {"audience", {{"type", "message_to_host"}, {"message", "hi"}}, ""},
      {"host", {{"type", "set_game_state"}, {"state", json::object{}}}, ""},
  };
  for (const row& r : rows) {
    harness h;
    const std::string role = r.role;
    if (role == "host") {
      h.join_host(1);
    } else if (role == "player") {
      h.join_player(1);
    } else if (role == "audience") {
      h.join_audience(1);
    } else {
      // A connection that never handshook; its first decoded message is not a handshake, so it
      // is fed as a later message (the io layer refuses it earlier as handshake_required).
      h.join_audience(50);
    }
    const connection_id sender = role == "none" ? 2 : 1;
    if (role == "none") {
      // Connection 2 counts as seen, so decode treats this as a later message.
      h.driver().mark_seen(2);
    }
    outcome o = h.send(sender, r.message);
    ASSERT_FALSE(o.decode_error) << o.decode_error.message;
    const std::string type = str(r.message.at("type"));
    if (std::string_view(r.code).empty()) {
      EXPECT_EQ(o.error_code(sender), "") << role << " " << type;
    } else {
      json::object frame = o.only(sender);
      EXPECT_EQ(frame.at("type"), "error") << role << " " << type;
      EXPECT_EQ(frame.at("code"), r.code) << role << " " << type;
      EXPECT_EQ(str(frame.at("requestType")), type);
      EXPECT_FALSE(str(frame.at("message")).empty());
      EXPECT_TRUE(o.unchanged) << "a refusal does not move the state version";
      EXPECT_EQ(o.effects.size(), 1u);
      EXPECT_EQ(o.effects[0].text, r.code);  // counted as an error
      EXPECT_EQ(o.effects[0].type, index_of(out_type::error));
    }
  }
}

TEST(RelayMessaging, GameStateBroadcastAndLateJoiner) {
  harness h;
  h.join_host(1);
  h.join_player(2);
  const json::object state{{"round", 3}, {"board", {1, 2, 3}}};
  outcome o = h.send(1, {{"type", "set_game_state"}, {"state", state}});
  auto b = o.broadcasts();
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(b[0].first, clients_mask);
  EXPECT_EQ(b[0].second, (json::object{{"type", "game_state"}, {"state", state}}));
  // Game state is persisted within the snapshot interval, not at once (hosts set it often).
  EXPECT_FALSE(o.important());
  EXPECT_TRUE(o.to(1).empty());
  // Replaced as a whole.
  h.send(1, {{"type", "set_game_state"}, {"state", {{"round", 4}}}});
  outcome late = h.handshake(3, {{"role", "audience"}});
  EXPECT_EQ(late.only(3).at("gameState"), (json::object{{"round", 4}}));
  outcome host_again = h.handshake(4, {{"role", "host"}, {"hostKey", h.host_key()}});
  EXPECT_EQ(host_again.to(4).at(0).at("gameState"), (json::object{{"round", 4}}));
}

TEST(RelayMessaging, PlayerStateGoesToThatPlayerOnly) {
  harness h;
  h.join_host(1);
  const std::string p = h.join_player(2);
  h.join_player(3);
  outcome o =
      h.send(1, {{"type", "set_player_state"}, {"clientId", p}, {"state", {{"secret", 7}}}});
  EXPECT_EQ(o.only(2), (json::object{{"type", "player_state"}, {"state", {{"secret", 7}}}}));
  EXPECT_TRUE(o.to(3).empty());
  EXPECT_TRUE(o.broadcasts().empty());
  // A disconnected player gets it on reconnect.
  h.disconnect(2);
  outcome quiet = h.send(1, {{"type", "set_player_state"}, {"clientId", p}, {"state", {{"v", 2}}}});
  EXPECT_TRUE(quiet.effects.empty());
  outcome back = h.handshake(4, {{"role", "player"}, {"clientId", p}});
  EXPECT_EQ(back.only(4).at("playerState"), (json::object{{"v", 2}}));
}

TEST(RelayMessaging, PlayerStateUnknownClient) {
  harness h;
  h.join_host(1);
  const std::string a = h.join_audience(2);
  for (const std::string& id : {std::string("p_missing"), a}) {
    outcome o =
        h.send(1, {{"type", "set_player_state"}, {"clientId", id}, {"state", json::object{}}});
    json::object e = o.only(1);
    EXPECT_EQ(e.at("code"), "unknown_client");
    EXPECT_EQ(e.at("requestType"), "set_player_state");
  }
}

TEST(RelayMessaging, MessageToConnectedHost) {
  harness h;
  h.join_host(1);
  const std::string p = h.join_player(2);
  const std::string a = h.join_audience(3);
  outcome o = h.send(2, {{"type", "message_to_host"}, {"message", {{"move", "e4"}}}});
  EXPECT_EQ(o.only(1), (json::object{{"type", "client_message"},
                                     {"clientId", p},
                                     {"role", "player"},
                                     {"message", {{"move", "e4"}}}}));
  EXPECT_TRUE(o.to(2).empty());
  outcome n = h.send(3, {{"type", "message_to_host"}, {"message", nullptr}});
  EXPECT_EQ(n.only(1), (json::object{{"type", "client_message"},
                                     {"clientId", a},
                                     {"role", "audience"},
                                     {"message", nullptr}}));
}

TEST(RelayMessaging, QueueForAbsentHostDeliveredInOrder) {
  harness h;
  const std::string p = h.join_player(2);
  const std::string a = h.join_audience(3);
  EXPECT_TRUE(h.send(2, {{"type", "message_to_host"}, {"message", 1}}).effects.empty());
  h.send(3, {{"type", "message_to_host"}, {"message", 2}});
  h.send(2, {{"type", "message_to_host"}, {"message", 3}});
  outcome o = h.handshake(1, {{"role", "host"}, {"hostKey", h.host_key()}});
  std::vector<json::object> frames = o.to(1);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[0].at("type"), "handshake_response");
  EXPECT_EQ(frames[1],
            (json::object{
                {"type", "client_message"}, {"clientId", p}, {"role", "player"}, {"message", 1}}));
  EXPECT_EQ(str(frames[2].at("clientId")), a);
  EXPECT_EQ(frames[2].at("role"), "audience");
  EXPECT_EQ(frames[3].at("message"), 3);
  // The queue is empty afterwards.
  h.disconnect(1);
  EXPECT_EQ(h.handshake(4, {{"role", "host"}, {"hostKey", h.host_key()}}).to(4).size(), 1u);
}

TEST(RelayMessaging, QueueOverflowDropsOldest) {
  relay_config config;
  config.host_queue_max = 3;
  harness h(json::object{}, config);
  h.join_player(2);
  std::size_t dropped = 0;
  for (int i = 1; i <= 5; ++i) {
    dropped += h.send(2, {{"type", "message_to_host"}, {"message", i}})
                   .count_of("relay_host_queue_dropped");
  }
  EXPECT_EQ(dropped, 2u);
  std::vector<json::object> frames =
      h.handshake(1, {{"role", "host"}, {"hostKey", h.host_key()}}).to(1);
  ASSERT_EQ(frames.size(), 4u);
  EXPECT_EQ(frames[1].at("message"), 3);
  EXPECT_EQ(frames[2].at("message"), 4);
  EXPECT_EQ(frames[3].at("message"), 5);
}

TEST(RelayMessaging, CloseRoomByHost) {
  struct row {
    json::object message;
    const char* reason;
  };
  std::vector<row> rows = {
      {{{"type", "close_room"}}, "closed_by_host"},
      {{{"type", "close_room"}, {"reason", ""}}, "closed_by_host"},
      {{{"type", "close_room"}, {"reason", "game over"}}, "game over"},
  };
  for (const row& r : rows) {
    harness h;
    h.join_host(1);
    h.join_player(2);
    h.join_audience(3);
    outcome o = h.send(1, r.message);
    auto b = o.broadcasts();
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].first, everyone_mask);
    EXPECT_EQ(b[0].second, (json::object{{"type", "room_closed"}, {"reason", r.reason}}));
    auto closes = o.of_kind(effect_kind::close_room);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(closes[0]->text, r.reason);
    EXPECT_TRUE(o.important());
    // room_closed goes out before the room closes.
    EXPECT_EQ(o.effects.back().kind, effect_kind::close_room);
    // A closed room ignores everything.
    EXPECT_TRUE(h.send(2, {{"type", "message_to_host"}, {"message", 1}}).effects.empty());
    EXPECT_TRUE(h.engine_input(input_kind::inactive).effects.empty());
  }
}

TEST(RelayMessaging, EngineCloseInputs) {
  struct row {
    input_kind kind;
    const char* reason;
  };
  for (const row& r :
       {row{input_kind::inactive, "inactive"}, row{input_kind::admin_close, "closed_by_admin"}}) {
    harness h;
    h.join_player(2);
    outcome o = h.engine_input(r.kind);
    auto b = o.broadcasts();
    ASSERT_EQ(b.size(), 1u);
    EXPECT_EQ(b[0].first, everyone_mask);
    EXPECT_EQ(b[0].second, (json::object{{"type", "room_closed"}, {"reason", r.reason}}));
    auto closes = o.of_kind(effect_kind::close_room);
    ASSERT_EQ(closes.size(), 1u);
    EXPECT_EQ(closes[0]->text, r.reason);
  }
}

TEST(RelayMessaging, QuietEngineInputs) {
  harness h;
  h.join_host(1);
  h.join_player(2);
  EXPECT_TRUE(h.engine_input(input_kind::created).effects.empty());
  EXPECT_TRUE(h.engine_input(input_kind::timer).effects.empty());
  EXPECT_TRUE(h.disconnect(12345).effects.empty());
  // A command input without a command is ignored.
  EXPECT_TRUE(h.engine_input(input_kind::command, 2).effects.empty());
}

TEST(RelayMessaging, CommandWithOutOfRangeTypeIsUnknown) {
  harness h;
  h.join_host(1);
  input in;
  in.conn = 1;
  in.cmd = std::make_unique<leave_cmd>();
  in.cmd->type = 999;
  effects out;
  room_rng rng;
  h.instance().step(in, 0, rng, out);
  ASSERT_EQ(out.list().size(), 1u);
  EXPECT_EQ(out.list()[0].text, "unknown_type");
  // A command whose class does not match its type is a bad request, not a crash.
  input mismatched;
  mismatched.conn = 1;
  mismatched.cmd = std::make_unique<leave_cmd>();
  mismatched.cmd->type = index_of(in_type::poll_end);
  effects out2;
  h.instance().step(mismatched, 0, rng, out2);
  ASSERT_EQ(out2.list().size(), 1u);
  EXPECT_EQ(out2.list()[0].text, "bad_request");
}

}  // namespace
}  // namespace partyd::relay::testing
