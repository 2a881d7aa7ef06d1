// Test harness for the brainrot game: drives a brainrot_game through its module's decode, create
// and the Game interface as io and the worker would (CREATE_ROOM as a first message creates the
// room, then is its first input with a secret), on a manual clock, and parses the frames.
// Single-threaded (test thread only).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "engine/effects.hpp"
#include "engine/game.hpp"
#include "engine/rng.hpp"
#include "games/brainrot/codec.hpp"
#include "games/brainrot/game.hpp"
#include "games/brainrot/module.hpp"
#include "support/game_driver.hpp"

namespace partyd::brainrot::testing {

namespace json = boost::json;

inline constexpr std::string_view room_code = "ABCDEFGH";
inline constexpr time_ms t0 = 1700000000000;
inline constexpr connection_id master_conn = 1;
inline constexpr std::string_view master_secret = "master-secret-0123456789abcdef01";

inline std::string str(const json::value& v) { return std::string(v.as_string()); }

// 5 senders (s5 inactive); r1 = i1 {s1}, i2 {s2,s3}, i3 {s4}; r2 = j1 {s3}, j2 {s1,s4}.
inline json::object default_payload() {
  json::array senders;
  const std::vector<std::pair<std::string, std::string>> names = {
      {"s1", "Ann"}, {"s2", "Bob"}, {"s3", "Cat"}, {"s4", "Dan"}, {"s5", "Eve"}};
  for (const auto& [id, name] : names) {
    senders.emplace_back(json::object{
        {"sender_id", id}, {"name", name}, {"active", id != "s5"}, {"reels_count", 3}});
  }
  auto item = [](std::string id, std::vector<std::string> truth) {
    json::array t;
    for (auto& s : truth) t.emplace_back(s);
    return json::object{{"item_id", id},
                        {"reel", {{"reel_id", "reel_" + id}, {"url", "https://r/" + id}}},
                        {"true_sender_ids", std::move(t)}};
  };
  json::array rounds;
  rounds.emplace_back(json::object{
      {"round_id", "r1"},
      {"items", json::array{item("i1", {"s1"}), item("i2", {"s2", "s3"}), item("i3", {"s4"})}}});
  rounds.emplace_back(json::object{
      {"round_id", "r2"}, {"items", json::array{item("j1", {"s3"}), item("j2", {"s1", "s4"})}}});
  return json::object{{"senders", std::move(senders)}, {"rounds", std::move(rounds)}};
}

inline std::string envelope(std::string_view type, json::object payload) {
  return json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}});
}

// One step's output, with brainrot's own questions.
struct outcome : partyd::testing::step_outcome {
  outcome() = default;
  outcome(partyd::testing::step_outcome o) : step_outcome(std::move(o)) {}  // NOLINT

  // The payload of the first frame of `type` sent to `conn`; empty object when none.
  json::object sent(connection_id conn, std::string_view type) const {
    for (const json::object& frame : to(conn)) {
      if (frame.at("type").as_string() == type) return frame.at("payload").as_object();
    }
    return {};
  }
  bool has_sent(connection_id conn, std::string_view type) const {
    for (const json::object& frame : to(conn)) {
      if (frame.at("type").as_string() == type) return true;
    }
    return false;
  }
  // The payload of the broadcast of `type` and its roles (0 when none).
  std::pair<role_mask, json::object> broadcast(std::string_view type) const {
    for (auto& [roles, frame] : broadcasts()) {
      if (frame.at("type").as_string() == type) return {roles, frame.at("payload").as_object()};
    }
    return {0, {}};
  }
  // The ERROR payload sent to `conn` (or produced by decode); empty when none.
  json::object error(connection_id conn) const {
    if (decode_error) {
      return json::parse(encode_error(decode_error.code, decode_error.message))
          .as_object()
          .at("payload")
          .as_object();
    }
    return sent(conn, "ERROR");
  }
  std::string error_code(connection_id conn) const {
    json::object e = error(conn);
    return e.contains("error") ? str(e.at("error")) : std::string();
  }
  // The VOTE_ACK reason ("accepted" when accepted, "" when no ack).
  std::string ack(connection_id conn) const {
    json::object a = sent(conn, "VOTE_ACK");
    if (a.empty()) return {};
    if (a.at("accepted").as_bool()) return "accepted";
    return str(a.at("reason"));
  }
};

inline constexpr role_mask master_bit = role_bit(master_role);
inline constexpr role_mask play_bit = role_bit(play_role);
inline constexpr role_mask everyone = master_bit | play_bit;

class harness {
 public:
  explicit harness(json::object payload = default_payload(), brainrot_config config = {})
      : module_(config), driver_(module_, nullptr, t0) {
    decode_result decoded = module_.decode(envelope("CREATE_ROOM", payload), true);
    EXPECT_FALSE(decoded.error) << decoded.error.message;
    EXPECT_TRUE(decoded.creates_room);
    create_result made = module_.create(decoded.create_options, room_code);
    EXPECT_FALSE(made.error) << made.error.message;
    if (!made.instance) return;
    driver_ = partyd::testing::game_driver(module_, std::move(made.instance), t0);
    engine_input(input_kind::created);
    // The CREATE_ROOM socket's first message is the room's first command (io hands it over).
    driver_.mark_seen(master_conn);
    input in;
    in.kind = input_kind::command;
    in.conn = master_conn;
    in.cmd = std::move(decoded.cmd);
    in.secret = std::string(master_secret);
    created_ = driver_.step(in);
    json::object p = created_.sent(master_conn, "ROOM_CREATED");
    EXPECT_FALSE(p.empty());
    if (!p.empty()) master_key_ = str(p.at("master_key"));
  }
  explicit harness(std::unique_ptr<game> restored, brainrot_config config = {})
      : module_(config), driver_(module_, std::move(restored), t0) {
    master_key_ = std::string(master_secret);
  }

  outcome send_text(connection_id conn, std::string_view text) {
    return driver_.send_text(conn, text);
  }
  outcome send(connection_id conn, std::string_view type, json::object payload) {
    if (!payload.contains("code")) payload["code"] = room_code;
    return send_text(conn, envelope(type, std::move(payload)));
  }
  // A master message with the right key (unless `payload` brings its own).
  outcome master(std::string_view type, json::object payload = {},
                 connection_id conn = master_conn) {
    if (!payload.contains("master_key")) payload["master_key"] = master_key_;
    return send(conn, type, std::move(payload));
  }
  outcome engine_input(input_kind kind, connection_id conn = 0, std::uint64_t timer_key = 0) {
    return driver_.engine_input(kind, conn, timer_key);
  }

  // --- steps of a game ---
  // Device "d<conn>" on connection `conn`.
  static std::string device(connection_id conn) {
    return std::string("d").append(std::to_string(conn));
  }
  outcome join(connection_id conn) {
    return send(conn, "JOIN_ROOM", {{"device_id", device(conn)}});
  }
  outcome take(connection_id conn, std::string_view player_id) {
    return send(conn, "TAKE_PLAYER", {{"device_id", device(conn)}, {"player_id", player_id}});
  }
  // Connections 11..14 join and take p_s1..p_s4.
  void claim_all() {
    for (connection_id c = 11; c <= 14; ++c) {
      join(c);
      outcome o = take(c, player_of(c));
      EXPECT_TRUE(o.has_sent(c, "TAKE_PLAYER_OK")) << c;
    }
  }
  static std::string player_of(connection_id conn) { return "p_s" + std::to_string(conn - 10); }
  outcome start() { return master("START_GAME"); }
  outcome open_reel(std::string round_id, std::string item_id) {
    return master("REEL_OPENED", {{"round_id", round_id}, {"item_id", item_id}});
  }
  outcome end_item(std::string round_id, std::string item_id) {
    return master("END_ITEM", {{"round_id", round_id}, {"item_id", item_id}});
  }
  outcome vote(connection_id conn, std::string round_id, std::string item_id,
               json::array selections, std::string player_id = {}) {
    return send(conn, "SUBMIT_VOTE",
                {{"device_id", device(conn)},
                 {"player_id", player_id.empty() ? player_of(conn) : player_id},
                 {"round_id", round_id},
                 {"item_id", item_id},
                 {"selections", std::move(selections)}});
  }
  outcome sync(connection_id conn, bool as_master = false) {
    json::object p{{"device_id", device(conn)}};
    if (as_master) p["master_key"] = master_key_;
    return send(conn, "STATE_SYNC", std::move(p));
  }
  // claim_all + START_GAME.
  void started() {
    claim_all();
    outcome o = start();
    EXPECT_FALSE(o.broadcast("GAME_START").second.empty());
  }

  // Moves the manual clock, firing the timers that fall due (the expiry's grace timer).
  std::vector<partyd::testing::step_outcome> advance(time_ms ms) { return driver_.advance(ms); }
  time_ms now() const { return driver_.now(); }
  const outcome& created() const { return created_; }
  const std::string& master_key() const { return master_key_; }
  game& instance() { return driver_.instance(); }
  brainrot_game& brainrot() { return dynamic_cast<brainrot_game&>(driver_.instance()); }
  const room_state& state() { return brainrot().state(); }
  const brainrot_module& module() const { return module_; }
  std::vector<effect>& log() { return driver_.log(); }
  partyd::testing::game_driver& driver() { return driver_; }

 private:
  brainrot_module module_;
  partyd::testing::game_driver driver_;
  std::string master_key_;
  outcome created_;
};

}  // namespace partyd::brainrot::testing
