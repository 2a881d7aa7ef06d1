// Sessions end to end (docs/protocol/sessions.md) through the real binary, on the relay: clients
// that ask for a session, a fault-injecting client that drops its connection at random points and
// comes back, windows shortened by flags, dropped ACKs, retried commands, and kill -9.
#include <signal.h>

#include <chrono>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/relay_fixture.hpp"
#include "support/session_client.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

// Windows short enough for a test: backfill 300 ms, resume 1.5 s, removal 3 s.
const std::vector<std::string> short_windows = {
    "--relay-session-backfill-ms", "300",  "--relay-session-host-backfill-ms", "300",
    "--relay-session-resume-ms",   "1500", "--relay-session-host-resume-ms",   "3000",
    "--relay-session-away-ms",     "200",  "--relay-session-warning-ms",       "400",
    "--relay-session-removal-ms",  "3000", "--relay-session-ack-timeout-ms",   "200"};

json::object player_handshake(const std::string& room, json::object extra = {}) {
  json::object hs = handshake_message(room, "player", std::move(extra));
  hs["version"] = "1.0";
  return hs;
}

class sessions_test : public relay_fixture {
 protected:
  std::unique_ptr<session_client> session_player(const relay_room& room) {
    auto client = std::make_unique<session_client>(server_->port(), "/ws/relay");
    EXPECT_TRUE(client->open(player_handshake(room.code)));
    return client;
  }
  void set_state(joined& host, int n) {
    ASSERT_TRUE(host->send(json::object{{"type", "set_game_state"}, {"state", {{"n", n}}}}));
  }
};

std::vector<json::object> of_type(const std::vector<json::object>& frames, std::string_view type) {
  std::vector<json::object> out;
  for (const auto& frame : frames) {
    if (str(frame, "type") == type) out.push_back(frame);
  }
  return out;
}

TEST_F(sessions_test, a_player_that_asks_gets_a_session_and_the_others_keep_the_plain_protocol) {
  start_server();
  const relay_room room = create_room();
  joined host = join_host(room);
  ASSERT_TRUE(host);
  auto with_session = session_player(room);
  ASSERT_FALSE(with_session->session_id.empty());
  ASSERT_FALSE(with_session->stream.empty());
  EXPECT_EQ(with_session->stream.front().at("type"), "handshake_response");
  EXPECT_EQ(with_session->numbers.front(), 1u);

  joined plain = join_player(room);
  ASSERT_TRUE(plain);
  set_state(host, 7);
  auto text = plain->receive_text();
  ASSERT_TRUE(text);
  EXPECT_EQ(text->rfind("{\"type\":\"game_state\"", 0), 0u) << *text;  // no sequenceId
  ASSERT_TRUE(with_session->pump_until([&] { return with_session->stream.size() >= 2; }));
  EXPECT_EQ(with_session->stream.back().at("type"), "game_state");
  EXPECT_EQ(with_session->numbers.back(), 2u);

  // A host that sends a version gets no session: its own reconnect holds more than a ring could.
  ws_client host2;
  ASSERT_TRUE(host2.connect(server_->port(), "/ws/relay"));
  json::object hs = handshake_message(room.code, "host", {{"hostKey", room.host_key}});
  hs["version"] = "1.0";
  ASSERT_TRUE(host2.send(hs));
  auto first = host2.receive();
  ASSERT_TRUE(first);
  EXPECT_EQ(first->at("type"), "handshake_response") << dump(first);
  EXPECT_FALSE(first->contains("sequenceId"));
}

TEST_F(sessions_test, an_unsupported_major_is_upgrade_required_and_closed) {
  start_server();
  const relay_room room = create_room();
  ws_client client;
  ASSERT_TRUE(client.connect(server_->port(), "/ws/relay"));
  json::object hs = handshake_message(room.code, "player");
  hs["version"] = "3.0";
  ASSERT_TRUE(client.send(hs));
  auto reply = client.receive();
  ASSERT_TRUE(reply);
  EXPECT_EQ(str(*reply, "code"), "UPGRADE_REQUIRED") << dump(reply);
  const close_info closed = client.expect_closed();
  EXPECT_EQ(closed.code, 1008);
  EXPECT_EQ(closed.reason, "UPGRADE_REQUIRED");
}

// The property: a client that drops at random points and comes back within the backfill window
// ends up with exactly the frames of a client of the same role that never dropped, in order,
// without duplicates, and never with a frame meant for another viewer.
TEST_F(sessions_test, a_client_that_keeps_dropping_ends_up_with_the_frames_of_one_that_never_did) {
  start_server();
  const relay_room room = create_room();
  joined host = join_host(room);
  ASSERT_TRUE(host);
  auto flaky = session_player(room);
  auto steady = session_player(room);
  const std::string flaky_id = str(flaky->stream.front(), "clientId");
  const std::string steady_id = str(steady->stream.front(), "clientId");
  std::mt19937 rng(20261202);
  constexpr int updates = 60;
  int drops = 0;
  for (int n = 1; n <= updates; ++n) {
    set_state(host, n);
    ASSERT_TRUE(host->send(json::object{{"type", "set_player_state"},
                                        {"clientId", steady_id},
                                        {"state", {{"secret", "steady-" + std::to_string(n)}}}}));
    ASSERT_TRUE(host->send(json::object{{"type", "set_player_state"},
                                        {"clientId", flaky_id},
                                        {"state", {{"secret", "flaky-" + std::to_string(n)}}}}));
    if (rng() % 8 == 0) {
      flaky->pump(std::chrono::milliseconds(rng() % 20));  // read some, not all
      flaky->drop();
      ++drops;
      std::this_thread::sleep_for(std::chrono::milliseconds(50 + rng() % 100));
      auto resumed = flaky->resume(room.code);
      ASSERT_TRUE(resumed) << "no answer to RECONNECT after drop " << drops;
      ASSERT_EQ(resumed->at("type"), "RECONNECTED") << json::serialize(*resumed);
      EXPECT_EQ(resumed->at("payload").at("recovered"), true) << json::serialize(*resumed);
    }
  }
  // A checkpoint each must reach: its own last player state, the last frame sent to it.
  auto has_last = [](session_client& c, const std::string& secret) {
    for (const auto& f : c.stream) {
      if (str(f, "type") == "player_state" && str(f.at("state").as_object(), "secret") == secret) {
        return true;
      }
    }
    return false;
  };
  const std::string last = std::to_string(updates);
  ASSERT_TRUE(flaky->pump_until([&] { return has_last(*flaky, "flaky-" + last); }, 10s));
  ASSERT_TRUE(steady->pump_until([&] { return has_last(*steady, "steady-" + last); }, 10s));
  ASSERT_GT(drops, 3);

  EXPECT_EQ(flaky->gaps, 0u);
  const auto flaky_states = of_type(flaky->stream, "game_state");
  const auto steady_states = of_type(steady->stream, "game_state");
  ASSERT_EQ(flaky_states.size(), static_cast<std::size_t>(updates));
  EXPECT_EQ(flaky_states, steady_states);
  const auto mine = of_type(flaky->stream, "player_state");
  ASSERT_EQ(mine.size(), static_cast<std::size_t>(updates));
  for (int n = 1; n <= updates; ++n) {
    EXPECT_EQ(str(mine[n - 1].at("state").as_object(), "secret"), "flaky-" + std::to_string(n));
  }
  for (const auto& frame : flaky->stream) {
    EXPECT_EQ(json::serialize(frame).find("steady-"), std::string::npos) << json::serialize(frame);
  }
  for (std::size_t i = 1; i < flaky->numbers.size(); ++i) {
    EXPECT_EQ(flaky->numbers[i], flaky->numbers[i - 1] + 1);
  }
}

TEST_F(sessions_test, past_the_backfill_window_the_state_and_past_the_resume_window_a_rejoin) {
  start_server(short_windows);
  const relay_room room = create_room();
  joined host = join_host(room);
  ASSERT_TRUE(host);
  auto player = session_player(room);
  const std::string player_id = str(player->stream.front(), "clientId");
  player->drop();
  // Away past the grace: the host hears it.
  auto away = host->receive_until("client_disconnected", 3s);
  ASSERT_TRUE(away);
  EXPECT_EQ(str(*away, "clientId"), player_id);
  set_state(host, 42);
  std::this_thread::sleep_for(700ms);  // past the 300 ms backfill window, inside 1.5 s

  auto snapshot = player->resume(room.code);
  ASSERT_TRUE(snapshot);
  ASSERT_EQ(snapshot->at("type"), "RECONNECTED") << json::serialize(*snapshot);
  const json::object& payload = snapshot->at("payload").as_object();
  EXPECT_TRUE(payload.at("missedEvents").is_null());
  EXPECT_EQ(payload.at("recovered"), false);
  EXPECT_EQ(payload.at("gameState").at("gameState").at("n"), 42);
  EXPECT_EQ(str(payload.at("gameState").as_object(), "clientId"), player_id);
  auto back = host->receive_until("client_joined", 3s);
  ASSERT_TRUE(back);
  EXPECT_EQ(back->at("reconnected"), true);

  player->drop();
  std::this_thread::sleep_for(1800ms);  // past the 1.5 s resume window
  auto expired = player->resume(room.code);
  ASSERT_TRUE(expired);
  ASSERT_EQ(expired->at("type"), "RECONNECT_FAILED") << json::serialize(*expired);
  EXPECT_EQ(expired->at("payload").at("reason"), "SESSION_EXPIRED");
  EXPECT_EQ(expired->at("payload").at("canRejoin"), true);
  const close_info closed = player->ws()->expect_closed();
  EXPECT_EQ(closed.code, 1000);
  EXPECT_EQ(closed.reason, "session_expired");
  // The seat is still the player's: its seat token reclaims it on a new connection.
}

TEST_F(sessions_test, an_unacknowledged_reliable_frame_is_resent_then_the_session_degrades) {
  start_server(short_windows);
  const relay_room room = create_room();
  joined host = join_host(room);
  ASSERT_TRUE(host);
  session_client watcher(server_->port(), "/ws/relay");
  json::object hs = handshake_message(room.code, "audience");
  hs["version"] = "1.0";
  ASSERT_TRUE(watcher.open(hs));
  watcher.acknowledge = false;  // the network eats every ACK
  ASSERT_TRUE(host->send(json::object{{"type", "poll_start"},
                                      {"pollId", "p1"},
                                      {"question", "Which?"},
                                      {"pollType", "single_choice"},
                                      {"options", json::array{"a", "b"}}}));
  ASSERT_TRUE(watcher.pump_until([&] { return watcher.duplicates >= 2; }, 5s));
  ASSERT_EQ(of_type(watcher.stream, "poll_started").size(), 1u);
  EXPECT_TRUE(eventually(
      [&] {
        return server_->metric("partyd_session_events_total{game=\"relay\",event=\"degraded\"}")
                   .value_or(0) >= 1;
      },
      3s));
  // The host's view shows which client it is.
  auto degraded = host->receive_until("client_degraded", 3s);
  ASSERT_TRUE(degraded);
  EXPECT_EQ(degraded->at("role"), "audience");
  ASSERT_FALSE(watcher.stream.empty());
  EXPECT_EQ(degraded->at("clientId"),
            watcher.stream.front().at("clientId"));  // its handshake_response
  // The game goes on: the next frame still arrives.
  set_state(host, 1);
  ASSERT_TRUE(watcher.pump_until([&] { return !of_type(watcher.stream, "game_state").empty(); }));
}

TEST_F(sessions_test, a_command_retried_with_its_client_msg_id_counts_once) {
  start_server();
  const relay_room room = create_room();
  joined host = join_host(room);
  ASSERT_TRUE(host);
  auto player = session_player(room);
  json::object message{{"type", "message_to_host"}, {"message", "vote-a"}, {"clientMsgId", "m-1"}};
  ASSERT_TRUE(player->send(message));
  player->drop();
  auto resumed = player->resume(room.code);
  ASSERT_TRUE(resumed);
  ASSERT_EQ(resumed->at("type"), "RECONNECTED");
  ASSERT_TRUE(player->send(message));  // the retry after the reconnect
  ASSERT_TRUE(player->pump_until(
      [&] { return !of_type(player->unnumbered, "COMMAND_DUPLICATE").empty(); }, 5s));
  ASSERT_TRUE(player->send(json::object{{"type", "message_to_host"}, {"message", "later"}}));
  std::vector<std::string> got;
  while (got.size() < 2) {
    auto frame = host->receive_until("client_message", 3s);
    ASSERT_TRUE(frame) << "host got " << got.size();
    got.push_back(str(*frame, "message"));
  }
  EXPECT_EQ(got, (std::vector<std::string>{"vote-a", "later"}));
}

TEST_F(sessions_test,
       after_kill_9_every_session_resumes_its_seat_and_a_retried_command_counts_once) {
  temp_dir dir;
  const std::vector<std::string> args = {"--store", "file:" + dir.path() + "/data",
                                         "--snapshot-interval-ms", "50"};
  start_server(args);
  const relay_room room = create_room();
  joined host = join_host(room);
  ASSERT_TRUE(host);
  auto player = session_player(room);
  const std::string player_id = str(player->stream.front(), "clientId");
  const std::string old_epoch = player->epoch;
  set_state(host, 5);
  json::object vote{{"type", "message_to_host"}, {"message", "vote-b"}, {"clientMsgId", "m-9"}};
  ASSERT_TRUE(player->send(vote));
  ASSERT_TRUE(host->receive_until("client_message", 3s));
  std::this_thread::sleep_for(400ms);  // several snapshot intervals: the vote is stored

  server_->signal(SIGKILL);
  ASSERT_TRUE(server_->wait_exit(5s));
  player->drop();
  server_ = std::make_unique<test_server>(args);
  ASSERT_TRUE(server_->started());
  session_client again(server_->port(), "/ws/relay");
  again.session_id = player->session_id;
  again.resume_token = player->resume_token;
  again.last_seq = player->last_seq;
  joined host2 = join_host(room);
  ASSERT_TRUE(host2);

  auto resumed = again.resume(room.code);
  ASSERT_TRUE(resumed);
  ASSERT_EQ(resumed->at("type"), "RECONNECTED") << json::serialize(*resumed);
  const json::object& payload = resumed->at("payload").as_object();
  EXPECT_EQ(payload.at("recovered"), false);
  EXPECT_NE(str(payload, "epoch"), old_epoch);
  EXPECT_EQ(str(payload.at("gameState").as_object(), "clientId"), player_id);  // the same seat
  EXPECT_EQ(payload.at("gameState").at("gameState").at("n"), 5);
  auto back = host2->receive_until("client_joined", 3s);
  ASSERT_TRUE(back);
  EXPECT_EQ(str(*back, "clientId"), player_id);

  ASSERT_TRUE(again.send(vote));  // retried: applied before the crash
  ASSERT_TRUE(again.pump_until(
      [&] { return !of_type(again.unnumbered, "COMMAND_DUPLICATE").empty(); }, 5s));
  ASSERT_TRUE(again.send(json::object{{"type", "message_to_host"}, {"message", "after"}}));
  auto next = host2->receive_until("client_message", 3s);
  ASSERT_TRUE(next);
  EXPECT_EQ(str(*next, "message"), "after");  // not vote-b a second time
}

}  // namespace
}  // namespace partyd::testing
