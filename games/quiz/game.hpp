// quiz_game: the quiz room's rules (docs/protocol/quiz.md). Owns a quiz::room_state.
// Thread: touched only by the room's worker, one input at a time; step() is deterministic (no
// clock but `now`, no randomness but the room's rng) and throws only on an impossible state.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "engine/game.hpp"
#include "games/quiz/codec.hpp"
#include "games/quiz/module.hpp"
#include "games/quiz/state.hpp"

namespace partyd {

class quiz_game : public game {
 public:
  static constexpr std::uint64_t close_timer_key = 1;  // the open question's deadline
  static constexpr std::uint64_t next_timer_key = 2;   // the pause after a result is over

  quiz_game(quiz_config config, quiz::room_state state);

  void step(const input& in, time_ms now, room_rng& rng, effects& out) override;
  std::string snapshot() const override;  // snapshot.cpp
  room_summary summary() const noexcept override;
  session_view view_of(connection_id conn, time_ms now) const override;
  std::string checksum_of(connection_id conn) const override;
  bool holds_session(connection_id conn) const override;

  const quiz::room_state& state() const noexcept { return state_; }

 private:
  void on_command(const input& in, time_ms now, room_rng& rng, effects& out);
  void on_create(const input& in, effects& out);
  void on_join(const input& in, const quiz::request& req, effects& out);
  void on_leave(quiz::member& who, time_ms now, effects& out);
  void on_settings(const quiz::member& who, const quiz::request& req, effects& out);
  void on_start(const quiz::member& who, time_ms now, room_rng& rng, effects& out);
  void on_answer(const quiz::member& who, const quiz::request& req, time_ms now, effects& out);
  void on_disconnect(connection_id conn, time_ms now, effects& out);
  void on_presence(connection_id conn, presence_stage stage, time_ms now, effects& out);
  void on_timer(std::uint64_t key, time_ms now, effects& out);

  void ask_question(time_ms now, effects& out);
  void close_question(time_ms now, quiz::close_reason by, effects& out);
  void finish(effects& out);
  // Closes the open question when every connected player has answered.
  void close_if_all_answered(time_ms now, effects& out);
  // Removes a member (leave, or a session that ended outside a game); the host role passes on.
  // False when the lobby is empty now and the room was closed. `user_id` by value: callers pass
  // the member's own field, which the removal destroys.
  bool remove_member(std::string user_id, effects& out);
  void close_all(std::string_view reason, effects& out);
  void refuse(connection_id conn, std::string_view code, std::string_view message,
              std::string_view request_type, effects& out) const;

  // Lookups.
  quiz::member* member_by_conn(connection_id conn) noexcept;
  const quiz::member* member_by_conn(connection_id conn) const noexcept;
  quiz::member* member_by_user(std::string_view user_id) noexcept;
  const quiz::member* member_by_user(std::string_view user_id) const noexcept;
  quiz::player* player_by_user(std::string_view user_id) noexcept;
  bool in_game() const noexcept;
  std::string question_id() const;
  std::uint32_t expected_answers() const;

  // Payloads (frames are these with their "type" first).
  boost::json::object lobby_fields() const;
  boost::json::object question_fields() const;
  boost::json::object result_fields() const;
  boost::json::array ranking() const;

  void send(connection_id conn, quiz::out_type type, const boost::json::object& fields,
            effects& out, bool reliable = false) const;
  void broadcast(quiz::out_type type, const boost::json::object& fields, effects& out,
                 bool reliable = false) const;
  // An error to the sender alone, for a command that changed nothing.
  void reject(connection_id conn, std::string_view code, std::string_view message,
              std::string_view request_type, effects& out) const;
  // `late`, after the step closed the question (which changed the state).
  void send_late_error(connection_id conn, effects& out) const;
  // The current game to a seat that came back on a new connection: question and last result.
  void catch_up(connection_id conn, const quiz::member& who, effects& out) const;

  quiz_config config_;
  quiz::room_state state_;
};

// snapshot.cpp: rebuilds a quiz_game from snapshot() bytes; nullptr on any malformed input.
// Every member is disconnected until its session resumes.
std::unique_ptr<game> quiz_restore(const quiz_config& config, std::string_view bytes) noexcept;

}  // namespace partyd
