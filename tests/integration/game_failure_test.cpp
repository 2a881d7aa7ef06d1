// A game added by one registration line (the probe, tests/support/probe) served by the real
// server binary partyd_probe: its own flag, and what a failing game step does end to end: only
// its room closes (1011), the failure is counted and logged with its input, the room's last good
// snapshot is quarantined (listed by the admin API, never restored at boot), and every other
// room goes on. Also: a no-op step does not move the state version, and a restored room's rng
// continues the sequence its snapshot recorded.
#include <gtest/gtest.h>

#include <boost/json.hpp>

#include "engine/rng.hpp"
#include "support/file_snapshot.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

std::unique_ptr<test_server> start_probe(const std::string& store_dir,
                                         std::vector<std::string> extra = {}) {
  extra.insert(extra.end(), {"--store", "file:" + store_dir, "--log-level", "info"});
  return std::make_unique<test_server>(server_binary{PARTYD_PROBE_BINARY}, std::move(extra));
}

std::string create_probe_room(const test_server& server) {
  const http_result made = server.http("POST", "/api/rooms", R"({"game":"probe"})");
  EXPECT_EQ(made.status, 201) << made.body;
  const json::value reply = made.json();
  return reply.is_object() ? str(reply.as_object(), "roomCode") : std::string();
}

std::unique_ptr<ws_client> join(const test_server& server, const std::string& code) {
  auto client = std::make_unique<ws_client>();
  EXPECT_TRUE(client->connect(server.port(), "/ws/probe"));
  EXPECT_TRUE(client->send(json::object{{"type", "join"}, {"room", code}}));
  EXPECT_TRUE(client->receive_until("welcome")) << "join " << code;
  return client;
}

std::int64_t number(const boost::json::object& frame, std::string_view key) {
  const json::value* v = frame.if_contains(key);
  return v && v->is_number() ? v->to_number<std::int64_t>() : -1;
}

std::uint64_t state_version(const test_server& server, const std::string& code) {
  const json::value room = server.http("GET", "/api/rooms/" + code).json();
  return room.is_object() ? static_cast<std::uint64_t>(number(room.as_object(), "stateVersion"))
                          : 0;
}

TEST(game_registration, a_game_added_by_one_line_serves_its_own_flag) {
  temp_dir dir;
  auto server = start_probe(dir.path(), {"--probe-greeting", "hi there"});
  ASSERT_TRUE(server->started());
  const std::string code = create_probe_room(*server);
  ws_client client;
  ASSERT_TRUE(client.connect(server->port(), "/ws/probe"));
  ASSERT_TRUE(client.send(json::object{{"type", "join"}, {"room", code}}));
  auto welcome = client.receive_until("welcome");
  ASSERT_TRUE(welcome);
  EXPECT_EQ(str(*welcome, "greeting"), "hi there");
  // partyd itself does not know the probe.
  test_server plain;
  ASSERT_TRUE(plain.started());
  EXPECT_EQ(plain.http("POST", "/api/rooms", R"({"game":"probe"})").status, 400);
}

TEST(game_registration, a_games_flag_is_listed_set_by_the_environment_and_checked_by_the_game) {
  const auto [help_status, help] = run_command(std::string(PARTYD_PROBE_BINARY) + " --help");
  EXPECT_EQ(help_status, 0);
  EXPECT_NE(help.find("--probe-greeting"), std::string::npos) << help;
  // `timeout` bounds a start that wrongly succeeds (status 124).
  const auto [status, output] =
      run_command("PARTYD_PROBE_GREETING=" + std::string(65, 'x') + " timeout 10 " +
                  PARTYD_PROBE_BINARY + " --port 0 --bind 127.0.0.1 --store memory");
  EXPECT_EQ(status, 2) << output;
  EXPECT_NE(output.find("--probe-greeting must be at most 64 bytes"), std::string::npos) << output;
}

TEST(limits, an_outbox_smaller_than_a_games_message_limit_stops_the_start) {
  const auto [status, output] = run_command("timeout 10 " + std::string(PARTYD_PROBE_BINARY) +
                                            " --port 0 --bind 127.0.0.1 --store memory"
                                            " --outbox-max-bytes 100000");
  EXPECT_EQ(status, 2) << output;
  EXPECT_NE(output.find("game 'brainrot'"), std::string::npos) << output;
}

TEST(game_failure, a_failing_step_closes_only_its_room_and_quarantines_its_snapshot) {
  temp_dir dir;
  auto server = start_probe(dir.path());
  ASSERT_TRUE(server->started());
  const std::string failing = create_probe_room(*server);
  const std::string healthy = create_probe_room(*server);
  auto a = join(*server, failing);
  auto b = join(*server, healthy);
  ASSERT_TRUE(a->send(json::object{{"type", "bump"}}));
  auto counted = a->receive_until("count");
  ASSERT_TRUE(counted);
  const std::uint64_t good_version = state_version(*server, failing);

  ASSERT_TRUE(a->send(json::object{{"type", "fail"}}));
  const close_info closed = a->expect_closed();
  EXPECT_TRUE(closed.close_frame);
  EXPECT_EQ(closed.code, 1011);
  EXPECT_EQ(closed.reason, "internal_error");

  EXPECT_EQ(server->wait_metric_at_least("partyd_room_failures_total{game=\"probe\"}", 1),
            std::optional<double>(1));
  auto logged = server->wait_log_event("room_failed");
  ASSERT_TRUE(logged);
  EXPECT_EQ(str(*logged, "room"), failing);
  EXPECT_EQ(str(*logged, "error"), "probe asked to fail");
  const json::object& trigger = logged->at("input").as_object();
  EXPECT_EQ(str(trigger, "kind"), "command");
  EXPECT_EQ(str(trigger, "type"), "fail");

  // The other room goes on.
  ASSERT_TRUE(b->send(json::object{{"type", "bump"}}));
  auto other = b->receive_until("count");
  ASSERT_TRUE(other);
  EXPECT_EQ(number(*other, "n"), 1);
  EXPECT_EQ(server->http("GET", "/api/rooms/" + failing).status, 404);

  // Kept aside, not deleted: the snapshot of the last good state.
  std::optional<json::object> quarantined;
  ASSERT_TRUE(eventually([&] {
    const json::value listing = server->http("GET", "/api/quarantine").json();
    if (!listing.is_object() || number(listing.as_object(), "count") != 1) return false;
    quarantined = listing.as_object().at("rooms").as_array().at(0).as_object();
    return true;
  }));
  EXPECT_EQ(str(*quarantined, "roomCode"), failing);
  EXPECT_EQ(str(*quarantined, "game"), "probe");
  EXPECT_EQ(static_cast<std::uint64_t>(number(*quarantined, "stateVersion")), good_version);
  // partyctl lists it too.
  const auto [ctl_status, ctl_output] =
      run_command(std::string(PARTYD_SOURCE_DIR) +
                  "/tools/partyctl --url http://127.0.0.1:" + std::to_string(server->port()) +
                  " --token " + std::string(admin_token) + " quarantine");
  EXPECT_EQ(ctl_status, 0) << ctl_output;
  EXPECT_NE(ctl_output.find(failing), std::string::npos) << ctl_output;
  const partyd::testing::stored_snapshots stored = partyd::testing::read_snapshot_log(dir.path());
  EXPECT_EQ(stored.live.count(failing), 0u);
  ASSERT_EQ(stored.quarantined.count(failing), 1u);
  const std::string kept = stored.quarantined.at(failing);
  EXPECT_NE(kept.find(R"(\"n\":1)"), std::string::npos) << kept;  // before the failing step

  // A restart brings the healthy room back and leaves the failed one in quarantine.
  b->close();
  EXPECT_EQ(server->stop(), 0);
  server = start_probe(dir.path());
  ASSERT_TRUE(server->started());
  EXPECT_EQ(server->http("GET", "/api/rooms/" + failing).status, 404);
  EXPECT_EQ(server->http("GET", "/api/rooms/" + healthy).status, 200);
  const json::value listing = server->http("GET", "/api/quarantine").json();
  ASSERT_TRUE(listing.is_object()) << listing;
  EXPECT_EQ(number(listing.as_object(), "count"), 1);
}

TEST(game_failure, an_effect_on_a_reserved_timer_key_fails_the_room) {
  temp_dir dir;
  auto server = start_probe(dir.path());
  ASSERT_TRUE(server->started());
  const std::string code = create_probe_room(*server);
  auto a = join(*server, code);
  ASSERT_TRUE(a->send(json::object{{"type", "reserved"}}));
  EXPECT_EQ(a->expect_closed().code, 1011);
  auto logged = server->wait_log_event("room_failed");
  ASSERT_TRUE(logged);
  EXPECT_NE(str(*logged, "error").find("reserved timer key"), std::string::npos);
}

TEST(game_failure, the_quarantine_listing_needs_the_admin_token) {
  temp_dir dir;
  auto server = start_probe(dir.path());
  ASSERT_TRUE(server->started());
  EXPECT_EQ(server->http("GET", "/api/quarantine", {}, std::nullopt).status, 401);
  EXPECT_EQ(server->http("POST", "/api/quarantine").status, 405);
  const json::value empty = server->http("GET", "/api/quarantine").json();
  ASSERT_TRUE(empty.is_object());
  EXPECT_EQ(number(empty.as_object(), "count"), 0);
}

TEST(state_version, a_no_op_step_does_not_move_it) {
  temp_dir dir;
  auto server = start_probe(dir.path());
  ASSERT_TRUE(server->started());
  const std::string code = create_probe_room(*server);
  auto a = join(*server, code);
  const std::uint64_t before = state_version(*server, code);
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(a->send(json::object{{"type", "noop"}}));
    ASSERT_TRUE(a->receive_until("noop"));
  }
  EXPECT_EQ(state_version(*server, code), before);
  ASSERT_TRUE(a->send(json::object{{"type", "bump"}}));
  ASSERT_TRUE(a->receive_until("count"));
  EXPECT_EQ(state_version(*server, code), before + 1);
}

TEST(room_rng, a_restored_room_continues_its_sequence) {
  temp_dir dir;
  auto server = start_probe(dir.path());
  ASSERT_TRUE(server->started());
  const std::string code = create_probe_room(*server);
  auto a = join(*server, code);
  ASSERT_TRUE(a->send(json::object{{"type", "draw"}}));
  ASSERT_TRUE(a->receive_until("draw"));  // held until its snapshot is stored
  // The position the snapshot recorded gives the next value.
  const std::optional<std::string> stored = partyd::testing::read_file_snapshot(dir.path(), code);
  ASSERT_TRUE(stored);
  const json::value envelope = json::parse(*stored);
  room_rng::state_type state{};
  const json::array& words = envelope.at("rng").as_array();
  ASSERT_EQ(words.size(), state.size());
  for (std::size_t i = 0; i < state.size(); ++i) {
    state[i] = std::stoull(std::string(words[i].as_string()));
  }
  room_rng expected = room_rng::from_state(state);
  a->drop();
  server->signal(SIGKILL);
  server = start_probe(dir.path());
  ASSERT_TRUE(server->started());
  auto again = join(*server, code);
  ASSERT_TRUE(again->send(json::object{{"type", "draw"}}));
  auto drawn = again->receive_until("draw");
  ASSERT_TRUE(drawn);
  EXPECT_EQ(number(*drawn, "value"), static_cast<std::int64_t>(expected.below(1'000'000)));
}

}  // namespace
}  // namespace partyd::testing
