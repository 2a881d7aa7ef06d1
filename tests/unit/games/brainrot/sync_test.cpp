// Brainrot STATE_SYNC in every phase and status (play and master views), room lifetime (expiry,
// the grace timer, inactivity ignored), ROOM_CLOSED and admin close.
#include "brainrot_harness.hpp"

namespace partyd::brainrot::testing {
namespace {

json::object sync_payload(harness& h, connection_id conn, bool as_master) {
  return h.sync(conn, as_master).sent(conn, "STATE_SYNC_RESPONSE");
}

TEST(BrainrotSync, LobbyViews) {
  harness h;
  h.join(11);
  h.take(11, "p_s2");
  json::object play = sync_payload(h, 11, false);
  EXPECT_EQ(play.at("phase"), "lobby");
  EXPECT_EQ(play.at("my_player_id"), "p_s2");
  EXPECT_EQ(play.at("players_visible").as_array().size(), 4u);
  EXPECT_EQ(play.at("senders_visible").as_array().size(), 4u);
  EXPECT_FALSE(play.contains("players_all"));
  EXPECT_FALSE(play.contains("senders_all"));
  EXPECT_EQ(play.at("game"), (json::object{{"current_round_id", nullptr},
                                           {"current_item_index", nullptr},
                                           {"status", "idle"},
                                           {"item", nullptr}}));
  EXPECT_EQ(play.at("scores"),
            (json::object{{"p_s1", 0}, {"p_s2", 0}, {"p_s3", 0}, {"p_s4", 0}, {"p_s5", 0}}));
  json::object master = sync_payload(h, 50, true);
  EXPECT_EQ(master.at("players_all").as_array().size(), 5u) << "inactive ones included";
  EXPECT_EQ(master.at("players_all").as_array()[4].at("active"), false);
  EXPECT_FALSE(master.at("players_all").as_array()[4].as_object().contains("status"));
  EXPECT_EQ(master.at("senders_all").as_array()[4].at("active"), false);
  EXPECT_EQ(master.at("my_player_id"), nullptr);
}

TEST(BrainrotSync, BindsPlayOrMaster) {
  harness h;
  outcome play = h.sync(60);
  ASSERT_EQ(play.of_kind(effect_kind::bind).size(), 1u);
  EXPECT_EQ(play.of_kind(effect_kind::bind)[0]->role, play_role);
  // A wrong key is a play sync, silently.
  outcome wrong = h.send(61, "STATE_SYNC", {{"device_id", "d61"}, {"master_key", "nope"}});
  json::object p = wrong.sent(61, "STATE_SYNC_RESPONSE");
  EXPECT_FALSE(p.empty());
  EXPECT_FALSE(p.contains("players_all"));
  EXPECT_EQ(wrong.error_code(61), "");
  EXPECT_EQ(wrong.of_kind(effect_kind::bind)[0]->role, play_role);
  outcome right = h.sync(62, true);
  EXPECT_EQ(right.of_kind(effect_kind::bind)[0]->role, master_role);
  EXPECT_FALSE(right.of_kind(effect_kind::bind)[0]->rate_limited);
  // A play socket that proves the key is promoted; a master socket stays master.
  EXPECT_EQ(h.sync(60, true).of_kind(effect_kind::bind)[0]->role, master_role);
  EXPECT_TRUE(h.sync(60, false).of_kind(effect_kind::bind).empty());
  EXPECT_EQ(h.instance().summary().connected_by_role[master_role], 3u);
}

TEST(BrainrotSync, EveryGameStatus) {
  harness h;
  h.started();
  // idle
  json::object g = sync_payload(h, 11, false).at("game").as_object();
  EXPECT_EQ(g.at("status"), "idle");
  EXPECT_EQ(g.at("current_round_id"), "r1");
  EXPECT_EQ(g.at("current_item_index"), 0);
  EXPECT_EQ(g.at("item"), (json::object{{"round_id", "r1"},
                                        {"item_id", "i1"},
                                        {"reel", {{"reel_id", "reel_i1"}, {"url", "https://r/i1"}}},
                                        {"k", 1},
                                        {"senders_selectable",
                                         {{{"sender_id", "s1"}, {"name", "Ann"}},
                                          {{"sender_id", "s2"}, {"name", "Bob"}},
                                          {{"sender_id", "s3"}, {"name", "Cat"}},
                                          {{"sender_id", "s4"}, {"name", "Dan"}}}}}));
  // vote
  h.open_reel("r1", "i1");
  h.vote(13, "r1", "i1", {"s1"});
  h.vote(11, "r1", "i1", {"s2"});
  json::object play = sync_payload(h, 11, false);
  EXPECT_EQ(play.at("phase"), "game");
  EXPECT_EQ(play.at("game").at("status"), "vote");
  EXPECT_FALSE(play.at("game").as_object().contains("votes_received_player_ids"));
  json::object master = sync_payload(h, master_conn, true);
  EXPECT_EQ(master.at("game").at("votes_received_player_ids"), (json::array{"p_s3", "p_s1"}));
  EXPECT_FALSE(master.at("game").as_object().contains("current_vote_results"));
  // reveal_wait
  h.end_item("r1", "i1");
  play = sync_payload(h, 12, false);
  EXPECT_EQ(play.at("game").at("status"), "reveal_wait");
  EXPECT_FALSE(play.at("game").as_object().contains("current_vote_results"));
  master = sync_payload(h, master_conn, true);
  json::object results = master.at("game").at("current_vote_results").as_object();
  EXPECT_FALSE(results.contains("code"));
  EXPECT_EQ(results.at("item_id"), "i1");
  EXPECT_EQ(results.at("players").as_array().size(), 4u);
  EXPECT_EQ(master.at("scores").at("p_s3"), 1);
  // round_recap
  h.end_item("r1", "i1");
  h.open_reel("r1", "i2");
  h.end_item("r1", "i2");
  h.end_item("r1", "i2");
  h.open_reel("r1", "i3");
  h.end_item("r1", "i3");
  h.end_item("r1", "i3");
  master = sync_payload(h, master_conn, true);
  EXPECT_EQ(master.at("game").at("status"), "round_recap");
  EXPECT_EQ(master.at("game").at("current_item_index"), 2);
  EXPECT_FALSE(master.at("game").as_object().contains("current_vote_results"));
  // over
  h.master("START_NEXT_ROUND");
  for (const char* item : {"j1", "j2"}) {
    h.open_reel("r2", item);
    h.end_item("r2", item);
    h.end_item("r2", item);
  }
  h.master("START_NEXT_ROUND");
  play = sync_payload(h, 14, false);
  EXPECT_EQ(play.at("phase"), "over");
  EXPECT_EQ(play.at("my_player_id"), "p_s4");
  EXPECT_EQ(play.at("game").at("item"), nullptr);
  EXPECT_EQ(play.at("scores").at("p_s3"), 1);
}

TEST(BrainrotLifetime, ExpiredRoomsAnswerRoomExpiredThenClose) {
  harness h;
  h.join(11);
  h.advance(12LL * 3600 * 1000 - 1);
  EXPECT_FALSE(h.join(12).sent(12, "JOIN_OK").empty());
  h.advance(1);
  for (std::string_view type : {"JOIN_ROOM", "STATE_SYNC"}) {
    json::object e = h.send(13, type, {{"device_id", "d13"}}).error(13);
    EXPECT_EQ(e.at("error"), "room_expired") << std::string(type);
    EXPECT_EQ(str(e.at("code")), room_code);
  }
  EXPECT_EQ(h.start().error_code(master_conn), "room_expired");
  // The engine's inactivity check never closes a brainrot room.
  EXPECT_TRUE(h.engine_input(input_kind::inactive).effects.empty());
  // The grace timer deletes it one hour after expiry.
  EXPECT_EQ(h.state().expires_at, t0 + 12LL * 3600 * 1000);
  const auto fired = h.advance(3600 * 1000);  // the manual clock fires the armed timer
  ASSERT_EQ(fired.size(), 1u);
  auto closes = fired[0].of_kind(effect_kind::close_room);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0]->text, "expired");
}

TEST(BrainrotLifetime, ClockStartsOnTheFirstStepWithItsTimer) {
  brainrot_module m;
  create_result made = m.create(default_payload(), room_code);
  room_rng rng;
  effects out;
  input in;
  in.kind = input_kind::created;
  made.instance->step(in, t0, rng, out);
  bool timer = false;
  for (const effect& e : out.list()) {
    if (e.kind == effect_kind::set_timer) {
      timer = true;
      EXPECT_EQ(e.timer_key, brainrot_game::expiry_timer_key);
      EXPECT_EQ(e.deadline, t0 + 13LL * 3600 * 1000);
    }
  }
  EXPECT_TRUE(timer);
  out.clear();
  made.instance->step(in, t0 + 5000, rng, out);  // a restore's `created`: the clock stays
  EXPECT_TRUE(out.empty());
  EXPECT_EQ(dynamic_cast<brainrot_game&>(*made.instance).state().created_at, t0);
}

TEST(BrainrotLifetime, RoomClosedAndAdminClose) {
  harness h;
  h.claim_all();
  outcome o = h.master("ROOM_CLOSED");
  auto [roles, p] = o.broadcast("ROOM_CLOSED_BROADCAST");
  EXPECT_EQ(roles, everyone) << "master included";
  EXPECT_EQ(p, (json::object{{"code", room_code}, {"reason", "closed_by_master"}}));
  auto closes = o.of_kind(effect_kind::close_room);
  ASSERT_EQ(closes.size(), 1u);
  EXPECT_EQ(closes[0]->text, "closed_by_master");
  EXPECT_TRUE(h.join(11).effects.empty()) << "a closed room ignores everything";

  harness admin;
  outcome a = admin.engine_input(input_kind::admin_close);
  EXPECT_EQ(a.broadcast("ROOM_CLOSED_BROADCAST").second.at("reason"), "closed_by_master");
  ASSERT_EQ(a.of_kind(effect_kind::close_room).size(), 1u);
  EXPECT_EQ(a.of_kind(effect_kind::close_room)[0]->text, "closed_by_admin");
}

}  // namespace
}  // namespace partyd::brainrot::testing
