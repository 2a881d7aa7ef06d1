// Test harness for Mafia: a room (or the queue) driven through its module's decode and create as
// io and the worker would, on a manual clock (support/game_driver.hpp). It plays the engine's part
// for connections: each connection's first message carries an identity, binds and releases are
// tracked, a leaving message unroutes its connection, and every frame is delivered to the inbox
// of each viewer it reaches (sends and role broadcasts), so tests can read what every viewer saw.
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

#include "games/mafia/codec.hpp"
#include "games/mafia/game.hpp"
#include "games/mafia/matchmaker.hpp"
#include "games/mafia/module.hpp"
#include "support/game_driver.hpp"

namespace partyd::mafia::testing {

namespace json = boost::json;
using partyd::testing::game_driver;
using partyd::testing::step_outcome;

inline constexpr std::string_view room_code = "KQMAF7";
inline constexpr time_ms t0 = 1700000000000;

inline std::string str(const json::value& v) { return std::string(v.as_string()); }
inline std::string user_of(connection_id conn) { return "user-" + std::to_string(conn); }
inline std::string msg(std::string_view type, const json::object& payload = {}) {
  return json::serialize(json::object{{"type", type}, {"payload", payload}});
}

// The engine's `created` input of a restored room.
inline input created_input() {
  input in;
  in.kind = input_kind::created;
  return in;
}

inline mafia_config fast_config() {
  mafia_config c;
  c.match_countdown_ms = 1000;
  return c;
}

class mafia_table {
 public:
  // A room made by module.create(options, room_code) (the queue with {"queue": true}).
  explicit mafia_table(json::object options = {}, mafia_config config = fast_config(),
                       std::uint64_t seed = 7, std::string code = std::string(room_code))
      : module_(std::move(config)) {
    create_result created = module_.create(options, code);
    EXPECT_FALSE(created.error) << created.error.code << " " << created.error.message;
    driver_ = std::make_unique<game_driver>(module_, std::move(created.instance), t0, seed);
    created_ = track(driver_->engine_input(input_kind::created));
  }

  // `text` from `conn`; a first message carries the identity of user_of(conn) (unless
  // `anonymous`) and the username "Name <conn>".
  step_outcome send(connection_id conn, std::string_view text, bool anonymous = false) {
    const bool first = routed_.insert(conn).second;
    decode_result decoded = module_.decode(text, first);
    if (decoded.error || decoded.identity) {
      if (first) routed_.erase(conn);
      step_outcome refused;
      refused.decode_error = decoded.error;
      return refused;
    }
    const bool leaves = !first && decoded.leaves_room;
    input in;
    in.kind = input_kind::command;
    in.conn = conn;
    in.cmd = std::move(decoded.cmd);
    if (first) {
      in.secret = "secret";
      in.secret += std::to_string(conn);
      if (!anonymous) {
        in.identity = std::make_shared<const connection_identity>(
            connection_identity{user_of(conn), "Name " + std::to_string(conn), true});
      }
    }
    step_outcome out = track(driver_->step(in));
    if (leaves) unroute(conn);
    return out;
  }

  step_outcome join(connection_id conn) {
    return send(conn, msg("room:join", {{"roomCode", room_code}}));
  }
  step_outcome create(connection_id conn) { return send(conn, msg("room:create")); }
  step_outcome ready(connection_id conn) { return send(conn, msg("room:ready")); }
  step_outcome start(connection_id conn) { return send(conn, msg("room:start")); }
  step_outcome leave(connection_id conn) { return send(conn, msg("room:leave")); }
  step_outcome act(connection_id conn, std::string_view action, connection_id target) {
    return send(conn, msg(action, {{"targetId", user_of(target)}}));
  }
  step_outcome vote(connection_id conn, std::optional<connection_id> target) {
    return send(conn, msg("vote:cast", {{"targetId", target ? json::value(user_of(*target))
                                                            : json::value(nullptr)}}));
  }
  step_outcome chat(connection_id conn, std::string_view text) {
    return send(conn, msg("chat:send", {{"message", text}}));
  }

  // A lobby of `players` seats (conns 1..players), all ready; conn 1 is the host.
  void seat(int players) {
    for (int c = 1; c <= players; ++c) {
      join(static_cast<connection_id>(c));
      if (c > 1) ready(static_cast<connection_id>(c));
    }
  }
  void seat_and_start(int players) {
    seat(players);
    const step_outcome started = start(1);
    ASSERT_TRUE(first_frame(started, "game:phase")) << "the game did not start";
  }

  step_outcome presence(connection_id conn, presence_stage stage) {
    input in;
    in.kind = input_kind::presence;
    in.conn = conn;
    in.stage = stage;
    return track(driver_->step(in));
  }
  step_outcome disconnect(connection_id conn) {
    step_outcome out = track(driver_->engine_input(input_kind::disconnect, conn));
    unroute(conn);
    return out;
  }
  step_outcome engine(input in) { return track(driver_->step(in)); }
  std::vector<step_outcome> advance(time_ms ms) {
    std::vector<step_outcome> fired = driver_->advance(ms);
    for (auto& f : fired) track_effects(f);
    return fired;
  }
  // Fires the phase timer at its deadline.
  std::vector<step_outcome> to_phase_end() {
    return advance(game().state().phase_ends_at - driver_->now());
  }

  const mafia_game& game() const { return dynamic_cast<const mafia_game&>(driver_->instance()); }
  const mafia_matchmaker& queue() const {
    return dynamic_cast<const mafia_matchmaker&>(driver_->instance());
  }
  game_driver& driver() { return *driver_; }
  const mafia_module& module() const { return module_; }
  const step_outcome& created() const { return created_; }
  time_ms now() const { return driver_->now(); }

  // Every frame each viewer got so far, in order.
  const std::vector<json::object>& inbox(connection_id conn) { return inbox_[conn]; }
  void clear_inboxes() { inbox_.clear(); }
  bool bound(connection_id conn) const { return bound_.count(conn) != 0; }
  // Releases seen so far: conn -> the next message it was handed (possibly empty).
  const std::map<connection_id, std::string>& released() const { return released_; }

  // The seat of `role` (the first one), as the room dealt it.
  connection_id conn_with(role r) const {
    for (const auto& p : game().state().players) {
      if (p.assigned == r && p.in_game && p.alive) return p.conn;
    }
    return 0;
  }
  std::vector<connection_id> living(std::optional<role> r = std::nullopt) const {
    std::vector<connection_id> out;
    for (const auto& p : game().state().players) {
      if (p.in_game && p.alive && (!r || p.assigned == *r)) out.push_back(p.conn);
    }
    return out;
  }
  std::string role_of(connection_id conn) const {
    for (const auto& p : game().state().players) {
      if (p.conn == conn) return std::string(role_name(p.assigned));
    }
    return {};
  }

  // The room rebuilt from its snapshot (the same bytes again); its timers are kept.
  void restore() {
    std::unique_ptr<partyd::game> restored = driver_->restore_round_trip();
    ASSERT_TRUE(restored);
    const auto timers = driver_->timers();
    driver_ = std::make_unique<game_driver>(module_, std::move(restored), driver_->now());
    driver_->keep_timers(timers);
    for (connection_id c : routed_) driver_->mark_seen(c);
  }

  static std::optional<json::object> first_frame(const step_outcome& s, std::string_view type) {
    for (const effect& e : s.effects) {
      if ((e.kind == effect_kind::send || e.kind == effect_kind::send_roles) &&
          json::parse(*e.frame).as_object().at("type").as_string() == type) {
        return json::parse(*e.frame).as_object();
      }
    }
    return std::nullopt;
  }

 private:
  step_outcome track(step_outcome s) {
    track_effects(s);
    return s;
  }
  void track_effects(const step_outcome& s) {
    for (const effect& e : s.effects) {
      switch (e.kind) {
        case effect_kind::bind:
          bound_[e.conn] = e.role;
          break;
        case effect_kind::send:
          if (bound_.count(e.conn) || routed_.count(e.conn)) {
            inbox_[e.conn].push_back(json::parse(*e.frame).as_object());
          }
          break;
        case effect_kind::send_roles:
          for (const auto& [conn, role] : bound_) {
            if ((e.roles & role_bit(role)) && conn != e.except) {
              inbox_[conn].push_back(json::parse(*e.frame).as_object());
            }
          }
          break;
        case effect_kind::release:
          released_[e.conn] = e.text;
          unroute(e.conn);
          break;
        case effect_kind::close_connection:
          unroute(e.conn);
          break;
        default:
          break;
      }
    }
  }
  void unroute(connection_id conn) {
    bound_.erase(conn);
    routed_.erase(conn);
    driver_->forget(conn);
  }

  mafia_module module_;
  std::unique_ptr<game_driver> driver_;
  step_outcome created_;
  std::set<connection_id> routed_;
  std::map<connection_id, role_id> bound_;
  std::map<connection_id, std::vector<json::object>> inbox_;
  std::map<connection_id, std::string> released_;
};

}  // namespace partyd::mafia::testing
