// Test harness for Alias: an alias_game made through its module's create and driven through its
// decode as io and the worker would (the host's first message is CREATE_ROOM, the players'
// JOIN_ROOM), on a manual clock (support/game_driver.hpp), with helpers for frames.
// Single-threaded (test thread only).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "games/alias/codec.hpp"
#include "games/alias/game.hpp"
#include "games/alias/module.hpp"
#include "support/game_driver.hpp"

namespace partyd::alias::testing {

namespace json = boost::json;
using partyd::testing::game_driver;
using partyd::testing::step_outcome;

inline constexpr std::string_view room_code = "ALIAS7";
inline constexpr time_ms t0 = 1700000000000;
inline constexpr connection_id host_conn = 1;

inline std::string str(const json::value& v) { return std::string(v.as_string()); }

// `prefix` followed by `n`, built by appending: "P" + std::to_string(n) trips a false GCC 12
// -Wrestrict warning.
inline std::string numbered(std::string_view prefix, long long n) {
  std::string out(prefix);
  out += std::to_string(n);
  return out;
}

using partyd::testing::first_of;
using partyd::testing::frames_for;

inline std::size_t count_of(const std::vector<json::object>& frames, std::string_view type) {
  std::size_t n = 0;
  for (const json::object& f : frames) n += f.at("type").as_string() == type ? 1 : 0;
  return n;
}

// The error code of a step's ERROR to `conn` ("" when none).
inline std::string error_code(const step_outcome& s, connection_id conn) {
  for (const json::object& f : s.to(conn)) {
    if (f.at("type").as_string() == "ERROR") return str(f.at("payload").at("code"));
  }
  return {};
}

class alias_room {
 public:
  // A room created by the host's CREATE_ROOM with `payload` (hostName added when absent).
  explicit alias_room(json::object payload = {}, alias_config config = {}, std::uint64_t seed = 7)
      : module_(std::move(config)) {
    if (!payload.contains("hostName")) payload["hostName"] = "Hana";
    const std::string text = json::serialize(
        json::object{{"type", "CREATE_ROOM"}, {"version", "1.0"}, {"payload", payload}});
    decode_result decoded = module_.decode(text, true);
    EXPECT_FALSE(decoded.error) << decoded.error.code << " " << decoded.error.message;
    EXPECT_TRUE(decoded.creates_room);
    create_result created = module_.create(decoded.create_options, room_code);
    EXPECT_FALSE(created.error) << created.error.code << " " << created.error.message;
    driver_ = std::make_unique<game_driver>(module_, std::move(created.instance), t0, seed);
    input in;
    in.kind = input_kind::command;
    in.conn = host_conn;
    in.cmd = std::move(decoded.cmd);
    in.secret = "secret-host";
    created_ = driver_->step(in);
    driver_->mark_seen(host_conn);
  }

  step_outcome send(connection_id conn, std::string_view text) {
    return driver_->send_text(conn, text);
  }
  // A message {type, payload} from `conn`.
  step_outcome command(connection_id conn, std::string_view type, json::object payload = {}) {
    return send(conn, json::serialize(json::object{{"type", type}, {"payload", payload}}));
  }
  step_outcome join(connection_id conn, std::string_view name) {
    return send(conn, json::serialize(json::object{{"type", "JOIN_ROOM"},
                                                   {"roomId", room_code},
                                                   {"payload", {{"playerName", name}}}}));
  }
  step_outcome join_team(connection_id conn, std::string_view team) {
    return command(conn, "JOIN_TEAM", {{"teamId", team}});
  }
  step_outcome swipe(bool guessed) {
    return command(host_conn, "WORD_SWIPED",
                   {{"wordId", word_id()}, {"action", guessed ? "guessed" : "skipped"}});
  }
  step_outcome presence(connection_id conn, presence_stage stage) {
    input in;
    in.kind = input_kind::presence;
    in.conn = conn;
    in.stage = stage;
    return driver_->step(in);
  }
  step_outcome disconnect(connection_id conn) {
    return driver_->engine_input(input_kind::disconnect, conn);
  }
  std::vector<step_outcome> advance(time_ms ms) { return driver_->advance(ms); }

  // Players 2..(1 + n) joined, set up in `teams` teams (player i on team (i % teams) + 1), and the
  // game started: after this the countdown is running.
  void ready_teams(int players = 4, int teams = 2) {
    for (int i = 0; i < players; ++i) {
      join(static_cast<connection_id>(2 + i), numbered("P", i + 1));
    }
    command(host_conn, "START_TEAM_SETUP", {{"numTeams", teams}});
    for (int i = 0; i < players; ++i) {
      join_team(static_cast<connection_id>(2 + i), numbered("team_", i % teams + 1));
    }
  }
  void start_round() {
    if (game().state().current == phase::ready_to_start ||
        game().state().current == phase::ready_for_next) {
      command(host_conn, "CONFIRM_START");
    }
    advance(static_cast<time_ms>(module_.config().countdown_sec) * 1000);
  }

  std::string word_id() const { return numbered("word_", game().state().word_serial); }
  std::string word_text() const {
    const auto& s = game().state();
    return selected_pack(s.config)->words.at(*s.current_word).text;
  }

  const alias_game& game() const { return static_cast<const alias_game&>(driver_->instance()); }
  game_driver& driver() { return *driver_; }
  const alias_module& module() const { return module_; }
  const step_outcome& created() const { return created_; }
  time_ms now() const { return driver_->now(); }
  // The room rebuilt from its snapshot; the armed timers stay armed, as the engine keeps them.
  void restore() {
    const std::map<std::uint64_t, time_ms> timers = driver_->timers();
    std::unique_ptr<partyd::game> restored = driver_->restore_round_trip();
    ASSERT_TRUE(restored);
    const time_ms now = driver_->now();
    driver_ = std::make_unique<game_driver>(module_, std::move(restored), now);
    for (connection_id c = 1; c < 64; ++c) driver_->mark_seen(c);
    driver_->keep_timers(timers);
  }

 private:
  alias_module module_;
  std::unique_ptr<game_driver> driver_;
  step_outcome created_;
};

}  // namespace partyd::alias::testing
