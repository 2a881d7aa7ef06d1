// The brainrot game (docs/protocol/brainrot.md) end to end: the real partyd binary and real
// WebSocket clients. One whole game (1 master, 4 devices, 2 rounds of 3 items) with renames, an
// avatar, a toggle, every VOTE_ACK reason reachable through sockets, an early END_ITEM, the
// recaps, GAME_OVER with a tie, STATE_SYNC in every status, ROOM_CLOSED; the same game killed
// with SIGKILL in the middle of a vote and resumed on the same file store; and `/` routing with
// --default-game brainrot. Every wait is bounded.
#include <signal.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/file_snapshot.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

constexpr std::string_view brainrot_path = "/ws/brainrot";

json::object envelope(std::string_view type, json::object payload) {
  return {{"type", type}, {"payload", std::move(payload)}};
}

// 4 active senders and an inactive one; r1 = a {s1}, b {s2,s3}, c {s4}; r2 = d {s3},
// e {s1,s4}, f {s2}.
json::object create_payload() {
  json::array senders;
  const std::vector<std::pair<std::string, std::string>> names = {
      {"s1", "Ann"}, {"s2", "Bob"}, {"s3", "Cat"}, {"s4", "Dan"}, {"s5", "Eve"}};
  for (const auto& [id, name] : names) {
    senders.emplace_back(json::object{
        {"sender_id", id}, {"name", name}, {"active", id != "s5"}, {"reels_count", 2}});
  }
  auto item = [](const std::string& id, std::vector<std::string> truth) {
    json::array t;
    for (auto& s : truth) t.emplace_back(s);
    return json::object{{"item_id", id},
                        {"reel", {{"reel_id", "reel_" + id}, {"url", "https://reels/" + id}}},
                        {"true_sender_ids", std::move(t)}};
  };
  json::array rounds;
  rounds.emplace_back(json::object{
      {"round_id", "r1"},
      {"items", json::array{item("a", {"s1"}), item("b", {"s2", "s3"}), item("c", {"s4"})}}});
  rounds.emplace_back(json::object{
      {"round_id", "r2"},
      {"items", json::array{item("d", {"s3"}), item("e", {"s1", "s4"}), item("f", {"s2"})}}});
  return {{"senders", std::move(senders)}, {"rounds", std::move(rounds)}};
}

// The game state in the embedded store: the room envelope whose "state" is the brainrot
// snapshot.
std::optional<json::object> stored_state(const std::string& dir, const std::string& code) {
  const std::optional<std::string> content = partyd::testing::read_file_snapshot(dir, code);
  if (!content) return std::nullopt;
  boost::system::error_code ec;
  json::value envelope = json::parse(*content, ec);
  if (ec || !envelope.is_object() || !envelope.as_object().contains("state")) return std::nullopt;
  json::value state = json::parse(envelope.as_object().at("state").as_string(), ec);
  if (ec || !state.is_object()) return std::nullopt;
  return state.as_object();
}

// One master and four devices around one room.
class brainrot_table {
 public:
  explicit brainrot_table(std::uint16_t port, std::string path = std::string(brainrot_path))
      : port_(port), path_(std::move(path)) {}

  std::unique_ptr<ws_client> open() {
    auto c = std::make_unique<ws_client>();
    EXPECT_TRUE(c->connect(port_, path_)) << c->last_error();
    return c;
  }

  // Sends `type` with the room code (and the master key for the master).
  void send(ws_client& c, std::string_view type, json::object payload) {
    if (!payload.contains("code")) payload["code"] = code;
    ASSERT_TRUE(c.send(envelope(type, std::move(payload))));
  }
  void master_send(std::string_view type, json::object payload = {}) {
    payload["master_key"] = key;
    send(*master, type, std::move(payload));
  }
  // The payload of the next frame of `type` on `c` (skipping others); empty on timeout.
  static json::object expect(ws_client& c, std::string_view type) {
    auto frame = c.receive_until(type);
    EXPECT_TRUE(frame) << "no " << type << "; skipped " << c.skipped().size();
    if (!frame) return {};
    return frame->at("payload").as_object();
  }
  // The payload of the next frame of `type` for which `ok` holds (skipping others).
  static json::object expect_if(ws_client& c, std::string_view type,
                                const std::function<bool(const json::object&)>& ok) {
    for (int i = 0; i < 64; ++i) {
      json::object payload = expect(c, type);
      if (payload.empty() || ok(payload)) return payload;
    }
    ADD_FAILURE() << "no matching " << type;
    return {};
  }
  static std::function<bool(const json::object&)> about(std::string player) {
    return [player](const json::object& p) {
      return str(p.at("player").as_object(), "player_id") == player;
    };
  }
  // The next frame on `c`, which must be of `type`.
  static json::object next(ws_client& c, std::string_view type) {
    auto frame = c.receive();
    EXPECT_TRUE(frame) << "no frame, expected " << type;
    if (!frame) return {};
    EXPECT_EQ(str(*frame, "type"), type) << json::serialize(*frame);
    return frame->at("payload").as_object();
  }

  void create() {
    master = open();
    ASSERT_TRUE(master->send(envelope("CREATE_ROOM", create_payload())));
    json::object created = next(*master, "ROOM_CREATED");
    code = str(created, "code");
    key = str(created, "master_key");
    ASSERT_EQ(code.size(), 8u);
    EXPECT_EQ(code.find_first_not_of("ABCDEFGHJKLMNPQRSTUVWXYZ23456789"), std::string::npos);
    EXPECT_EQ(key.size(), 32u);
    EXPECT_EQ(str(created, "phase"), "lobby");
    EXPECT_EQ(created.at("players_visible").as_array().size(), 4u);
    EXPECT_EQ(created.at("senders_visible").as_array().size(), 4u);
  }

  static std::string device_id(int i) { return "device-" + std::to_string(i + 1); }
  static std::string player_id(int i) { return "p_s" + std::to_string(i + 1); }

  void join_all() {
    for (int i = 0; i < 4; ++i) {
      dev[i] = open();
      send(*dev[i], "JOIN_ROOM", {{"device_id", device_id(i)}});
      json::object ok = next(*dev[i], "JOIN_OK");
      EXPECT_EQ(str(ok, "code"), code);
      EXPECT_EQ(str(ok, "phase"), "lobby");
    }
  }
  void take(int i, const std::string& player) {
    send(*dev[i], "TAKE_PLAYER", {{"device_id", device_id(i)}, {"player_id", player}});
  }
  // SUBMIT_VOTE; returns "accepted" or the VOTE_ACK reason.
  std::string vote(int i, const std::string& round, const std::string& item, json::array selections,
                   std::string player = {}) {
    send(*dev[i], "SUBMIT_VOTE",
         {{"device_id", device_id(i)},
          {"player_id", player.empty() ? player_id(i) : player},
          {"round_id", round},
          {"item_id", item},
          {"selections", std::move(selections)}});
    json::object ack = expect(*dev[i], "VOTE_ACK");
    if (ack.empty()) return "no ack";
    return ack.at("accepted").as_bool() ? "accepted" : str(ack, "reason");
  }
  // REEL_OPENED and the START_VOTE everyone sees.
  void open_reel(const std::string& round, const std::string& item) {
    master_send("REEL_OPENED", {{"round_id", round}, {"item_id", item}});
    EXPECT_EQ(str(expect(*master, "START_VOTE"), "item_id"), item);
    for (auto& d : dev) EXPECT_EQ(str(expect(*d, "START_VOTE"), "item_id"), item);
  }
  // END_ITEM to the next item: NEW_ITEM for everyone.
  void next_item(const std::string& round, const std::string& item, const std::string& next_id) {
    master_send("END_ITEM", {{"round_id", round}, {"item_id", item}});
    EXPECT_EQ(str(expect(*master, "NEW_ITEM"), "item_id"), next_id);
    for (auto& d : dev) EXPECT_EQ(str(expect(*d, "NEW_ITEM"), "item_id"), next_id);
  }
  json::object sync(ws_client& c, const std::string& device, bool as_master) {
    json::object p{{"device_id", device}};
    if (as_master) p["master_key"] = key;
    send(c, "STATE_SYNC", std::move(p));
    return expect(c, "STATE_SYNC_RESPONSE");
  }
  // STATE_SYNC from the master and from device 0: both views, in `phase`/`status`.
  void check_sync(const std::string& phase, const std::string& status) {
    json::object m = sync(*master, "master-device", true);
    json::object p = sync(*dev[0], device_id(0), false);
    for (json::object* view : {&m, &p}) {
      EXPECT_EQ(str(*view, "phase"), phase) << status;
      EXPECT_EQ(str(view->at("game").as_object(), "status"), status) << phase;
      EXPECT_EQ(view->at("scores").as_object().size(), 5u);
    }
    EXPECT_TRUE(m.contains("players_all") && m.contains("senders_all")) << status;
    EXPECT_FALSE(p.contains("players_all") || p.contains("senders_all")) << status;
    EXPECT_EQ(p.at("my_player_id"), player_id(0).c_str()) << status;
    const json::object& mg = m.at("game").as_object();
    EXPECT_EQ(mg.contains("votes_received_player_ids"), status == "vote");
    EXPECT_EQ(mg.contains("current_vote_results"), status == "reveal_wait");
    EXPECT_FALSE(p.at("game").as_object().contains("votes_received_player_ids"));
    EXPECT_FALSE(p.at("game").as_object().contains("current_vote_results"));
    EXPECT_EQ(phase == "game", !p.at("game").at("item").is_null()) << status;
  }

  std::uint16_t port_;
  std::string path_;
  std::unique_ptr<ws_client> master;
  std::array<std::unique_ptr<ws_client>, 4> dev;
  std::string code;
  std::string key;
};

// The lobby: claims, a rename, an avatar, a toggle, START_GAME.
void play_lobby(brainrot_table& t) {
  for (int i = 0; i < 4; ++i) {
    t.take(i, brainrot_table::player_id(i));
    EXPECT_EQ(str(brainrot_table::expect(*t.dev[i], "TAKE_PLAYER_OK"), "player_id"),
              brainrot_table::player_id(i));
    json::object update = brainrot_table::expect(*t.master, "PLAYER_UPDATE");
    EXPECT_EQ(str(update.at("player").as_object(), "status"), "taken");
  }
  t.check_sync("lobby", "idle");
  // A race for a taken player, a second player for one device.
  t.take(1, "p_s1");
  EXPECT_EQ(str(brainrot_table::expect(*t.dev[1], "TAKE_PLAYER_FAIL"), "reason"), "taken_now");
  t.take(0, "p_s5");
  EXPECT_EQ(str(brainrot_table::expect(*t.dev[0], "TAKE_PLAYER_FAIL"), "reason"), "inactive");
  // Rename (sender-bound: the sender follows) and avatar.
  t.send(*t.dev[0], "RENAME_PLAYER",
         {{"device_id", "device-1"}, {"player_id", "p_s1"}, {"new_name", "  Annie   B  "}});
  json::object renamed =
      brainrot_table::expect_if(*t.dev[2], "PLAYER_UPDATE",
                                [](const json::object& p) { return p.contains("sender_updated"); });
  EXPECT_EQ(str(renamed.at("player").as_object(), "name"), "Annie B");
  EXPECT_EQ(str(renamed.at("sender_updated").as_object(), "name"), "Annie B");
  t.send(*t.dev[1], "RENAME_PLAYER",
         {{"device_id", "device-2"}, {"player_id", "p_s1"}, {"new_name", "Thief"}});
  EXPECT_EQ(str(brainrot_table::expect(*t.dev[1], "ERROR"), "error"), "not_claimed");
  std::string avatar = "data:image/jpeg;base64,";
  avatar.resize(150000, 'Q');
  t.send(*t.dev[1], "UPDATE_AVATAR",
         {{"device_id", "device-2"}, {"player_id", "p_s2"}, {"image", avatar}});
  json::object with_avatar = brainrot_table::expect_if(
      *t.dev[3], "PLAYER_UPDATE",
      [](const json::object& p) { return !p.at("player").at("avatar_url").is_null(); });
  EXPECT_EQ(str(with_avatar.at("player").as_object(), "avatar_url"), avatar);
  t.send(*t.dev[1], "UPDATE_AVATAR",
         {{"device_id", "device-2"}, {"player_id", "p_s2"}, {"image", "http://x.png"}});
  json::object bad = brainrot_table::expect(*t.dev[1], "ERROR");
  EXPECT_EQ(str(bad, "message"), "invalid_avatar");
  EXPECT_EQ(str(bad.at("details").as_object(), "reason"), "bad_prefix");
  // Toggle: device 4 loses its player, gets it back after reactivation.
  t.master_send("TOGGLE_PLAYER", {{"player_id", "p_s4"}, {"active", false}});
  json::object slot = brainrot_table::expect(*t.dev[3], "SLOT_INVALIDATED");
  EXPECT_EQ(str(slot, "reason"), "disabled_or_deleted");
  t.master_send("TOGGLE_PLAYER", {{"player_id", "p_s4"}, {"active", true}});
  EXPECT_FALSE(
      brainrot_table::expect_if(*t.dev[3], "PLAYER_UPDATE", brainrot_table::about("p_s4")).empty());
  t.master_send("START_GAME");
  json::object refused = brainrot_table::expect(*t.master, "ERROR");
  EXPECT_EQ(str(refused, "error"), "forbidden");
  EXPECT_EQ(str(refused, "message"), "active_players_not_claimed");
  t.take(3, "p_s4");
  EXPECT_TRUE(!brainrot_table::expect(*t.dev[3], "TAKE_PLAYER_OK").empty());
  t.master_send("START_GAME");
  EXPECT_EQ(str(brainrot_table::expect(*t.master, "GAME_START"), "code"), t.code);
  EXPECT_EQ(str(brainrot_table::expect(*t.master, "NEW_ITEM"), "item_id"), "a");
  for (auto& d : t.dev) {
    brainrot_table::expect(*d, "GAME_START");
    json::object item = brainrot_table::expect(*d, "NEW_ITEM");
    EXPECT_EQ(item.at("k"), 1);
    EXPECT_EQ(item.at("senders_selectable").as_array().size(), 4u);
  }
  t.check_sync("game", "idle");
}

// Votes the four devices (those with selections), waits for VOTE_RESULTS on the master.
json::object vote_all(brainrot_table& t, const std::string& round, const std::string& item,
                      const std::array<json::array, 4>& votes) {
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(t.vote(i, round, item, votes[i]), "accepted") << item << " " << i;
  }
  return brainrot_table::expect(*t.master, "VOTE_RESULTS");
}

// Round 1, item a up to (not including) the third vote; `interrupt` may restart the server.
void play_game(brainrot_table& t, const std::function<void()>& interrupt) {
  // Item a {s1}: every VOTE_ACK reason the sockets can reach.
  EXPECT_EQ(t.vote(0, "r1", "a", {"s1"}), "not_in_vote");
  t.open_reel("r1", "a");
  EXPECT_EQ(t.vote(0, "r1", "a", {"s1"}, "p_s2"), "not_claimed");
  EXPECT_EQ(t.vote(0, "r1", "b", {"s1"}), "late");
  EXPECT_EQ(t.vote(0, "r1", "a", {"s1", "s2"}), "too_many");
  EXPECT_EQ(t.vote(0, "r1", "a", {"s9"}), "invalid_selection");
  EXPECT_EQ(t.vote(0, "r1", "a", json::array{}), "invalid_selection");
  EXPECT_EQ(t.vote(0, "r1", "a", {"s2"}), "accepted");
  EXPECT_EQ(t.vote(0, "r1", "a", {"s1"}), "accepted") << "a second vote overwrites";
  EXPECT_EQ(t.vote(1, "r1", "a", {"s1"}), "accepted");
  EXPECT_EQ(str(brainrot_table::expect(*t.master, "PLAYER_VOTED"), "player_id"), "p_s1");
  t.check_sync("game", "vote");
  interrupt();
  EXPECT_EQ(t.vote(2, "r1", "a", {"s2"}), "accepted");
  EXPECT_EQ(t.vote(3, "r1", "a", {"s1"}), "accepted");
  json::object results = brainrot_table::expect(*t.master, "VOTE_RESULTS");
  EXPECT_EQ(results.at("true_senders"), (json::array{"s1"}));
  const json::array& players = results.at("players").as_array();
  EXPECT_EQ(players.size(), 4u);
  EXPECT_EQ(players[0].at("points_gained"), 1);
  EXPECT_EQ(players[2].at("incorrect"), (json::array{"s2"}));
  t.check_sync("game", "reveal_wait");
  EXPECT_EQ(t.vote(0, "r1", "a", {"s1"}), "not_in_vote");
  t.next_item("r1", "a", "b");

  // Item b {s2,s3}: two votes, then END_ITEM closes it early (non-voters score 0).
  t.open_reel("r1", "b");
  EXPECT_EQ(t.vote(0, "r1", "b", {"s2", "s3"}), "accepted");
  EXPECT_EQ(t.vote(1, "r1", "b", {"s2"}), "accepted");
  t.master_send("END_ITEM", {{"round_id", "r1"}, {"item_id", "b"}});
  json::object early = brainrot_table::expect(*t.master, "VOTE_RESULTS");
  EXPECT_EQ(early.at("players").as_array()[2].at("selections"), json::array{});
  EXPECT_EQ(early.at("players").as_array()[0].at("points_gained"), 2);
  t.next_item("r1", "b", "c");
  // Item c {s4}. Scores after r1: p1 3, p2 3, p3 1, p4 2.
  t.open_reel("r1", "c");
  vote_all(t, "r1", "c", {json::array{"s1"}, {"s4"}, {"s4"}, {"s4"}});
  t.master_send("END_ITEM", {{"round_id", "r1"}, {"item_id", "c"}});
  json::object recap = brainrot_table::expect(*t.master, "ROUND_RECAP");
  EXPECT_EQ(recap.at("players"),
            (json::array{{{"player_id", "p_s1"}, {"points_round", 3}, {"score_total", 3}},
                         {{"player_id", "p_s2"}, {"points_round", 3}, {"score_total", 3}},
                         {{"player_id", "p_s3"}, {"points_round", 1}, {"score_total", 1}},
                         {{"player_id", "p_s4"}, {"points_round", 2}, {"score_total", 2}}}));
  for (auto& d : t.dev)
    EXPECT_EQ(str(brainrot_table::expect(*d, "ROUND_FINISHED"), "round_id"), "r1");
  t.check_sync("game", "round_recap");

  // Round 2: d {s3}, e {s1,s4}, f {s2}; final p1 5, p2 5, p3 4, p4 5.
  t.master_send("START_NEXT_ROUND");
  EXPECT_EQ(str(brainrot_table::expect(*t.master, "NEW_ITEM"), "round_id"), "r2");
  for (auto& d : t.dev) brainrot_table::expect(*d, "NEW_ITEM");
  t.open_reel("r2", "d");
  vote_all(t, "r2", "d", {json::array{"s3"}, {"s1"}, {"s3"}, {"s3"}});
  t.next_item("r2", "d", "e");
  t.open_reel("r2", "e");
  vote_all(t, "r2", "e", {json::array{"s2"}, {"s1", "s4"}, {"s1"}, {"s4", "s2"}});
  t.next_item("r2", "e", "f");
  t.open_reel("r2", "f");
  vote_all(t, "r2", "f", {json::array{"s2"}, {"s1"}, {"s2"}, {"s2"}});
  t.master_send("END_ITEM", {{"round_id", "r2"}, {"item_id", "f"}});
  brainrot_table::expect(*t.master, "ROUND_RECAP");
  t.master_send("START_NEXT_ROUND");
  json::object over = brainrot_table::expect(*t.master, "GAME_OVER");
  EXPECT_EQ(over.at("ranking"),
            (json::array{{{"player_id", "p_s1"}, {"score_total", 5}, {"rank", 1}},
                         {{"player_id", "p_s2"}, {"score_total", 5}, {"rank", 1}},
                         {{"player_id", "p_s4"}, {"score_total", 5}, {"rank", 1}},
                         {{"player_id", "p_s3"}, {"score_total", 4}, {"rank", 4}}}));
  EXPECT_EQ(over.at("scores"), (json::object{{"p_s1", 5}, {"p_s2", 5}, {"p_s3", 4}, {"p_s4", 5}}));
  for (auto& d : t.dev)
    EXPECT_EQ(brainrot_table::expect(*d, "GAME_OVER").at("ranking"), over.at("ranking"));
  t.check_sync("over", "idle");
}

void close_room(brainrot_table& t, test_server& server) {
  t.master_send("ROOM_CLOSED");
  EXPECT_EQ(str(brainrot_table::expect(*t.master, "ROOM_CLOSED_BROADCAST"), "reason"),
            "closed_by_master");
  for (auto& d : t.dev) {
    EXPECT_EQ(str(brainrot_table::expect(*d, "ROOM_CLOSED_BROADCAST"), "reason"),
              "closed_by_master");
    EXPECT_TRUE(d->expect_closed().closed);
  }
  EXPECT_TRUE(t.master->expect_closed().closed);
  // Gone: a new socket gets room_not_found and stays open.
  auto late = t.open();
  ASSERT_TRUE(late->send(envelope("JOIN_ROOM", {{"code", t.code}, {"device_id", "x"}})));
  EXPECT_EQ(str(brainrot_table::next(*late, "ERROR"), "error"), "room_not_found");
  EXPECT_TRUE(late->is_open());
  (void)server;
}

TEST(brainrot_it, whole_game_through_real_sockets) {
  test_server server;
  ASSERT_TRUE(server.started());
  brainrot_table t(server.port());
  ASSERT_NO_FATAL_FAILURE(t.create());
  t.join_all();
  play_lobby(t);
  play_game(t, [] {});
  close_room(t, server);
}

TEST(brainrot_it, kill_9_in_the_middle_of_a_vote_then_resume) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::vector<std::string> args = {"--store", "file:" + dir.path(), "--snapshot-interval-ms",
                                         "200"};
  auto server = std::make_unique<test_server>(args);
  ASSERT_TRUE(server->started());
  brainrot_table t(server->port());
  ASSERT_NO_FATAL_FAILURE(t.create());
  t.join_all();
  play_lobby(t);
  play_game(t, [&] {
    // The two accepted votes are in the store before the kill.
    ASSERT_TRUE(eventually([&] {
      auto state = stored_state(dir.path(), t.code);
      return state && state->at("votes").as_object().size() == 2;
    })) << "votes never reached the store";
    server->signal(SIGKILL);
    ASSERT_TRUE(server->wait_exit(5s));
    server = std::make_unique<test_server>(args);
    ASSERT_TRUE(server->started());
    t.port_ = server->port();
    // The master comes back by its key, the devices by their device_id.
    t.master = t.open();
    json::object m = t.sync(*t.master, "master-device", true);
    EXPECT_EQ(str(m, "phase"), "game");
    EXPECT_EQ(str(m.at("game").as_object(), "status"), "vote");
    EXPECT_EQ(m.at("game").at("votes_received_player_ids"), (json::array{"p_s1", "p_s2"}));
    for (int i = 0; i < 4; ++i) {
      t.dev[i] = t.open();
      json::object p = t.sync(*t.dev[i], brainrot_table::device_id(i), false);
      EXPECT_EQ(p.at("my_player_id"), brainrot_table::player_id(i).c_str());
      EXPECT_EQ(str(p.at("game").as_object(), "status"), "vote");
    }
  });
  close_room(t, *server);
  // Deleted from the store too.
  EXPECT_TRUE(eventually([&] { return !stored_state(dir.path(), t.code); }));
}

TEST(brainrot_it, default_game_serves_slash_and_errors_keep_the_socket) {
  test_server server({"--default-game", "brainrot"});
  ASSERT_TRUE(server.started());
  brainrot_table t(server.port(), "/");
  auto c = t.open();
  // Refused first messages leave the socket open for a retry.
  ASSERT_TRUE(c->send_raw("not json"));
  json::object e = brainrot_table::next(*c, "ERROR");
  EXPECT_EQ(str(e, "error"), "bad_request");
  EXPECT_EQ(str(e, "message"), "invalid_message");
  ASSERT_TRUE(c->send(envelope("JOIN_ROOM", {{"code", "NOPE2345"}, {"device_id", "d"}})));
  EXPECT_EQ(str(brainrot_table::next(*c, "ERROR"), "error"), "room_not_found");
  json::object bad_create = create_payload();
  bad_create["round_order"] = json::array{"r1"};
  ASSERT_TRUE(c->send(envelope("CREATE_ROOM", bad_create)));
  json::object refused = brainrot_table::next(*c, "ERROR");
  EXPECT_EQ(str(refused.at("details").as_object(), "field"), "round_order");
  // The same socket creates the room at last.
  ASSERT_TRUE(c->send(envelope("CREATE_ROOM", create_payload())));
  json::object created = brainrot_table::next(*c, "ROOM_CREATED");
  t.code = str(created, "code");
  auto d = t.open();
  t.send(*d, "JOIN_ROOM", {{"device_id", "dev"}});
  EXPECT_EQ(str(brainrot_table::next(*d, "JOIN_OK"), "code"), t.code);
  t.send(*d, "JOIN_ROOM", {{"code", "OTHER234"}, {"device_id", "dev"}});
  json::object other = brainrot_table::next(*d, "ERROR");
  EXPECT_EQ(str(other, "message"), "code_mismatch");
  t.send(*d, "NOPE", {});
  EXPECT_EQ(str(brainrot_table::next(*d, "ERROR"), "message"), "unknown_type");
}

}  // namespace
}  // namespace partyd::testing
