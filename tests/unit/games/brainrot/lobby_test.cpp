// Brainrot lobby rules: ROOM_CREATED, JOIN_ROOM, TAKE_PLAYER, RENAME_PLAYER, UPDATE_AVATAR,
// TOGGLE_PLAYER, START_GAME; keys, binding, wrong room, phases.
#include "brainrot_harness.hpp"

namespace partyd::brainrot::testing {
namespace {

TEST(BrainrotLobby, CreateRoomAnswersTheCreatorAndBindsMaster) {
  harness h;
  const outcome& o = h.created();
  json::object p = o.sent(master_conn, "ROOM_CREATED");
  EXPECT_EQ(str(p.at("code")), room_code);
  EXPECT_EQ(str(p.at("master_key")), master_secret);
  EXPECT_EQ(p.at("phase"), "lobby");
  EXPECT_EQ(p.at("expires_at").as_int64(), t0 + 12LL * 3600 * 1000);
  ASSERT_EQ(p.at("players_visible").as_array().size(), 4u) << "the inactive p_s5 is hidden";
  json::object first = p.at("players_visible").as_array()[0].as_object();
  EXPECT_EQ(first, (json::object{{"player_id", "p_s1"},
                                 {"sender_id", "s1"},
                                 {"is_sender_bound", true},
                                 {"active", true},
                                 {"status", "free"},
                                 {"name", "Ann"},
                                 {"avatar_url", nullptr}}));
  ASSERT_EQ(p.at("senders_visible").as_array().size(), 4u);
  EXPECT_EQ(
      p.at("senders_visible").as_array()[1].as_object(),
      (json::object{{"sender_id", "s2"}, {"name", "Bob"}, {"active", true}, {"reels_count", 3}}));
  auto binds = o.of_kind(effect_kind::bind);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0]->role, master_role);
  EXPECT_FALSE(binds[0]->rate_limited) << "the master is not rate limited";
  EXPECT_TRUE(o.important());
  // Only the hash is kept.
  EXPECT_EQ(h.state().master_key_hash, sha256_tagged(master_secret));
  EXPECT_EQ(h.state().created_at, t0);

  // A second CREATE_ROOM on a socket that serves a room is refused.
  outcome again = h.send_text(master_conn, envelope("CREATE_ROOM", default_payload()));
  EXPECT_EQ(again.error_code(master_conn), "bad_request");
  EXPECT_EQ(again.error(master_conn).at("message"), "already_in_room");
}

TEST(BrainrotLobby, JoinRoomRegistersAPlaySocket) {
  harness h;
  h.join(11);
  h.take(11, "p_s2");
  outcome o = h.join(12);
  json::object p = o.sent(12, "JOIN_OK");
  EXPECT_EQ(str(p.at("code")), room_code);
  EXPECT_EQ(p.at("phase"), "lobby");
  EXPECT_EQ(p.at("players_visible").as_array()[1].at("status"), "taken");
  EXPECT_EQ(p.at("players_visible").as_array()[0].at("status"), "free");
  auto binds = o.of_kind(effect_kind::bind);
  ASSERT_EQ(binds.size(), 1u);
  EXPECT_EQ(binds[0]->role, play_role);
  EXPECT_TRUE(binds[0]->rate_limited);
  EXPECT_TRUE(h.join(12).of_kind(effect_kind::bind).empty()) << "bound once";
  EXPECT_EQ(h.instance().summary().connected_by_role[play_role], 2u);
  EXPECT_EQ(h.instance().summary().connected_by_role[master_role], 1u);
  EXPECT_EQ(h.instance().summary().seats, 1u);
}

TEST(BrainrotLobby, OneSocketServesOneRoom) {
  harness h;
  h.join(11);
  outcome o = h.send(11, "JOIN_ROOM", {{"code", "ZZZZZZZZ"}, {"device_id", "d11"}});
  json::object e = o.error(11);
  EXPECT_EQ(e.at("error"), "bad_request");
  EXPECT_EQ(e.at("message"), "code_mismatch");
  EXPECT_EQ(e.at("details").at("field"), "code");
}

TEST(BrainrotLobby, TakePlayerRules) {
  harness h;
  h.join(11);
  h.join(12);
  struct row {
    connection_id conn;
    std::string player;
    std::string expect;  // TAKE_PLAYER_OK, a TAKE_PLAYER_FAIL reason, or an ERROR code
  };
  const std::vector<row> rows = {
      {11, "p_s1", "TAKE_PLAYER_OK"}, {11, "p_s1", "TAKE_PLAYER_OK"},  // idempotent
      {12, "p_s1", "taken_now"},      {11, "p_s2", "device_already_has_player"},
      {12, "p_s5", "inactive"},       {12, "p_nobody", "bad_request"},
      {12, "p_s2", "TAKE_PLAYER_OK"},
  };
  for (const row& r : rows) {
    outcome o = h.take(r.conn, r.player);
    std::string got;
    if (o.has_sent(r.conn, "TAKE_PLAYER_OK")) {
      got = "TAKE_PLAYER_OK";
      EXPECT_EQ(o.sent(r.conn, "TAKE_PLAYER_OK").at("player_id"), r.player.c_str());
    } else if (o.has_sent(r.conn, "TAKE_PLAYER_FAIL")) {
      got = str(o.sent(r.conn, "TAKE_PLAYER_FAIL").at("reason"));
    } else {
      got = o.error_code(r.conn);
    }
    EXPECT_EQ(got, r.expect) << r.conn << " " << r.player;
  }
  EXPECT_EQ(h.state().claims,
            (std::map<std::string, std::string>{{"p_s1", "d11"}, {"p_s2", "d12"}}));
}

TEST(BrainrotLobby, SuccessfulTakeBroadcastsPlayerUpdate) {
  harness h;
  h.join(11);
  outcome o = h.take(11, "p_s3");
  auto [roles, p] = o.broadcast("PLAYER_UPDATE");
  EXPECT_EQ(roles, everyone);
  EXPECT_EQ(p.at("player").at("player_id"), "p_s3");
  EXPECT_EQ(p.at("player").at("status"), "taken");
  EXPECT_TRUE(o.important());
  // OK before the update.
  ASSERT_GE(o.effects.size(), 2u);
  EXPECT_EQ(o.effects[0].kind, effect_kind::send);
  EXPECT_TRUE(h.take(11, "p_s3").broadcasts().empty()) << "re-taking changes nothing";
}

TEST(BrainrotLobby, TakePlayerWithoutJoinBindsThePlaySocket) {
  harness h;
  outcome o = h.take(20, "p_s1");
  EXPECT_TRUE(o.has_sent(20, "TAKE_PLAYER_OK"));
  ASSERT_EQ(o.of_kind(effect_kind::bind).size(), 1u);
  EXPECT_EQ(o.of_kind(effect_kind::bind)[0]->role, play_role);
}

TEST(BrainrotLobby, RenameRules) {
  harness h;
  h.join(11);
  h.join(12);
  h.take(11, "p_s1");
  struct row {
    connection_id conn;
    std::string player;
    std::string name;
    std::string expect;  // the resulting name, or an ERROR code
  };
  const std::vector<row> rows = {
      {11, "p_s1", "  Anna   Maria \t", "Anna Maria"},
      {11, "p_s1", "Z", "Z"},
      {11, "p_s1", std::string(24, 'x'), std::string(24, 'x')},
      {11, "p_s1", std::string(25, 'x'), "bad_request"},
      {11, "p_s1", "   ", "bad_request"},
      {11, "p_s1", "", "bad_request"},
      {11, "p_s1", "\xC3\xA9l\xC3\xA8ve", "\xC3\xA9l\xC3\xA8ve"},
      {12, "p_s1", "Thief", "not_claimed"},
      {12, "p_s2", "Unclaimed", "not_claimed"},
      {11, "p_zz", "Who", "bad_request"},
  };
  for (const row& r : rows) {
    outcome o = h.send(
        r.conn, "RENAME_PLAYER",
        {{"device_id", harness::device(r.conn)}, {"player_id", r.player}, {"new_name", r.name}});
    auto [roles, p] = o.broadcast("PLAYER_UPDATE");
    if (r.expect == "bad_request" || r.expect == "not_claimed") {
      EXPECT_EQ(o.error_code(r.conn), r.expect) << r.name;
      EXPECT_EQ(roles, 0) << r.name;
      continue;
    }
    EXPECT_EQ(roles, everyone);
    EXPECT_EQ(str(p.at("player").at("name")), r.expect);
    EXPECT_EQ(str(p.at("sender_updated").at("name")), r.expect) << "a sender-bound player";
    EXPECT_EQ(p.at("sender_updated").at("sender_id"), "s1");
  }
  json::object long_name =
      h.send(11, "RENAME_PLAYER",
             {{"device_id", "d11"}, {"player_id", "p_s1"}, {"new_name", std::string(30, 'y')}})
          .error(11);
  EXPECT_EQ(long_name.at("message"), "invalid_name");
  EXPECT_EQ(long_name.at("details").at("field"), "new_name");
  EXPECT_EQ(h.state().senders[0].name, "\xC3\xA9l\xC3\xA8ve");
}

TEST(BrainrotLobby, AvatarRules) {
  brainrot_config config;
  config.avatar_max_chars = 100;
  harness h(default_payload(), config);
  h.join(11);
  h.join(12);
  h.take(11, "p_s1");
  const std::string ok = "data:image/jpeg;base64," + std::string(77, 'A');  // 100 chars
  struct row {
    connection_id conn;
    std::string player;
    json::value image;
    std::string expect;  // "ok", an invalid_avatar reason, or an ERROR code
  };
  const std::vector<row> rows = {
      {11, "p_s1", json::value(ok), "ok"},
      {11, "p_s1", json::value(ok + "A"), "too_large"},
      {11, "p_s1", json::value("http://x/y.png"), "bad_prefix"},
      {11, "p_s1", json::value(7), "not_string"},
      {11, "p_s1", json::value(nullptr), "not_string"},
      {12, "p_s1", json::value(ok), "not_claimed"},
      {11, "p_nope", json::value(ok), "bad_request"},
  };
  for (const row& r : rows) {
    outcome o = h.send(
        r.conn, "UPDATE_AVATAR",
        {{"device_id", harness::device(r.conn)}, {"player_id", r.player}, {"image", r.image}});
    if (r.expect == "ok") {
      auto [roles, p] = o.broadcast("PLAYER_UPDATE");
      EXPECT_EQ(roles, everyone);
      EXPECT_EQ(str(p.at("player").at("avatar_url")), ok);
      EXPECT_FALSE(p.contains("sender_updated"));
    } else if (r.expect == "not_claimed" || r.expect == "bad_request") {
      EXPECT_EQ(o.error_code(r.conn), r.expect);
      EXPECT_FALSE(o.error(r.conn).contains("message") &&
                   o.error(r.conn).at("message") == "invalid_avatar");
    } else {
      json::object e = o.error(r.conn);
      EXPECT_EQ(e.at("error"), "bad_request");
      EXPECT_EQ(e.at("message"), "invalid_avatar");
      EXPECT_EQ(str(e.at("details").at("reason")), r.expect);
    }
  }
  EXPECT_EQ(*h.state().players[0].avatar_url, ok);
}

TEST(BrainrotLobby, DefaultAvatarLimitAdmitsTwoHundredThousandCharacters) {
  harness h;
  h.join(11);
  h.take(11, "p_s1");
  std::string image = "data:image/jpeg;base64,";
  image.resize(200000, 'A');
  std::string text = envelope(
      "UPDATE_AVATAR",
      {{"code", room_code}, {"device_id", "d11"}, {"player_id", "p_s1"}, {"image", image}});
  EXPECT_LT(text.size(), h.module().max_message_bytes());
  EXPECT_FALSE(h.send_text(11, text).broadcast("PLAYER_UPDATE").second.empty());
  image += "A";
  EXPECT_EQ(
      h.send(11, "UPDATE_AVATAR", {{"device_id", "d11"}, {"player_id", "p_s1"}, {"image", image}})
          .error(11)
          .at("details")
          .at("reason"),
      "too_large");
}

TEST(BrainrotLobby, ToggleRules) {
  harness h;
  h.join(11);
  h.join(21);  // a second socket of device d21 ...
  h.take(11, "p_s1");
  // Deactivating a claimed player frees it and tells its device.
  outcome off = h.master("TOGGLE_PLAYER", {{"player_id", "p_s1"}, {"active", false}});
  json::object slot = off.sent(11, "SLOT_INVALIDATED");
  EXPECT_EQ(slot,
            (json::object{
                {"code", room_code}, {"player_id", "p_s1"}, {"reason", "disabled_or_deleted"}}));
  EXPECT_FALSE(off.has_sent(21, "SLOT_INVALIDATED"));
  EXPECT_TRUE(off.important());
  EXPECT_FALSE(h.state().claims.contains("p_s1"));
  EXPECT_FALSE(h.state().players[0].active);
  EXPECT_EQ(h.take(11, "p_s1").sent(11, "TAKE_PLAYER_FAIL").at("reason"), "inactive");
  // Activating tells everyone.
  outcome on = h.master("TOGGLE_PLAYER", {{"player_id", "p_s5"}, {"active", true}});
  auto [roles, p] = on.broadcast("PLAYER_UPDATE");
  EXPECT_EQ(roles, everyone);
  EXPECT_EQ(p.at("player").at("player_id"), "p_s5");
  EXPECT_TRUE(h.state().players[4].active);
  // Deactivating an unclaimed player: no one to tell.
  EXPECT_TRUE(
      h.master("TOGGLE_PLAYER", {{"player_id", "p_s5"}, {"active", false}}).broadcasts().empty());
  EXPECT_EQ(
      h.master("TOGGLE_PLAYER", {{"player_id", "p_x"}, {"active", false}}).error_code(master_conn),
      "bad_request");
}

TEST(BrainrotLobby, MasterMessagesNeedTheKey) {
  harness h;
  h.claim_all();
  for (std::string_view type : {"TOGGLE_PLAYER", "START_GAME", "REEL_OPENED", "END_ITEM",
                                "START_NEXT_ROUND", "ROOM_CLOSED"}) {
    outcome o = h.send(30, type,
                       {{"master_key", "wrong"},
                        {"player_id", "p_s1"},
                        {"active", false},
                        {"round_id", "r1"},
                        {"item_id", "i1"}});
    json::object e = o.error(30);
    EXPECT_EQ(e.at("error"), "forbidden") << std::string(type);
    EXPECT_EQ(e.at("message"), "invalid_master_key") << std::string(type);
    EXPECT_TRUE(o.of_kind(effect_kind::bind).empty()) << std::string(type);
    EXPECT_TRUE(o.unchanged) << "a refusal does not move the state version";
  }
  // A second socket that proves the key becomes master.
  outcome o = h.master("TOGGLE_PLAYER", {{"player_id", "p_s5"}, {"active", false}}, 31);
  ASSERT_EQ(o.of_kind(effect_kind::bind).size(), 1u);
  EXPECT_EQ(o.of_kind(effect_kind::bind)[0]->role, master_role);
  // A play socket that proves the key is promoted.
  o = h.master("TOGGLE_PLAYER", {{"player_id", "p_s5"}, {"active", false}}, 11);
  ASSERT_EQ(o.of_kind(effect_kind::bind).size(), 1u);
  EXPECT_EQ(o.of_kind(effect_kind::bind)[0]->role, master_role);
}

TEST(BrainrotLobby, StartGameConditions) {
  harness h;
  h.join(11);
  h.take(11, "p_s1");
  json::object e = h.start().error(master_conn);
  EXPECT_EQ(e.at("error"), "forbidden");
  EXPECT_EQ(e.at("message"), "active_players_not_claimed");
  EXPECT_EQ(e.at("details").at("player_ids"), (json::array{"p_s2", "p_s3", "p_s4"}));
  for (const char* p : {"p_s2", "p_s3", "p_s4"}) {
    h.master("TOGGLE_PLAYER", {{"player_id", p}, {"active", false}});
  }
  e = h.start().error(master_conn);
  EXPECT_EQ(e.at("error"), "forbidden");
  EXPECT_EQ(e.at("message"), "not_enough_active_players");
  h.master("TOGGLE_PLAYER", {{"player_id", "p_s2"}, {"active", true}});
  h.join(12);
  h.take(12, "p_s2");
  outcome o = h.start();
  auto b = o.broadcasts();
  ASSERT_EQ(b.size(), 2u);
  EXPECT_EQ(b[0].second.at("type"), "GAME_START");
  EXPECT_EQ(b[0].second.at("payload"), (json::object{{"code", room_code}}));
  EXPECT_EQ(b[0].first, everyone);
  EXPECT_EQ(b[1].second.at("type"), "NEW_ITEM");
  EXPECT_EQ(b[1].first, everyone);
  json::object item = b[1].second.at("payload").as_object();
  EXPECT_EQ(item.at("round_id"), "r1");
  EXPECT_EQ(item.at("item_index"), 0);
  EXPECT_EQ(item.at("item_id"), "i1");
  EXPECT_EQ(item.at("reel"), (json::object{{"reel_id", "reel_i1"}, {"url", "https://r/i1"}}));
  EXPECT_EQ(item.at("k"), 1);
  EXPECT_EQ(item.at("slots_total"), 1);
  EXPECT_EQ(item.at("senders_selectable").as_array().size(), 4u) << "every active sender";
  EXPECT_EQ(item.at("senders_selectable").as_array()[0],
            (json::object{{"sender_id", "s1"}, {"name", "Ann"}}));
  EXPECT_TRUE(o.important());
  EXPECT_EQ(h.state().phase, phase::game);
}

TEST(BrainrotLobby, RoundOrderDecidesTheFirstRound) {
  json::object payload = default_payload();
  payload["round_order"] = json::array{"r2", "r1"};
  harness h(payload);
  h.claim_all();
  EXPECT_EQ(h.start().broadcast("NEW_ITEM").second.at("item_id"), "j1");
}

TEST(BrainrotLobby, LobbyMessagesOutsideTheLobbyAreNotInPhase) {
  harness h;
  h.started();
  struct row {
    std::string type;
    json::object payload;
    connection_id conn;
  };
  const std::vector<row> rows = {
      {"TAKE_PLAYER", {{"device_id", "d11"}, {"player_id", "p_s1"}}, 11},
      {"RENAME_PLAYER", {{"device_id", "d11"}, {"player_id", "p_s1"}, {"new_name", "X"}}, 11},
      {"UPDATE_AVATAR",
       {{"device_id", "d11"}, {"player_id", "p_s1"}, {"image", "data:image/x"}},
       11},
      {"TOGGLE_PLAYER",
       {{"master_key", h.master_key()}, {"player_id", "p_s1"}, {"active", false}},
       1},
      {"START_GAME", {{"master_key", h.master_key()}}, 1},
  };
  for (const row& r : rows) {
    json::object e = h.send(r.conn, r.type, r.payload).error(r.conn);
    EXPECT_EQ(e.at("error"), "not_in_phase") << r.type;
    EXPECT_EQ(e.at("details").at("phase"), "game") << r.type;
    EXPECT_EQ(e.at("details").at("expected"), "lobby") << r.type;
  }
  // Game messages in the lobby.
  harness lobby;
  for (std::string_view type : {"REEL_OPENED", "END_ITEM", "START_NEXT_ROUND"}) {
    EXPECT_EQ(lobby.master(type, {{"round_id", "r1"}, {"item_id", "i1"}}).error_code(master_conn),
              "not_in_phase")
        << std::string(type);
  }
}

}  // namespace
}  // namespace partyd::brainrot::testing
