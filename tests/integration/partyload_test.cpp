// The load generator (tools/partyload) against the real partyd binary: every scenario, small and
// short, must finish with exit status 0, no error and non-zero figures in its JSON line. Also
// the latency histogram and the frame field readers partyload measures with.
#include <sys/wait.h>

#include <cstdio>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "partyload/common.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

struct load_run {
  int status = -1;
  json::object result;
  std::string stderr_text;
};

load_run run_partyload(const test_server& server, const std::string& args) {
  load_run run;
  char pattern[] = "/tmp/partyload-test-XXXXXX";
  const int fd = ::mkstemp(pattern);
  if (fd >= 0) ::close(fd);
  const std::string command = "timeout 60 " + std::string(PARTYLOAD_BINARY) + " --port " +
                              std::to_string(server.port()) + " --token " +
                              std::string(admin_token) + " --server-pid " +
                              std::to_string(server.pid()) + " " + args + " 2>" + pattern;
  std::FILE* pipe = ::popen(command.c_str(), "r");
  if (pipe == nullptr) return run;
  std::string out;
  char buffer[4096];
  while (std::size_t n = std::fread(buffer, 1, sizeof buffer, pipe)) out.append(buffer, n);
  const int raw = ::pclose(pipe);
  run.status = WIFEXITED(raw) ? WEXITSTATUS(raw) : -1;
  std::ifstream err(pattern);
  std::stringstream text;
  text << err.rdbuf();
  run.stderr_text = text.str();
  std::remove(pattern);
  boost::system::error_code ec;
  json::value parsed = json::parse(out, ec);
  if (!ec && parsed.is_object()) run.result = parsed.as_object();
  return run;
}

double number(const json::object& o, std::string_view key) {
  const json::value* v = o.if_contains(key);
  return v == nullptr ? -1 : v->to_number<double>();
}

class partyload_scenarios : public ::testing::Test {
 protected:
  // Every load client comes from 127.0.0.1, and the brainrot scenario creates rooms back to back.
  test_server server{{"--store", "memory", "--rate-limit-messages", "100000000",
                      "--create-rate-per-ip", "0", "--create-quota-per-ip", "0"}};

  load_run expect_clean(const std::string& args) {
    EXPECT_TRUE(server.started());
    load_run run = run_partyload(server, args);
    EXPECT_EQ(run.status, 0) << run.stderr_text;
    EXPECT_EQ(number(run.result, "errors"), 0) << json::serialize(run.result);
    EXPECT_GT(number(run.result, "loadgen_frames_in_per_s"), 0);
    return run;
  }
};

TEST_F(partyload_scenarios, relay_fanout_keeps_its_keys) {
  const load_run run = expect_clean(
      "--scenario relay-fanout --rooms 3 --players 4 --rate 20 --player-rate 2 --duration 1");
  for (const char* key :
       {"to_players_p50_ms", "to_players_p95_ms", "to_players_p99_ms", "to_players_max_ms",
        "to_host_p50_ms", "to_host_p99_ms", "delivered_per_s", "join_s", "server_cpu_percent",
        "server_cpu_us_per_delivery", "server_rss_kib_before", "server_rss_kib_after"}) {
    EXPECT_TRUE(run.result.contains(key)) << key;
  }
  EXPECT_GT(number(run.result, "delivered_per_s"), 100);
  EXPECT_GT(number(run.result, "to_players_p99_ms"), 0);
  EXPECT_GT(number(run.result, "to_host_p99_ms"), 0);
  EXPECT_TRUE(run.result.at("errors_by_code").is_object());
}

TEST_F(partyload_scenarios, brainrot_completes_games) {
  const load_run run =
      expect_clean("--scenario brainrot --rooms 2 --players 3 --think-ms 0 --duration 2");
  EXPECT_GT(number(run.result, "games_completed"), 0);
  EXPECT_GT(number(run.result, "games_per_minute"), 0);
  const json::object& latency = run.result.at("latency").as_object();
  for (const char* command :
       {"CREATE_ROOM", "JOIN_ROOM", "TAKE_PLAYER", "RENAME_PLAYER", "START_GAME", "REEL_OPENED",
        "SUBMIT_VOTE", "END_ITEM", "START_NEXT_ROUND", "ROOM_CLOSED"}) {
    ASSERT_TRUE(latency.contains(command)) << command;
    EXPECT_GT(number(latency.at(command).at("reply").as_object(), "count"), 0) << command;
  }
}

TEST_F(partyload_scenarios, join_storm_joins_everyone) {
  const load_run run =
      expect_clean("--scenario join-storm --rooms 4 --connections 200 --duration 5");
  EXPECT_EQ(number(run.result, "joined"), 200);
  EXPECT_GT(number(run.result, "storm_s"), 0);
}

TEST_F(partyload_scenarios, reconnect_storm_resyncs_everyone) {
  const load_run run =
      expect_clean("--scenario reconnect-storm --rooms 4 --connections 200 --duration 5");
  EXPECT_EQ(number(run.result, "resynced"), 200);
  EXPECT_GT(number(run.result, "storm_s"), 0);
}

// --sessions: players get a session, every numbered frame is checked for gaps, and the storm
// resumes every session with RECONNECT and its backfill.
TEST_F(partyload_scenarios, relay_fanout_with_sessions_delivers_numbered_frames) {
  const load_run run = expect_clean(
      "--scenario relay-fanout --sessions --rooms 3 --players 4 --rate 20 --player-rate 2 "
      "--duration 1");
  EXPECT_EQ(run.result.at("sessions"), true);
  EXPECT_GT(number(run.result, "delivered_per_s"), 100);
  EXPECT_GT(number(run.result, "to_players_p99_ms"), 0);
  EXPECT_GT(number(run.result, "to_host_p99_ms"), 0);
}

TEST_F(partyload_scenarios, reconnect_storm_with_sessions_resumes_everyone) {
  const load_run run = expect_clean(
      "--scenario reconnect-storm --sessions --rooms 4 --connections 200 --duration 5");
  EXPECT_EQ(number(run.result, "resynced"), 200);
  EXPECT_EQ(number(run.result, "resumed_recovered"), 200);
  EXPECT_EQ(number(run.result, "resumed_from_snapshot"), 0);
  EXPECT_GT(number(run.result, "storm_s"), 0);
}

// Sessions' players send heartbeats: with a short heartbeat interval they outlive several
// dead-after windows; without sessions the window does not apply.
TEST(partyload_client, sends_heartbeats_and_stays_connected) {
  test_server server{{"--store", "memory", "--relay-session-heartbeat-ms", "300",
                      "--relay-session-dead-after-ms", "900"}};
  ASSERT_TRUE(server.started());
  const load_run run =
      run_partyload(server, "--scenario idle --sessions --rooms 1 --connections 20 --duration 3");
  EXPECT_EQ(run.status, 0) << run.stderr_text;
  EXPECT_EQ(number(run.result, "errors"), 0) << json::serialize(run.result);
  EXPECT_EQ(number(run.result, "joined"), 20) << json::serialize(run.result);
  EXPECT_GE(number(run.result, "heartbeats_sent"), 20 * 5) << json::serialize(run.result);
}

// Alias rooms play rounds on sessions while players drop and resume every 2 s: every frame is
// numbered without a gap, also across the backfills, and the drops come back.
TEST(partyload_client, alias_plays_rounds_while_players_drop_and_resume) {
  test_server server{{"--store", "memory", "--rate-limit-messages", "100000000",
                      "--create-rate-per-ip", "0", "--create-quota-per-ip", "0",
                      "--alias-countdown-sec", "1"}};
  ASSERT_TRUE(server.started());
  const load_run run = run_partyload(server,
                                     "--scenario alias --rooms 5 --players 6 --round-sec 10 "
                                     "--think-ms 300 --duration 8 --drop-every-s 2");
  EXPECT_EQ(run.status, 0) << run.stderr_text;
  EXPECT_EQ(number(run.result, "errors"), 0) << json::serialize(run.result);
  const json::value* results =
      run.result.contains("delivery")
          ? run.result.at("delivery").as_object().if_contains("WORD_RESULT")
          : nullptr;
  ASSERT_NE(results, nullptr) << json::serialize(run.result);
  EXPECT_GT(number(results->as_object(), "count"), 0);
  EXPECT_GE(number(run.result, "reconnects"), 1) << json::serialize(run.result);
}

TEST_F(partyload_scenarios, idle_reports_rss_per_connection) {
  const load_run run = expect_clean("--scenario idle --rooms 2 --connections 100 --duration 1");
  EXPECT_TRUE(run.result.contains("server_rss_bytes_per_connection"));
}

// partyload answers the server's keep-alive pings: idle clients outlive several idle timeouts.
TEST(partyload_client, answers_pings_and_stays_connected) {
  test_server server{{"--store", "memory", "--idle-timeout-ms", "600"}};
  ASSERT_TRUE(server.started());
  const load_run run =
      run_partyload(server, "--scenario idle --rooms 1 --connections 20 --duration 2");
  EXPECT_EQ(run.status, 0) << run.stderr_text;
  EXPECT_EQ(number(run.result, "errors"), 0) << json::serialize(run.result);
  EXPECT_EQ(number(run.result, "joined"), 20) << json::serialize(run.result);
  EXPECT_EQ(server.metric("partyd_ws_idle_timeouts_total").value_or(-1), 0);
}

TEST(partyload_histogram, percentiles_within_two_percent) {
  partyload::histogram h;
  for (std::int64_t v = 1; v <= 100000; ++v) h.record(v * 1000);  // 1 us .. 100 ms
  const partyload::summary s = partyload::summarize({&h});
  EXPECT_EQ(s.count, 100000u);
  EXPECT_NEAR(s.p50_ms, 50.0, 1.0);
  EXPECT_NEAR(s.p95_ms, 95.0, 1.9);
  EXPECT_NEAR(s.p99_ms, 99.0, 2.0);
  EXPECT_DOUBLE_EQ(s.max_ms, 100.0);
}

TEST(partyload_histogram, buckets_cover_values_in_order) {
  std::size_t last = 0;
  for (std::uint64_t v = 0; v < (std::uint64_t{1} << 41); v = v * 17 / 16 + 1) {
    const std::size_t index = partyload::histogram::index_of(v);
    ASSERT_LT(index, static_cast<std::size_t>(partyload::histogram::size)) << v;
    ASSERT_GE(index, last) << v;
    last = index;
    const auto mid = static_cast<double>(partyload::histogram::value_of(index));
    if (v >= 128 && v < (std::uint64_t{1} << 40)) {
      ASSERT_NEAR(mid, static_cast<double>(v), static_cast<double>(v) / 60) << v;
    }
  }
  EXPECT_EQ(partyload::histogram::index_of(5), 5u);
}

TEST(partyload_fields, reads_strings_and_numbers_by_exact_key) {
  const std::string_view frame =
      R"({"type":"VOTE_ACK","payload":{"code":"K7","round_id":"r1","item_id":"i2","n":-42}})";
  EXPECT_EQ(partyload::frame_type(frame), "VOTE_ACK");
  EXPECT_EQ(partyload::string_field(frame, "item_id"), "i2");
  EXPECT_EQ(partyload::string_field(frame, "id"), "");
  EXPECT_EQ(partyload::string_field(frame, "missing"), "");
  EXPECT_EQ(partyload::int_field(frame, "n"), -42);
  EXPECT_FALSE(partyload::int_field(frame, "code").has_value());
}

// The public Mafia queue at a fast pace: 40 players join within 2 s, are matched into rooms and
// play 4 games to the end on sessions; nobody waits 30 s and the history database gets a record
// of every game that ended. A connection between two rooms for a moment may be closed as a late
// handshake (the server's sweep sees it unbound), and a night action or vote may meet the phase's
// end: both are races, not failures of the scenario.
TEST(partyload_client, mafia_queue_matches_players_and_records_games) {
  temp_dir dir;
  test_server server{{"--store", "memory", "--history", "sqlite:" + dir.path() + "/h.sqlite3",
                      "--max-connections-per-ip", "0", "--rate-limit-messages", "100000000",
                      "--mafia-match-countdown-ms", "1000", "--mafia-match-night-s", "2",
                      "--mafia-match-discussion-s", "1", "--mafia-match-vote-s", "2",
                      "--mafia-match-fill-ms", "2000"}};
  ASSERT_TRUE(server.started());
  const load_run run = run_partyload(
      server, "--scenario mafia --players 40 --join-within-s 2 --games 4 --duration 40");
  ASSERT_TRUE(run.status == 0 || run.status == 1) << run.stderr_text;
  const std::string result = json::serialize(run.result);
  EXPECT_GE(number(run.result, "games_ended"), 4) << result;
  EXPECT_GE(number(run.result, "queue_to_game_p50_ms"), 0) << result;
  EXPECT_GE(number(run.result, "rooms_started"), 4) << result;
  EXPECT_EQ(number(run.result, "waits_over_30s"), 0) << result;
  EXPECT_EQ(number(run.result, "waits_open_over_30s"), 0) << result;
  EXPECT_GE(number(run.result, "historyRecordsWritten"), number(run.result, "games_ended"))
      << result;
  const json::value* codes = run.result.if_contains("errors_by_code");
  ASSERT_NE(codes, nullptr) << result;
  for (const auto& [code, count] : codes->as_object()) {
    const std::string_view c = code;
    const bool race = c == "closed_by_server:1008:handshake_timeout" ||
                      c == "room_error:wrong_phase" || c == "room_error:invalid_target" ||
                      c == "room_error:not_alive";
    EXPECT_TRUE(race) << c << " x" << json::serialize(count) << " in " << result;
  }
}

}  // namespace
}  // namespace partyd::testing
