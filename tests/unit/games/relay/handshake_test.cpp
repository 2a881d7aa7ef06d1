// Relay handshake rules: host key, password, capacity, host replacement, seat reclaim, leave.
#include <optional>

#include "engine/secrets.hpp"
#include "relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

TEST(RelayHandshake, HostJoinsEmptyRoom) {
  harness h;
  outcome o = h.handshake(1, {{"role", "host"}, {"hostKey", h.host_key()}});
  auto binds = o.of_kind(effect_kind::bind);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0]->conn, 1u);
  EXPECT_EQ(binds[0]->role, host_role);
  EXPECT_FALSE(binds[0]->rate_limited);
  json::object r = o.only(1);
  EXPECT_EQ(r.at("type"), "handshake_response");
  EXPECT_EQ(r.at("status"), "success");
  EXPECT_EQ(str(r.at("roomCode")), room_code);
  EXPECT_EQ(r.at("role"), "host");
  EXPECT_TRUE(str(r.at("clientId")).starts_with("h_"));
  EXPECT_EQ(r.at("gameState"), json::object{});
  EXPECT_EQ(r.at("clients"), json::array{});
  EXPECT_EQ(r.at("polls"), json::array{});
  // bind comes before the response.
  EXPECT_EQ(o.effects.front().kind, effect_kind::bind);
  EXPECT_EQ(h.instance().summary().connected_by_role[host_role], 1u);
}

TEST(RelayHandshake, WrongOrMissingHostKeyFailsAndCloses) {
  struct row {
    const char* name;
    json::object fields;
  };
  std::vector<row> rows = {
      {"wrong key", {{"role", "host"}, {"hostKey", "nope"}}},
      {"missing key", {{"role", "host"}}},
      {"empty key", {{"role", "host"}, {"hostKey", ""}}},
  };
  for (const row& r : rows) {
    harness h;
    outcome o = h.handshake(5, r.fields);
    json::object frame = o.only(5);
    EXPECT_EQ(frame.at("type"), "handshake_response") << r.name;
    EXPECT_EQ(frame.at("status"), "error") << r.name;
    EXPECT_EQ(frame.at("code"), "wrong_host_key") << r.name;
    const effect* close = o.close_of(5);
    ASSERT_NE(close, nullptr) << r.name;
    EXPECT_EQ(close->close_code, 1008);
    EXPECT_EQ(close->text, "wrong_host_key");
    EXPECT_TRUE(o.of_kind(effect_kind::bind).empty());
    // The error send carries its code for the error counter.
    EXPECT_EQ(o.effects.front().text, "wrong_host_key");
    // A refused connection never joins again, even with the right key (it must reconnect).
    outcome again = h.handshake(5, {{"role", "host"}, {"hostKey", h.host_key()}});
    EXPECT_EQ(again.error_code(5), "not_joined");
    EXPECT_TRUE(again.of_kind(effect_kind::bind).empty());
    EXPECT_TRUE(h.disconnect(5).effects.empty());
    EXPECT_EQ(h.instance().summary().connected_by_role[host_role], 0u);
  }
}

// A refused host key or password is logged as auth_failed (the worker adds room and game); the
// key or password tried never appears, and other refusals are not authentication failures.
TEST(RelayHandshake, AuthFailuresAreLoggedWithoutTheSecret) {
  harness h({{"password", "secret"}});
  outcome host = h.handshake(5, {{"role", "host"}, {"hostKey", "tried-host-key"}});
  auto logs = host.of_kind(effect_kind::log);
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0]->text, "auth_failed");
  EXPECT_EQ(logs[0]->fields,
            (json::object{{"conn", 5}, {"role", "host"}, {"reason", "invalid_host_key"}}));
  EXPECT_TRUE(logs[0]->warn);
  EXPECT_EQ(host.effects.front().text, "wrong_host_key");  // the error send stays first

  outcome player = h.handshake(6, {{"role", "player"}, {"password", "tried-password"}});
  logs = player.of_kind(effect_kind::log);
  ASSERT_EQ(logs.size(), 1u);
  EXPECT_EQ(logs[0]->text, "auth_failed");
  EXPECT_EQ(logs[0]->fields,
            (json::object{{"conn", 6}, {"role", "player"}, {"reason", "invalid_password"}}));
  EXPECT_EQ(h.handshake(7, {{"role", "player"}}).of_kind(effect_kind::log).size(), 1u);

  for (const outcome* o : {&host, &player}) {
    for (const effect& e : o->effects) {
      const std::string fields = json::serialize(e.fields);
      EXPECT_EQ(fields.find("tried-"), std::string::npos) << fields;
      EXPECT_EQ(fields.find("sha256"), std::string::npos) << fields;
    }
  }
  // Not authentication failures: an unknown seat, a good password, the right key.
  EXPECT_TRUE(h.handshake(8, {{"role", "player"}, {"password", "secret"}, {"clientId", "p_none"}})
                  .of_kind(effect_kind::log)
                  .empty());
  EXPECT_TRUE(h.handshake(9, {{"role", "player"}, {"password", "secret"}})
                  .of_kind(effect_kind::log)
                  .empty());
  EXPECT_TRUE(h.handshake(10, {{"role", "host"}, {"hostKey", h.host_key()}})
                  .of_kind(effect_kind::log)
                  .empty());
}

TEST(RelayHandshake, PasswordTable) {
  struct row {
    const char* name;
    json::object fields;
    const char* code;  // "" = success
  };
  std::vector<row> rows = {
      {"player without password", {{"role", "player"}}, "wrong_password"},
      {"player wrong password", {{"role", "player"}, {"password", "x"}}, "wrong_password"},
      {"player null password", {{"role", "player"}, {"password", nullptr}}, "wrong_password"},
      {"player right password", {{"role", "player"}, {"password", "secret"}}, ""},
      {"audience without password", {{"role", "audience"}}, ""},
      {"audience wrong password ignored", {{"role", "audience"}, {"password", "x"}}, ""},
  };
  for (const row& r : rows) {
    harness h({{"password", "secret"}});
    outcome o = h.handshake(3, r.fields);
    json::object frame = o.only(3);
    if (std::string_view(r.code).empty()) {
      EXPECT_EQ(frame.at("status"), "success") << r.name;
    } else {
      EXPECT_EQ(frame.at("status"), "error") << r.name;
      EXPECT_EQ(frame.at("code"), r.code) << r.name;
      ASSERT_NE(o.close_of(3), nullptr);
      EXPECT_EQ(o.close_of(3)->close_code, 1008);
    }
  }
  harness open;
  EXPECT_FALSE(open.join_player(1, {{"password", "anything"}}).empty());
}

TEST(RelayHandshake, PlayerJoinNotifiesHost) {
  harness h;
  h.join_host(1);
  outcome o = h.handshake(2, {{"role", "player"}, {"meta", {{"name", "Alice"}}}});
  json::object r = o.only(2);
  EXPECT_EQ(r.at("status"), "success");
  EXPECT_EQ(r.at("role"), "player");
  const std::string id = str(r.at("clientId"));
  EXPECT_TRUE(id.starts_with("p_"));
  EXPECT_TRUE(r.at("playerState").is_null());
  EXPECT_EQ(r.at("gameState"), json::object{});
  auto binds = o.of_kind(effect_kind::bind);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0]->role, player_role);
  EXPECT_TRUE(binds[0]->rate_limited);
  EXPECT_TRUE(o.important());
  json::object joined = o.only(1);
  EXPECT_EQ(joined.at("type"), "client_joined");
  EXPECT_EQ(str(joined.at("clientId")), id);
  EXPECT_EQ(joined.at("role"), "player");
  EXPECT_EQ(joined.at("meta"), (json::object{{"name", "Alice"}}));
  EXPECT_EQ(joined.at("reconnected"), false);
  // Order: bind, handshake_response, client_joined.
  std::vector<effect_kind> sends;
  for (const effect& e : o.effects) {
    if (e.kind == effect_kind::bind || e.kind == effect_kind::send) {
      sends.push_back(e.kind);
    }
  }
  EXPECT_EQ(sends,
            (std::vector<effect_kind>{effect_kind::bind, effect_kind::send, effect_kind::send}));
  EXPECT_EQ(o.effects.back().conn, 1u);
}

TEST(RelayHandshake, AudienceJoinGetsActivePollsAndNotifiesHost) {
  harness h;
  h.join_host(1);
  h.send(
      1,
      {{"type", "poll_start"}, {"pollId", "old"}, {"pollType", "free_text"}, {"question", "Q0"}});
  h.send(1, {{"type", "poll_end"}, {"pollId", "old"}});
  h.send(1, {{"type", "poll_start"},
             {"pollId", "q1"},
             {"pollType", "single_choice"},
             {"question", "Q1"},
             {"options", {"a", "b"}}});
  outcome o = h.handshake(4, {{"role", "audience"}, {"clientId", "ignored"}});
  json::object r = o.only(4);
  EXPECT_EQ(r.at("role"), "audience");
  EXPECT_TRUE(str(r.at("clientId")).starts_with("a_"));
  EXPECT_FALSE(r.contains("playerState"));
  json::array polls = r.at("polls").as_array();
  ASSERT_EQ(polls.size(), 1u);
  EXPECT_EQ(polls[0], (json::object{{"pollId", "q1"},
                                    {"pollType", "single_choice"},
                                    {"question", "Q1"},
                                    {"options", {"a", "b"}}}));
  json::object joined = o.only(1);
  EXPECT_EQ(joined.at("role"), "audience");
  EXPECT_TRUE(joined.at("meta").is_null());
  EXPECT_EQ(joined.at("reconnected"), false);
  EXPECT_EQ(o.of_kind(effect_kind::bind).at(0)->role, audience_role);
}

TEST(RelayHandshake, HostSeesClientsAndPollsInOrder) {
  harness h;
  const std::string a = h.join_audience(10);
  const std::string p1 = h.join_player(11, {{"meta", "one"}});
  const std::string p2 = h.join_player(12);
  h.disconnect(12);
  outcome o = h.handshake(1, {{"role", "host"}, {"hostKey", h.host_key()}});
  json::array clients = o.only(1).at("clients").as_array();
  ASSERT_EQ(clients.size(), 3u);
  EXPECT_EQ(
      clients[0],
      (json::object{{"clientId", p1}, {"role", "player"}, {"meta", "one"}, {"connected", true}}));
  EXPECT_EQ(clients[1],
            (json::object{
                {"clientId", p2}, {"role", "player"}, {"meta", nullptr}, {"connected", false}}));
  EXPECT_EQ(clients[2],
            (json::object{
                {"clientId", a}, {"role", "audience"}, {"meta", nullptr}, {"connected", true}}));
}

TEST(RelayHandshake, PlayerCapacityCountsHeldSeats) {
  harness h({{"maxPlayers", 2}});
  const std::string p1 = h.join_player(1);
  h.join_player(2);
  h.disconnect(1);  // the seat is still held
  outcome full = h.handshake(3, {{"role", "player"}});
  EXPECT_EQ(full.error_code(3), "room_full");
  ASSERT_NE(full.close_of(3), nullptr);
  EXPECT_EQ(full.close_of(3)->close_code, 1008);
  // Reclaiming a held seat needs no free capacity.
  EXPECT_EQ(h.join_player(4, {{"clientId", p1}}), p1);
  // Leave frees a seat at once.
  h.send(4, {{"type", "leave"}});
  EXPECT_FALSE(h.join_player(5).empty());
  EXPECT_EQ(h.instance().summary().seats, 2u);
}

TEST(RelayHandshake, AudienceCapacityCountsConnected) {
  harness h({{"maxAudience", 1}});
  h.join_audience(1);
  EXPECT_EQ(h.handshake(2, {{"role", "audience"}}).error_code(2), "room_full");
  h.disconnect(1);
  EXPECT_FALSE(h.join_audience(3).empty());
  // Players are not limited by maxAudience.
  EXPECT_FALSE(h.join_player(4).empty());
}

TEST(RelayHandshake, UnlimitedCapacity) {
  harness h;
  for (connection_id c = 1; c <= 50; ++c) {
    EXPECT_FALSE(h.join_player(c).empty());
    EXPECT_FALSE(h.join_audience(100 + c).empty());
  }
  room_summary s = h.instance().summary();
  EXPECT_EQ(s.seats, 50u);
  EXPECT_EQ(s.connected_by_role[player_role], 50u);
  EXPECT_EQ(s.connected_by_role[audience_role], 50u);
  EXPECT_EQ(s.connected_by_role[host_role], 0u);
}

TEST(RelayHandshake, NewerHostReplacesOlder) {
  harness h;
  h.join_host(1);
  h.join_player(5);
  outcome o = h.handshake(2, {{"role", "host"}, {"hostKey", h.host_key()}});
  json::object replaced = o.only(1);
  EXPECT_EQ(replaced, (json::object{{"type", "host_replaced"}}));
  const effect* close = o.close_of(1);
  ASSERT_NE(close, nullptr);
  EXPECT_EQ(close->close_code, 4001);
  EXPECT_EQ(close->text, "host_replaced");
  EXPECT_EQ(o.only(2).at("status"), "success");
  // Later traffic reaches the new host only; the old host's messages and disconnect are ignored.
  outcome m = h.send(5, {{"type", "message_to_host"}, {"message", 1}});
  EXPECT_TRUE(m.to(1).empty());
  EXPECT_EQ(m.only(2).at("type"), "client_message");
  outcome stale = h.send(1, {{"type", "set_game_state"}, {"state", json::object{}}});
  EXPECT_EQ(stale.error_code(1), "not_joined");
  EXPECT_TRUE(stale.broadcasts().empty());
  EXPECT_TRUE(h.disconnect(1).effects.empty());
  EXPECT_EQ(h.instance().summary().connected_by_role[host_role], 1u);
}

TEST(RelayHandshake, SeatReclaimReplacesOlderConnection) {
  harness h;
  h.join_host(1);
  const std::string id = h.join_player(2, {{"meta", {{"name", "Bo"}}}});
  h.send(1, {{"type", "set_player_state"}, {"clientId", id}, {"state", {{"hand", {1, 2}}}}});
  outcome o = h.handshake(3, {{"role", "player"}, {"clientId", id}});
  EXPECT_EQ(o.only(2), (json::object{{"type", "seat_reclaimed"}}));
  ASSERT_NE(o.close_of(2), nullptr);
  EXPECT_EQ(o.close_of(2)->close_code, 4002);
  EXPECT_EQ(o.close_of(2)->text, "seat_reclaimed");
  json::object r = o.only(3);
  EXPECT_EQ(str(r.at("clientId")), id);
  EXPECT_EQ(r.at("playerState"), (json::object{{"hand", {1, 2}}}));
  json::object joined = o.only(1);
  EXPECT_EQ(joined.at("reconnected"), true);
  EXPECT_EQ(joined.at("meta"), (json::object{{"name", "Bo"}}));  // kept when not resent
  EXPECT_TRUE(o.important());
  // The old connection's disconnect does not touch the seat.
  EXPECT_TRUE(h.disconnect(2).effects.empty());
  EXPECT_EQ(h.instance().summary().connected_by_role[player_role], 1u);
}

TEST(RelayHandshake, ReconnectAfterDisconnect) {
  harness h({{"password", "pw"}});
  h.join_host(1);
  const std::string id = h.join_player(2, {{"password", "pw"}});
  outcome d = h.disconnect(2);
  EXPECT_EQ(d.only(1),
            (json::object{{"type", "client_disconnected"}, {"clientId", id}, {"role", "player"}}));
  EXPECT_EQ(h.instance().summary().connected_by_role[player_role], 0u);
  EXPECT_EQ(h.instance().summary().seats, 1u);
  // Password still required for a reclaim.
  EXPECT_EQ(h.handshake(3, {{"role", "player"}, {"clientId", id}}).error_code(3), "wrong_password");
  outcome o =
      h.handshake(4, {{"role", "player"}, {"clientId", id}, {"password", "pw"}, {"meta", "new"}});
  EXPECT_EQ(str(o.only(4).at("clientId")), id);
  EXPECT_TRUE(o.only(4).at("playerState").is_null());
  EXPECT_EQ(o.only(1).at("reconnected"), true);
  EXPECT_EQ(o.only(1).at("meta"), "new");
}

TEST(RelayHandshake, ClosedConnectionCannotReclaimSeat) {
  harness h;
  h.join_host(1);
  const std::string id = h.join_player(2);
  h.handshake(3, {{"role", "player"}, {"clientId", id}});  // takes the seat from connection 2
  // Connection 2 was closed; a handshake it had in flight must not take the seat back.
  outcome stale = h.handshake(2, {{"role", "player"}, {"clientId", id}});
  EXPECT_EQ(stale.error_code(2), "not_joined");
  EXPECT_TRUE(stale.to(3).empty());
  EXPECT_TRUE(stale.to(1).empty());
  // The seat still belongs to connection 3.
  EXPECT_EQ(h.send(3, {{"type", "message_to_host"}, {"message", 1}}).only(1).at("clientId"),
            json::value(json::string(id)));
}

TEST(RelayHandshake, UnknownSeatIsRefused) {
  harness h;
  outcome o = h.handshake(1, {{"role", "player"}, {"clientId", "p_nothing"}});
  EXPECT_EQ(o.error_code(1), "seat_not_found");
  EXPECT_EQ(o.close_of(1)->close_code, 1008);
  EXPECT_EQ(o.close_of(1)->text, "seat_not_found");
}

TEST(RelayHandshake, SecondHandshakeIsAlreadyJoined) {
  harness h;
  h.join_player(1);
  outcome o = h.handshake(1, {{"role", "audience"}});
  json::object e = o.only(1);
  EXPECT_EQ(e.at("type"), "error");
  EXPECT_EQ(e.at("code"), "already_joined");
  EXPECT_EQ(e.at("requestType"), "handshake");
  EXPECT_EQ(o.close_of(1), nullptr);
}

TEST(RelayHandshake, PlayerLeaveFreesSeat) {
  harness h;
  h.join_host(1);
  const std::string id = h.join_player(2);
  outcome o = h.send(2, {{"type", "leave"}});
  EXPECT_EQ(
      o.only(1),
      (json::object{
          {"type", "client_left"}, {"clientId", id}, {"role", "player"}, {"reason", "left"}}));
  ASSERT_NE(o.close_of(2), nullptr);
  EXPECT_EQ(o.close_of(2)->close_code, 1000);
  EXPECT_EQ(o.close_of(2)->text, "left");
  EXPECT_TRUE(o.important());
  EXPECT_EQ(h.instance().summary().seats, 0u);
  EXPECT_TRUE(h.disconnect(2).effects.empty());
  EXPECT_EQ(h.handshake(3, {{"role", "player"}, {"clientId", id}}).error_code(3), "seat_not_found");
  EXPECT_EQ(h.send(1, {{"type", "set_player_state"}, {"clientId", id}, {"state", json::object{}}})
                .error_code(1),
            "unknown_client");
}

TEST(RelayHandshake, AudienceLeaveAndDrop) {
  harness h;
  h.join_host(1);
  const std::string a = h.join_audience(2);
  const std::string b = h.join_audience(3);
  outcome left = h.send(2, {{"type", "leave"}});
  EXPECT_EQ(left.only(1).at("reason"), "left");
  EXPECT_EQ(str(left.only(1).at("clientId")), a);
  EXPECT_EQ(left.close_of(2)->close_code, 1000);
  outcome dropped = h.disconnect(3);
  EXPECT_EQ(dropped.only(1), (json::object{{"type", "client_left"},
                                           {"clientId", b},
                                           {"role", "audience"},
                                           {"reason", "disconnected"}}));
  EXPECT_EQ(h.instance().summary().connected_by_role[audience_role], 0u);
}

TEST(RelayHandshake, HostLeaveKeepsRoom) {
  harness h;
  h.join_host(1);
  outcome o = h.send(1, {{"type", "leave"}});
  ASSERT_NE(o.close_of(1), nullptr);
  EXPECT_EQ(o.close_of(1)->close_code, 1000);
  EXPECT_EQ(o.close_of(1)->text, "left");
  EXPECT_TRUE(o.of_kind(effect_kind::close_room).empty());
  EXPECT_EQ(h.instance().summary().connected_by_role[host_role], 0u);
  EXPECT_FALSE(h.join_host(2).empty());
}

TEST(RelayHandshake, HostDisconnectIsSilent) {
  harness h;
  h.join_host(1);
  h.join_player(2);
  EXPECT_TRUE(h.disconnect(1).effects.empty());
  EXPECT_EQ(h.instance().summary().connected_by_role[host_role], 0u);
  // Player events are not queued for an absent host.
  EXPECT_TRUE(h.disconnect(2).effects.empty());
  EXPECT_TRUE(h.disconnect(99).effects.empty());
  outcome o = h.handshake(3, {{"role", "host"}, {"hostKey", h.host_key()}});
  EXPECT_EQ(o.to(3).size(), 1u);
}

}  // namespace
}  // namespace partyd::relay::testing

namespace partyd::relay::testing {
namespace {

// The public clientId is not a credential: a seat is reclaimed only with the token its holder
// alone was given, and that token reaches no other viewer (host, players, audience), not in a
// join, a host's client list, a game or player state, or an error.
TEST(RelaySeatToken, OnlyTheHolderGetsItAndAReclaimNeedsIt) {
  harness h;
  h.join_host(1);
  const std::string alice = h.join_player(2, {{"meta", {{"name", "A"}}}});
  const std::string token = h.seat_token(alice);
  ASSERT_FALSE(token.empty());
  EXPECT_EQ(alice.find(token), std::string::npos) << "the id does not contain the token";
  h.join_player(3);
  h.join_audience(4);
  // The host shows Alice's id to everyone.
  h.send(1, {{"type", "set_game_state"}, {"state", {{"turn", alice}}}});

  // Bob, who read Alice's clientId, cannot take her seat, with no token or a made-up one.
  const auto reclaim = [&](connection_id conn, std::optional<std::string> tried) {
    json::object hs{
        {"type", "handshake"}, {"roomCode", room_code}, {"role", "player"}, {"clientId", alice}};
    if (tried) hs["seatToken"] = *tried;
    return h.send_text(conn, json::serialize(hs));
  };
  connection_id conn = 10;
  for (auto tried : {std::optional<std::string>{}, std::optional<std::string>{"guess"},
                     std::optional<std::string>{alice}}) {
    outcome stolen = reclaim(++conn, tried);
    EXPECT_EQ(stolen.error_code(conn), "wrong_seat_token");
    EXPECT_TRUE(stolen.to(2).empty()) << "the holder is not disturbed";
    EXPECT_EQ(stolen.close_of(2), nullptr);
    EXPECT_EQ(stolen.of_kind(effect_kind::log).size(), 1u) << "logged as auth_failed";
  }
  // Alice, with her token, comes back.
  outcome back = reclaim(30, token);
  EXPECT_EQ(back.error_code(30), "");
  EXPECT_EQ(str(back.only(30).at("seatToken")), token);

  // Nobody else ever saw the token.
  for (const effect& e : h.log()) {
    if (!e.frame) continue;
    const bool to_alice = e.kind == effect_kind::send && (e.conn == 2 || e.conn == 30);
    if (!to_alice) {
      EXPECT_EQ(e.frame->find(token), std::string::npos) << *e.frame;
    }
  }
  // Nor does the host's list of clients after a reconnect.
  outcome host = h.handshake(40, {{"role", "host"}, {"hostKey", h.host_key()}});
  for (const json::object& frame : host.to(40)) {
    EXPECT_EQ(json::serialize(frame).find(token), std::string::npos);
  }
}

TEST(RelaySeatToken, TheSnapshotKeepsOnlyItsDigest) {
  harness h;
  const std::string alice = h.join_player(2);
  const std::string token = h.seat_token(alice);
  const std::string bytes = h.instance().snapshot();
  EXPECT_EQ(bytes.find(token), std::string::npos);
  EXPECT_NE(bytes.find(sha256_tagged(token)), std::string::npos);
  harness restored(h.module().restore(bytes));
  outcome back =
      restored.handshake(5, {{"role", "player"}, {"clientId", alice}, {"seatToken", token}});
  EXPECT_EQ(back.error_code(5), "");
}

TEST(RelayHandshake, AHostKeyChosenAtCreationIsTheRoomsKey) {
  harness h({{"hostKey", "host-key-123"}, {"password", "secret"}});
  EXPECT_EQ(h.host_key(), "host-key-123");
  outcome wrong = h.handshake(1, {{"role", "host"}, {"hostKey", "host-key-124"}});
  EXPECT_EQ(wrong.error_code(1), "wrong_host_key");
  ASSERT_NE(wrong.close_of(1), nullptr);
  outcome o = h.handshake(2, {{"role", "host"}, {"hostKey", "host-key-123"}});
  EXPECT_EQ(o.close_of(2), nullptr);
  EXPECT_EQ(o.only(2).at("status"), "success");
}

TEST(RelayHandshake, AChosenHostKeyMustBePrintableAndEightTo128Characters) {
  relay_module module{relay_config{}};
  for (const json::value& key : {json::value("short"), json::value("with space key"),
                                 json::value(std::string(129, 'k')), json::value(12345678)}) {
    const create_result made = module.create({{"hostKey", key}}, "ROOM01");
    EXPECT_TRUE(made.error) << json::serialize(key);
    EXPECT_EQ(made.error.code, "bad_request");
  }
  EXPECT_FALSE(module.create({{"hostKey", std::string(128, 'k')}}, "ROOM01").error);
}

}  // namespace
}  // namespace partyd::relay::testing
