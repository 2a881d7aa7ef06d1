// Brainrot snapshots: snapshot -> restore -> snapshot is byte-identical in every status, a
// restored room carries on (claims, votes, scores) without connections, malformed bytes give
// nullptr; and seeded determinism: a random log of valid and invalid inputs replayed twice gives
// identical effects and snapshots.
#include <random>

#include "brainrot_harness.hpp"

namespace partyd::brainrot::testing {
namespace {

void expect_round_trip(harness& h, const char* where) {
  const std::string first = h.instance().snapshot();
  EXPECT_EQ(h.instance().snapshot(), first) << where;
  // Written member by member, byte for byte what Boost.JSON makes of the same document.
  EXPECT_EQ(json::serialize(json::parse(first)), first) << where;
  std::unique_ptr<game> restored = h.module().restore(first);
  ASSERT_NE(restored, nullptr) << where;
  EXPECT_EQ(restored->snapshot(), first) << where;
  EXPECT_EQ(restored->summary().connected_by_role[master_role], 0u) << where;
  EXPECT_EQ(restored->summary().seats, h.instance().summary().seats) << where;
}

TEST(BrainrotSnapshot, RoundTripInEveryStatus) {
  harness h;
  expect_round_trip(h, "lobby");
  h.claim_all();
  h.send(11, "RENAME_PLAYER", {{"device_id", "d11"}, {"player_id", "p_s1"}, {"new_name", "Zed"}});
  h.send(12, "UPDATE_AVATAR",
         {{"device_id", "d12"}, {"player_id", "p_s2"}, {"image", "data:image/png;base64,AAA"}});
  expect_round_trip(h, "claimed");
  h.start();
  expect_round_trip(h, "idle");
  h.open_reel("r1", "i1");
  h.vote(12, "r1", "i1", {"s2"});
  h.vote(11, "r1", "i1", {"s1"});
  expect_round_trip(h, "vote");
  h.end_item("r1", "i1");
  expect_round_trip(h, "reveal_wait");
  json::object root = json::parse(h.instance().snapshot()).as_object();
  EXPECT_EQ(root.at("schema"), 1);
  EXPECT_EQ(root.at("game"), "brainrot");
  EXPECT_EQ(str(root.at("master_key_hash")), sha256_tagged(master_secret));
  EXPECT_EQ(root.at("claims").as_object().size(), 4u);
  EXPECT_EQ(root.at("created_at"), t0);
  for (const char* item : {"i1", "i2", "i3"}) {
    if (std::string(item) != "i1") {
      h.open_reel("r1", item);
      h.end_item("r1", item);
    }
    h.end_item("r1", item);
  }
  expect_round_trip(h, "round_recap");
  h.master("START_NEXT_ROUND");
  for (const char* item : {"j1", "j2"}) {
    h.open_reel("r2", item);
    h.end_item("r2", item);
    h.end_item("r2", item);
  }
  h.master("START_NEXT_ROUND");
  expect_round_trip(h, "over");
}

TEST(BrainrotSnapshot, RestoredRoomCarriesOnTheVote) {
  harness h;
  h.started();
  h.open_reel("r1", "i1");
  h.vote(11, "r1", "i1", {"s1"});
  h.vote(12, "r1", "i1", {"s1"});
  harness r(h.module().restore(h.instance().snapshot()));
  // Devices come back by device_id on new sockets; the master by its key.
  json::object sync =
      r.send(101, "STATE_SYNC", {{"device_id", "d13"}}).sent(101, "STATE_SYNC_RESPONSE");
  EXPECT_EQ(sync.at("my_player_id"), "p_s3");
  EXPECT_EQ(sync.at("game").at("status"), "vote");
  json::object master =
      r.send(100, "STATE_SYNC", {{"device_id", "dm"}, {"master_key", master_secret}})
          .sent(100, "STATE_SYNC_RESPONSE");
  EXPECT_EQ(master.at("game").at("votes_received_player_ids"), (json::array{"p_s1", "p_s2"}));
  EXPECT_EQ(r.send(101, "SUBMIT_VOTE",
                   {{"device_id", "d13"},
                    {"player_id", "p_s3"},
                    {"round_id", "r1"},
                    {"item_id", "i1"},
                    {"selections", {"s1"}}})
                .ack(101),
            "accepted");
  outcome last = r.send(102, "SUBMIT_VOTE",
                        {{"device_id", "d14"},
                         {"player_id", "p_s4"},
                         {"round_id", "r1"},
                         {"item_id", "i1"},
                         {"selections", {"s2"}}});
  auto [roles, results] = last.broadcast("VOTE_RESULTS");
  EXPECT_EQ(roles, master_bit);
  EXPECT_EQ(results.at("players").as_array()[0].at("score_total"), 1);
  EXPECT_EQ(r.state().status, status::reveal_wait);
}

TEST(BrainrotSnapshot, MalformedBytesAreRejected) {
  harness h;
  h.started();
  h.open_reel("r1", "i1");
  h.vote(11, "r1", "i1", {"s1"});
  const std::string good = h.instance().snapshot();
  ASSERT_NE(h.module().restore(good), nullptr);
  std::vector<std::function<void(json::object&)>> breakers = {
      [](json::object& r) { r["schema"] = 2; },
      [](json::object& r) { r["game"] = "relay"; },
      [](json::object& r) { r.erase("players"); },
      [](json::object& r) { r["master_key_hash"] = "plain"; },
      [](json::object& r) { r["phase"] = "dancing"; },
      [](json::object& r) { r["round_index"] = 9; },
      [](json::object& r) { r["item_index"] = 9; },
      [](json::object& r) {
        r["round_order"] = json::array{"r1", "r1"};
      },
      [](json::object& r) {
        r["claims"] = json::object{{"p_zz", "d"}};
      },
      [](json::object& r) { r["votes"] = json::object{}; },
      [](json::object& r) {
        r["scores"] = json::object{{"p_s1", "x"}};
      },
      [](json::object& r) {
        r["rounds"]
            .as_array()[0]
            .as_object()["items"]
            .as_array()[0]
            .as_object()["true_sender_ids"] = json::array{"s9"};
      },
  };
  for (std::size_t i = 0; i < breakers.size(); ++i) {
    json::object root = json::parse(good).as_object();
    breakers[i](root);
    EXPECT_EQ(h.module().restore(json::serialize(root)), nullptr) << i;
  }
  EXPECT_EQ(h.module().restore("not json"), nullptr);
  EXPECT_EQ(h.module().restore(good.substr(0, good.size() / 2)), nullptr);
}

// --- seeded determinism ---

struct logged_input {
  input_kind kind = input_kind::command;
  connection_id conn = 0;
  std::string text;
  time_ms advance = 0;
};

std::vector<logged_input> random_log(std::uint64_t seed, std::size_t count) {
  std::mt19937_64 rng(seed);
  auto pick = [&](std::uint64_t bound) { return rng() % bound; };
  const std::vector<std::string> types = {"JOIN_ROOM",        "TAKE_PLAYER",   "RENAME_PLAYER",
                                          "UPDATE_AVATAR",    "TOGGLE_PLAYER", "START_GAME",
                                          "REEL_OPENED",      "SUBMIT_VOTE",   "END_ITEM",
                                          "START_NEXT_ROUND", "STATE_SYNC",    "CREATE_ROOM"};
  const std::vector<std::string> players = {"p_s1", "p_s2", "p_s3", "p_s4", "p_s5", "p_x"};
  const std::vector<std::string> senders = {"s1", "s2", "s3", "s4", "s5", "s9"};
  const std::vector<std::pair<std::string, std::string>> items = {
      {"r1", "i1"}, {"r1", "i2"}, {"r1", "i3"}, {"r2", "j1"}, {"r2", "j2"}, {"r9", "i1"}};
  std::vector<logged_input> log;
  for (std::size_t n = 0; n < count; ++n) {
    logged_input li;
    li.conn = 10 + pick(6);
    li.advance = static_cast<time_ms>(pick(5000));
    if (pick(40) == 0) {
      li.kind = input_kind::disconnect;
      log.push_back(li);
      continue;
    }
    if (pick(200) == 0) {
      li.text = "{broken";
      log.push_back(li);
      continue;
    }
    const std::string& type = types[pick(types.size())];
    const auto& [round_id, item_id] = items[pick(items.size())];
    json::array selections;
    for (std::uint64_t k = pick(3); k > 0; --k)
      selections.emplace_back(senders[pick(senders.size())]);
    json::object payload{{"code", pick(30) == 0 ? "OTHER" : std::string(room_code)},
                         {"device_id", "d" + std::to_string(li.conn)},
                         {"player_id", players[pick(players.size())]},
                         {"new_name", pick(2) ? " New  name " : ""},
                         {"image", pick(2) ? "data:image/png;base64,QQ" : "nope"},
                         {"active", pick(3) != 0},
                         {"round_id", round_id},
                         {"item_id", item_id},
                         {"selections", selections}};
    if (type == "CREATE_ROOM") {
      payload = default_payload();
    }
    if (pick(4) != 0 || type == "START_GAME" || type == "REEL_OPENED" || type == "END_ITEM" ||
        type == "START_NEXT_ROUND") {
      payload["master_key"] = pick(8) == 0 ? std::string("wrong") : std::string(master_secret);
    }
    li.text = envelope(type, payload);
    log.push_back(li);
  }
  return log;
}

struct replay_result {
  std::vector<std::string> effects;
  std::vector<std::string> snapshots;
};

replay_result replay(const std::vector<logged_input>& log) {
  harness h;
  replay_result result;
  for (const logged_input& li : log) {
    h.advance(li.advance);
    outcome o = li.kind == input_kind::disconnect ? h.engine_input(li.kind, li.conn)
                                                  : h.send_text(li.conn, li.text);
    std::string line = o.decode_error.code + "|" + o.decode_error.message;
    for (const effect& e : o.effects) {
      for (const std::string& part :
           {std::to_string(static_cast<int>(e.kind)), std::to_string(e.conn),
            std::to_string(e.roles), std::to_string(e.role)}) {
        line.append("|").append(part);
      }
      line.append(":").append(e.text);
      if (e.frame) line += *e.frame;
    }
    result.effects.push_back(std::move(line));
    result.snapshots.push_back(h.instance().snapshot());
    // Every snapshot restores to the same bytes.
    std::unique_ptr<game> restored = h.module().restore(result.snapshots.back());
    EXPECT_NE(restored, nullptr);
    if (restored) {
      EXPECT_EQ(restored->snapshot(), result.snapshots.back());
    }
  }
  return result;
}

TEST(BrainrotDeterminism, SeededLogsReplayIdentically) {
  std::set<std::string> statuses;
  for (std::uint64_t seed : {1u, 2u, 3u, 42u}) {
    const std::vector<logged_input> log = random_log(seed, 400);
    replay_result a = replay(log);
    replay_result b = replay(log);
    ASSERT_EQ(a.effects.size(), b.effects.size());
    for (std::size_t i = 0; i < a.effects.size(); ++i) {
      ASSERT_EQ(a.effects[i], b.effects[i]) << "seed " << seed << " step " << i;
      ASSERT_EQ(a.snapshots[i], b.snapshots[i]) << "seed " << seed << " step " << i;
      json::object root = json::parse(a.snapshots[i]).as_object();
      statuses.insert(str(root.at("phase")) + "/" + str(root.at("status")));
    }
  }
  // The logs reach the game itself, not only the lobby.
  EXPECT_TRUE(statuses.contains("game/vote")) << statuses.size();
  EXPECT_TRUE(statuses.contains("game/reveal_wait")) << statuses.size();
}

}  // namespace
}  // namespace partyd::brainrot::testing
