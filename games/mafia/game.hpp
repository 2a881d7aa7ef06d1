// One Mafia room (docs/protocol/mafia.md): a lobby with a host, ready flags and kicks; a game of
// private roles through night, day and voting phases with absolute deadlines; chat channels by
// phase and life; a 30 s reconnect grace through the session layer; the finished game's record
// for the history database, kept in the state until the history confirms it.
// Thread: the room's worker only.
#pragma once

#include <string>

#include "engine/game.hpp"
#include "games/mafia/codec.hpp"
#include "games/mafia/module.hpp"
#include "games/mafia/state.hpp"

namespace partyd {

class mafia_game final : public game {
 public:
  static constexpr std::uint64_t phase_timer = 1;      // the current phase's end
  static constexpr std::uint64_t countdown_timer = 2;  // a matched room's start
  static constexpr std::uint64_t history_timer = 3;    // offer unwritten records again

  mafia_game(const mafia_config& config, mafia::room_state state);

  void step(const input& in, time_ms now, room_rng& rng, effects& out) override;
  std::string snapshot() const override;
  room_summary summary() const noexcept override;
  session_view view_of(connection_id conn, time_ms now) const override;
  std::string checksum_of(connection_id conn) const override;
  bool holds_session(connection_id conn) const override;

  const mafia::room_state& state() const noexcept { return state_; }

 private:
  using request = mafia::request;
  using out_type = mafia::out_type;

  void on_command(const input& in, const request& req, time_ms now, room_rng& rng, effects& out);
  void on_enter(const input& in, const request& req, time_ms now, effects& out);
  void on_leave(connection_id conn, time_ms now, room_rng& rng, effects& out);
  void on_gone(connection_id conn, time_ms now, room_rng& rng, effects& out);
  // A seat whose connection is gone for good (left, or past the grace): the rule of its state.
  void vacate(mafia::player& p, time_ms now, room_rng& rng, effects& out);
  void on_presence(connection_id conn, presence_stage stage, effects& out);
  void on_ready(connection_id conn, bool ready, std::string_view type, effects& out);
  // The host's lobby actions (kick, start): refused to anyone else, and during a game.
  bool host_in_lobby(const mafia::player& actor, std::string_view what, std::string_view type,
                     effects& out) const;
  void on_kick(connection_id conn, const request& req, time_ms now, effects& out);
  void on_start(connection_id conn, time_ms now, room_rng& rng, effects& out);
  void on_action(connection_id conn, const request& req, effects& out);
  void on_chat(connection_id conn, const request& req, time_ms now, effects& out);
  void on_mute(connection_id conn, const request& req, bool mute, effects& out);
  void on_vote(connection_id conn, const request& req, time_ms now, room_rng& rng, effects& out);
  void on_phase_timer(time_ms now, room_rng& rng, effects& out);
  void on_countdown(time_ms now, room_rng& rng, effects& out);
  void close_all(std::string_view reason, effects& out);
  // Closes the room, or, while the history lacks some of its records, waits for them first.
  void close_when_written(std::string_view reason, effects& out);
  void offer_records(effects& out) const;
  void on_record_written(const input& in, time_ms now, effects& out);
  boost::json::object record_of(const mafia::history_entry& e) const;

  void start_game(time_ms now, room_rng& rng, effects& out);
  void begin_phase(mafia::phase next, time_ms now, effects& out, boost::json::object extra = {});
  void end_night(time_ms now, room_rng& rng, effects& out);
  void end_voting(time_ms now, room_rng& rng, effects& out);
  // Checks the end of the game after a death; true when it ended.
  bool check_winner(time_ms now, room_rng& rng, effects& out);
  void end_game(std::string winner, time_ms now, room_rng& rng, effects& out);
  void kill(mafia::player& p, mafia::death_cause cause);
  // Removes a seat from the roster (lobby or after the game), passing the host role on.
  void remove_player(std::size_t index, time_ms now, bool kicked);
  void pass_host();

  mafia::player* player_by_conn(connection_id conn);
  const mafia::player* player_by_conn(connection_id conn) const;
  mafia::player* player_by_user(std::string_view user_id);
  bool in_game() const noexcept;
  std::size_t alive_count(bool mafia_side) const;

  void refuse(connection_id conn, std::string_view reason, std::string_view message,
              std::string_view request_type, effects& out) const;
  // A refused first message: the answer, then the connection goes back to no room.
  void turn_away(connection_id conn, std::string_view reason, std::string_view message,
                 std::string_view request_type, effects& out) const;
  void send(connection_id conn, out_type type, const boost::json::object& payload,
            effects& out) const;
  void broadcast(out_type type, const boost::json::object& payload, effects& out) const;
  void broadcast_room(effects& out) const;
  boost::json::object room_payload() const;
  boost::json::object vote_counts() const;
  boost::json::object mafia_votes() const;
  boost::json::object view_object(connection_id conn, time_ms now) const;

  const mafia_config& config_;
  mafia::room_state state_;
};

std::unique_ptr<game> mafia_restore(const mafia_config& config, std::string_view bytes);

}  // namespace partyd
