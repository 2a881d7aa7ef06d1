// Test harness for the quiz: a quiz_game driven through its module's decode and create as io
// and the worker would (each connection's first message carries the identity its token gave),
// on a manual clock (support/game_driver.hpp), with helpers for the frames.
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

#include "games/quiz/codec.hpp"
#include "games/quiz/game.hpp"
#include "games/quiz/module.hpp"
#include "support/game_driver.hpp"

namespace partyd::quiz::testing {

namespace json = boost::json;
using partyd::testing::game_driver;
using partyd::testing::step_outcome;

inline constexpr std::string_view room_code = "QUIZ42";
inline constexpr time_ms t0 = 1700000000000;

inline std::string str(const json::value& v) { return std::string(v.as_string()); }

using partyd::testing::first_of;
using partyd::testing::frames_for;

class quiz_room {
 public:
  explicit quiz_room(quiz_config config = {}, json::object settings = {}, std::uint64_t seed = 7)
      : module_(std::move(config)) {
    json::object options;
    if (!settings.empty()) options["settings"] = std::move(settings);
    create_result created = module_.create(options, room_code);
    EXPECT_FALSE(created.error) << created.error.code << " " << created.error.message;
    driver_ = std::make_unique<game_driver>(module_, std::move(created.instance), t0, seed);
  }

  // `text` from `conn`; its first message carries `user`'s identity (name: "Name of <user>").
  step_outcome send(connection_id conn, std::string_view text, std::string_view user = {}) {
    const bool first = seen_.insert(conn).second;
    decode_result decoded = module_.decode(text, first);
    if (decoded.error) {
      if (first) seen_.erase(conn);
      step_outcome refused;
      refused.decode_error = decoded.error;
      return refused;
    }
    input in;
    in.kind = input_kind::command;
    in.conn = conn;
    in.cmd = std::move(decoded.cmd);
    if (first) {
      in.secret = "secret";  // appended: "s" + to_string trips a GCC 12 false -Wrestrict
      in.secret += std::to_string(conn);
      if (!user.empty()) {
        in.identity = std::make_shared<const connection_identity>(
            connection_identity{std::string(user), "Name of " + std::string(user)});
      }
    }
    return driver_->step(in);
  }
  step_outcome join(connection_id conn, std::string_view user) {
    return send(conn, R"({"type":"lobby:join","code":"QUIZ42"})", user);
  }
  step_outcome start(connection_id conn) { return send(conn, R"({"type":"lobby:start"})"); }
  step_outcome answer(connection_id conn, std::string_view question_id, int option) {
    return send(conn, "{\"type\":\"game:answer\",\"questionId\":\"" + std::string(question_id) +
                          "\",\"optionIndex\":" + std::to_string(option) + "}");
  }
  step_outcome settings(connection_id conn, std::string_view settings_json) {
    return send(conn,
                "{\"type\":\"lobby:settings\",\"settings\":" + std::string(settings_json) + "}");
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

  // The open question's correct option (from the room's state: the test is the server here).
  std::uint32_t correct() const {
    const auto& g = game().state().game;
    return g.questions.at(g.round - 1).correct_index;
  }
  std::uint32_t wrong() const { return correct() == 0 ? 1 : 0; }
  std::string question_id() const {
    const auto& g = game().state().game;
    return "g" + std::to_string(g.number) + "q" + std::to_string(g.round);
  }

  const quiz_game& game() const { return static_cast<const quiz_game&>(driver_->instance()); }
  game_driver& driver() { return *driver_; }
  const quiz_module& module() const { return module_; }
  time_ms now() const { return driver_->now(); }
  // The room rebuilt from its snapshot (the same bytes again). Its armed timers are the engine's
  // to keep: a test fires them with fire_timer().
  void restore() {
    std::unique_ptr<partyd::game> restored = driver_->restore_round_trip();
    ASSERT_TRUE(restored);
    driver_ = std::make_unique<game_driver>(module_, std::move(restored), driver_->now());
    for (connection_id c : seen_) driver_->mark_seen(c);
  }
  step_outcome fire_timer(std::uint64_t key) {
    return driver_->engine_input(input_kind::timer, 0, key);
  }

 private:
  quiz_module module_;
  std::unique_ptr<game_driver> driver_;
  std::set<connection_id> seen_;
};

}  // namespace partyd::quiz::testing
