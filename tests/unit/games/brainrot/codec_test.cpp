// Brainrot codec: envelope errors, field shape errors with details, CREATE_ROOM validation,
// routing of first messages, the io-side ERROR frame and the text helpers.
#include "brainrot_harness.hpp"

namespace partyd::brainrot::testing {
namespace {

json::object error_of(const decode_result& d) {
  EXPECT_TRUE(d.error);
  return json::parse(encode_error(d.error.code, d.error.message)).as_object();
}

TEST(BrainrotCodec, EnvelopeErrors) {
  brainrot_module m;
  struct row {
    std::string text;
    std::string message;
  };
  const std::vector<row> rows = {
      {"not json", "invalid_message"},
      {"[1,2]", "invalid_message"},
      {R"({"payload":{}})", "invalid_message"},
      {R"({"type":"JOIN_ROOM","payload":{"code":"ABCDEFGH","device_id":"d","x":1e400}})",
       "invalid_message"},
      {R"({"type":7,"payload":{}})", "invalid_message"},
      {R"({"type":"NOPE","payload":{}})", "unknown_type"},
      {R"({"type":"join_room","payload":{}})", "unknown_type"},
  };
  for (const row& r : rows) {
    decode_result d = m.decode(r.text, true);
    json::object frame = error_of(d);
    EXPECT_EQ(frame.at("type"), "ERROR") << r.text;
    EXPECT_EQ(frame.at("payload").at("error"), "bad_request") << r.text;
    EXPECT_EQ(str(frame.at("payload").at("message")), r.message) << r.text;
  }
}

TEST(BrainrotCodec, FieldShapeErrorsNameTheField) {
  brainrot_module m;
  struct row {
    std::string type;
    json::object payload;
    std::string field;
    std::string reason;
  };
  const std::vector<row> rows = {
      {"JOIN_ROOM", {{"device_id", "d"}}, "code", "required"},
      {"JOIN_ROOM", {{"code", 5}, {"device_id", "d"}}, "code", "not_string"},
      {"JOIN_ROOM", {{"code", ""}, {"device_id", "d"}}, "code", "empty"},
      {"JOIN_ROOM", {{"code", "C"}}, "device_id", "required"},
      {"JOIN_ROOM", {{"code", "C"}, {"device_id", std::string(129, 'x')}}, "device_id", "too_long"},
      {"TAKE_PLAYER", {{"code", "C"}, {"device_id", "d"}}, "player_id", "required"},
      {"RENAME_PLAYER",
       {{"code", "C"}, {"device_id", "d"}, {"player_id", "p"}},
       "new_name",
       "required"},
      {"RENAME_PLAYER",
       {{"code", "C"}, {"device_id", "d"}, {"player_id", "p"}, {"new_name", 3}},
       "new_name",
       "not_string"},
      {"TOGGLE_PLAYER",
       {{"code", "C"}, {"player_id", "p"}, {"active", true}},
       "master_key",
       "required"},
      {"TOGGLE_PLAYER",
       {{"code", "C"}, {"master_key", "k"}, {"player_id", "p"}},
       "active",
       "required"},
      {"TOGGLE_PLAYER",
       {{"code", "C"}, {"master_key", "k"}, {"player_id", "p"}, {"active", "yes"}},
       "active",
       "not_boolean"},
      {"REEL_OPENED",
       {{"code", "C"}, {"master_key", "k"}, {"item_id", "i"}},
       "round_id",
       "required"},
      {"END_ITEM", {{"code", "C"}, {"master_key", "k"}, {"round_id", "r"}}, "item_id", "required"},
      {"SUBMIT_VOTE",
       {{"code", "C"}, {"round_id", "r"}, {"item_id", "i"}, {"player_id", "p"}, {"device_id", "d"}},
       "selections",
       "required"},
      {"SUBMIT_VOTE",
       {{"code", "C"},
        {"round_id", "r"},
        {"item_id", "i"},
        {"player_id", "p"},
        {"device_id", "d"},
        {"selections", "s1"}},
       "selections",
       "not_array"},
      {"STATE_SYNC",
       {{"code", "C"}, {"device_id", "d"}, {"master_key", 1}},
       "master_key",
       "not_string"},
      {"START_GAME", {{"code", "C"}}, "master_key", "required"},
      {"START_NEXT_ROUND", {{"code", "C"}, {"master_key", nullptr}}, "master_key", "required"},
      {"ROOM_CLOSED", {{"code", "C"}}, "master_key", "required"},
  };
  for (const row& r : rows) {
    for (bool first : {true, false}) {
      decode_result d = m.decode(envelope(r.type, r.payload), first);
      json::object payload = error_of(d).at("payload").as_object();
      EXPECT_EQ(payload.at("error"), "bad_request") << r.type;
      EXPECT_EQ(payload.at("message"), "invalid_payload") << r.type;
      EXPECT_EQ(str(payload.at("details").at("field")), r.field) << r.type << " " << r.field;
      EXPECT_EQ(str(payload.at("details").at("reason")), r.reason) << r.type << " " << r.field;
      if (r.field != "code") {
        EXPECT_EQ(payload.at("code"), "C") << "the room code is echoed when known";
      }
    }
  }
  decode_result no_payload = m.decode(R"({"type":"JOIN_ROOM"})", true);
  EXPECT_EQ(error_of(no_payload).at("payload").at("details").at("field"), "payload");
}

TEST(BrainrotCodec, FirstMessageIsRoutedByCode) {
  brainrot_module m;
  decode_result d = m.decode(envelope("JOIN_ROOM", {{"code", "XYZ"}, {"device_id", "d"}}), true);
  ASSERT_FALSE(d.error);
  EXPECT_EQ(d.room_code, "XYZ");
  EXPECT_FALSE(d.creates_room);
  ASSERT_NE(d.cmd, nullptr);
  EXPECT_EQ(d.cmd->type, index_of(in_type::join_room));

  decode_result c = m.decode(envelope("CREATE_ROOM", default_payload()), true);
  ASSERT_FALSE(c.error);
  EXPECT_TRUE(c.creates_room);
  EXPECT_EQ(c.create_options, default_payload());
  decode_result later = m.decode(envelope("CREATE_ROOM", default_payload()), false);
  ASSERT_FALSE(later.error);
  EXPECT_FALSE(later.creates_room) << "only a first message creates a room";

  decode_result vote = m.decode(envelope("SUBMIT_VOTE", {{"code", "C"},
                                                         {"round_id", "r"},
                                                         {"item_id", "i"},
                                                         {"player_id", "p"},
                                                         {"device_id", "d"},
                                                         {"selections", {"a", 1, "b"}}}),
                                false);
  ASSERT_FALSE(vote.error) << "entries are judged by the game";
  const auto& req = dynamic_cast<const request&>(*vote.cmd);
  EXPECT_FALSE(req.selections_are_strings);
  EXPECT_EQ(req.selections_total, 3u);

  decode_result avatar =
      m.decode(envelope("UPDATE_AVATAR",
                        {{"code", "C"}, {"player_id", "p"}, {"device_id", "d"}, {"image", 42}}),
               false);
  ASSERT_FALSE(avatar.error) << "a non-string image is invalid_avatar/not_string in the game";
  EXPECT_FALSE(dynamic_cast<const request&>(*avatar.cmd).image.has_value());
}

TEST(BrainrotCodec, CreateRoomValidation) {
  brainrot_module m;
  using mutate = std::function<void(json::object&)>;
  auto sender_at = [](json::object& p, std::size_t i) -> json::object& {
    return p["senders"].as_array()[i].as_object();
  };
  auto item_at = [](json::object& p, std::size_t r, std::size_t i) -> json::object& {
    return p["rounds"].as_array()[r].as_object()["items"].as_array()[i].as_object();
  };
  struct row {
    std::string name;
    mutate change;
    std::string field;
    std::string reason;
  };
  const std::vector<row> rows = {
      {"no senders", [](json::object& p) { p.erase("senders"); }, "senders", "required"},
      {"senders not array", [](json::object& p) { p["senders"] = 3; }, "senders", "not_array"},
      {"one active sender",
       [&](json::object& p) {
         for (std::size_t i = 1; i < 5; ++i) sender_at(p, i)["active"] = false;
       },
       "senders", "fewer_than_2_active"},
      {"duplicate sender", [&](json::object& p) { sender_at(p, 1)["sender_id"] = "s1"; },
       "senders[1].sender_id", "duplicate"},
      {"empty sender id", [&](json::object& p) { sender_at(p, 0)["sender_id"] = ""; },
       "senders[0].sender_id", "empty"},
      {"name not string", [&](json::object& p) { sender_at(p, 2)["name"] = 1; }, "senders[2].name",
       "not_string"},
      {"active missing", [&](json::object& p) { sender_at(p, 0).erase("active"); },
       "senders[0].active", "required"},
      {"reels_count negative", [&](json::object& p) { sender_at(p, 0)["reels_count"] = -1; },
       "senders[0].reels_count", "not_non_negative_integer"},
      {"no rounds", [](json::object& p) { p["rounds"] = json::array{}; }, "rounds", "empty"},
      {"duplicate round",
       [](json::object& p) { p["rounds"].as_array()[1].as_object()["round_id"] = "r1"; },
       "rounds[1].round_id", "duplicate"},
      {"empty items",
       [](json::object& p) { p["rounds"].as_array()[0].as_object()["items"] = json::array{}; },
       "rounds[0].items", "empty"},
      {"duplicate item", [&](json::object& p) { item_at(p, 0, 1)["item_id"] = "i1"; },
       "rounds[0].items[1].item_id", "duplicate"},
      {"reel missing", [&](json::object& p) { item_at(p, 0, 0).erase("reel"); },
       "rounds[0].items[0].reel", "required"},
      {"url not string", [&](json::object& p) { item_at(p, 0, 0)["reel"].as_object()["url"] = 1; },
       "rounds[0].items[0].reel.url", "not_string"},
      {"unknown true sender",
       [&](json::object& p) { item_at(p, 1, 0)["true_sender_ids"] = json::array{"s9"}; },
       "rounds[1].items[0].true_sender_ids[0]", "unknown_sender"},
      {"no true sender",
       [&](json::object& p) { item_at(p, 0, 0)["true_sender_ids"] = json::array{}; },
       "rounds[0].items[0].true_sender_ids", "empty"},
      {"repeated true sender",
       [&](json::object& p) {
         item_at(p, 0, 0)["true_sender_ids"] = json::array{"s1", "s1"};
       },
       "rounds[0].items[0].true_sender_ids[1]", "duplicate"},
      {"round_order short", [](json::object& p) { p["round_order"] = json::array{"r1"}; },
       "round_order", "not_a_permutation"},
      {"round_order unknown",
       [](json::object& p) {
         p["round_order"] = json::array{"r1", "r3"};
       },
       "round_order", "not_a_permutation"},
      {"round_order repeated",
       [](json::object& p) {
         p["round_order"] = json::array{"r1", "r1"};
       },
       "round_order", "not_a_permutation"},
  };
  for (const row& r : rows) {
    json::object payload = default_payload();
    r.change(payload);
    decode_result d = m.decode(envelope("CREATE_ROOM", payload), true);
    ASSERT_TRUE(d.error) << r.name;
    json::object e = error_of(d).at("payload").as_object();
    EXPECT_EQ(e.at("error"), "bad_request") << r.name;
    EXPECT_EQ(str(e.at("details").at("field")), r.field) << r.name;
    EXPECT_EQ(str(e.at("details").at("reason")), r.reason) << r.name;
    EXPECT_FALSE(d.creates_room) << r.name;
    // The admin API path reports the same, as text.
    create_result made = m.create(payload, "ABCDEFGH");
    EXPECT_TRUE(made.error) << r.name;
    EXPECT_EQ(made.instance, nullptr) << r.name;
  }
  json::object ordered = default_payload();
  ordered["round_order"] = json::array{"r2", "r1"};
  EXPECT_FALSE(m.decode(envelope("CREATE_ROOM", ordered), true).error);
}

TEST(BrainrotCodec, CreateBuildsPlayersAndAdminKey) {
  brainrot_module m;
  create_result made = m.create(default_payload(), "ABCDEFGH");
  ASSERT_FALSE(made.error);
  EXPECT_EQ(made.reply.at("code"), "ABCDEFGH");
  EXPECT_EQ(str(made.reply.at("master_key")).size(), 32u);
  const room_state& s = dynamic_cast<brainrot_game&>(*made.instance).state();
  ASSERT_EQ(s.players.size(), 5u);
  EXPECT_EQ(s.players[0].player_id, "p_s1");
  EXPECT_EQ(s.players[0].name, "Ann");
  EXPECT_TRUE(s.players[0].is_sender_bound);
  EXPECT_FALSE(s.players[4].active) << "active as its sender";
  EXPECT_FALSE(s.players[0].avatar_url.has_value());
  EXPECT_EQ(s.scores.size(), 5u);
  EXPECT_EQ(s.round_order, (std::vector<std::string>{"r1", "r2"}));
  EXPECT_EQ(s.phase, phase::lobby);
  EXPECT_EQ(s.status, status::idle);
  EXPECT_EQ(s.master_key_hash, sha256_tagged(str(made.reply.at("master_key"))));
}

TEST(BrainrotCodec, IoErrorsUseTheSeedEnvelope) {
  brainrot_module m;
  json::object nf =
      json::parse(m.encode_handshake_error("room_not_found", "no room", "ABCD2345")).as_object();
  EXPECT_EQ(nf.at("type"), "ERROR");
  EXPECT_EQ(nf.at("payload").at("error"), "room_not_found");
  EXPECT_EQ(nf.at("payload").at("code"), "ABCD2345");  // the code the client asked for
  for (std::string_view engine_code :
       {"rate_limited", "inbox_full", "server_shutting_down", "limit_reached"}) {
    json::object e = json::parse(m.encode_error(engine_code, "why")).as_object();
    EXPECT_EQ(e.at("payload").at("error"), "bad_request") << engine_code;
    EXPECT_EQ(str(e.at("payload").at("message")), engine_code);
    EXPECT_EQ(e.at("payload").at("details").at("reason"), "why");
  }
  EXPECT_FALSE(m.first_message_error_closes());
  EXPECT_EQ(m.room_code_length(), 8u);
  EXPECT_EQ(m.room_code_alphabet(), "ABCDEFGHJKLMNPQRSTUVWXYZ23456789");
  EXPECT_EQ(m.ws_path(), "/ws/brainrot");
  EXPECT_EQ(m.max_message_bytes(), 262144u);
}

TEST(BrainrotCodec, TextHelpers) {
  EXPECT_EQ(normalize_name("  a \t b\n\nc  "), "a b c");
  EXPECT_EQ(normalize_name(" \t "), "");
}

TEST(BrainrotCodec, SnapshotTtlIsTheRemainingLifetime) {
  brainrot_module m;
  const time_ms hour = 3600 * 1000;
  EXPECT_EQ(m.snapshot_ttl_s(t0, t0, 1000), 13 * 3600);
  EXPECT_EQ(m.snapshot_ttl_s(t0, t0 + 12 * hour, 1000), 3600);
  EXPECT_EQ(m.snapshot_ttl_s(t0, t0 + 20 * hour, 1000), 1);
}

}  // namespace
}  // namespace partyd::brainrot::testing
