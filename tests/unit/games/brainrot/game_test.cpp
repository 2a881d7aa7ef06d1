// Brainrot game rules: REEL_OPENED, SUBMIT_VOTE (every VOTE_ACK reason), the vote closing and its
// scoring, END_ITEM (incl. closing a vote early), ROUND_RECAP / ROUND_FINISHED,
// START_NEXT_ROUND and GAME_OVER with ties.
#include "brainrot_harness.hpp"

namespace partyd::brainrot::testing {
namespace {

TEST(BrainrotGame, ReelOpenedRules) {
  harness h;
  h.started();
  json::object e = h.open_reel("r1", "i2").error(master_conn);
  EXPECT_EQ(e.at("error"), "bad_request");
  EXPECT_EQ(e.at("message"), "not_current_item");
  EXPECT_EQ(e.at("details").at("field"), "item_id");
  EXPECT_EQ(h.open_reel("r2", "i1").error(master_conn).at("details").at("field"), "round_id");
  outcome o = h.open_reel("r1", "i1");
  auto [roles, p] = o.broadcast("START_VOTE");
  EXPECT_EQ(roles, everyone);
  EXPECT_EQ(p.at("round_id"), "r1");
  EXPECT_EQ(p.at("item_id"), "i1");
  EXPECT_EQ(p.at("k"), 1);
  EXPECT_EQ(p.at("senders_selectable").as_array().size(), 4u);
  EXPECT_TRUE(o.important());
  EXPECT_EQ(h.state().status, status::vote);
  EXPECT_EQ(h.state().expected_voters, (std::vector<std::string>{"p_s1", "p_s2", "p_s3", "p_s4"}));
  e = h.open_reel("r1", "i1").error(master_conn);
  EXPECT_EQ(e.at("error"), "conflict");
  EXPECT_EQ(e.at("details").at("status"), "vote");
}

TEST(BrainrotGame, VoteAckReasons) {
  harness h;
  // Before the game: not_in_vote.
  h.claim_all();
  EXPECT_EQ(h.vote(11, "r1", "i1", {"s1"}).ack(11), "not_in_vote");
  h.start();
  EXPECT_EQ(h.vote(11, "r1", "i1", {"s1"}).ack(11), "not_in_vote") << "status idle";
  h.open_reel("r1", "i1");
  h.join(30);  // a device without a player
  struct row {
    connection_id conn;
    std::string player;  // "" = the conn's own player
    std::string round_id;
    std::string item_id;
    json::array selections;
    std::string expect;
  };
  // i2 has k = 2 but the current item is i1 (k = 1).
  const std::vector<row> rows = {
      {30, "p_s1", "r1", "i1", {"s1"}, "not_claimed"},
      {12, "p_s1", "r1", "i1", {"s1"}, "not_claimed"},
      {11, "p_zz", "r1", "i1", {"s1"}, "not_claimed"},
      {11, "", "r1", "i2", {"s1"}, "late"},
      {11, "", "r0", "i1", {"s1"}, "late"},
      {11, "", "r1", "i1", {"s1", "s2"}, "too_many"},
      {11, "", "r1", "i1", {"s1", 5}, "too_many"},
      {11, "", "r1", "i1", json::array{}, "invalid_selection"},
      {11, "", "r1", "i1", {"s9"}, "invalid_selection"},
      {11, "", "r1", "i1", {"s5"}, "invalid_selection"},  // inactive sender
      {11, "", "r1", "i1", {7}, "invalid_selection"},
      {11, "", "r1", "i1", {"s2"}, "accepted"},
      {11, "", "r1", "i1", {"s1"}, "accepted"},  // overwrites
  };
  for (const row& r : rows) {
    outcome o = h.vote(r.conn, r.round_id, r.item_id, r.selections, r.player);
    EXPECT_EQ(o.ack(r.conn), r.expect) << json::serialize(r.selections) << " " << r.player;
    EXPECT_EQ(o.error_code(r.conn), "") << "vote problems never answer ERROR";
    json::object a = o.sent(r.conn, "VOTE_ACK");
    EXPECT_EQ(a.at("round_id"), r.round_id.c_str());
    EXPECT_EQ(a.at("item_id"), r.item_id.c_str());
    EXPECT_EQ(a.contains("reason"), r.expect != "accepted");
    auto [roles, voted] = o.broadcast("PLAYER_VOTED");
    if (r.expect == "accepted") {
      EXPECT_EQ(roles, master_bit);
      EXPECT_EQ(
          voted,
          (json::object{
              {"code", room_code}, {"round_id", "r1"}, {"item_id", "i1"}, {"player_id", "p_s1"}}));
      EXPECT_TRUE(o.important());
    } else {
      EXPECT_EQ(roles, 0);
    }
  }
  EXPECT_EQ(h.state().votes.at("p_s1"), (std::vector<std::string>{"s1"}));
  EXPECT_EQ(h.state().votes_received, (std::vector<std::string>{"p_s1"}));
  // A duplicate on an item with k = 2.
  h.vote(12, "r1", "i1", {"s1"});
  h.vote(13, "r1", "i1", {"s2"});
  h.vote(14, "r1", "i1", {"s4"});  // closes the vote
  EXPECT_EQ(h.vote(11, "r1", "i1", {"s1"}).ack(11), "not_in_vote") << "closed";
  h.end_item("r1", "i1");
  h.open_reel("r1", "i2");
  EXPECT_EQ(h.vote(11, "r1", "i2", {"s2", "s2"}).ack(11), "invalid_selection");
  EXPECT_EQ(h.vote(11, "r1", "i1", {"s2"}).ack(11), "late");
  EXPECT_EQ(h.vote(11, "r1", "i2", {"s2", "s3"}).ack(11), "accepted");
}

TEST(BrainrotGame, NotExpectedVoterIsAPlayerClaimedAfterTheFreeze) {
  // Claims only move in the lobby, so a restored state is used to build the case: a voter list
  // frozen without p_s4.
  harness h;
  h.started();
  h.open_reel("r1", "i1");
  std::string bytes = h.instance().snapshot();
  json::object root = json::parse(bytes).as_object();
  root["expected_voters"] = json::array{"p_s1", "p_s2", "p_s3"};
  harness r(h.module().restore(json::serialize(root)));
  outcome o = r.vote(14, "r1", "i1", {"s1"});
  EXPECT_EQ(o.ack(14), "not_expected_voter");
}

TEST(BrainrotGame, VoteClosesWhenEveryFrozenVoterVoted) {
  harness h;
  h.started();
  h.open_reel("r1", "i2");  // wrong: still i1
  h.open_reel("r1", "i1");
  h.vote(11, "r1", "i1", {"s1"});
  h.vote(12, "r1", "i1", {"s2"});
  h.vote(13, "r1", "i1", {"s1"});
  EXPECT_EQ(h.state().status, status::vote);
  outcome o = h.vote(14, "r1", "i1", {"s3"});
  EXPECT_EQ(o.ack(14), "accepted");
  auto [roles, p] = o.broadcast("VOTE_RESULTS");
  EXPECT_EQ(roles, master_bit) << "results go to the master only";
  EXPECT_EQ(p.at("true_senders"), (json::array{"s1"}));
  const json::array& players = p.at("players").as_array();
  ASSERT_EQ(players.size(), 4u);
  EXPECT_EQ(players[0], (json::object{{"player_id", "p_s1"},
                                      {"selections", {"s1"}},
                                      {"correct", {"s1"}},
                                      {"incorrect", json::array{}},
                                      {"points_gained", 1},
                                      {"score_total", 1}}));
  EXPECT_EQ(players[1].at("incorrect"), (json::array{"s2"}));
  EXPECT_EQ(players[1].at("points_gained"), 0) << "no penalty";
  EXPECT_TRUE(o.important());
  EXPECT_EQ(h.state().status, status::reveal_wait);
  EXPECT_EQ(h.state().scores.at("p_s1"), 1);
  EXPECT_EQ(h.state().scores.at("p_s3"), 1);
  EXPECT_EQ(h.state().round_points.at("r1").at("p_s3"), 1);
}

TEST(BrainrotGame, PartialCreditOnMultiSenderItems) {
  harness h;
  h.started();
  h.open_reel("r1", "i1");
  for (connection_id c = 11; c <= 14; ++c) h.vote(c, "r1", "i1", {"s1"});
  h.end_item("r1", "i1");
  h.open_reel("r1", "i2");  // true: s2, s3
  h.vote(11, "r1", "i2", {"s2", "s3"});
  h.vote(12, "r1", "i2", {"s3", "s1"});
  h.vote(13, "r1", "i2", {"s4"});
  outcome o = h.vote(14, "r1", "i2", {"s1", "s4"});
  const json::array players = o.broadcast("VOTE_RESULTS").second.at("players").as_array();
  EXPECT_EQ(players[0].at("points_gained"), 2);
  EXPECT_EQ(players[0].at("score_total"), 3);
  EXPECT_EQ(players[1].at("correct"), (json::array{"s3"}));
  EXPECT_EQ(players[1].at("incorrect"), (json::array{"s1"}));
  EXPECT_EQ(players[1].at("points_gained"), 1);
  EXPECT_EQ(players[3].at("points_gained"), 0);
}

TEST(BrainrotGame, EndItemRules) {
  harness h;
  h.started();
  json::object e = h.end_item("r1", "i1").error(master_conn);
  EXPECT_EQ(e.at("error"), "conflict") << "idle";
  EXPECT_EQ(e.at("details").at("status"), "idle");
  h.open_reel("r1", "i1");
  h.vote(11, "r1", "i1", {"s1"});
  EXPECT_EQ(h.end_item("r1", "i9").error_code(master_conn), "bad_request");
  // Beyond the seed: END_ITEM during the vote closes it with the votes received.
  outcome early = h.end_item("r1", "i1");
  auto [roles, p] = early.broadcast("VOTE_RESULTS");
  EXPECT_EQ(roles, master_bit);
  ASSERT_EQ(p.at("players").as_array().size(), 4u);
  EXPECT_EQ(p.at("players").as_array()[0].at("points_gained"), 1);
  EXPECT_EQ(p.at("players").as_array()[1].at("selections"), json::array{}) << "non-voter";
  EXPECT_EQ(p.at("players").as_array()[1].at("points_gained"), 0);
  EXPECT_EQ(h.state().status, status::reveal_wait);
  EXPECT_TRUE(early.broadcast("NEW_ITEM").second.empty()) << "it does not move on yet";
  EXPECT_EQ(h.end_item("r1", "i2").error_code(master_conn), "bad_request");
  outcome next = h.end_item("r1", "i1");
  auto [nroles, item] = next.broadcast("NEW_ITEM");
  EXPECT_EQ(nroles, everyone);
  EXPECT_EQ(item.at("item_index"), 1);
  EXPECT_EQ(item.at("item_id"), "i2");
  EXPECT_EQ(item.at("k"), 2);
  EXPECT_EQ(item.at("slots_total"), 2);
  EXPECT_EQ(h.state().status, status::idle);
  EXPECT_TRUE(next.important());
}

// Plays item `item` of the current round with everyone choosing `choice` for conn 11 and s9-free
// wrong answers for the others, then END_ITEM.
void play_item(harness& h, const std::string& round_id, const std::string& item_id,
               const std::map<connection_id, json::array>& votes) {
  h.open_reel(round_id, item_id);
  for (const auto& [conn, selections] : votes) h.vote(conn, round_id, item_id, selections);
  if (h.state().status == status::vote) h.end_item(round_id, item_id);
}

TEST(BrainrotGame, RoundRecapNextRoundAndGameOverWithTies) {
  harness h;
  h.started();
  // r1: i1 {s1}, i2 {s2,s3}, i3 {s4}.
  play_item(h, "r1", "i1", {{11, {"s1"}}, {12, {"s1"}}, {13, {"s2"}}, {14, {"s1"}}});
  h.end_item("r1", "i1");
  play_item(h, "r1", "i2", {{11, {"s2", "s3"}}, {12, {"s2"}}, {13, {"s4"}}, {14, {"s3"}}});
  h.end_item("r1", "i2");
  play_item(h, "r1", "i3", {{11, {"s1"}}, {12, {"s4"}}, {13, {"s4"}}, {14, {"s1"}}});
  EXPECT_EQ(h.start().error_code(master_conn), "not_in_phase");
  EXPECT_EQ(h.master("START_NEXT_ROUND").error_code(master_conn), "conflict");
  outcome end = h.end_item("r1", "i3");
  auto [rroles, recap] = end.broadcast("ROUND_RECAP");
  EXPECT_EQ(rroles, master_bit);
  EXPECT_EQ(recap.at("round_id"), "r1");
  // p_s1: 1+2+0 = 3; p_s2: 1+1+1 = 3; p_s3: 0+0+1 = 1; p_s4: 1+1+0 = 2.
  EXPECT_EQ(recap.at("players"),
            (json::array{
                {{"player_id", "p_s1"}, {"points_round", 3}, {"score_total", 3}},
                {{"player_id", "p_s2"}, {"points_round", 3}, {"score_total", 3}},
                {{"player_id", "p_s3"}, {"points_round", 1}, {"score_total", 1}},
                {{"player_id", "p_s4"}, {"points_round", 2}, {"score_total", 2}},
            }));
  auto [froles, finished] = end.broadcast("ROUND_FINISHED");
  EXPECT_EQ(froles, play_bit);
  EXPECT_EQ(finished, (json::object{{"code", room_code}, {"round_id", "r1"}}));
  EXPECT_EQ(h.state().status, status::round_recap);
  EXPECT_EQ(h.end_item("r1", "i3").error_code(master_conn), "conflict");
  EXPECT_EQ(h.open_reel("r1", "i3").error_code(master_conn), "conflict");

  outcome next = h.master("START_NEXT_ROUND");
  auto [nroles, item] = next.broadcast("NEW_ITEM");
  EXPECT_EQ(nroles, everyone);
  EXPECT_EQ(item.at("round_id"), "r2");
  EXPECT_EQ(item.at("item_index"), 0);
  EXPECT_TRUE(next.important());
  // r2: j1 {s3}, j2 {s1,s4}.
  play_item(h, "r2", "j1", {{11, {"s3"}}, {12, {"s1"}}, {13, {"s3"}}, {14, {"s3"}}});
  h.end_item("r2", "j1");
  play_item(h, "r2", "j2", {{11, {"s2"}}, {12, {"s1", "s4"}}, {13, {"s1"}}, {14, {"s4"}}});
  // Totals: p_s1 4, p_s2 5, p_s3 3, p_s4 4.
  outcome last = h.end_item("r2", "j2");
  EXPECT_EQ(last.broadcast("ROUND_RECAP").second.at("players").as_array()[1].at("points_round"), 2);
  outcome over = h.master("START_NEXT_ROUND");
  auto [oroles, go] = over.broadcast("GAME_OVER");
  EXPECT_EQ(oroles, everyone);
  EXPECT_EQ(go.at("ranking"), (json::array{
                                  {{"player_id", "p_s2"}, {"score_total", 5}, {"rank", 1}},
                                  {{"player_id", "p_s1"}, {"score_total", 4}, {"rank", 2}},
                                  {{"player_id", "p_s4"}, {"score_total", 4}, {"rank", 2}},
                                  {{"player_id", "p_s3"}, {"score_total", 3}, {"rank", 4}},
                              }));
  EXPECT_EQ(go.at("scores"), (json::object{{"p_s1", 4}, {"p_s2", 5}, {"p_s3", 3}, {"p_s4", 4}}));
  EXPECT_TRUE(over.important());
  EXPECT_EQ(h.state().phase, phase::over);
  EXPECT_EQ(h.master("START_NEXT_ROUND").error_code(master_conn), "not_in_phase");
  EXPECT_EQ(h.vote(11, "r2", "j2", {"s1"}).ack(11), "not_in_vote");
}

TEST(BrainrotGame, InactivePlayersAreNotRankedNorExpected) {
  harness h;
  h.join(11);
  h.take(11, "p_s1");
  h.join(12);
  h.take(12, "p_s2");
  h.master("TOGGLE_PLAYER", {{"player_id", "p_s3"}, {"active", false}});
  h.master("TOGGLE_PLAYER", {{"player_id", "p_s4"}, {"active", false}});
  h.start();
  h.open_reel("r1", "i1");
  EXPECT_EQ(h.state().expected_voters, (std::vector<std::string>{"p_s1", "p_s2"}));
  EXPECT_EQ(h.vote(11, "r1", "i1", {"s3"}).ack(11), "accepted") << "senders stay selectable";
}

TEST(BrainrotGame, DisconnectChangesNothing) {
  harness h;
  h.started();
  h.open_reel("r1", "i1");
  h.vote(11, "r1", "i1", {"s1"});
  const std::string before = h.instance().snapshot();
  outcome o = h.engine_input(input_kind::disconnect, 11);
  EXPECT_TRUE(o.effects.empty());
  EXPECT_EQ(h.instance().snapshot(), before);
  // The device comes back on a new socket and carries on.
  EXPECT_EQ(h.sync(41).sent(41, "STATE_SYNC_RESPONSE").at("my_player_id"), nullptr);
  outcome back = h.send(42, "STATE_SYNC", {{"device_id", "d11"}});
  EXPECT_EQ(back.sent(42, "STATE_SYNC_RESPONSE").at("my_player_id"), "p_s1");
  EXPECT_EQ(h.send(42, "SUBMIT_VOTE",
                   {{"device_id", "d11"},
                    {"player_id", "p_s1"},
                    {"round_id", "r1"},
                    {"item_id", "i1"},
                    {"selections", {"s2"}}})
                .ack(42),
            "accepted");
}

}  // namespace
}  // namespace partyd::brainrot::testing
