// A relay never changes what it relays (docs/protocol/relay.md): a client's meta, a message to the
// host and a player state reach the other side as the bytes their sender wrote (numbers, escapes
// and whitespace included), from the room and from its snapshot. Parsed and written again,
// Boost.JSON would send 123456789012345678901234567890 as 1.2345678901234568E29, 1.10 as 1.1E0,
// -0 as 0 and "\u00e9" as the character itself.
#include <fstream>
#include <sstream>

#include "engine/room_snapshot.hpp"
#include "relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

// JSON a re-serialization would change, each value as a client writes it.
std::vector<std::string> tricky_values() {
  std::string big = "{";
  for (int i = 0; i < 120; ++i) {
    if (i > 0) big += ", ";
    big += "\"k" + std::to_string(i) + "\": [" + std::to_string(i) + ".10, -0, 1e" +
           std::to_string(i) + ", \"\\u00e9\"]";
  }
  big += "}";
  return {"123456789012345678901234567890",
          "1.10",
          "1e2",
          "-0",
          "0.1",
          R"("\u00e9")",
          R"("\ud83d\ude00")",
          R"([[1.10,[-0,[1e2,[0.1]]]],[],{"a":[[]]}])",
          R"({ "name" : "\u00e9l\ud83d\ude00", "n" : 123456789012345678901234567890 })",
          big};
}

// The same as objects, as a player state must be.
std::vector<std::string> tricky_objects() {
  std::vector<std::string> objects;
  for (const std::string& value : tricky_values()) {
    objects.push_back(value.front() == '{' ? value : R"({"v":)" + value + "}");
  }
  return objects;
}

// Room for the large values in meta.
relay_config roomy() {
  relay_config config;
  config.meta_max_bytes = 8192;
  return config;
}

// The frames sent to `conn`, as sent.
std::vector<std::string> texts_to(const outcome& o, connection_id conn) {
  std::vector<std::string> texts;
  for (const effect& e : o.effects) {
    if (e.kind == effect_kind::send && e.conn == conn) texts.push_back(*e.frame);
  }
  return texts;
}

std::string handshake_text(std::string_view role, std::string_view extra) {
  return std::string(R"({"type":"handshake","roomCode":")") + std::string(room_code) +
         R"(","role":")" + std::string(role) + "\"" + std::string(extra) + "}";
}

std::string client_message(std::string_view client_id, std::string_view role,
                           std::string_view message) {
  return std::string(R"({"type":"client_message","clientId":")") + std::string(client_id) +
         R"(","role":")" + std::string(role) + R"(","message":)" + std::string(message) + "}";
}

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PARTYD_SOURCE_DIR) + "/tests/fixtures/snapshots/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

TEST(RelayPassThrough, MetaReachesTheHostAsWritten) {
  harness h(json::object{}, roomy());
  h.join_host(1);
  struct client {
    std::string id, role, meta;
  };
  std::vector<client> joined;
  connection_id conn = 10;
  for (const std::string& meta : tricky_values()) {
    for (const char* role : {"player", "audience"}) {
      outcome o = h.send_text(conn, handshake_text(role, R"(,"meta":)" + meta));
      const std::string id = str(o.only(conn).at("clientId"));
      EXPECT_EQ(texts_to(o, 1),
                std::vector<std::string>{R"({"type":"client_joined","clientId":")" + id +
                                         R"(","role":")" + role + R"(","meta":)" + meta +
                                         R"(,"reconnected":false})"});
      joined.push_back({id, role, meta});
      ++conn;
    }
  }
  // A host that connects later lists every client with the same bytes, in join order.
  const std::vector<std::string> reply =
      texts_to(h.handshake(2, {{"role", "host"}, {"hostKey", h.host_key()}}), 2);
  ASSERT_EQ(reply.size(), 1u);
  std::string clients;
  for (const client& c : joined) {
    if (c.role != "player") continue;
    clients += R"({"clientId":")" + c.id + R"(","role":"player","meta":)" + c.meta +
               R"(,"connected":true},)";
  }
  for (const client& c : joined) {
    if (c.role != "audience") continue;
    clients += R"({"clientId":")" + c.id + R"(","role":"audience","meta":)" + c.meta +
               R"(,"connected":true},)";
  }
  clients.back() = ']';
  EXPECT_NE(reply[0].find(R"("clients":[)" + clients + R"(,"polls":[])"), std::string::npos)
      << reply[0].substr(0, 400);
}

TEST(RelayPassThrough, AReclaimedSeatAndAResumedSessionKeepTheirMeta) {
  harness h(json::object{}, roomy());
  h.join_host(1);
  outcome seated = h.send_text(10, handshake_text("player", R"(,"meta":[1.10,-0])"));
  const json::object response = seated.only(10);
  const std::string id = str(response.at("clientId"));
  const std::string token = str(response.at("seatToken"));
  const std::string reclaim = R"(,"clientId":")" + id + R"(","seatToken":")" + token + "\"";

  h.disconnect(10);
  outcome renamed = h.send_text(11, handshake_text("player", reclaim + R"(,"meta":{"n":1e2})"));
  EXPECT_EQ(texts_to(renamed, 1).back(), R"({"type":"client_joined","clientId":")" + id +
                                             R"(","role":"player","meta":{"n":1e2},)"
                                             R"("reconnected":true})");
  h.disconnect(11);
  outcome kept = h.send_text(12, handshake_text("player", reclaim));
  EXPECT_EQ(texts_to(kept, 1).back(), R"({"type":"client_joined","clientId":")" + id +
                                          R"(","role":"player","meta":{"n":1e2},)"
                                          R"("reconnected":true})");

  // A session away past its grace and back: the host hears it joined again, with its meta.
  const auto presence = [&h](presence_stage stage) {
    input in;
    in.kind = input_kind::presence;
    in.conn = 12;
    in.stage = stage;
    return outcome(h.driver().step(in));
  };
  presence(presence_stage::away);
  const outcome returned = presence(presence_stage::back);
  EXPECT_EQ(texts_to(returned, 1),
            std::vector<std::string>{R"({"type":"client_joined","clientId":")" + id +
                                     R"(","role":"player","meta":{"n":1e2},"reconnected":true})"});
}

TEST(RelayPassThrough, MessagesReachTheHostAsWrittenAtOnceAndFromTheQueue) {
  harness h;
  h.join_host(1);
  const std::string player = h.join_player(2);
  const std::string watcher = h.join_audience(3);
  for (const std::string& message : tricky_values()) {
    outcome o = h.send_text(2, R"({"type":"message_to_host", "message" : )" + message + " }");
    EXPECT_EQ(texts_to(o, 1), std::vector<std::string>{client_message(player, "player", message)});
  }

  // Queued while no host is connected: counted as the bytes it will send, then sent as written.
  h.disconnect(1);
  std::vector<std::string> expected;
  for (const std::string& message : tricky_values()) {
    h.send_text(3, R"({"type":"message_to_host","message":)" + message + "}");
    expected.push_back(client_message(watcher, "audience", message));
  }
  const auto& queue = h.relay().state().host_queue;
  ASSERT_EQ(queue.size(), expected.size());
  for (std::size_t i = 0; i < queue.size(); ++i) {
    EXPECT_EQ(queue[i].frame_bytes, expected[i].size()) << expected[i];
  }
  std::vector<std::string> frames =
      texts_to(h.handshake(4, {{"role", "host"}, {"hostKey", h.host_key()}}), 4);
  ASSERT_FALSE(frames.empty());
  frames.erase(frames.begin());  // its handshake_response
  EXPECT_EQ(frames, expected);
}

TEST(RelayPassThrough, PlayerStatesReachThePlayerAsWritten) {
  harness h;
  h.join_host(1);
  outcome seated = h.send_text(2, handshake_text("player", ""));
  const std::string id = str(seated.only(2).at("clientId"));
  const std::string token = str(seated.only(2).at("seatToken"));
  for (const std::string& state : tricky_objects()) {
    outcome o = h.send_text(
        1, R"({"type":"set_player_state","clientId":")" + id + R"(","state":)" + state + "}");
    EXPECT_EQ(texts_to(o, 2),
              std::vector<std::string>{R"({"type":"player_state","state":)" + state + "}"});
  }
  const std::string last = tricky_objects().back();

  // A reconnecting player gets its state back in its handshake_response, a resuming session in
  // its view.
  h.disconnect(2);
  outcome back = h.send_text(
      3, handshake_text("player", R"(,"clientId":")" + id + R"(","seatToken":")" + token + "\""));
  ASSERT_EQ(texts_to(back, 3).size(), 1u);
  EXPECT_NE(texts_to(back, 3)[0].find(R"(,"playerState":)" + last + R"(,"gameState":{}})"),
            std::string::npos);
  EXPECT_EQ(h.instance().view_of(3, 0).state_json, R"({"role":"player","clientId":")" + id +
                                                       R"(","playerState":)" + last +
                                                       R"(,"gameState":{}})");
}

TEST(RelayPassThrough, ASnapshotKeepsTheTextAndARestoreSendsTheSameBytes) {
  harness h(json::object{}, roomy());
  const std::vector<std::string> values = tricky_values();
  const std::string meta = values[8];
  const std::string state = tricky_objects().back();
  outcome seated = h.send_text(2, handshake_text("player", R"(,"meta":)" + meta));
  const std::string id = str(seated.only(2).at("clientId"));
  const std::string token = str(seated.only(2).at("seatToken"));
  h.join_host(1);
  h.send_text(1, R"({"type":"set_player_state","clientId":")" + id + R"(","state":)" + state + "}");
  h.disconnect(1);
  for (const std::string& message : values) {
    h.send_text(2, R"({"type":"message_to_host","message":)" + message + "}");
  }

  const std::string bytes = h.instance().snapshot();
  const json::object root = json::parse(bytes).as_object();
  EXPECT_EQ(root.at("schema"), 4);
  const json::object& seat = root.at("seats").as_array().at(0).as_object();
  EXPECT_EQ(str(seat.at("metaText")), meta);
  EXPECT_EQ(str(seat.at("playerStateText")), state);
  const json::array& queue = root.at("hostQueue").as_array();
  ASSERT_EQ(queue.size(), values.size());
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(str(queue[i].at("messageText")), values[i]);
  }

  harness restored(h.driver().restore_round_trip(), roomy());
  std::vector<std::string> frames =
      texts_to(restored.handshake(5, {{"role", "host"}, {"hostKey", h.host_key()}}), 5);
  ASSERT_EQ(frames.size(), values.size() + 1);
  EXPECT_NE(frames[0].find(R"("meta":)" + meta + R"(,"connected":false})"), std::string::npos);
  for (std::size_t i = 0; i < values.size(); ++i) {
    EXPECT_EQ(frames[i + 1], client_message(id, "player", values[i]));
  }
  outcome back = restored.send_text(
      6, handshake_text("player", R"(,"clientId":")" + id + R"(","seatToken":")" + token + "\""));
  EXPECT_NE(texts_to(back, 6).at(0).find(R"(,"playerState":)" + state + ","), std::string::npos);
}

// Stored by partyd with relay snapshot schema 4 (tests/fixtures/snapshots/relay_game_schema4.json:
// a seat whose meta and player state, and two queued messages, hold the values above): restored,
// the room sends them as the client wrote them and writes the same bytes again.
TEST(RelayPassThrough, AStoredSchemaFourRoomRestoresByteIdentical) {
  std::string error;
  const auto envelope = decode_room_snapshot(fixture("relay_game_schema4.json"), error);
  ASSERT_TRUE(envelope) << error;
  relay_module module;
  std::unique_ptr<game> restored = module.restore(envelope->state);
  ASSERT_TRUE(restored);
  EXPECT_EQ(restored->snapshot(), envelope->state);

  const std::string id = "p_6362239433263eb0bebeb65d";
  harness h(std::move(restored));
  const std::vector<std::string> frames =
      texts_to(h.handshake(1, {{"roomCode", "36XPTR"},
                               {"role", "host"},
                               {"hostKey", "xYFEyR9sUWYCHhGziD93pnxiWRdHFb57"}}),
               1);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_NE(frames[0].find(R"("meta":{"name":"\u00e9l\ud83d\ude00",)"
                           R"("big":123456789012345678901234567890,"f":[1.10,1e2,-0,0.1]},)"),
            std::string::npos)
      << frames[0];
  EXPECT_EQ(
      frames[1],
      client_message(id, "player", R"([123456789012345678901234567890,1.10,1e2,-0,0.1,"\u00e9"])"));
  EXPECT_EQ(frames[2], client_message(id, "player", R"({"nested":[[1e2],{"x":-0}]})"));
  const std::vector<std::string> back =
      texts_to(h.handshake(2, {{"roomCode", "36XPTR"},
                               {"role", "player"},
                               {"password", "pw"},
                               {"clientId", id},
                               {"seatToken", "qS5-AXs6ITsOvcLr4nlzIwKZST8PiPbT"}}),
               2);
  ASSERT_EQ(back.size(), 1u);
  EXPECT_NE(
      back[0].find(R"("playerState":{"hand":[1.10,1e2],"n":123456789012345678901234567890},)"),
      std::string::npos)
      << back[0];
}

// Stored by partyd before schema 4 (tests/fixtures/snapshots/relay_game_schema3.json, the same
// room): it kept meta, player state and messages as values, written as compact JSON. Restored,
// the room relays them as it stored them and writes them as text (schema 4), which restores to the
// same bytes.
TEST(RelayPassThrough, AStoredSchemaThreeRoomStillRestores) {
  std::string error;
  const auto envelope = decode_room_snapshot(fixture("relay_game_schema3.json"), error);
  ASSERT_TRUE(envelope) << error;
  ASSERT_EQ(json::parse(envelope->state).at("schema"), 3);
  relay_module module;
  std::unique_ptr<game> restored = module.restore(envelope->state);
  ASSERT_TRUE(restored);
  const std::string current = restored->snapshot();
  const json::object root = json::parse(current).as_object();
  EXPECT_EQ(root.at("schema"), 4);
  const json::object& seat = root.at("seats").as_array().at(0).as_object();
  const std::string meta = R"({"name":"él😀","big":1.2345678901234568E29,"f":[1.1E0,1E2,0,1E-1]})";
  EXPECT_EQ(str(seat.at("metaText")), meta);
  EXPECT_EQ(str(seat.at("playerStateText")), R"({"hand":[1.1E0,1E2],"n":1.2345678901234568E29})");
  EXPECT_EQ(str(root.at("hostQueue").as_array().at(1).at("messageText")),
            R"({"nested":[[1E2],{"x":0}]})");
  std::unique_ptr<game> again = module.restore(current);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->snapshot(), current);

  harness h(std::move(again));
  const std::vector<std::string> frames =
      texts_to(h.handshake(1, {{"roomCode", "XEQZB6"},
                               {"role", "host"},
                               {"hostKey", "BlApz7a2cppkrvW37sUPRkI113wPqMJT"}}),
               1);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_NE(frames[0].find(R"("meta":)" + meta + ","), std::string::npos) << frames[0];
  EXPECT_EQ(frames[1], client_message("p_b14fe4a34ff6e3ede710c67b", "player",
                                      R"([1.2345678901234568E29,1.1E0,1E2,0,1E-1,"é"])"));
  // The seat token taken then still reclaims the seat.
  outcome back = h.handshake(2, {{"roomCode", "XEQZB6"},
                                 {"role", "player"},
                                 {"password", "pw"},
                                 {"clientId", "p_b14fe4a34ff6e3ede710c67b"},
                                 {"seatToken", "7H5XgDrm7mTzGn9C7kTA_DKeu8eNJdbf"}});
  EXPECT_EQ(back.error_code(2), "");
}

// A snapshot is untrusted: a client's JSON whose text is not one finite JSON value, or a player
// state that is not an object, makes the restore fail, whatever the schema.
TEST(RelayPassThrough, BadClientJsonInASnapshotIsRefused) {
  harness h;
  const std::string id = h.join_player(2, {{"meta", "m"}});
  h.join_host(1);
  h.send(1, {{"type", "set_player_state"}, {"clientId", id}, {"state", {{"a", 1}}}});
  h.disconnect(1);
  h.send(2, {{"type", "message_to_host"}, {"message", 1}});
  const std::string good = h.instance().snapshot();
  const auto mutate = [&good](auto change) {
    json::object root = json::parse(good).as_object();
    change(root["seats"].as_array()[0].as_object(), root["hostQueue"].as_array()[0].as_object());
    return json::serialize(root);
  };
  std::vector<std::string> bad;
  for (const json::value& text :
       {json::value("{"), json::value(""), json::value("1 2"), json::value("[1e400]"),
        json::value("-"), json::value(1), json::value(nullptr),
        json::value(std::string(40, '[') + std::string(40, ']'))}) {
    bad.push_back(mutate([&](json::object& seat, json::object&) { seat["metaText"] = text; }));
    bad.push_back(
        mutate([&](json::object&, json::object& queued) { queued["messageText"] = text; }));
    if (!text.is_null()) {
      bad.push_back(
          mutate([&](json::object& seat, json::object&) { seat["playerStateText"] = text; }));
    }
  }
  bad.push_back(mutate([](json::object& seat, json::object&) { seat["playerStateText"] = "[]"; }));
  bad.push_back(mutate([](json::object& seat, json::object&) { seat["playerStateText"] = "1"; }));
  bad.push_back(mutate([](json::object& seat, json::object&) {
    seat["playerStateText"] = json::object{{"a", 1}};  // a value where schema 4 keeps text
  }));
  bad.push_back(mutate([](json::object& seat, json::object&) { seat.erase("metaText"); }));
  bad.push_back(mutate([](json::object&, json::object& queued) { queued.erase("messageText"); }));

  // Schema 3 held values: checked as the text they are written as.
  json::object older = json::parse(good).as_object();
  older["schema"] = 3;
  json::object& old_seat = older["seats"].as_array()[0].as_object();
  old_seat.erase("metaText");
  old_seat.erase("playerStateText");
  old_seat["meta"] = "m";
  old_seat["playerState"] = json::object{{"a", 1}};
  json::object& old_queued = older["hostQueue"].as_array()[0].as_object();
  old_queued.erase("messageText");
  old_queued["message"] = 1;
  const std::string good_older = json::serialize(older);
  const auto replaced = [&good_older](std::string_view from, std::string_view to) {
    std::string text = good_older;
    const std::size_t at = text.find(from);
    EXPECT_NE(at, std::string::npos) << from;
    return at == std::string::npos ? std::string() : text.replace(at, from.size(), to);
  };
  bad.push_back(replaced(R"("meta":"m")", R"("meta":[1e400])"));
  bad.push_back(replaced(R"("message":1)", R"("message":{"x":-1e999})"));
  bad.push_back(replaced(R"("playerState":{"a":1})", R"("playerState":{"a":1e400})"));

  relay_module module;
  ASSERT_NE(module.restore(good), nullptr);
  ASSERT_NE(module.restore(good_older), nullptr);
  for (std::size_t i = 0; i < bad.size(); ++i) {
    EXPECT_EQ(module.restore(bad[i]), nullptr) << "case " << i << ": " << bad[i];
  }
  // Well-formed text restores as it is, whitespace included.
  const std::string spaced = mutate(
      [](json::object& seat, json::object&) { seat["metaText"] = R"( { "a" : [ 1.10 ] } )"; });
  std::unique_ptr<game> restored = module.restore(spaced);
  ASSERT_NE(restored, nullptr);
  EXPECT_EQ(restored->snapshot(), spaced);
}

}  // namespace
}  // namespace partyd::relay::testing
