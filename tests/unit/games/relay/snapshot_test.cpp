// Relay snapshots: snapshot -> restore -> snapshot is byte-identical, restored rooms have no
// connections but keep seats, states, polls and the host queue; malformed bytes give nullptr.
#include "relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

// A room with every kind of persisted data.
struct rich_room {
  harness h{json::object{{"password", "pw"}, {"maxPlayers", 5}, {"maxAudience", 9}}};
  std::string p1, p2;
  rich_room() {
    h.join_host(1);
    p1 = h.join_player(2, {{"password", "pw"}, {"meta", {{"name", "Ann"}, {"n", 1.5}}}});
    p2 = h.join_player(3, {{"password", "pw"}});
    h.join_audience(4);
    h.join_audience(5);
    h.send(1, {{"type", "set_game_state"},
               {"state", {{"round", 2}, {"z", nullptr}, {"a", {true, -3, 1e300, "é"}}}}});
    h.send(1, {{"type", "set_player_state"}, {"clientId", p1}, {"state", {{"hand", {"c1"}}}}});
    h.send(1, {{"type", "poll_start"},
               {"pollId", "s"},
               {"pollType", "single_choice"},
               {"question", "S?"},
               {"options", {"x", "y"}}});
    h.send(1, {{"type", "poll_start"},
               {"pollId", "m"},
               {"pollType", "multiple_choice"},
               {"question", "M?"},
               {"options", {"x", "y", "z"}}});
    h.send(
        1,
        {{"type", "poll_start"}, {"pollId", "f"}, {"pollType", "free_text"}, {"question", "F?"}});
    h.send(4, {{"type", "poll_response"}, {"pollId", "s"}, {"response", "y"}});
    h.send(5, {{"type", "poll_response"}, {"pollId", "m"}, {"response", {"z", "x"}}});
    h.send(5, {{"type", "poll_response"}, {"pollId", "f"}, {"response", " hi "}});
    h.send(1, {{"type", "poll_end"}, {"pollId", "m"}});
    h.disconnect(1);
    h.send(2, {{"type", "message_to_host"}, {"message", {{"k", 1}}}});
    h.send(4, {{"type", "message_to_host"}, {"message", "later"}});
    h.disconnect(3);
  }
};

TEST(RelaySnapshot, RoundTripIsByteIdentical) {
  rich_room room;
  const std::string first = room.h.instance().snapshot();
  json::object root = json::parse(first).as_object();
  EXPECT_EQ(root.at("schema"), 4);
  EXPECT_EQ(root.at("game"), "relay");
  EXPECT_EQ(root.at("seats").as_array().size(), 2u);
  EXPECT_EQ(root.at("polls").as_array().size(), 3u);
  EXPECT_EQ(root.at("hostQueue").as_array().size(), 2u);
  // Snapshots are a function of the state: taking one twice gives the same bytes.
  EXPECT_EQ(room.h.instance().snapshot(), first);
  // Written member by member, byte for byte what Boost.JSON makes of the same document (as the
  // snapshots before the streaming writer were).
  EXPECT_EQ(json::serialize(json::parse(first)), first);

  std::unique_ptr<game> restored = room.h.module().restore(first);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->snapshot(), first);
  std::unique_ptr<game> again = room.h.module().restore(restored->snapshot());
  ASSERT_NE(again, nullptr);
  EXPECT_EQ(again->snapshot(), first);
}

TEST(RelaySnapshot, RestoredRoomHasNoConnections) {
  rich_room room;
  const std::string bytes = room.h.instance().snapshot();
  harness h(room.h.module().restore(bytes));
  room_summary s = h.instance().summary();
  EXPECT_EQ(s.seats, 2u);
  EXPECT_EQ(s.connected_by_role[host_role], 0u);
  EXPECT_EQ(s.connected_by_role[player_role], 0u);
  EXPECT_EQ(s.connected_by_role[audience_role], 0u);

  // A seat is reclaimed with its clientId, its token and the password; its private state comes
  // back.
  outcome back = h.handshake(20, {{"role", "player"},
                                  {"clientId", room.p1},
                                  {"seatToken", room.h.seat_token(room.p1)},
                                  {"password", "pw"}});
  json::object r = back.only(20);
  EXPECT_EQ(r.at("playerState"), (json::object{{"hand", {"c1"}}}));
  EXPECT_EQ(r.at("gameState").at("round"), 2);
  EXPECT_EQ(h.handshake(21, {{"role", "player"}}).error_code(21), "wrong_password");

  // The host key still works and the queued messages are delivered; polls and results survive.
  // Its old host connection id means nothing any more.
  EXPECT_TRUE(h.disconnect(1).effects.empty());
  outcome host = h.handshake(22, {{"role", "host"}, {"hostKey", room.h.host_key()}});
  std::vector<json::object> frames = host.to(22);
  ASSERT_EQ(frames.size(), 3u);
  json::array clients = frames[0].at("clients").as_array();
  ASSERT_EQ(clients.size(), 2u);
  EXPECT_EQ(str(clients[0].at("clientId")), room.p1);
  EXPECT_EQ(clients[0].at("connected"), true);
  EXPECT_EQ(clients[0].at("meta").at("name"), "Ann");
  EXPECT_EQ(clients[1].at("connected"), false);
  EXPECT_EQ(frames[0].at("polls").as_array().size(), 3u);
  EXPECT_EQ(frames[1].at("message"), (json::object{{"k", 1}}));
  EXPECT_EQ(frames[2].at("message"), "later");
  json::object res = h.send(22, {{"type", "poll_results_request"}, {"pollId", "m"}}).only(22);
  EXPECT_EQ(res.at("counts"), (json::object{{"x", 1}, {"y", 0}, {"z", 1}}));
  EXPECT_EQ(res.at("active"), false);
  json::object free = h.send(22, {{"type", "poll_results_request"}, {"pollId", "f"}}).only(22);
  EXPECT_EQ(free.at("counts"), (json::object{{"hi", 1}}));
  // Capacity survives: 2 seats held, max 5.
  for (connection_id c = 30; c < 33; ++c) {
    EXPECT_FALSE(h.join_player(c, {{"password", "pw"}}).empty());
  }
  EXPECT_EQ(h.handshake(40, {{"role", "player"}, {"password", "pw"}}).error_code(40), "room_full");
}

TEST(RelaySnapshot, EmptyRoomRoundTrip) {
  harness h;
  const std::string bytes = h.instance().snapshot();
  std::unique_ptr<game> restored = h.module().restore(bytes);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->snapshot(), bytes);
}

TEST(RelaySnapshot, GarbageRestoresToNullptr) {
  rich_room room;
  const std::string good = room.h.instance().snapshot();
  std::vector<std::string> bad = {
      "", "null", "[]", "{}", "\x00\x01\x02", good.substr(0, good.size() / 2), good + "x",
  };
  // Mutations of a good snapshot, one field at a time.
  auto mutate = [&good](auto change) {
    json::object root = json::parse(good).as_object();
    change(root);
    return json::serialize(root);
  };
  bad.push_back(mutate([](json::object& r) { r["schema"] = 5; }));
  bad.push_back(
      mutate([](json::object& r) { r["seats"].as_array()[0].as_object()["resumeConn"] = "12x"; }));
  bad.push_back(
      mutate([](json::object& r) { r["seats"].as_array()[0].as_object()["resumeConn"] = 12; }));
  bad.push_back(mutate([](json::object& r) {
    r["seats"].as_array()[0].as_object()["tokenHash"] = "plain";  // not a digest
  }));
  bad.push_back(mutate([](json::object& r) { r["schema"] = "1"; }));
  bad.push_back(mutate([](json::object& r) { r["game"] = "quiz"; }));
  bad.push_back(mutate([](json::object& r) { r.erase("roomCode"); }));
  bad.push_back(mutate([](json::object& r) { r["roomCode"] = ""; }));
  bad.push_back(mutate([](json::object& r) { r["config"].as_object()["hostKeyHash"] = "plain"; }));
  bad.push_back(mutate([](json::object& r) { r["config"].as_object()["hostKeyHash"] = ""; }));
  bad.push_back(mutate([](json::object& r) { r["config"].as_object()["maxPlayers"] = -1; }));
  bad.push_back(mutate([](json::object& r) { r["config"].as_object()["maxAudience"] = 1e9; }));
  bad.push_back(mutate([](json::object& r) { r["gameStateText"] = "[]"; }));
  bad.push_back(mutate([](json::object& r) { r["gameStateText"] = "{"; }));
  bad.push_back(mutate([](json::object& r) { r["gameStateText"] = json::object{}; }));
  bad.push_back(mutate([](json::object& r) { r["nextSeq"] = "x"; }));
  bad.push_back(mutate([](json::object& r) { r["nextSeq"] = 1; }));  // seats' seq must be below
  bad.push_back(mutate([](json::object& r) { r["seats"] = json::object{}; }));
  bad.push_back(mutate([](json::object& r) {
    json::array& seats = r["seats"].as_array();
    seats.push_back(seats[0]);  // duplicate clientId
  }));
  bad.push_back(
      mutate([](json::object& r) { r["seats"].as_array()[0].as_object()["playerStateText"] = 3; }));
  bad.push_back(
      mutate([](json::object& r) { r["seats"].as_array()[0].as_object().erase("metaText"); }));
  bad.push_back(
      mutate([](json::object& r) { r["polls"].as_array()[0].as_object()["pollType"] = "x"; }));
  bad.push_back(
      mutate([](json::object& r) { r["polls"].as_array()[0].as_object()["active"] = 1; }));
  bad.push_back(mutate([](json::object& r) {
    json::array& polls = r["polls"].as_array();
    polls.push_back(polls[0]);  // duplicate pollId
  }));
  bad.push_back(mutate([](json::object& r) {
    r["polls"].as_array()[0].as_object()["responses"].as_array()[0].as_object()["response"] =
        json::array{"not an option"};
  }));
  bad.push_back(mutate([](json::object& r) {
    r["polls"].as_array()[2].as_object()["options"] = json::array{"a", "b"};  // free_text
  }));
  bad.push_back(
      mutate([](json::object& r) { r["hostQueue"].as_array()[0].as_object()["role"] = "host"; }));
  bad.push_back(mutate(
      [](json::object& r) { r["hostQueue"].as_array()[0].as_object().erase("messageText"); }));

  relay_module module;
  ASSERT_NE(module.restore(good), nullptr);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(module.restore(bad[i]), nullptr) << "case " << i << ": " << bad[i].substr(0, 200);
  }
}

TEST(RelaySnapshot, RestoreTrimsQueueToConfiguredLimit) {
  rich_room room;
  relay_config small;
  small.host_queue_max = 1;
  relay_module module(small);
  std::unique_ptr<game> restored = module.restore(room.h.instance().snapshot());
  ASSERT_NE(restored, nullptr);
  json::object root = json::parse(restored->snapshot()).as_object();
  ASSERT_EQ(root.at("hostQueue").as_array().size(), 1u);
  EXPECT_EQ(root.at("hostQueue").as_array()[0].at("messageText"), "\"later\"");
}

}  // namespace
}  // namespace partyd::relay::testing
