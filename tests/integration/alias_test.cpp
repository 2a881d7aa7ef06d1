// Alias against the real binary (docs/protocol/alias.md), through real sockets on the session
// layer: a whole game in which no player ever sees a word before its WORD_RESULT, and the eight
// QA edge cases of the design (seed 004, 6.3): the host lost mid-round, a resume at 4 s (full
// backfill) and at 6 s (snapshot only), two swipes of one word, version negotiation, every
// player gone at once (the room stays in Redis and the host restarts it), the store unreachable
// mid-round, and a resume to a room this process does not own. Plus a kill -9 mid-round.
#include <signal.h>

#include <chrono>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/redis_server.hpp"
#include "support/session_client.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

std::string str(const json::value& v) { return std::string(v.as_string()); }

std::vector<json::object> of_type(const std::vector<json::object>& frames, std::string_view type) {
  std::vector<json::object> found;
  for (const json::object& f : frames) {
    if (f.at("type").as_string() == type) found.push_back(f);
  }
  return found;
}

// Ten words that no other frame could contain by chance.
json::object custom_pack() {
  json::array words;
  for (int i = 0; i < 10; ++i) {
    std::string text = "Qzword";
    text += static_cast<char>('a' + i);
    words.emplace_back(text);
  }
  return json::object{{"name", "Test words"}, {"words", words}};
}

// The first frame in `frames` that holds a word text (quoted) that no WORD_RESULT before it (or
// in it) said out loud: a leak. Empty when there is none.
std::string first_leak(const std::vector<json::object>& frames,
                       const std::set<std::string>& words) {
  std::set<std::string> said;
  for (const json::object& f : frames) {
    if (f.at("type").as_string() == "WORD_RESULT") {
      said.insert(str(f.at("payload").at("wordText")));
    }
    const std::string text = json::serialize(f);
    for (const std::string& w : words) {
      if (said.count(w) == 0 && text.find("\"" + w + "\"") != std::string::npos) return text;
    }
  }
  return {};
}

class alias_test : public ::testing::Test {
 protected:
  void start(std::vector<std::string> extra = {}) {
    std::vector<std::string> args = {"--alias-countdown-sec", "1"};
    args.insert(args.end(), extra.begin(), extra.end());
    args_ = args;
    server_ = std::make_unique<test_server>(args);
    ASSERT_TRUE(server_->started());
  }
  std::unique_ptr<session_client> client() {
    return std::make_unique<session_client>(server_->port(), "/ws/alias");
  }
  // The host's room: returns its code.
  std::string create(session_client& host, json::object payload) {
    payload["hostName"] = "Hana";
    EXPECT_TRUE(
        host.open(json::object{{"type", "CREATE_ROOM"}, {"version", "1.0"}, {"payload", payload}}));
    auto created = of_type(host.stream, "ROOM_CREATED");
    EXPECT_EQ(created.size(), 1u);
    return created.empty() ? std::string() : str(created[0].at("roomId"));
  }
  std::unique_ptr<session_client> join(const std::string& code, const std::string& name) {
    auto c = client();
    EXPECT_TRUE(c->open(json::object{{"type", "JOIN_ROOM"},
                                     {"roomId", code},
                                     {"version", "1.0"},
                                     {"payload", {{"playerName", name}}}}));
    return c;
  }
  static bool send(session_client& c, std::string_view type, json::object payload = {}) {
    return c.send(json::object{{"type", type}, {"payload", payload}});
  }
  static bool wait_type(session_client& c, std::string_view type, std::size_t count = 1,
                        std::chrono::milliseconds timeout = 5s) {
    return c.pump_until([&] { return of_type(c.stream, type).size() >= count; }, timeout);
  }
  static std::string phase(const json::object& frame) {
    return str(frame.at("payload").at("currentState"));
  }

  // A room with the host and `players` players on 2 teams, the first round running.
  struct table {
    std::string code;
    std::unique_ptr<session_client> host;
    std::vector<std::unique_ptr<session_client>> players;
  };
  table running_round(json::object payload, int players = 4) {
    table t;
    t.host = client();
    t.code = create(*t.host, std::move(payload));
    for (int i = 0; i < players; ++i) {
      std::string name = "P";
      name += std::to_string(i);  // appended: "P" + to_string trips a GCC 12 false -Wrestrict
      t.players.push_back(join(t.code, name));
    }
    EXPECT_TRUE(send(*t.host, "START_TEAM_SETUP", {{"numTeams", 2}}));
    for (int i = 0; i < players; ++i) {
      EXPECT_TRUE(send(*t.players[i], "JOIN_TEAM", {{"teamId", i % 2 ? "team_2" : "team_1"}}));
    }
    EXPECT_TRUE(wait_type(*t.host, "TEAMS_BALANCED"));
    EXPECT_TRUE(send(*t.host, "CONFIRM_START"));
    EXPECT_TRUE(wait_type(*t.host, "WORD_REVEALED"));
    for (auto& p : t.players) EXPECT_TRUE(wait_type(*p, "ROUND_STARTED"));
    return t;
  }
  static std::string current_word_id(session_client& host) {
    return str(of_type(host.stream, "WORD_REVEALED").back().at("payload").at("wordId"));
  }
  static bool swipe(session_client& host, bool guessed = true) {
    return send(host, "WORD_SWIPED",
                {{"wordId", current_word_id(host)}, {"action", guessed ? "guessed" : "skipped"}});
  }
  static void copy_session(const session_client& from, session_client& to) {
    to.session_id = from.session_id;
    to.resume_token = from.resume_token;
    to.last_seq = from.last_seq;
  }

  std::vector<std::string> args_;
  std::unique_ptr<test_server> server_;
};

TEST_F(alias_test, a_whole_game_through_real_sockets_and_no_player_ever_sees_a_word_early) {
  start();
  const json::object pack = custom_pack();
  std::set<std::string> words;
  for (const json::value& w : pack.at("words").as_array()) words.insert(str(w));
  table t = running_round(
      json::object{{"customPack", pack}, {"roundsPerTeam", 1}, {"scoreReviewSec", 1}});
  const json::object created = of_type(t.host->stream, "ROOM_CREATED")[0];
  EXPECT_EQ(str(created.at("payload").at("qrCodeUrl")), "http://localhost:8080/alias/" + t.code);
  // Two rounds, each swiping through the whole pack (pack_exhausted ends it).
  for (int round = 1; round <= 2; ++round) {
    if (round == 2) {
      ASSERT_TRUE(wait_type(*t.host, "NEXT_ROUND_READY"));
      ASSERT_TRUE(send(*t.host, "CONFIRM_START"));
      ASSERT_TRUE(wait_type(*t.host, "WORD_REVEALED", 11));
    }
    for (int i = 0; i < 10; ++i) {
      ASSERT_TRUE(wait_type(*t.host, "WORD_REVEALED", (round - 1) * 10 + i + 1));
      ASSERT_TRUE(swipe(*t.host, i % 3 != 0));
      ASSERT_TRUE(wait_type(*t.host, "WORD_RESULT", (round - 1) * 10 + i + 1));
    }
    ASSERT_TRUE(wait_type(*t.host, "ROUND_ENDED", round));
    EXPECT_EQ(str(of_type(t.host->stream, "ROUND_ENDED").back().at("payload").at("reason")),
              "pack_exhausted");
  }
  ASSERT_TRUE(wait_type(*t.host, "FINAL_RESULTS"));
  const json::object ended = of_type(t.host->stream, "GAME_ENDED").back();
  EXPECT_EQ(ended.at("payload").at("totalWordsPlayed").as_int64(), 20);
  EXPECT_EQ(ended.at("payload").at("finalScores").as_array().size(), 2u);
  for (auto& p : t.players) {
    ASSERT_TRUE(wait_type(*p, "FINAL_RESULTS"));
    EXPECT_EQ(of_type(p->stream, "WORD_RESULT").size(), 20u);
    EXPECT_TRUE(of_type(p->stream, "WORD_REVEALED").empty());
    EXPECT_EQ(first_leak(p->stream, words), "");
    EXPECT_EQ(p->gaps, 0u);
  }
  // The host saw every word as it came up.
  EXPECT_EQ(of_type(t.host->stream, "WORD_REVEALED").size(), 20u);
  EXPECT_GE(server_->metric("partyd_rooms{game=\"alias\"}").value_or(0), 1);
}

TEST_F(alias_test, case1_a_host_lost_mid_round_pauses_it_after_the_window) {
  start({"--alias-session-away-ms", "300", "--alias-host-pause-after-ms", "1500"});
  table t = running_round(json::object{{"roundDurationSec", 60}});
  const auto dropped = std::chrono::steady_clock::now();
  t.host->drop();
  ASSERT_TRUE(wait_type(*t.players[0], "GAME_PAUSED", 1, 10s));
  const auto waited = std::chrono::steady_clock::now() - dropped;
  EXPECT_GE(waited, 1400ms);  // not before the window
  const json::object paused = of_type(t.players[0]->stream, "GAME_PAUSED").back();
  EXPECT_EQ(str(paused.at("payload").at("reason")), "host_disconnected");
  EXPECT_EQ(str(paused.at("payload").at("message")), "Host disconnected");
  // The game goes on for the players: the host comes back with its backfill and resumes.
  session_client back(server_->port(), "/ws/alias");
  copy_session(*t.host, back);
  const auto resumed = back.resume(t.code);
  ASSERT_TRUE(resumed);
  ASSERT_EQ(str(resumed->at("type")), "RECONNECTED") << json::serialize(*resumed);
  EXPECT_TRUE(resumed->at("payload").at("recovered").as_bool());  // the host's 30 s window
  EXPECT_EQ(str(resumed->at("payload").at("currentState")), "ROUND_PAUSED");
  EXPECT_FALSE(of_type(back.stream, "GAME_PAUSED").empty());  // in its missedEvents
  ASSERT_TRUE(send(back, "RESUME_GAME"));
  ASSERT_TRUE(wait_type(*t.players[0], "GAME_RESUMED"));
}

TEST_F(alias_test, case2_and_3_a_resume_at_4_s_gets_every_missed_event_at_6_s_a_snapshot) {
  start();  // the default windows: backfill 5 s, resume 30 s
  table t = running_round(json::object{{"roundDurationSec", 60}});
  auto& soon = *t.players[0];
  auto& late = *t.players[1];
  soon.drop();
  late.drop();
  // The game goes on without them.
  ASSERT_TRUE(swipe(*t.host));
  ASSERT_TRUE(wait_type(*t.host, "WORD_RESULT", 1));
  ASSERT_TRUE(wait_type(*t.host, "WORD_REVEALED", 2));
  ASSERT_TRUE(swipe(*t.host, false));
  ASSERT_TRUE(wait_type(*t.players[2], "WORD_RESULT", 2));
  std::this_thread::sleep_for(4000ms);
  session_client soon_back(server_->port(), "/ws/alias");
  copy_session(soon, soon_back);
  const auto full = soon_back.resume(t.code);
  ASSERT_TRUE(full);
  ASSERT_EQ(str(full->at("type")), "RECONNECTED");
  EXPECT_TRUE(full->at("payload").at("recovered").as_bool());
  const json::array& missed = full->at("payload").at("missedEvents").as_array();
  std::size_t results = 0;
  for (const json::value& e : missed) results += e.at("type") == "WORD_RESULT" ? 1 : 0;
  EXPECT_GE(results, 2u);
  EXPECT_EQ(soon_back.gaps, 0u);

  std::this_thread::sleep_for(2000ms);
  session_client late_back(server_->port(), "/ws/alias");
  copy_session(late, late_back);
  const auto snapshot = late_back.resume(t.code);
  ASSERT_TRUE(snapshot);
  ASSERT_EQ(str(snapshot->at("type")), "RECONNECTED");
  EXPECT_FALSE(snapshot->at("payload").at("recovered").as_bool());
  EXPECT_TRUE(snapshot->at("payload").at("missedEvents").is_null());
  EXPECT_TRUE(snapshot->at("payload").as_object().contains("message"));
  const json::object& state = snapshot->at("payload").at("gameState").as_object();
  EXPECT_EQ(state.at("currentScore").at("team_1").as_int64(), 1);
  EXPECT_GT(state.at("remainingMs").as_int64(), 40000);
  EXPECT_FALSE(state.contains("currentWord"));  // a player's view has no word
  // Both play on: the next result reaches them live.
  ASSERT_TRUE(wait_type(*t.host, "WORD_REVEALED", 3));
  ASSERT_TRUE(swipe(*t.host));
  ASSERT_TRUE(wait_type(soon_back, "WORD_RESULT", results + 1));
  ASSERT_TRUE(
      late_back.pump_until([&] { return !of_type(late_back.stream, "WORD_RESULT").empty(); }));
}

TEST_F(alias_test, case4_two_swipes_of_one_word_the_first_wins_the_second_is_refused) {
  start();
  table t = running_round(json::object{{"roundDurationSec", 60}});
  const std::string id = current_word_id(*t.host);
  const json::object swipe_msg{{"type", "WORD_SWIPED"},
                               {"payload", {{"wordId", id}, {"action", "guessed"}}}};
  ASSERT_TRUE(t.host->send(swipe_msg));
  ASSERT_TRUE(t.host->send(swipe_msg));
  ASSERT_TRUE(t.players[0]->send(swipe_msg));
  ASSERT_TRUE(wait_type(*t.host, "WORD_RESULT"));
  ASSERT_TRUE(wait_type(*t.host, "ERROR"));
  ASSERT_TRUE(wait_type(*t.players[0], "ERROR"));
  t.host->pump(300ms);
  EXPECT_EQ(of_type(t.host->stream, "WORD_RESULT").size(), 1u);
  const json::object refused = of_type(t.host->stream, "ERROR").back();
  EXPECT_EQ(str(refused.at("payload").at("code")), "INVALID_TRANSITION");
  EXPECT_EQ(str(refused.at("payload").at("requestType")), "WORD_SWIPED");
  EXPECT_EQ(str(of_type(t.players[0]->stream, "ERROR").back().at("payload").at("code")),
            "UNAUTHORIZED");
  EXPECT_EQ(of_type(t.host->stream, "WORD_RESULT")[0].at("payload").at("newScore").as_int64(), 1);
}

TEST_F(alias_test, case5_a_client_of_the_next_major_is_refused_one_of_a_newer_minor_served) {
  start();
  ws_client old_server_client;
  ASSERT_TRUE(old_server_client.connect(server_->port(), "/ws/alias"));
  ASSERT_TRUE(old_server_client.send(
      json::object{{"type", "CREATE_ROOM"}, {"version", "2.0"}, {"payload", {{"hostName", "A"}}}}));
  const auto refused = old_server_client.receive();
  ASSERT_TRUE(refused);
  EXPECT_EQ(str(refused->at("type")), "ERROR");
  EXPECT_EQ(str(refused->at("payload").at("code")), "UPGRADE_REQUIRED");
  const close_info closed = old_server_client.expect_closed();
  EXPECT_EQ(closed.code, 1008);
  EXPECT_EQ(closed.reason, "UPGRADE_REQUIRED");

  session_client newer(server_->port(), "/ws/alias");
  ASSERT_TRUE(newer.open(
      json::object{{"type", "CREATE_ROOM"}, {"version", "1.4"}, {"payload", {{"hostName", "B"}}}}));
  ASSERT_FALSE(newer.unnumbered.empty());
  const json::object& connected = newer.unnumbered[0];
  EXPECT_EQ(str(connected.at("type")), "CONNECTED");
  EXPECT_EQ(str(connected.at("payload").at("serverVersion")), "1.0");
  EXPECT_EQ(str(of_type(newer.stream, "ROOM_CREATED")[0].at("version")), "1.0");
}

TEST_F(alias_test, case6_all_ten_players_gone_at_once_the_room_stays_in_redis_and_restarts) {
  if (!redis_server_available()) GTEST_SKIP() << "no redis-server";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  start({"--store", redis.url(), "--snapshot-interval-ms", "50"});
  table t = running_round(json::object{{"roundDurationSec", 60}}, 10);
  // 10 players and the host: an eleventh player is refused.
  ws_client eleventh;
  ASSERT_TRUE(eleventh.connect(server_->port(), "/ws/alias"));
  ASSERT_TRUE(eleventh.send(json::object{
      {"type", "JOIN_ROOM"}, {"roomId", t.code}, {"payload", {{"playerName", "Eleventh"}}}}));
  const auto full = eleventh.receive_until("ERROR");
  ASSERT_TRUE(full);
  EXPECT_EQ(str(full->at("payload").at("code")), "ROOM_FULL");
  for (auto& p : t.players) p->drop();
  ASSERT_TRUE(swipe(*t.host));
  ASSERT_TRUE(wait_type(*t.host, "WORD_RESULT"));
  std::this_thread::sleep_for(300ms);
  const auto stored = redis.get("partyd:room:" + t.code);
  ASSERT_TRUE(stored) << "the room is not in Redis";
  EXPECT_NE(stored->find("ROUND_ACTIVE"), std::string::npos);
  ASSERT_TRUE(send(*t.host, "RESTART_GAME"));
  ASSERT_TRUE(wait_type(*t.host, "GAME_RESTARTED"));
  EXPECT_EQ(phase(of_type(t.host->stream, "GAME_RESTARTED").back()), "LOBBY");
  std::this_thread::sleep_for(300ms);
  EXPECT_NE(redis.get("partyd:room:" + t.code).value_or("").find("LOBBY"), std::string::npos);
}

TEST_F(alias_test, case7_the_store_unreachable_mid_round_is_logged_and_the_game_goes_on) {
  if (!redis_server_available()) GTEST_SKIP() << "no redis-server";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  start({"--store", redis.url(), "--snapshot-interval-ms", "50"});
  table t = running_round(json::object{{"roundDurationSec", 60}});
  redis.kill();
  for (int i = 1; i <= 5; ++i) {
    ASSERT_TRUE(wait_type(*t.host, "WORD_REVEALED", static_cast<std::size_t>(i)));
    ASSERT_TRUE(swipe(*t.host));
    ASSERT_TRUE(wait_type(*t.players[0], "WORD_RESULT", static_cast<std::size_t>(i)));
  }
  ASSERT_TRUE(server_->wait_log_event("store_write_failed", {}, 10s));
  EXPECT_EQ(server_->metric("partyd_snapshot_store_up").value_or(-1), 0);
  EXPECT_GT(server_->metric("partyd_snapshot_pending").value_or(0), 0);
  ASSERT_TRUE(redis.start());
  ASSERT_TRUE(server_->wait_metric_at_least("partyd_snapshot_store_up", 1, 15s));
  for (int i = 0; i < 50; ++i) {
    if (redis.get("partyd:room:" + t.code)) break;
    std::this_thread::sleep_for(100ms);
  }
  const auto stored = redis.get("partyd:room:" + t.code);
  ASSERT_TRUE(stored) << "the queued snapshot never reached Redis";
  // The envelope keeps the room's snapshot as a JSON string: its quotes are escaped.
  EXPECT_NE(stored->find(R"(\"score\":5)"), std::string::npos) << *stored;
}

TEST_F(alias_test, case8_a_resume_to_a_room_this_process_does_not_own_is_refused) {
  start();
  ws_client stray;
  ASSERT_TRUE(stray.connect(server_->port(), "/ws/alias"));
  ASSERT_TRUE(stray.send(json::object{{"type", "RECONNECT"},
                                      {"roomId", "ZZZZZZ"},
                                      {"version", "1.0"},
                                      {"payload",
                                       {{"sessionId", "sess_000000000000000000000000"},
                                        {"resumeToken", std::string(64, 'a')},
                                        {"lastSeqId", 3}}}}));
  const auto refused = stray.receive();
  ASSERT_TRUE(refused);
  EXPECT_EQ(str(refused->at("type")), "RECONNECT_FAILED");
  EXPECT_EQ(str(refused->at("payload").at("reason")), "ROOM_NOT_FOUND");
  EXPECT_FALSE(refused->at("payload").at("canRejoin").as_bool());
  EXPECT_EQ(stray.expect_closed().reason, "room_not_found");

  ws_client joiner;
  ASSERT_TRUE(joiner.connect(server_->port(), "/ws/alias"));
  ASSERT_TRUE(joiner.send(json::object{
      {"type", "JOIN_ROOM"}, {"roomId", "ZZZZZZ"}, {"payload", {{"playerName", "X"}}}}));
  const auto error = joiner.receive();
  ASSERT_TRUE(error);
  EXPECT_EQ(str(error->at("type")), "ERROR");
  EXPECT_EQ(str(error->at("payload").at("code")), "ROOM_NOT_FOUND");
  EXPECT_EQ(str(error->at("roomId")), "ZZZZZZ");
}

TEST_F(alias_test, rooms_made_from_browsers_are_bounded_per_address) {
  start({"--create-rate-per-ip", "2"});
  std::vector<std::unique_ptr<session_client>> hosts;
  for (int i = 0; i < 2; ++i) {
    hosts.push_back(client());
    EXPECT_EQ(create(*hosts.back(), json::object{}).size(), 6u);
  }
  ws_client third;
  ASSERT_TRUE(third.connect(server_->port(), "/ws/alias"));
  ASSERT_TRUE(third.send(json::object{{"type", "CREATE_ROOM"}, {"payload", {{"hostName", "C"}}}}));
  const auto refused = third.receive_until("ERROR");
  ASSERT_TRUE(refused);
  EXPECT_EQ(str(refused->at("payload").at("code")), "CREATE_RATE_LIMITED");
  EXPECT_EQ(server_->metric("partyd_rooms{game=\"alias\"}").value_or(0), 2);
}

TEST_F(alias_test, after_kill_9_the_round_resumes_with_its_deadline_and_current_word) {
  temp_dir dir;
  start({"--store", "file:" + dir.path() + "/data", "--snapshot-interval-ms", "50"});
  table t = running_round(json::object{{"roundDurationSec", 120}});
  ASSERT_TRUE(swipe(*t.host));
  ASSERT_TRUE(wait_type(*t.host, "WORD_REVEALED", 2));
  const json::object started = of_type(t.host->stream, "ROUND_STARTED").back();
  const json::object word = of_type(t.host->stream, "WORD_REVEALED").back();
  std::this_thread::sleep_for(300ms);  // a swipe is written at once
  server_->signal(SIGKILL);
  ASSERT_TRUE(server_->wait_exit(5s));
  t.host->drop();
  for (auto& p : t.players) p->drop();
  server_ = std::make_unique<test_server>(args_);
  ASSERT_TRUE(server_->started());

  session_client host(server_->port(), "/ws/alias");
  copy_session(*t.host, host);
  const auto resumed = host.resume(t.code);
  ASSERT_TRUE(resumed);
  ASSERT_EQ(str(resumed->at("type")), "RECONNECTED") << json::serialize(*resumed);
  EXPECT_FALSE(resumed->at("payload").at("recovered").as_bool());  // a restart: the snapshot
  EXPECT_EQ(str(resumed->at("payload").at("currentState")), "ROUND_ACTIVE");
  const json::object& state = resumed->at("payload").at("gameState").as_object();
  EXPECT_EQ(state.at("roundEndsAt"), started.at("payload").at("roundEndsAt"));
  EXPECT_EQ(state.at("currentWord").at("wordId"), word.at("payload").at("wordId"));
  EXPECT_EQ(state.at("currentWord").at("wordText"), word.at("payload").at("wordText"));
  EXPECT_EQ(state.at("currentScore").at("team_1").as_int64(), 1);

  session_client player(server_->port(), "/ws/alias");
  copy_session(*t.players[0], player);
  const auto back = player.resume(t.code);
  ASSERT_TRUE(back);
  ASSERT_EQ(str(back->at("type")), "RECONNECTED");
  const json::object& view = back->at("payload").at("gameState").as_object();
  EXPECT_EQ(view.at("currentWordId"), word.at("payload").at("wordId"));
  EXPECT_EQ(json::serialize(view).find(str(word.at("payload").at("wordText"))), std::string::npos);
  // The round goes on with the same word.
  ASSERT_TRUE(host.send(json::object{
      {"type", "WORD_SWIPED"},
      {"payload", {{"wordId", word.at("payload").at("wordId")}, {"action", "guessed"}}}}));
  ASSERT_TRUE(player.pump_until([&] { return !of_type(player.stream, "WORD_RESULT").empty(); }));
  EXPECT_EQ(of_type(player.stream, "WORD_RESULT")[0].at("payload").at("newScore").as_int64(), 2);
}

}  // namespace
}  // namespace partyd::testing
