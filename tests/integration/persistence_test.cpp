// Persistence end to end (docs/operations.md "Persistence"): the real partyd binary killed with
// SIGKILL (or stopped with SIGTERM) and restarted on the same store, Redis (a real redis-server
// child, tests/support/redis_server) or the embedded file store (a directory shared by both
// server instances). Checks what clients see after the restart, what the store holds (read behind
// partyd's back), store outages, corrupt snapshots, key TTLs and how much state a kill -9 loses.
// Every wait is bounded; the Redis tests are skipped when /usr/bin/redis-server is missing.
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/file_snapshot.hpp"
#include "support/redis_server.hpp"
#include "support/relay_fixture.hpp"
#include "support/temp_dir.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;

constexpr std::string_view key_prefix = "partyd:room:";

// The room's snapshot as stored: the envelope and its "state" string parsed (the relay snapshot).
struct stored_room {
  json::object envelope;
  json::object state;
};

std::optional<stored_room> decode_stored(const std::optional<std::string>& bytes) {
  if (!bytes) return std::nullopt;
  boost::system::error_code ec;
  json::value envelope = json::parse(*bytes, ec);
  if (ec || !envelope.is_object()) return std::nullopt;
  const json::value* state_text = envelope.as_object().if_contains("state");
  if (!state_text || !state_text->is_string()) return std::nullopt;
  json::value state = json::parse(state_text->as_string(), ec);
  if (ec || !state.is_object()) return std::nullopt;
  return stored_room{std::move(envelope.as_object()), std::move(state.as_object())};
}

// The relay's stored game state (schema 2 keeps it as the host's text).
json::value stored_game_state(const stored_room& s) {
  const json::value* text = s.state.if_contains("gameStateText");
  return text && text->is_string() ? json::parse(text->as_string()) : json::value();
}

// A stored seat's player state (schema 4 keeps it as the host's text); null when none.
json::value stored_player_state(const json::value& seat) {
  const json::value* text = seat.as_object().if_contains("playerStateText");
  return text && text->is_string() ? json::parse(text->as_string()) : json::value();
}

// Reads a room's stored bytes behind partyd's back; nullopt when there is none.
using store_reader = std::function<std::optional<std::string>(const std::string& code)>;

store_reader redis_reader(const redis_server& redis) {
  return [&redis](const std::string& code) { return redis.get(std::string(key_prefix) + code); };
}

// The embedded store keeps every room in `<dir>/snapshots.log` (support/file_snapshot.hpp).
store_reader file_reader(const std::string& dir) {
  return [dir](const std::string& code) -> std::optional<std::string> {
    return read_file_snapshot(dir, code);
  };
}

json::object set_game_state(json::object state) {
  return {{"type", "set_game_state"}, {"state", std::move(state)}};
}

json::object set_player_state(const std::string& client_id, json::object state) {
  return {{"type", "set_player_state"}, {"clientId", client_id}, {"state", std::move(state)}};
}

json::object poll_message(const std::string& type, const std::string& id) {
  return {{"type", type}, {"pollId", id}};
}

json::object poll_response(const std::string& id, json::value response) {
  return {{"type", "poll_response"}, {"pollId", id}, {"response", std::move(response)}};
}

json::object to_host(json::value message) {
  return {{"type", "message_to_host"}, {"message", std::move(message)}};
}

std::int64_t int_of(const json::value& value) {
  if (value.is_int64()) return value.as_int64();
  if (value.is_uint64()) return static_cast<std::int64_t>(value.as_uint64());
  return -1;
}

class persistence_test : public relay_fixture {
 protected:
  // SIGKILL, and the process is gone (bounded).
  void kill_server() {
    ASSERT_TRUE(server_);
    server_->signal(SIGKILL);
    const auto status = server_->wait_exit(5s);
    ASSERT_TRUE(status) << "partyd did not die within 5 s of SIGKILL";
    EXPECT_EQ(*status, 128 + SIGKILL);
  }

  json::object ready_json() const {
    const auto reply = server_->http("GET", "/ready", {}, std::nullopt);
    EXPECT_EQ(reply.status, 200) << reply.body;
    const json::value parsed = reply.json();
    return parsed.is_object() ? parsed.as_object() : json::object{};
  }

  // Polls /ready until storeStatus is `status`.
  bool wait_store_status(const std::string& status, std::chrono::milliseconds timeout) const {
    return eventually([&] { return str(ready_json(), "storeStatus") == status; }, timeout);
  }

  // GET /api/rooms: code -> listing.
  std::map<std::string, json::object> listed_rooms() const {
    std::map<std::string, json::object> out;
    const auto reply = server_->http("GET", "/api/rooms");
    EXPECT_EQ(reply.status, 200) << reply.body;
    const json::value parsed = reply.json();
    if (!parsed.is_object() || !parsed.as_object().contains("rooms")) return out;
    for (const auto& item : parsed.as_object().at("rooms").as_array()) {
      out[str(item.as_object(), "roomCode")] = item.as_object();
    }
    return out;
  }

  // Waits until the stored snapshot of `code` satisfies `ok`; returns the last one read.
  std::optional<stored_room> wait_stored(const store_reader& read, const std::string& code,
                                         const std::function<bool(const stored_room&)>& ok,
                                         std::chrono::milliseconds timeout = 5s) {
    std::optional<stored_room> last;
    eventually(
        [&] {
          last = decode_stored(read(code));
          return last && ok(*last);
        },
        timeout);
    return last;
  }

  // Tests 1 and 2: a room with a host, players, audience and a poll survives kill -9.
  void kill_and_restart_keeps_the_room(const std::vector<std::string>& args,
                                       const store_reader& read);
  // Test 3, strict form (disabled, see the known bug below): a room creation and a seat claim
  // survive a kill -9 sent the moment their reply arrives.
  void seat_claim_survives_an_immediate_kill(const std::vector<std::string>& args);
  // Test 3: with only important transitions written, room creation and a seat claim reach the
  // store at once (well within 2 s, against a 60 s interval) and survive kill -9.
  void seat_claim_is_stored_at_once(const std::vector<std::string>& args, const store_reader& read);
};

void persistence_test::kill_and_restart_keeps_the_room(const std::vector<std::string>& args,
                                                       const store_reader& read) {
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room room = create_room({{"password", "pw"}, {"maxPlayers", 2}});
  ASSERT_FALSE(room.code.empty());

  auto host = join_host(room);
  ASSERT_TRUE(host);
  auto alice = join_player(room, {{"password", "pw"}, {"meta", {{"name", "Alice"}}}});
  auto bob = join_player(room, {{"password", "pw"}, {"meta", {{"name", "Bob"}}}});
  auto fan1 = join_audience(room, {{"meta", {{"name", "Fan1"}}}});
  auto fan2 = join_audience(room);
  ASSERT_TRUE(alice && bob && fan1 && fan2);
  for (int i = 0; i < 4; ++i) {
    ASSERT_TRUE(host->receive_until("client_joined"));
  }

  const json::object game_state{{"round", 3}, {"scores", {{"alice", 10}, {"bob", 7}}}};
  const json::object alice_state{{"hand", {"c1", "c2"}}};
  const json::object bob_state{{"hand", {"c9"}}};
  ASSERT_TRUE(host->send(set_game_state(game_state)));
  ASSERT_TRUE(host->send(set_player_state(alice.client_id, alice_state)));
  ASSERT_TRUE(host->send(set_player_state(bob.client_id, bob_state)));
  ASSERT_TRUE(host->send(json::object{{"type", "poll_start"},
                                      {"pollId", "q1"},
                                      {"pollType", "single_choice"},
                                      {"question", "Best colour?"},
                                      {"options", {"Red", "Blue"}}}));
  auto alice_ps = alice->receive_until("player_state");
  ASSERT_TRUE(alice_ps) << "alice got no player_state";
  EXPECT_EQ(alice_ps->at("state"), json::value(alice_state));
  ASSERT_TRUE(bob->receive_until("player_state"));
  for (auto* fan : {&fan1, &fan2}) {
    ASSERT_TRUE((*fan)->receive_until("poll_started"));
    ASSERT_TRUE((*fan)->send(poll_response("q1", "Blue")));
  }
  ASSERT_TRUE(host->receive_until("poll_response"));
  ASSERT_TRUE(host->receive_until("poll_response"));

  // Bob leaves: his seat is freed.
  ASSERT_TRUE(bob->send(json::object{{"type", "leave"}}));
  EXPECT_TRUE(closed_with(*bob.ws, 1000, "left"));
  auto left = host->receive_until("client_left");
  ASSERT_TRUE(left);
  EXPECT_EQ(str(*left, "clientId"), bob.client_id);

  ASSERT_TRUE(host->send(poll_message("poll_results_request", "q1")));
  auto results_before = host->receive_until("poll_results");
  ASSERT_TRUE(results_before);
  EXPECT_EQ(results_before->at("counts"), json::value(json::object{{"Red", 0}, {"Blue", 2}}));

  // Everything reaches the store: the important transitions at once, game state, player states
  // and poll responses within the interval.
  const auto stored = wait_stored(read, room.code, [&](const stored_room& s) {
    const auto& seats = s.state.at("seats").as_array();
    const auto& polls = s.state.at("polls").as_array();
    return json::parse(s.state.at("gameStateText").as_string()) == json::value(game_state) &&
           seats.size() == 1 && stored_player_state(seats[0]) == json::value(alice_state) &&
           polls.size() == 1 && polls[0].as_object().at("responses").as_array().size() == 2;
  });
  ASSERT_TRUE(stored) << "no decodable snapshot of " << room.code;
  ASSERT_EQ(json::parse(stored->state.at("gameStateText").as_string()), json::value(game_state))
      << json::serialize(stored->state);
  EXPECT_GE(server_->metric("partyd_snapshots_written_total").value_or(0), 1);

  const std::string alice_token = alice.seat_token;  // kept by her client across the crash
  ASSERT_NO_FATAL_FAILURE(kill_server());
  host = {};
  alice = {};
  bob = {};
  fan1 = {};
  fan2 = {};

  ASSERT_NO_FATAL_FAILURE(start_server(args));  // returns once /ready is 200
  EXPECT_EQ(str(ready_json(), "storeStatus"), "ok");
  EXPECT_EQ(server_->metric("partyd_snapshots_restored_total").value_or(-1), 1);
  EXPECT_EQ(server_->metric("partyd_snapshot_restore_failures_total").value_or(-1), 0);
  const auto rooms = listed_rooms();
  ASSERT_TRUE(rooms.count(room.code)) << "room " << room.code << " not listed after restart";
  EXPECT_EQ(rooms.at(room.code).at("seats"), json::value(1));

  // The host: same seats (disconnected), same polls, same game state.
  host = join_host(room);
  ASSERT_TRUE(host);
  EXPECT_EQ(host.response.at("gameState"), json::value(game_state));
  const auto& clients = host.response.at("clients").as_array();
  ASSERT_EQ(clients.size(), 1u) << json::serialize(host.response);
  const auto& seat = clients[0].as_object();
  EXPECT_EQ(str(seat, "role"), "player");
  EXPECT_EQ(seat.at("meta"), json::value(json::object{{"name", "Alice"}}));
  EXPECT_EQ(seat.at("connected"), json::value(false));
  const std::string alice_id = str(seat, "clientId");
  EXPECT_EQ(str(stored->state.at("seats").as_array()[0].as_object(), "clientId"), alice_id);
  const auto& polls = host.response.at("polls").as_array();
  ASSERT_EQ(polls.size(), 1u) << json::serialize(host.response);
  EXPECT_EQ(polls[0], json::value(json::object{{"pollId", "q1"},
                                               {"pollType", "single_choice"},
                                               {"question", "Best colour?"},
                                               {"options", {"Red", "Blue"}},
                                               {"active", true}}));

  // Alice reclaims her seat with her clientId and the password; a wrong password is refused.
  {
    auto [wrong, first] = try_handshake(handshake_message(
        room.code, "player",
        {{"password", "nope"}, {"clientId", alice_id}, {"seatToken", alice_token}}));
    ASSERT_TRUE(wrong);
    EXPECT_TRUE(handshake_refused(*wrong, first, "wrong_password"));
  }
  alice =
      join_player(room, {{"password", "pw"}, {"clientId", alice_id}, {"seatToken", alice_token}});
  ASSERT_TRUE(alice);
  EXPECT_EQ(alice.client_id, alice_id);
  EXPECT_EQ(alice.response.at("gameState"), json::value(game_state));
  EXPECT_EQ(alice.response.at("playerState"), json::value(alice_state));
  auto rejoined = host->receive_until("client_joined");
  ASSERT_TRUE(rejoined);
  EXPECT_EQ(rejoined->at("reconnected"), json::value(true));

  // Bob's seat was freed before the kill and stays freed.
  {
    auto [gone, first] = try_handshake(handshake_message(
        room.code, "player",
        {{"password", "pw"}, {"clientId", bob.client_id}, {"seatToken", bob.seat_token}}));
    ASSERT_TRUE(gone);
    EXPECT_TRUE(handshake_refused(*gone, first, "seat_not_found"));
  }

  // The poll results are those from before the kill, and the audience can answer again.
  ASSERT_TRUE(host->send(poll_message("poll_results_request", "q1")));
  auto results_after = host->receive_until("poll_results");
  ASSERT_TRUE(results_after);
  EXPECT_EQ(results_after->at("counts"), results_before->at("counts"));
  EXPECT_EQ(results_after->at("totalResponses"), results_before->at("totalResponses"));
  EXPECT_EQ(results_after->at("active"), json::value(true));

  auto fan3 = join_audience(room);
  ASSERT_TRUE(fan3);
  EXPECT_EQ(fan3.response.at("gameState"), json::value(game_state));
  ASSERT_EQ(fan3.response.at("polls").as_array().size(), 1u) << json::serialize(fan3.response);
  ASSERT_TRUE(host->receive_until("client_joined"));
  ASSERT_TRUE(fan3->send(poll_response("q1", "Red")));
  auto response = host->receive_until("poll_response");
  ASSERT_TRUE(response);
  EXPECT_EQ(response->at("response"), json::value("Red"));
  ASSERT_TRUE(host->send(poll_message("poll_results_request", "q1")));
  auto results_more = host->receive_until("poll_results");
  ASSERT_TRUE(results_more);
  EXPECT_EQ(results_more->at("counts"), json::value(json::object{{"Red", 1}, {"Blue", 2}}));
  EXPECT_EQ(results_more->at("totalResponses"), json::value(3));

  // Limits still hold: the poll id stays taken, maxPlayers counts the restored seat, the rate
  // limit (5 per window, the handshake included) applies to the reconnected player.
  ASSERT_TRUE(host->send(json::object{{"type", "poll_start"},
                                      {"pollId", "q1"},
                                      {"pollType", "free_text"},
                                      {"question", "Again?"}}));
  EXPECT_TRUE(next_is_error(*host.ws, "poll_exists", "poll_start"));
  auto carol = join_player(room, {{"password", "pw"}});
  ASSERT_TRUE(carol);
  ASSERT_TRUE(host->receive_until("client_joined"));
  {
    auto [full, first] =
        try_handshake(handshake_message(room.code, "player", {{"password", "pw"}}));
    ASSERT_TRUE(full);
    EXPECT_TRUE(handshake_refused(*full, first, "room_full"));
  }
  for (int i = 2; i <= 5; ++i) {
    ASSERT_TRUE(alice->send(to_host(i)));
  }
  for (int i = 2; i <= 5; ++i) {
    auto frame = host->receive_until("client_message");
    ASSERT_TRUE(frame);
    EXPECT_EQ(frame->at("message"), json::value(i));
  }
  ASSERT_TRUE(alice->send(to_host(6)));
  EXPECT_TRUE(next_is_error(*alice.ws, "rate_limited"));
  EXPECT_TRUE(host_got_nothing_more(*host.ws));
}

void persistence_test::seat_claim_survives_an_immediate_kill(const std::vector<std::string>& args) {
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room room = create_room();
  ASSERT_FALSE(room.code.empty());
  // Room creation is important too: kill right after the 201.
  ASSERT_NO_FATAL_FAILURE(kill_server());
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  ASSERT_TRUE(listed_rooms().count(room.code)) << "room created just before kill -9 is lost";

  auto player = join_player(room, {{"meta", {{"name", "Dana"}}}});
  ASSERT_TRUE(player);
  const std::string client_id = player.client_id;
  const json::object reclaim = player.reclaim();
  ASSERT_NO_FATAL_FAILURE(kill_server());  // at once: nothing was waited for
  player = {};

  ASSERT_NO_FATAL_FAILURE(start_server(args));
  auto back = join_player(room, reclaim);
  ASSERT_TRUE(back) << "the seat claimed just before kill -9 is lost";
  EXPECT_EQ(back.client_id, client_id);
}

void persistence_test::seat_claim_is_stored_at_once(const std::vector<std::string>& args,
                                                    const store_reader& read) {
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  auto clock_start = std::chrono::steady_clock::now();
  const relay_room room = create_room();
  ASSERT_FALSE(room.code.empty());
  const auto since = [&] {
    return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() -
                                                                 clock_start)
        .count();
  };
  // With a 60 s interval only important transitions are written: both land within 2 s.
  ASSERT_TRUE(wait_stored(
      read, room.code, [](const stored_room&) { return true; }, 2s))
      << "room creation is not in the store 2 s after the 201";
  const auto creation_lag = since();

  clock_start = std::chrono::steady_clock::now();
  auto player = join_player(room, {{"meta", {{"name", "Dana"}}}});
  ASSERT_TRUE(player);
  const std::string client_id = player.client_id;
  const json::object reclaim = player.reclaim();
  const auto seated = [&](const stored_room& s) {
    for (const auto& seat : s.state.at("seats").as_array()) {
      if (str(seat.as_object(), "clientId") == client_id) return true;
    }
    return false;
  };
  ASSERT_TRUE(wait_stored(read, room.code, seated, 2s))
      << "the seat claim is not in the store 2 s after the handshake_response";
  const auto seat_lag = since();
  std::cout << "important_write_lag_ms creation=" << creation_lag << " seat_claim=" << seat_lag
            << " (after the reply; a kill -9 inside this window loses the transition)" << std::endl;
  RecordProperty("seat_claim_write_lag_ms", static_cast<int>(seat_lag));

  ASSERT_NO_FATAL_FAILURE(kill_server());  // right after the write: nothing else waited for
  player = {};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  ASSERT_TRUE(listed_rooms().count(room.code));
  auto back = join_player(room, reclaim);
  ASSERT_TRUE(back) << "the seat claimed before kill -9 is lost";
  EXPECT_EQ(back.client_id, client_id);
  EXPECT_EQ(back.response.at("playerState"), json::value(nullptr));
}

// ---- 1. kill -9 and restart on Redis ----

TEST_F(persistence_test, redis_kill_9_and_restart_keeps_seats_polls_and_state) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  kill_and_restart_keeps_the_room({"--store", redis.url(), "--snapshot-interval-ms", "200",
                                   "--rate-limit-messages", "5", "--rate-limit-window-ms", "60000"},
                                  redis_reader(redis));
}

// ---- 2. the same on the embedded file store ----

TEST_F(persistence_test, file_store_kill_9_and_restart_keeps_seats_polls_and_state) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string data = dir.path() + "/data";
  kill_and_restart_keeps_the_room({"--store", "file:" + data, "--snapshot-interval-ms", "200",
                                   "--rate-limit-messages", "5", "--rate-limit-window-ms", "60000"},
                                  file_reader(data));
}

// ---- 3. exactly after an important transition ----

// With a 60 s interval, a seat claim (and the room creation) reaches the store at once, and
// survives a kill -9 right after it got there.
TEST_F(persistence_test, file_store_seat_claim_is_stored_at_once_and_survives_kill_9) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string data = dir.path() + "/data";
  seat_claim_is_stored_at_once({"--store", "file:" + data, "--snapshot-interval-ms", "60000"},
                               file_reader(data));
}

TEST_F(persistence_test, redis_seat_claim_is_stored_at_once_and_survives_kill_9) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  seat_claim_is_stored_at_once({"--store", redis.url(), "--snapshot-interval-ms", "60000"},
                               redis_reader(redis));
}

// kill -9 the instant the 201 of POST /api/rooms and a player's handshake_response arrive: the
// room and the seat must survive, because replies confirming an important transition are held
// until its snapshot is in the store (before that fix: file store 10/10 runs lost the room,
// Redis 3/10 lost the seat).
TEST_F(persistence_test, file_store_seat_claim_survives_kill_9_right_after_the_reply) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  seat_claim_survives_an_immediate_kill(
      {"--store", "file:" + dir.path() + "/data", "--snapshot-interval-ms", "60000"});
}

TEST_F(persistence_test, redis_seat_claim_survives_kill_9_right_after_the_reply) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  seat_claim_survives_an_immediate_kill(
      {"--store", redis.url(), "--snapshot-interval-ms", "60000"});
}

// ---- 4. Redis down while clients play ----

TEST_F(persistence_test, redis_outage_degrades_then_recovers_without_disturbing_clients) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  ASSERT_NO_FATAL_FAILURE(start_server({"--store", redis.url(), "--snapshot-interval-ms", "200"}));
  const auto reader = redis_reader(redis);

  struct table {
    relay_room room;
    joined host;
    joined player;
    joined fan;
  };
  std::vector<table> tables(2);
  for (auto& t : tables) {
    t.room = create_room();
    t.host = join_host(t.room);
    t.player = join_player(t.room);
    t.fan = join_audience(t.room);
    ASSERT_TRUE(t.host && t.player && t.fan);
    ASSERT_TRUE(t.host->receive_until("client_joined"));
    ASSERT_TRUE(t.host->receive_until("client_joined"));
    ASSERT_TRUE(wait_stored(reader, t.room.code, [](const stored_room&) { return true; }));
  }
  EXPECT_EQ(str(ready_json(), "storeStatus"), "ok");

  redis.kill();
  int round = 0;
  // One exchange per table: host -> player and audience, player -> host. Nothing else may arrive.
  const auto play_round = [&] {
    ++round;
    for (auto& t : tables) {
      const json::object state{{"round", round}, {"room", t.room.code}};
      ASSERT_TRUE(t.host->send(set_game_state(state)));
      for (auto* client : {&t.player, &t.fan}) {
        auto frame = (*client)->receive();
        ASSERT_TRUE(frame) << "no game_state in round " << round;
        EXPECT_EQ(str(*frame, "type"), "game_state") << dump(frame);
        EXPECT_EQ(frame->at("state"), json::value(state));
      }
      ASSERT_TRUE(t.player->send(to_host(round)));
      auto frame = t.host->receive();
      ASSERT_TRUE(frame) << "no client_message in round " << round;
      EXPECT_EQ(str(*frame, "type"), "client_message") << dump(frame);
      EXPECT_EQ(frame->at("message"), json::value(round));
    }
  };
  // Play until the writer noticed (bounded), then a while longer.
  const auto outage_started = std::chrono::steady_clock::now();
  bool degraded = false;
  while (std::chrono::steady_clock::now() - outage_started < 10s) {
    ASSERT_NO_FATAL_FAILURE(play_round());
    std::this_thread::sleep_for(50ms);
    if (str(ready_json(), "storeStatus") == "degraded") {
      degraded = true;
      break;
    }
  }
  ASSERT_TRUE(degraded) << "/ready never said storeStatus degraded while Redis was down";
  // A seat claim (important) during the outage does not wait for the store either.
  auto late = join_player(tables[0].room, {{"meta", {{"name", "Late"}}}});
  ASSERT_TRUE(late);
  ASSERT_TRUE(tables[0].host->receive_until("client_joined"));
  for (int i = 0; i < 10; ++i) {
    ASSERT_NO_FATAL_FAILURE(play_round());
    std::this_thread::sleep_for(30ms);
  }
  EXPECT_GT(server_->metric("partyd_snapshot_store_failures_total").value_or(0), 0);
  EXPECT_EQ(server_->metric("partyd_snapshot_store_up").value_or(-1), 0);
  const auto ready = server_->http("GET", "/ready", {}, std::nullopt);
  EXPECT_EQ(ready.status, 200) << ready.body;

  ASSERT_TRUE(redis.restart());  // same port, empty
  const int last_round = round;
  EXPECT_TRUE(wait_store_status("ok", 10s)) << "storeStatus still not ok 10 s after Redis is back";
  for (auto& t : tables) {
    const json::value expected(json::object{{"round", last_round}, {"room", t.room.code}});
    const auto stored = wait_stored(
        reader, t.room.code, [&](const stored_room& s) { return stored_game_state(s) == expected; },
        5s);
    ASSERT_TRUE(stored) << "no snapshot of " << t.room.code << " in Redis after recovery";
    EXPECT_EQ(stored_game_state(*stored), expected);
  }
  const auto stored0 = decode_stored(reader(tables[0].room.code));
  ASSERT_TRUE(stored0);
  EXPECT_EQ(stored0->state.at("seats").as_array().size(), 2u)
      << "the seat claimed during the outage";
  EXPECT_EQ(server_->metric("partyd_snapshot_store_up").value_or(-1), 1);
  EXPECT_GT(server_->metric("partyd_snapshot_store_retries_total").value_or(0), 0);
  // Nobody was disturbed.
  for (auto& t : tables) {
    EXPECT_TRUE(t.host->is_open() && t.player->is_open() && t.fan->is_open());
    EXPECT_TRUE(host_got_nothing_more(*t.host.ws));
  }
  EXPECT_TRUE(late->is_open());
}

// ---- 5. corrupt snapshots are skipped at boot ----

TEST_F(persistence_test, redis_corrupt_snapshots_are_skipped_at_boot) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  const std::vector<std::string> args = {"--store", redis.url()};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const auto reader = redis_reader(redis);
  std::vector<relay_room> good = {create_room(), create_room()};
  for (const auto& room : good) {
    ASSERT_TRUE(wait_stored(reader, room.code, [](const stored_room&) { return true; }));
  }
  ASSERT_NO_FATAL_FAILURE(kill_server());

  ASSERT_TRUE(redis.set(std::string(key_prefix) + "BADBAD", "not json"));
  // A valid envelope whose crc32 does not match its state.
  auto envelope = json::parse(*reader(good[0].code)).as_object();
  envelope["code"] = "BADCRC";
  envelope["crc32"] = (int_of(envelope.at("crc32")) + 1) % (std::int64_t{1} << 32);
  ASSERT_TRUE(redis.set(std::string(key_prefix) + "BADCRC", json::serialize(envelope)));
  ASSERT_EQ(redis.dbsize().value_or(-1), 5);  // and the store's marker, partyd:room:.marker

  ASSERT_NO_FATAL_FAILURE(start_server(args));
  EXPECT_EQ(server_->metric("partyd_snapshot_restore_failures_total").value_or(-1), 2);
  EXPECT_EQ(server_->metric("partyd_snapshots_restored_total").value_or(-1),
            static_cast<double>(good.size()));
  const auto rooms = listed_rooms();
  EXPECT_EQ(rooms.size(), good.size());
  for (const auto& room : good) {
    EXPECT_TRUE(rooms.count(room.code)) << room.code;
    auto host = join_host(room);
    auto player = join_player(room);
    EXPECT_TRUE(host && player) << room.code;
  }
  EXPECT_FALSE(rooms.count("BADBAD"));
  EXPECT_FALSE(rooms.count("BADCRC"));
}

// ---- 6. key TTLs, and keys of closed rooms are deleted ----

TEST_F(persistence_test, redis_keys_carry_the_inactivity_ttl_and_go_with_their_room) {
  if (!redis_server_available()) GTEST_SKIP() << redis_server_binary << " is missing";
  redis_server redis;
  ASSERT_TRUE(redis.start());
  ASSERT_NO_FATAL_FAILURE(start_server(
      {"--store", redis.url(), "--room-inactivity-ms", "120000", "--snapshot-interval-ms", "200"}));
  const auto reader = redis_reader(redis);
  const relay_room by_host = create_room();
  const relay_room by_admin = create_room();
  auto host = join_host(by_host);
  ASSERT_TRUE(host);
  ASSERT_TRUE(host->send(set_game_state({{"x", 1}})));
  for (const auto& room : {by_host, by_admin}) {
    ASSERT_TRUE(wait_stored(reader, room.code, [](const stored_room&) { return true; }));
  }
  ASSERT_TRUE(wait_stored(reader, by_host.code, [](const stored_room& s) {
    return stored_game_state(s) == json::value(json::object{{"x", 1}});
  }));
  // Room keys: a room code never starts with '.', the store's marker key (.marker, no TTL) does.
  const auto keys = redis.scan(std::string(key_prefix) + "[A-Z0-9]*");
  ASSERT_TRUE(keys);
  EXPECT_EQ(keys->size(), 2u);
  for (const auto& key : *keys) {
    const auto ttl = redis.ttl(key);
    ASSERT_TRUE(ttl) << key;
    EXPECT_GT(*ttl, 0) << key;
    EXPECT_LE(*ttl, 120) << key;
  }

  ASSERT_TRUE(host->send(json::object{{"type", "close_room"}}));
  ASSERT_TRUE(host->receive_until("room_closed"));
  EXPECT_TRUE(eventually([&] { return !reader(by_host.code); }, 5s))
      << "the key of a room closed by its host is still there";

  const auto deleted = server_->http("DELETE", "/api/rooms/" + by_admin.code);
  EXPECT_EQ(deleted.status, 200) << deleted.body;
  EXPECT_TRUE(eventually([&] { return !reader(by_admin.code); }, 5s))
      << "the key of a room closed by the admin API is still there";
  EXPECT_EQ(redis.dbsize().value_or(-1), 1);  // the store's marker, partyd:room:.marker
}

// ---- 6b. upgrade from the per-room files of older versions ----

// A data directory as versions before the log left it (<dir>/<code>.snap) is read into the log
// at the first start: the rooms come back with their state, the host reclaims its room, the
// files are gone, and a second restart serves them from the log alone.
TEST_F(persistence_test, file_store_upgrade_reads_older_per_room_files_into_the_log) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::string data = dir.path() + "/data";
  const std::vector<std::string> args = {"--store", "file:" + data, "--snapshot-interval-ms",
                                         "100"};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room first = create_room();
  const relay_room second = create_room();
  {
    auto host = join_host(first);
    ASSERT_TRUE(host);
    ASSERT_TRUE(host->send(set_game_state({{"round", 7}})));
    const auto reader = file_reader(data);
    ASSERT_TRUE(wait_stored(reader, first.code, [](const stored_room& s) {
      return stored_game_state(s) == json::value(json::object{{"round", 7}});
    }));
  }
  ASSERT_NO_FATAL_FAILURE(kill_server());

  // The same rooms, in the format of the store before the log.
  const partyd::testing::stored_snapshots stored = partyd::testing::read_snapshot_log(data);
  ASSERT_EQ(stored.live.size(), 2u);
  std::filesystem::remove(data + "/snapshots.log");
  for (const auto& [code, value] : stored.live) {
    ASSERT_TRUE(partyd::testing::write_older_snapshot_file(data, code, value));
  }

  for (int boot = 0; boot < 2; ++boot) {
    ASSERT_NO_FATAL_FAILURE(start_server(args));
    EXPECT_EQ(listed_rooms().size(), 2u) << "boot " << boot;
    EXPECT_EQ(server_->metric("partyd_snapshots_restored_total").value_or(-1), 2);
    EXPECT_FALSE(std::filesystem::exists(data + "/" + first.code + ".snap"));
    EXPECT_FALSE(std::filesystem::exists(data + "/" + second.code + ".snap"));
    EXPECT_EQ(partyd::testing::read_snapshot_log(data).live.size(), 2u);
    auto host = join_host(first);
    ASSERT_TRUE(host);
    EXPECT_EQ(host.response.at("gameState"), json::value(json::object{{"round", 7}}));
    host = {};
    ASSERT_NO_FATAL_FAILURE(kill_server());
  }
}

// ---- 7. how much state a kill -9 loses, against the interval ----

class persistence_lost_state_age : public persistence_test,
                                   public ::testing::WithParamInterface<int> {};

TEST_P(persistence_lost_state_age, is_at_most_the_snapshot_interval) {
  const int interval_ms = GetParam();
  constexpr int period_ms = 20;
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::vector<std::string> args = {"--store", "file:" + dir.path() + "/data",
                                         "--snapshot-interval-ms", std::to_string(interval_ms)};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);

  // Kill somewhere in 1.5..3 s of sending: not aligned with the interval.
  std::random_device entropy;
  std::uniform_int_distribution<int> pick(1500, 3000);
  const auto run_for = std::chrono::milliseconds(pick(entropy));
  const auto started = std::chrono::steady_clock::now();
  auto next = started;
  int seq = 0;
  while (std::chrono::steady_clock::now() - started < run_for) {
    ASSERT_TRUE(host->send(set_game_state({{"seq", ++seq}})));
    next += std::chrono::milliseconds(period_ms);
    std::this_thread::sleep_until(next);
  }
  const int last_sent = seq;
  ASSERT_NO_FATAL_FAILURE(kill_server());
  host = {};

  ASSERT_NO_FATAL_FAILURE(start_server(args));
  host = join_host(room);
  ASSERT_TRUE(host);
  const json::value& state = host.response.at("gameState");
  ASSERT_TRUE(state.is_object() && state.as_object().contains("seq"))
      << "no game state restored: " << json::serialize(state);
  const std::int64_t restored = int_of(state.as_object().at("seq"));
  ASSERT_GE(restored, 1);
  ASSERT_LE(restored, last_sent);
  const std::int64_t lost_ms = (last_sent - restored) * period_ms;
  std::cout << "lost_state_age_ms=" << lost_ms << " interval_ms=" << interval_ms
            << " (last sent seq " << last_sent << ", restored seq " << restored << ", killed after "
            << run_for.count() << " ms)" << std::endl;
  RecordProperty("lost_state_age_ms", static_cast<int>(lost_ms));
  RecordProperty("interval_ms", interval_ms);
  EXPECT_LE(lost_ms, interval_ms + 500) << "lost more than the interval plus 500 ms of slack";
}

INSTANTIATE_TEST_SUITE_P(persistence, persistence_lost_state_age, ::testing::Values(200, 500, 1000),
                         [](const ::testing::TestParamInfo<int>& param) {
                           return "interval_" + std::to_string(param.param) + "ms";
                         });

// ---- 8. SIGTERM flushes what the interval would have written later ----

TEST_F(persistence_test, graceful_shutdown_flushes_unimportant_state) {
  temp_dir dir;
  ASSERT_FALSE(dir.path().empty());
  const std::vector<std::string> args = {"--store", "file:" + dir.path() + "/data",
                                         "--snapshot-interval-ms", "60000"};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  const relay_room room = create_room();
  auto host = join_host(room);
  ASSERT_TRUE(host);
  const json::object game_state{{"phase", "voting"}, {"n", 42}};
  ASSERT_TRUE(host->send(set_game_state(game_state)));
  EXPECT_TRUE(host_got_nothing_more(*host.ws));  // the set was processed
  const auto stored = decode_stored(file_reader(dir.path() + "/data")(room.code));
  ASSERT_TRUE(stored) << "room creation is important: it should be stored already";
  EXPECT_EQ(stored_game_state(*stored), json::value(json::object{}))
      << "game state is not important: with a 60 s interval it is not written yet";

  // SIGTERM: the host is closed 1001, the process exits 0 after flushing.
  server_->signal(SIGTERM);
  EXPECT_TRUE(closed_with(*host.ws, 1001, "server_shutdown", 10s));
  const auto status = server_->wait_exit(15s);
  ASSERT_TRUE(status) << "partyd did not exit within 15 s of SIGTERM";
  EXPECT_EQ(*status, 0);
  host = {};
  ASSERT_NO_FATAL_FAILURE(start_server(args));
  host = join_host(room);
  ASSERT_TRUE(host);
  EXPECT_EQ(host.response.at("gameState"), json::value(game_state));
}

}  // namespace
}  // namespace partyd::testing
