// Brainrot reply limits (docs/protocol/brainrot.md, Limits): a room's largest frame (a master's
// STATE_SYNC_RESPONSE, with every avatar twice) stays within reply_max_bytes. Avatars share that
// budget (the one that would pass it is refused invalid_avatar / too_large), and a CREATE_ROOM
// whose room could send more is refused limit_reached / room_too_large. The driver also checks
// every step against the module's largest reply.
#include "brainrot_harness.hpp"

#include "games/brainrot/reply_size.hpp"

namespace partyd::brainrot::testing {
namespace {

std::string image_of(std::size_t chars) {
  std::string image = "data:image/jpeg;base64,";
  image.resize(chars, 'A');
  return image;
}

outcome set_avatar(harness& h, connection_id conn, const std::string& image) {
  return h.send(conn, "UPDATE_AVATAR",
                {{"device_id", harness::device(conn)},
                 {"player_id", harness::player_of(conn)},
                 {"image", image}});
}

// The size of the one frame of `type` sent to `conn` (0 when none).
std::size_t frame_bytes(const outcome& o, connection_id conn, std::string_view type) {
  for (const effect& e : o.effects) {
    if (e.kind == effect_kind::send && e.conn == conn &&
        json::parse(*e.frame).at("type").as_string() == type) {
      return e.frame->size();
    }
  }
  return 0;
}

TEST(BrainrotLimits, AvatarsShareTheRoomsReplyLimitAndTheRoomStaysJoinable) {
  const brainrot_config config;
  harness h;
  h.claim_all();
  const std::string full = image_of(config.avatar_max_chars);
  // Two avatars of the largest size fit (each counts twice in the master's sync)...
  EXPECT_FALSE(set_avatar(h, 11, full).broadcast("PLAYER_UPDATE").second.empty());
  EXPECT_FALSE(set_avatar(h, 12, full).broadcast("PLAYER_UPDATE").second.empty());
  // ...a third does not: refused in the seed's shape, with what is left.
  outcome third = set_avatar(h, 13, full);
  json::object e = third.error(13);
  EXPECT_EQ(e.at("error"), "bad_request");
  EXPECT_EQ(e.at("message"), "invalid_avatar");
  EXPECT_EQ(e.at("details").at("reason"), "too_large");
  const std::uint64_t left = e.at("details").at("max_chars").to_number<std::uint64_t>();
  EXPECT_LT(left, config.avatar_max_chars);
  EXPECT_TRUE(third.unchanged);
  EXPECT_FALSE(h.state().players[2].avatar_url);
  // What is left is taken; one more character is not.
  EXPECT_EQ(set_avatar(h, 13, image_of(left + 1)).error(13).at("message"), "invalid_avatar");
  EXPECT_FALSE(set_avatar(h, 13, image_of(left)).broadcast("PLAYER_UPDATE").second.empty());
  EXPECT_EQ(set_avatar(h, 14, image_of(100)).error(14).at("message"), "invalid_avatar");

  // Every reply still fits: a new device joins, a master syncs.
  outcome join = h.join(20);
  EXPECT_GT(frame_bytes(join, 20, "JOIN_OK"), 2 * config.avatar_max_chars);
  EXPECT_LE(frame_bytes(join, 20, "JOIN_OK"), config.reply_max_bytes);
  outcome sync = h.sync(1, true);
  const std::size_t sync_bytes = frame_bytes(sync, 1, "STATE_SYNC_RESPONSE");
  EXPECT_GT(sync_bytes, config.reply_max_bytes * 9 / 10);
  EXPECT_LE(sync_bytes, config.reply_max_bytes);
  EXPECT_LE(sync_bytes, largest_reply_bound(config, h.state()));

  // Smaller avatars free their share for another.
  EXPECT_FALSE(set_avatar(h, 11, image_of(1000)).broadcast("PLAYER_UPDATE").second.empty());
  EXPECT_FALSE(set_avatar(h, 13, image_of(1000)).broadcast("PLAYER_UPDATE").second.empty());
  EXPECT_FALSE(set_avatar(h, 14, full).broadcast("PLAYER_UPDATE").second.empty());
}

TEST(BrainrotLimits, ARoomThatCouldSendTooMuchIsNotCreated) {
  brainrot_config config;
  config.avatar_max_chars = 100;
  config.max_message_bytes = 262144;
  config.reply_max_bytes = 2 * config.avatar_max_chars + 65536;
  ASSERT_EQ(brainrot_module::check_config(config), "");
  brainrot_module module(config);
  // 200 senders with 100-character ids: about 25 KB of payload, far more in a master's sync.
  json::array senders;
  json::array truth;
  for (int i = 0; i < 200; ++i) {
    std::string id = std::to_string(i) + std::string(100, 's');
    std::string name = "n";  // appended: "n" + to_string() trips a GCC 12 false -Wrestrict
    name += std::to_string(i);
    senders.emplace_back(
        json::object{{"sender_id", id}, {"name", name}, {"active", true}, {"reels_count", 1}});
    if (i < 2) truth.emplace_back(id);
  }
  json::object item{{"item_id", "i"},
                    {"reel", {{"reel_id", "r"}, {"url", "https://r/"}}},
                    {"true_sender_ids", truth}};
  json::object payload{
      {"senders", senders},
      {"rounds", json::array{json::object{{"round_id", "r1"}, {"items", json::array{item}}}}}};
  const std::string text = envelope("CREATE_ROOM", payload);
  ASSERT_LT(text.size(), config.max_message_bytes);
  decode_result decoded = module.decode(text, true);
  ASSERT_TRUE(decoded.error);
  json::object e = json::parse(encode_error(decoded.error.code, decoded.error.message))
                       .as_object()
                       .at("payload")
                       .as_object();
  EXPECT_EQ(e.at("error"), "bad_request");
  EXPECT_EQ(e.at("message"), "limit_reached");
  EXPECT_EQ(e.at("details").at("reason"), "room_too_large");
  EXPECT_EQ(e.at("details").at("max_bytes").to_number<std::uint64_t>(), config.reply_max_bytes);
  // The admin API's create refuses it too.
  EXPECT_EQ(module.create(payload, "ABCDEFGH").error.code, "bad_request");
  // With the default limit it is created.
  EXPECT_FALSE(brainrot_module().decode(text, true).error);
}

// The bound holds for the frames that grow in the game: every player renamed to its longest
// name, every voter choosing k long ids, the results in a master's sync.
TEST(BrainrotLimits, TheBoundCoversAVoteOfLongIdsAndLongestNames) {
  json::array senders;
  json::array truth;
  for (int i = 1; i <= 6; ++i) {
    std::string id = "s";
    id += std::to_string(i);
    id.resize(126, 'x');  // its player id "p_" + id is the longest id allowed
    senders.emplace_back(json::object{
        {"sender_id", id}, {"name", "n"}, {"active", true}, {"reels_count", 9007199254740991}});
    truth.emplace_back(id);
  }
  json::object item{{"item_id", std::string(128, 'i')},
                    {"reel", {{"reel_id", std::string(128, 'r')}, {"url", "https://r/"}}},
                    {"true_sender_ids", truth}};
  json::object payload{{"senders", senders},
                       {"rounds", json::array{json::object{{"round_id", std::string(128, 'R')},
                                                           {"items", json::array{item}}}}}};
  const brainrot_config config;
  harness h(payload, config);
  // A name of 24 control characters: 6 bytes each in JSON.
  const std::string longest(24, '\x01');
  std::vector<std::string> ids;
  for (const auto& s : senders) ids.emplace_back(s.at("sender_id").as_string());
  for (connection_id c = 11; c <= 16; ++c) {
    const std::string player = "p_" + ids[c - 11];
    h.join(c);
    ASSERT_TRUE(h.take(c, player).has_sent(c, "TAKE_PLAYER_OK"));
    h.send(c, "RENAME_PLAYER",
           {{"device_id", harness::device(c)}, {"player_id", player}, {"new_name", longest}});
  }
  const std::size_t bound = largest_reply_bound(config, h.state());
  h.start();
  const std::string round = std::string(128, 'R');
  const std::string item_id = std::string(128, 'i');
  h.open_reel(round, item_id);
  json::array all(ids.begin(), ids.end());
  std::size_t results = 0;
  for (connection_id c = 11; c <= 16; ++c) {
    outcome o = h.vote(c, round, item_id, all, "p_" + ids[c - 11]);
    for (const effect& e : o.effects) {
      if (e.frame && json::parse(*e.frame).at("type") == "VOTE_RESULTS") results = e.frame->size();
    }
  }
  ASSERT_GT(results, 0u);
  EXPECT_LE(results, bound);
  const std::size_t sync = frame_bytes(h.sync(1, true), 1, "STATE_SYNC_RESPONSE");
  ASSERT_GT(sync, 0u);
  EXPECT_LE(sync, bound);
  EXPECT_EQ(largest_reply_bound(config, h.state()), bound) << "only avatars move the bound";
}

TEST(BrainrotLimits, ConfigTiesAndTheDefaultsFitTheOutbox) {
  const brainrot_config defaults;
  EXPECT_EQ(brainrot_module::check_config(defaults), "");
  EXPECT_LE(defaults.largest_reply_bytes(), std::size_t{1} << 20);
  brainrot_module module(defaults);
  EXPECT_EQ(check_largest_reply(module, std::size_t{1} << 20), "");
  EXPECT_NE(check_largest_reply(module, 900000).find("game 'brainrot'"), std::string::npos);
  brainrot_config small = defaults;
  small.reply_max_bytes = 2 * small.avatar_max_chars;
  EXPECT_NE(brainrot_module::check_config(small), "");
}

}  // namespace
}  // namespace partyd::brainrot::testing
