// alias_game: the Alias room's rules (docs/protocol/alias.md). Owns an alias::room_state; every
// change of its phase goes through the transition table (games/alias/machine.hpp).
// Thread: touched only by the room's worker, one input at a time; step() is deterministic (no
// clock but `now`, no randomness but the room's rng) and throws only on an impossible state.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "engine/game.hpp"
#include "games/alias/codec.hpp"
#include "games/alias/machine.hpp"
#include "games/alias/module.hpp"
#include "games/alias/state.hpp"

namespace partyd {

class alias_game : public game {
 public:
  static constexpr std::uint64_t countdown_timer_key = 1;  // ROUND_STARTING's 3-2-1
  static constexpr std::uint64_t clock_timer_key = 2;      // TIMER_TICK and the round's end
  static constexpr std::uint64_t review_timer_key = 3;     // the end of the score review
  static constexpr std::uint64_t host_gone_timer_key = 4;  // the host away: auto-pause

  alias_game(alias_config config, alias::room_state state);

  void step(const input& in, time_ms now, room_rng& rng, effects& out) override;
  std::string snapshot() const override;  // snapshot.cpp
  room_summary summary() const noexcept override;
  session_view view_of(connection_id conn, time_ms now) const override;
  std::string checksum_of(connection_id conn) const override;
  bool holds_session(connection_id conn) const override;
  std::uint64_t state_version() const noexcept override { return state_.state_version; }

  const alias::room_state& state() const noexcept { return state_; }

 private:
  using person = alias::participant;

  void on_command(const input& in, time_ms now, room_rng& rng, effects& out);
  void on_create(const input& in, const alias::request& req, time_ms now, effects& out);
  void on_join(const input& in, const alias::request& req, time_ms now, effects& out);
  void on_leave(person& who, bool voluntary, time_ms now, effects& out);
  void on_start_setup(const person& who, const alias::request& req, time_ms now, effects& out);
  void on_join_team(const person& who, const alias::request& req, time_ms now, effects& out);
  void on_cancel_setup(const person& who, time_ms now, effects& out);
  void on_confirm_start(const person& who, time_ms now, room_rng& rng, effects& out);
  void on_swipe(const person& who, const alias::request& req, time_ms now, effects& out);
  void on_pause(const person& who, time_ms now, effects& out);
  void on_resume(const person& who, time_ms now, effects& out);
  void on_restart(const person& who, time_ms now, effects& out);
  void on_close(const person& who, time_ms now, effects& out);
  void on_disconnect(connection_id conn, time_ms now, effects& out);
  void on_presence(connection_id conn, presence_stage stage, time_ms now, effects& out);
  void on_timer(std::uint64_t key, time_ms now, effects& out);
  void on_restored(time_ms now, effects& out);

  // The transition table (machine.hpp) for an event: applies it (moving the phase and, unless
  // the event keeps it, stateVersion) and returns true; for a refused or no-op event returns
  // false and, when `actor` is given, answers a refusal with INVALID_TRANSITION.
  bool fire(alias::event what, connection_id actor, std::string_view request_type, time_ms now,
            effects& out);
  // Whether `what` would apply now, without applying it.
  bool allowed(alias::event what) const noexcept;

  // The game.
  void start_game(time_ms now);
  void begin_countdown(time_ms now, room_rng& rng, effects& out);
  void start_round(time_ms now, effects& out);
  void end_round(alias::end_reason why, time_ms now, effects& out);
  void after_review(time_ms now, effects& out);
  void reveal_next_word(time_ms now, effects& out);
  void send_current_word(connection_id conn, time_ms now, effects& out) const;
  void arm_clock(time_ms now, effects& out);
  void pause_round(bool by_system, time_ms now, effects& out);
  // Pauses the running round when the host has been gone for host_pause_after_ms.
  bool pause_if_host_gone(time_ms now, effects& out);
  void reset_to_lobby();
  // After a change of teams in TEAM_SETUP or READY_TO_START: moves to READY_TO_START when the
  // teams are balanced (and says so), and tells everyone when a change unbalanced them.
  void settle_balance(bool was_ready, time_ms now, effects& out);
  bool teams_balanced() const;
  // Host promotion (seed 004, 3.5): the earliest-joined connected player, else the earliest.
  void promote_host(std::string_view previous_id, std::string_view reason, time_ms now,
                    effects& out);
  void close_all(std::string_view reason, time_ms now, effects& out);

  // Lookups.
  person* by_conn(connection_id conn) noexcept;
  const person* by_conn(connection_id conn) const noexcept;
  person* by_id(std::string_view id) noexcept;
  const person* by_id(std::string_view id) const noexcept;
  person* host() noexcept;
  const person* host() const noexcept;
  alias::team* team_by_id(std::string_view id) noexcept;
  const alias::team* team_by_id(std::string_view id) const noexcept;
  std::uint32_t player_count() const noexcept;
  std::string next_explainer(const alias::team& t) const;
  std::string current_word_id() const;

  // Payloads (a frame is its payload in the envelope, with currentState and stateVersion).
  boost::json::array teams_json() const;
  boost::json::array players_json() const;
  boost::json::object settings_json() const;
  boost::json::object scores_json() const;
  boost::json::array leaderboard_json() const;
  boost::json::object round_json(const alias::round_figures& r) const;
  boost::json::object final_json(time_ms now) const;
  boost::json::object room_view(const person& viewer, time_ms now) const;

  void send(connection_id conn, alias::out_type type, boost::json::object payload, time_ms now,
            effects& out, bool reliable = false) const;
  void broadcast(alias::out_type type, boost::json::object payload, time_ms now, effects& out,
                 bool reliable = false) const;
  // An error to the sender alone, for a command that changed nothing.
  void reject(connection_id conn, std::string_view code, std::string_view message,
              std::string_view request_type, time_ms now, effects& out) const;
  // The same, in a step that changed the room (the error must not mark the step unchanged).
  void send_error(connection_id conn, std::string_view code, std::string_view message,
                  std::string_view request_type, time_ms now, effects& out) const;

  alias_config config_;
  alias::room_state state_;
};

// snapshot.cpp: rebuilds an alias_game from snapshot() bytes; nullptr on any malformed input.
// Every participant is disconnected until its session resumes.
std::unique_ptr<game> alias_restore(const alias_config& config, std::string_view bytes) noexcept;

}  // namespace partyd
