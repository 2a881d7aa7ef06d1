// game_driver: drives any game through its module and the Game interface, without sockets or the
// engine, on a manual clock. It does what the worker would: decodes text as io does (a secret on
// each connection's first message), steps the game, keeps the timers the effects arm and fires
// them when the clock passes their deadline, and checks the engine's rules on every step:
// - a step that marks itself unchanged really leaves the snapshot bytes and the rng as they were;
// - no effect uses an out type, role or timer key the engine would refuse;
// - snapshot -> restore -> snapshot gives the same bytes (restore_round_trip()).
// Each game's harness (tests/unit/games/<game>/) wraps one with that game's vocabulary.
// Single-threaded: the test thread only.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "engine/effects.hpp"
#include "engine/game.hpp"
#include "engine/rng.hpp"
#include "games/common/reply_bound.hpp"

namespace partyd::testing {

// One step's output.
struct step_outcome {
  protocol_error decode_error;  // set when decode refused the text (no step ran)
  std::vector<effect> effects;
  bool unchanged = false;  // the step marked itself unchanged

  // Frames (parsed) sent to one connection by `send`, in order.
  std::vector<boost::json::object> to(connection_id conn) const {
    std::vector<boost::json::object> frames;
    for (const effect& e : effects) {
      if (e.kind == effect_kind::send && e.conn == conn) frames.push_back(parse(e));
    }
    return frames;
  }
  // Frames broadcast with send_roles, with their role masks.
  std::vector<std::pair<role_mask, boost::json::object>> broadcasts() const {
    std::vector<std::pair<role_mask, boost::json::object>> frames;
    for (const effect& e : effects) {
      if (e.kind == effect_kind::send_roles) frames.emplace_back(e.roles, parse(e));
    }
    return frames;
  }
  std::vector<const effect*> of_kind(effect_kind kind) const {
    std::vector<const effect*> found;
    for (const effect& e : effects) {
      if (e.kind == kind) found.push_back(&e);
    }
    return found;
  }
  const effect* close_of(connection_id conn) const {
    for (const effect& e : effects) {
      if (e.kind == effect_kind::close_connection && e.conn == conn) return &e;
    }
    return nullptr;
  }
  std::size_t count_of(std::string_view counter) const {
    std::size_t n = 0;
    for (const effect& e : effects) n += (e.kind == effect_kind::count && e.text == counter);
    return n;
  }
  bool important() const { return !of_kind(effect_kind::important).empty(); }

  static boost::json::object parse(const effect& e) {
    return boost::json::parse(*e.frame).as_object();
  }
};

// Every frame of a step that viewer `conn` gets: its own sends and every broadcast, in order.
inline std::vector<boost::json::object> frames_for(const step_outcome& s, connection_id conn) {
  std::vector<boost::json::object> frames;
  for (const effect& e : s.effects) {
    if ((e.kind == effect_kind::send && e.conn == conn) || e.kind == effect_kind::send_roles) {
      frames.push_back(boost::json::parse(*e.frame).as_object());
    }
  }
  return frames;
}

// The first frame of `type` (a copy: callers pass temporaries).
inline std::optional<boost::json::object> first_of(const std::vector<boost::json::object>& frames,
                                                   std::string_view type) {
  for (const boost::json::object& f : frames) {
    if (f.at("type").as_string() == type) return f;
  }
  return std::nullopt;
}

class game_driver {
 public:
  game_driver(const game_module& module, std::unique_ptr<game> instance, time_ms start,
              std::uint64_t seed = 7)
      : module_(&module), game_(std::move(instance)), rng_(seed), now_(start) {}

  // Decodes `text` as io would, then steps the game with it. A connection's first message
  // carries `secret` (or a made-up one). A refused first message leaves the connection unrouted;
  // a first message that creates a room is io's business, not this room's: both run no step.
  step_outcome send_text(connection_id conn, std::string_view text, std::string secret = {}) {
    const bool first = seen_.insert(conn).second;
    decode_result decoded = module_->decode(text, first);
    step_outcome result;
    if (decoded.error || (first && decoded.creates_room)) {
      if (first) seen_.erase(conn);
      result.decode_error = std::move(decoded.error);
      return result;
    }
    input in;
    in.kind = input_kind::command;
    in.conn = conn;
    in.cmd = std::move(decoded.cmd);
    if (first) {
      // Built by appending: "s" + to_string(...) trips a GCC 12 false -Wrestrict warning.
      in.secret = std::move(secret);
      if (in.secret.empty()) {
        in.secret = "secret";
        in.secret += std::to_string(conn);
      }
    }
    return step(in);
  }

  // `conn` speaks without a first message of its own: a session's seat, resumed after a restore,
  // whose messages the engine hands over as the seat's.
  void mark_routed(connection_id conn) { seen_.insert(conn); }

  step_outcome engine_input(input_kind kind, connection_id conn = 0, std::uint64_t timer_key = 0) {
    input in;
    in.kind = kind;
    in.conn = conn;
    in.timer_key = timer_key;
    return step(in);
  }

  // Steps the game with `in` at the current time and checks what it produced.
  step_outcome step(const input& in) {
    effects out;
    const std::string before = game_->snapshot();
    const room_rng::state_type rng_before = rng_.state();
    game_->step(in, now_, rng_, out);
    step_outcome result;
    result.effects = out.list();
    result.unchanged = out.marked_unchanged();
    if (result.unchanged) {
      EXPECT_EQ(game_->snapshot(), before) << "a step marked unchanged changed the snapshot";
      EXPECT_EQ(rng_.state(), rng_before) << "a step marked unchanged drew from the room rng";
    }
    check_and_track(result.effects);
    log_.insert(log_.end(), out.list().begin(), out.list().end());
    return result;
  }

  // Moves the clock by `ms` and fires, in deadline order, every armed timer now due (as the
  // engine's timer wheel would). Returns the outcomes of the timer steps.
  std::vector<step_outcome> advance(time_ms ms) {
    now_ += ms;
    std::vector<step_outcome> fired;
    for (;;) {
      auto due = timers_.end();
      for (auto it = timers_.begin(); it != timers_.end(); ++it) {
        if (it->second <= now_ && (due == timers_.end() || it->second < due->second)) due = it;
      }
      if (due == timers_.end()) break;
      const std::uint64_t key = due->first;
      timers_.erase(due);
      fired.push_back(engine_input(input_kind::timer, 0, key));
    }
    return fired;
  }

  // The room rebuilt by its module from its snapshot; the rebuilt room must write the same bytes.
  std::unique_ptr<game> restore_round_trip() const {
    const std::string bytes = game_->snapshot();
    std::unique_ptr<game> restored = module_->restore(bytes);
    EXPECT_TRUE(restored) << "the module refused its own snapshot";
    if (restored) {
      EXPECT_EQ(restored->snapshot(), bytes);
    }
    return restored;
  }

  time_ms now() const { return now_; }
  // Armed game timers: key -> deadline.
  const std::map<std::uint64_t, time_ms>& timers() const { return timers_; }
  // Timers armed before a restore: the engine keeps them for the restored room.
  void keep_timers(std::map<std::uint64_t, time_ms> timers) { timers_ = std::move(timers); }
  void forget(connection_id conn) { seen_.erase(conn); }
  void mark_seen(connection_id conn) { seen_.insert(conn); }
  const game_module& module() const { return *module_; }
  game& instance() { return *game_; }
  room_rng& rng() { return rng_; }
  // Every effect of every step so far.
  std::vector<effect>& log() { return log_; }

 private:
  void check_and_track(const std::vector<effect>& list) {
    check_reply_sizes(list);
    for (const effect& e : list) {
      switch (e.kind) {
        case effect_kind::send:
        case effect_kind::send_roles:
          EXPECT_LT(e.type, module_->out_types().size()) << "out type index";
          EXPECT_TRUE(e.frame) << "a send without a frame";
          break;
        case effect_kind::bind:
          EXPECT_LT(e.role, module_->role_names().size()) << "role";
          break;
        case effect_kind::set_timer:
          EXPECT_LT(e.timer_key, first_reserved_timer_key) << "engine-reserved timer key";
          timers_[e.timer_key] = e.deadline;
          break;
        case effect_kind::cancel_timer:
          EXPECT_LT(e.timer_key, first_reserved_timer_key) << "engine-reserved timer key";
          timers_.erase(e.timer_key);
          break;
        case effect_kind::close_room:
          timers_.clear();
          break;
        default:
          break;
      }
    }
  }

  // What one step queues for one connection (its own frames and every broadcast, each with a
  // WebSocket header) never exceeds the largest reply the module declares for its limits, which
  // the server checks against --outbox-max-bytes at start-up (games/common/reply_bound.hpp).
  void check_reply_sizes(const std::vector<effect>& list) const {
    const auto* bound = dynamic_cast<const reply_bound*>(module_);
    if (bound == nullptr) return;
    constexpr std::size_t header = 10;
    std::size_t broadcast = 0;
    std::map<connection_id, std::size_t> direct;
    for (const effect& e : list) {
      if (!e.frame) continue;
      if (e.kind == effect_kind::send) direct[e.conn] += e.frame->size() + header;
      if (e.kind == effect_kind::send_roles) broadcast += e.frame->size() + header;
    }
    std::size_t largest = broadcast;
    for (const auto& [conn, bytes] : direct) largest = std::max(largest, bytes + broadcast);
    EXPECT_LE(largest, bound->largest_reply_bytes())
        << "one step queued more for a connection than the game's largest reply";
  }

  const game_module* module_;
  std::unique_ptr<game> game_;
  room_rng rng_;
  time_ms now_;
  std::map<std::uint64_t, time_ms> timers_;
  std::set<connection_id> seen_;
  std::vector<effect> log_;
};

}  // namespace partyd::testing
