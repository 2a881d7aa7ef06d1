// Relay codec and module: decode errors of every kind, field validation, encode_error, create.
#include "relay_harness.hpp"

namespace partyd::relay::testing {
namespace {

TEST(RelayCodec, DecodeErrorTable) {
  struct row {
    const char* name;
    std::string text;
    bool first;
    const char* code;
  };
  const std::string big_meta = std::string("\"").append(1100, 'm').append("\"");
  std::vector<row> rows = {
      {"not json", "{nope", false, "invalid_json"},
      {"empty", "", false, "invalid_json"},
      {"array", "[1,2]", false, "invalid_json"},
      {"string", "\"handshake\"", false, "invalid_json"},
      {"trailing garbage", R"({"type":"leave"} x)", false, "invalid_json"},
      {"invalid utf8", "{\"type\":\"leave\",\"x\":\"\xff\"}", false, "invalid_json"},
      {"too deep", R"({"type":"leave","x":)" + std::string(40, '[') + std::string(40, ']') + "}",
       false, "invalid_json"},
      {"infinite number in a state", R"({"type":"set_game_state","state":{"x":1e400}})", false,
       "invalid_json"},
      {"infinite number in meta",
       R"({"type":"handshake","roomCode":"A","role":"player","meta":{"n":-1e999}})", true,
       "invalid_json"},
      {"infinite number in a message", R"({"type":"message_to_host","message":[1,2e308]})", false,
       "invalid_json"},
      {"missing type", R"({"roomCode":"A"})", false, "unknown_type"},
      {"type not string", R"({"type":5})", false, "unknown_type"},
      {"unknown type", R"({"type":"dance"})", false, "unknown_type"},
      {"server type", R"({"type":"game_state","state":{}})", false, "unknown_type"},
      {"first not handshake", R"({"type":"leave"})", true, "handshake_required"},
      {"handshake no room", R"({"type":"handshake","role":"host"})", true, "bad_request"},
      {"handshake room number", R"({"type":"handshake","roomCode":1,"role":"host"})", true,
       "bad_request"},
      {"handshake empty room", R"({"type":"handshake","roomCode":"","role":"host"})", true,
       "bad_request"},
      {"handshake no role", R"({"type":"handshake","roomCode":"A"})", true, "bad_request"},
      {"handshake bad role", R"({"type":"handshake","roomCode":"A","role":"king"})", true,
       "bad_request"},
      {"handshake password number",
       R"({"type":"handshake","roomCode":"A","role":"player","password":1})", true, "bad_request"},
      {"handshake hostKey object",
       R"({"type":"handshake","roomCode":"A","role":"host","hostKey":{}})", true, "bad_request"},
      {"handshake clientId array",
       R"({"type":"handshake","roomCode":"A","role":"player","clientId":[]})", true, "bad_request"},
      {"handshake oversize meta",
       R"({"type":"handshake","roomCode":"A","role":"player","meta":)" + big_meta + "}", true,
       "bad_request"},
      {"game state array", R"({"type":"set_game_state","state":[]})", false, "bad_request"},
      {"game state missing", R"({"type":"set_game_state"})", false, "bad_request"},
      {"player state no client", R"({"type":"set_player_state","state":{}})", false, "bad_request"},
      {"player state string", R"({"type":"set_player_state","clientId":"p","state":"x"})", false,
       "bad_request"},
      {"message missing", R"({"type":"message_to_host"})", false, "bad_request"},
      {"poll no id", R"({"type":"poll_start","pollType":"free_text","question":"q"})", false,
       "bad_request"},
      {"poll long id",
       R"({"type":"poll_start","pollType":"free_text","question":"q","pollId":")" +
           std::string(65, 'i') + "\"}",
       false, "bad_request"},
      {"poll bad type", R"({"type":"poll_start","pollId":"p","pollType":"rank","question":"q"})",
       false, "bad_request"},
      {"poll empty question",
       R"({"type":"poll_start","pollId":"p","pollType":"free_text","question":""})", false,
       "bad_request"},
      {"poll long question",
       R"({"type":"poll_start","pollId":"p","pollType":"free_text","question":")" +
           std::string(501, 'q') + "\"}",
       false, "bad_request"},
      {"choice without options",
       R"({"type":"poll_start","pollId":"p","pollType":"single_choice","question":"q"})", false,
       "bad_request"},
      {"choice one option",
       R"({"type":"poll_start","pollId":"p","pollType":"single_choice","question":"q","options":["a"]})",
       false, "bad_request"},
      {"choice duplicate options",
       R"({"type":"poll_start","pollId":"p","pollType":"multiple_choice","question":"q","options":["a","a"]})",
       false, "bad_request"},
      {"choice empty option",
       R"({"type":"poll_start","pollId":"p","pollType":"single_choice","question":"q","options":["a",""]})",
       false, "bad_request"},
      {"choice number option",
       R"({"type":"poll_start","pollId":"p","pollType":"single_choice","question":"q","options":["a",2]})",
       false, "bad_request"},
      {"choice options object",
       R"({"type":"poll_start","pollId":"p","pollType":"single_choice","question":"q","options":{}})",
       false, "bad_request"},
      {"free text with options",
       R"({"type":"poll_start","pollId":"p","pollType":"free_text","question":"q","options":["a","b"]})",
       false, "bad_request"},
      {"response missing", R"({"type":"poll_response","pollId":"p"})", false, "bad_request"},
      {"response id number", R"({"type":"poll_response","pollId":1,"response":"a"})", false,
       "bad_request"},
      {"end no id", R"({"type":"poll_end"})", false, "bad_request"},
      {"results no id", R"({"type":"poll_results_request"})", false, "bad_request"},
      {"close reason number", R"({"type":"close_room","reason":3})", false, "bad_request"},
      {"close reason long", R"({"type":"close_room","reason":")" + std::string(201, 'r') + "\"}",
       false, "bad_request"},
  };
  relay_module module;
  for (const row& r : rows) {
    decode_result d = module.decode(r.text, r.first);
    EXPECT_EQ(d.error.code, r.code) << r.name << ": " << d.error.message;
    EXPECT_FALSE(d.error.message.empty()) << r.name;
    EXPECT_EQ(d.cmd, nullptr) << r.name;
  }
}

TEST(RelayCodec, BadRequestNamesTheField) {
  relay_module module;
  decode_result d = module.decode(R"({"type":"set_player_state","clientId":"p","state":1})", false);
  EXPECT_NE(d.error.message.find("state"), std::string::npos);
  d = module.decode(R"({"type":"handshake","roomCode":"A","role":"player","meta":")" +
                        std::string(2000, 'x') + "\"}",
                    true);
  EXPECT_NE(d.error.message.find("meta"), std::string::npos);
}

TEST(RelayCodec, OversizeMessageAndState) {
  relay_config config;
  config.max_message_bytes = 200;
  config.state_max_bytes = 60;
  relay_module module(config);
  EXPECT_EQ(module.max_message_bytes(), 200u);
  EXPECT_EQ(module.decode(std::string(201, ' '), false).error.code, "bad_request");
  // State serialized size over the limit.
  const std::string state = "{\"a\":\"" + std::string(80, 'x') + "\"}";
  EXPECT_EQ(module.decode(R"({"type":"set_game_state","state":)" + state + "}", false).error.code,
            "bad_request");
  // Whitespace does not count against the state limit.
  const std::string padded =
      R"({"type":"set_game_state","state":{"a":1})" + std::string(150, ' ') + "}";
  EXPECT_FALSE(module.decode(padded, false).error);
}

TEST(RelayCodec, DecodesEveryMessage) {
  relay_module module;
  struct row {
    std::string text;
    in_type type;
  };
  std::vector<row> rows = {
      {R"({"type":"handshake","roomCode":"AB","role":"player","password":"pw","clientId":"p_1","meta":{"n":1}})",
       in_type::handshake},
      {R"({"type":"set_game_state","state":{"a":[1,2]}})", in_type::set_game_state},
      {R"({"type":"set_player_state","clientId":"p_1","state":{}})", in_type::set_player_state},
      {R"({"type":"message_to_host","message":[1,"two"]})", in_type::message_to_host},
      {R"({"type":"leave","extra":true})", in_type::leave},
      {R"({"type":"poll_start","pollId":"p","pollType":"free_text","question":"q","options":[]})",
       in_type::poll_start},
      {R"({"type":"poll_response","pollId":"p","response":["a"]})", in_type::poll_response},
      {R"({"type":"poll_end","pollId":"p"})", in_type::poll_end},
      {R"({"type":"poll_results_request","pollId":"p"})", in_type::poll_results_request},
      {R"({"type":"close_room","reason":null})", in_type::close_room},
  };
  for (const row& r : rows) {
    decode_result d = module.decode(r.text, false);
    ASSERT_FALSE(d.error) << r.text << ": " << d.error.message;
    ASSERT_NE(d.cmd, nullptr);
    EXPECT_EQ(d.cmd->type, index_of(r.type));
    EXPECT_EQ(module.in_types()[d.cmd->type], json::parse(r.text).at("type").as_string());
  }
  decode_result hs = module.decode(rows[0].text, true);
  EXPECT_EQ(hs.room_code, "AB");
  auto* cmd = dynamic_cast<handshake_cmd*>(hs.cmd.get());
  ASSERT_NE(cmd, nullptr);
  EXPECT_EQ(cmd->role, player_role);
  EXPECT_EQ(cmd->password, "pw");
  EXPECT_EQ(cmd->client_id, "p_1");
  EXPECT_EQ(cmd->meta, R"({"n":1})");
  EXPECT_FALSE(cmd->host_key);
}

// docs/protocol/relay.md: meta, message and player state are relayed as the client wrote them.
TEST(RelayCodec, ClientJsonIsKeptAsWritten) {
  relay_module module;
  decode_result d = module.decode(
      R"({"type":"handshake","roomCode":"A","role":"player", "meta" : { "n" : [1.10, -0, 1e2] } })",
      true);
  const auto* hs = dynamic_cast<const handshake_cmd*>(d.cmd.get());
  ASSERT_NE(hs, nullptr) << d.error.message;
  EXPECT_EQ(hs->meta, R"({ "n" : [1.10, -0, 1e2] })");
  d = module.decode(R"({"type":"handshake","roomCode":"A","role":"player","meta":null})", true);
  hs = dynamic_cast<const handshake_cmd*>(d.cmd.get());
  ASSERT_NE(hs, nullptr);
  EXPECT_FALSE(hs->meta) << "null is absent";

  d = module.decode(R"({"type":"message_to_host","message":"\u00e9\ud83d\ude00"})", false);
  const auto* message = dynamic_cast<const message_to_host_cmd*>(d.cmd.get());
  ASSERT_NE(message, nullptr);
  EXPECT_EQ(message->message, R"("\u00e9\ud83d\ude00")");
  d = module.decode(R"({"type":"message_to_host","message":null})", false);
  message = dynamic_cast<const message_to_host_cmd*>(d.cmd.get());
  ASSERT_NE(message, nullptr);
  EXPECT_EQ(message->message, "null");

  d = module.decode(
      R"({"type":"set_player_state","state":{"big":123456789012345678901234567890},"clientId":"p"})",
      false);
  const auto* state = dynamic_cast<const set_player_state_cmd*>(d.cmd.get());
  ASSERT_NE(state, nullptr);
  EXPECT_EQ(state->state, R"({"big":123456789012345678901234567890})");

  // A member that cannot be cut out of the message (a duplicate key) is written again, compact.
  d = module.decode(R"({"type":"message_to_host","message":1,"message":[1.10]})", false);
  message = dynamic_cast<const message_to_host_cmd*>(d.cmd.get());
  ASSERT_NE(message, nullptr);
  EXPECT_EQ(message->message, "[1.1E0]");
}

TEST(RelayCodec, NamesAndErrorFrame) {
  relay_module module;
  EXPECT_EQ(module.name(), "relay");
  EXPECT_EQ(module.ws_path(), "/ws/relay");
  ASSERT_EQ(module.role_names().size(), 3u);
  EXPECT_EQ(module.role_names()[0], "host");
  EXPECT_EQ(module.role_names()[1], "player");
  EXPECT_EQ(module.role_names()[2], "audience");
  EXPECT_EQ(module.out_types()[index_of(out_type::error)], "error");
  EXPECT_EQ(module.in_types().size(), 10u);
  EXPECT_EQ(module.out_types().size(), 16u);
  json::value e = json::parse(module.encode_error("room_not_found", "no such \"room\""));
  EXPECT_EQ(e,
            (json::object{
                {"type", "error"}, {"code", "room_not_found"}, {"message", "no such \"room\""}}));
  json::value hs = json::parse(module.encode_handshake_error("room_not_found", "no room"));
  EXPECT_EQ(hs, (json::object{{"type", "handshake_response"},
                              {"status", "error"},
                              {"code", "room_not_found"},
                              {"message", "no room"}}));
}

// A decode error names the request once the envelope named a known type; io turns it into an
// error frame with requestType for every message after the first.
TEST(RelayCodec, DecodeErrorsKeepTheRequestType) {
  relay_module module;
  struct row {
    const char* name;
    std::string text;
    bool first;
    std::string_view request_type;  // empty: none
  };
  std::vector<row> rows = {
      {"game state array", R"({"type":"set_game_state","state":[1,2]})", false, "set_game_state"},
      {"poll id number", R"({"type":"poll_response","pollId":1,"response":"a"})", false,
       "poll_response"},
      {"later handshake", R"({"type":"handshake","role":"host"})", false, "handshake"},
      {"first handshake", R"({"type":"handshake","role":"host"})", true, "handshake"},
      {"first not handshake", R"({"type":"leave"})", true, "leave"},
      {"not json", "{nope", false, ""},
      {"missing type", R"({"state":{}})", false, ""},
      {"unknown type", R"({"type":"dance"})", false, ""},
  };
  for (const row& r : rows) {
    decode_result d = module.decode(r.text, r.first);
    ASSERT_TRUE(d.error) << r.name;
    EXPECT_EQ(d.request_type, r.request_type) << r.name;
  }
  decode_result ok = module.decode(R"({"type":"poll_end","pollId":"p"})", false);
  EXPECT_FALSE(ok.error);
  EXPECT_EQ(ok.request_type, "poll_end");

  decode_result d = module.decode(R"({"type":"set_game_state","state":[1,2]})", false);
  EXPECT_EQ(module.encode_request_error(d.error.code, d.error.message, d.request_type),
            R"({"type":"error","code":"bad_request","message":"field 'state' must be an object",)"
            R"("requestType":"set_game_state"})");
  // Errors without a known type keep their frame.
  EXPECT_EQ(
      module.encode_error("invalid_json", "message must be one JSON object"),
      R"({"type":"error","code":"invalid_json","message":"message must be one JSON object"})");
}

TEST(RelayCodec, StateTextMatchesTheObjectEncoding) {
  const auto state = boost::json::parse(R"({"seq":7,"t":12,"pad":"x\"y","nested":{"a":[1,2]}})");
  boost::json::object frame = frame_of(out_type::game_state);
  frame["state"] = state;
  EXPECT_EQ(encode_with_state(out_type::game_state, boost::json::serialize(state)), encode(frame));
  EXPECT_EQ(encode_with_state(out_type::game_state, "{}"), R"({"type":"game_state","state":{}})");
  EXPECT_EQ(parse_state(boost::json::serialize(state)), state.as_object());
  EXPECT_TRUE(parse_state("not json").empty());
}

TEST(RelayModule, CreateOptionsTable) {
  struct row {
    const char* name;
    json::object options;
    bool ok;
  };
  std::vector<row> rows = {
      {"empty", {}, true},
      {"full", {{"password", "pw"}, {"maxPlayers", 1000}, {"maxAudience", 5000}}, true},
      {"nulls", {{"password", nullptr}, {"maxPlayers", nullptr}}, true},
      {"password number", {{"password", 5}}, false},
      {"password too long", {{"password", std::string(129, 'p')}}, false},
      {"negative players", {{"maxPlayers", -1}}, false},
      {"huge audience", {{"maxAudience", 5001}}, false},
      {"players past --relay-max-seats", {{"maxPlayers", 1001}}, false},
      {"fractional", {{"maxPlayers", 2.5}}, false},
      {"string capacity", {{"maxPlayers", "8"}}, false},
  };
  relay_module module;
  for (const row& r : rows) {
    create_result c = module.create(r.options, "CODE12");
    if (r.ok) {
      ASSERT_FALSE(c.error) << r.name << ": " << c.error.message;
      ASSERT_NE(c.instance, nullptr);
    } else {
      EXPECT_EQ(c.error.code, "bad_request") << r.name;
      EXPECT_EQ(c.instance, nullptr) << r.name;
    }
  }
  create_result c =
      module.create({{"password", "pw"}, {"maxPlayers", 8}, {"maxAudience", 3}}, "CODE12");
  EXPECT_EQ(c.reply.at("roomCode"), "CODE12");
  EXPECT_EQ(c.reply.at("game"), "relay");
  EXPECT_EQ(c.reply.at("maxPlayers"), 8);
  EXPECT_EQ(c.reply.at("maxAudience"), 3);
  EXPECT_EQ(c.reply.at("hasPassword"), true);
  EXPECT_GE(c.reply.at("hostKey").as_string().size(), 32u);
  // Secrets are stored only as digests.
  const std::string snap = c.instance->snapshot();
  EXPECT_EQ(snap.find(std::string(c.reply.at("hostKey").as_string())), std::string::npos);
  EXPECT_EQ(snap.find("\"pw\""), std::string::npos);
  EXPECT_NE(snap.find("sha256:"), std::string::npos);
  create_result other = module.create({}, "CODE13");
  EXPECT_NE(other.reply.at("hostKey"), c.reply.at("hostKey"));
  EXPECT_EQ(other.reply.at("hasPassword"), false);
}

TEST(RelayModule, Sha256Digest) {
  EXPECT_EQ(sha256_tagged("abc"),
            "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
}

}  // namespace
}  // namespace partyd::relay::testing
