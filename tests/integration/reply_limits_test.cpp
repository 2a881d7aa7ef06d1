// The largest replies through real sockets against the real binary: a relay host that reconnects
// to a full room or a full queue gets all of it (no slow-consumer cut, nothing lost in delivery),
// a brainrot room holding every avatar it accepts can still be joined and synced, and a server
// whose games' largest replies do not fit --outbox-max-bytes refuses to start.
#include <sys/wait.h>

#include <cstdio>
#include <string>
#include <utility>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "support/relay_fixture.hpp"
#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {
namespace {

namespace json = boost::json;
using namespace std::chrono_literals;

class reply_limits_test : public relay_fixture {};

TEST_F(reply_limits_test, a_host_reconnecting_to_a_full_queue_gets_every_queued_message) {
  start_server();
  const relay_room room = create_room();
  auto player = join_player(room);
  ASSERT_TRUE(player);
  // 40 messages of 60 KB while no host is connected: the queue keeps the newest that fit its
  // 320 KiB; the others are dropped when queued (counted), never in the delivery.
  const std::string blob(60000, 'q');
  for (int i = 0; i < 40; ++i) {
    ASSERT_TRUE(player->send(json::object{{"type", "message_to_host"},
                                          {"message", json::object{{"n", i}, {"blob", blob}}}}));
  }
  const double dropped =
      server_
          ->wait_metric_at_least(
              R"(partyd_game_events_total{game="relay",event="relay_host_queue_dropped"})", 35)
          .value_or(0);
  ASSERT_GE(dropped, 35);

  auto host = join_host(room);
  ASSERT_TRUE(host);
  const int kept = 40 - static_cast<int>(dropped);
  ASSERT_GT(kept, 0);
  for (int i = 0; i < kept; ++i) {
    auto frame = host->receive(10s);
    ASSERT_TRUE(frame) << "queued message " << i << " of " << kept << " missing";
    ASSERT_EQ(str(*frame, "type"), "client_message");
    EXPECT_EQ(frame->at("message").at("n"), json::value(40 - kept + i));
  }
  EXPECT_TRUE(host->is_open());
  EXPECT_TRUE(host_got_nothing_more(*host.ws));
  EXPECT_EQ(server_->metric("partyd_slow_consumer_disconnects_total").value_or(0), 0);
}

TEST_F(reply_limits_test, a_room_full_of_large_metas_can_still_be_hosted) {
  // 8 KiB metas fill a 400 KB reply limit before 60 seats.
  start_server({"--relay-max-seats", "60", "--relay-meta-max-bytes", "8192",
                "--relay-reply-max-bytes", "400000"});
  const relay_room room = create_room();
  const json::object meta{{"name", std::string(8192 - 11, 'm')}};
  int seated = 0;
  std::string refused;
  for (int i = 0; i < 60 && refused.empty(); ++i) {
    auto [client, first] = try_handshake(handshake_message(room.code, "player", {{"meta", meta}}));
    ASSERT_TRUE(client && first);
    if (str(*first, "status") == "success") {
      ++seated;
      client->close();  // the seat stays
    } else {
      refused = str(*first, "code");
    }
  }
  EXPECT_EQ(refused, "room_full");
  EXPECT_GE(seated, 40);

  for (int round = 0; round < 2; ++round) {  // connects, then reconnects
    auto host = join_host(room);
    ASSERT_TRUE(host) << "round " << round;
    EXPECT_EQ(host.response.at("clients").as_array().size(), static_cast<std::size_t>(seated));
    EXPECT_TRUE(host_got_nothing_more(*host.ws));
    host->close();
  }
  EXPECT_EQ(server_->metric("partyd_slow_consumer_disconnects_total").value_or(0), 0);
}

TEST(reply_limits, a_brainrot_room_with_every_avatar_it_accepts_stays_joinable) {
  test_server server;
  ASSERT_TRUE(server.started());
  auto open = [&] {
    auto c = std::make_unique<ws_client>();
    EXPECT_TRUE(c->connect(server.port(), "/ws/brainrot")) << c->last_error();
    return c;
  };
  auto envelope = [](std::string_view type, json::object payload) {
    return json::object{{"type", type}, {"payload", std::move(payload)}};
  };
  json::array senders;
  for (int i = 1; i <= 6; ++i) {
    std::string id = "s";
    id += std::to_string(i);
    senders.emplace_back(
        json::object{{"sender_id", id}, {"name", id}, {"active", true}, {"reels_count", 1}});
  }
  json::object item{{"item_id", "a"},
                    {"reel", {{"reel_id", "r"}, {"url", "https://r/a"}}},
                    {"true_sender_ids", json::array{"s1"}}};
  auto master = open();
  ASSERT_TRUE(master->send(envelope(
      "CREATE_ROOM",
      {{"senders", senders},
       {"rounds", json::array{json::object{{"round_id", "r1"}, {"items", json::array{item}}}}}})));
  auto created = master->receive_until("ROOM_CREATED");
  ASSERT_TRUE(created) << (master->skipped().empty() ? "nothing" : master->skipped().front());
  const std::string code(created->at("payload").at("code").as_string());
  const std::string key(created->at("payload").at("master_key").as_string());

  std::string image = "data:image/jpeg;base64,";
  image.resize(200000, 'A');
  int accepted = 0;
  int refused = 0;
  std::vector<std::unique_ptr<ws_client>> devices;
  for (int i = 1; i <= 6; ++i) {
    auto device = open();
    const std::string id = "dev" + std::to_string(i);
    const std::string player = "p_s" + std::to_string(i);
    ASSERT_TRUE(device->send(envelope("JOIN_ROOM", {{"code", code}, {"device_id", id}})));
    ASSERT_TRUE(device->receive_until("JOIN_OK", 10s));
    ASSERT_TRUE(device->send(
        envelope("TAKE_PLAYER", {{"code", code}, {"device_id", id}, {"player_id", player}})));
    ASSERT_TRUE(device->receive_until("TAKE_PLAYER_OK", 10s));
    ASSERT_TRUE(device->send(
        envelope("UPDATE_AVATAR",
                 {{"code", code}, {"device_id", id}, {"player_id", player}, {"image", image}})));
    // Its own PLAYER_UPDATE, or the refusal.
    for (;;) {
      auto frame = device->receive(10s);
      ASSERT_TRUE(frame) << "no answer to avatar " << i;
      const std::string type(frame->at("type").as_string());
      if (type == "ERROR") {
        EXPECT_EQ(frame->at("payload").at("message"), "invalid_avatar");
        EXPECT_EQ(frame->at("payload").at("details").at("reason"), "too_large");
        ++refused;
        break;
      }
      // (The claim's own PLAYER_UPDATE, without an avatar, comes first.)
      if (type == "PLAYER_UPDATE" &&
          frame->at("payload").at("player").at("player_id") == json::value(player) &&
          !frame->at("payload").at("player").at("avatar_url").is_null()) {
        ++accepted;
        break;
      }
    }
    devices.push_back(std::move(device));
  }
  EXPECT_EQ(accepted, 2);
  EXPECT_EQ(refused, 4);

  // A new device joins, a new master syncs: both get their whole reply.
  auto late = open();
  ASSERT_TRUE(late->send(envelope("JOIN_ROOM", {{"code", code}, {"device_id", "late"}})));
  auto join_ok = late->receive_until("JOIN_OK", 10s);
  ASSERT_TRUE(join_ok);
  EXPECT_EQ(join_ok->at("payload").at("players_visible").as_array().size(), 6u);
  auto screen = open();
  ASSERT_TRUE(screen->send(
      envelope("STATE_SYNC", {{"code", code}, {"device_id", "screen"}, {"master_key", key}})));
  auto sync = screen->receive_until("STATE_SYNC_RESPONSE", 10s);
  ASSERT_TRUE(sync);
  EXPECT_EQ(sync->at("payload").at("players_all").as_array().size(), 6u);
  EXPECT_EQ(server.metric("partyd_slow_consumer_disconnects_total").value_or(0), 0);
}

TEST(reply_limits, an_outbox_smaller_than_a_games_largest_reply_stops_the_start) {
  // 600,000 bytes hold every game's message limit (262,144) but not the replies.
  const auto [status, output] = run_command("timeout 10 " + std::string(PARTYD_BINARY) +
                                            " --port 0 --bind 127.0.0.1 --store memory"
                                            " --outbox-max-bytes 600000");
  EXPECT_EQ(status, 2) << output;
  EXPECT_NE(output.find("largest reply of game 'relay'"), std::string::npos) << output;
  // Lowering the games' reply limits makes it start (and `timeout` ends it: 124).
  const auto [fits, fits_output] =
      run_command("timeout 3 " + std::string(PARTYD_BINARY) +
                  " --port 0 --bind 127.0.0.1 --store memory --outbox-max-bytes 600000"
                  " --relay-reply-max-bytes 300000 --relay-host-queue-max-bytes 200000"
                  " --brainrot-reply-max-bytes 500000");
  EXPECT_EQ(fits, 124) << fits_output;
}

}  // namespace
}  // namespace partyd::testing
