// relay_game: the relay room's rules (docs/protocol/relay.md). Owns a relay::room_state.
// Thread: touched only by the room's worker, one input at a time; step() is deterministic (no
// clock, no randomness besides input.secret) and never throws.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "engine/game.hpp"
#include "games/relay/codec.hpp"
#include "games/relay/module.hpp"
#include "games/relay/state.hpp"

namespace partyd {

class relay_game : public game {
 public:
  relay_game(relay_config config, relay::room_state state);

  void step(const input& in, time_ms now, room_rng& rng, effects& out) override;
  std::string snapshot() const override;  // snapshot.cpp
  room_summary summary() const noexcept override;
  // Sessions (docs/protocol/relay.md, Sessions): a player's or audience member's view.
  session_view view_of(connection_id conn, time_ms now) const override;
  // No checksum: the relay's state is the host's (docs/protocol/relay.md, "Sessions").
  std::string checksum_of(connection_id) const override { return {}; }
  bool holds_session(connection_id conn) const override;

  const relay::room_state& state() const noexcept { return state_; }

 private:
  void on_input(const input& in, effects& out);
  void on_command(const input& in, effects& out);
  void on_disconnect(connection_id conn, effects& out);
  void on_presence(connection_id conn, presence_stage stage, effects& out);
  // The seat whose session resumes as `conn` (see relay::seat::resume_conn); null when none.
  const relay::seat* seat_resuming_as(connection_id conn) const;
  relay::seat* seat_resuming_as(connection_id conn) {
    return const_cast<relay::seat*>(std::as_const(*this).seat_resuming_as(conn));
  }
  void close_all(const std::string& reason, effects& out);

  void on_handshake(const input& in, const relay::handshake_cmd& cmd, effects& out);
  void join_host(const input& in, effects& out);
  void join_player(const input& in, const relay::handshake_cmd& cmd, effects& out);
  void join_audience(const input& in, const relay::handshake_cmd& cmd, effects& out);
  void fail_handshake(connection_id conn, std::string_view code, std::string_view message,
                      effects& out);

  void on_leave(connection_id conn, const relay::member& who, effects& out);
  void on_set_game_state(relay::set_game_state_cmd& cmd, effects& out);
  void on_set_player_state(connection_id conn, relay::set_player_state_cmd& cmd, effects& out);
  void on_message_to_host(const relay::member& who, const relay::message_to_host_cmd& cmd,
                          effects& out);
  void on_poll_start(connection_id conn, const relay::poll_start_cmd& cmd, effects& out);
  void on_poll_response(connection_id conn, const relay::member& who,
                        const relay::poll_response_cmd& cmd, effects& out);
  void on_poll_end(connection_id conn, const relay::poll_end_cmd& cmd, effects& out);
  void on_poll_results(connection_id conn, const relay::poll_results_request_cmd& cmd,
                       effects& out);

  void send(connection_id conn, relay::out_type type, const boost::json::object& frame,
            effects& out) const;
  // The same for a frame already written as text (one that splices a client's JSON in).
  void send_text(connection_id conn, relay::out_type type, std::string frame, effects& out) const;
  void send_to_host(relay::out_type type, const boost::json::object& frame, effects& out) const;
  void send_to_host_text(relay::out_type type, std::string frame, effects& out) const;
  void send_error(connection_id conn, std::string_view code, std::string_view message,
                  std::string_view request_type, effects& out) const;
  // Sends `frame` to `conn` and closes it; the connection is then ignored until it disconnects.
  void close_member(connection_id conn, relay::out_type type, const boost::json::object* frame,
                    std::uint16_t close_code, std::string reason, effects& out);
  relay::poll* find_poll(std::string_view poll_id) noexcept;
  // Its text, without the game state.
  std::string host_handshake_response() const;
  // A successful handshake_response (its text), with the game state spliced in as "gameState".
  void send_joined(connection_id conn, std::string response, effects& out) const;

  // Reply sizes (docs/protocol/relay.md, Limits). The host's handshake_response is at most
  // host_reply_bytes(): a fixed part, the game state at its limit, and one entry per seat,
  // connected audience member and poll, counted as they come and go.
  std::uint32_t seat_capacity() const noexcept;
  std::uint32_t audience_capacity() const noexcept;
  std::size_t host_reply_bytes() const noexcept;
  static std::size_t seat_entry_bytes(const relay::seat& s);
  static std::size_t audience_entry_bytes(const relay::audience_member& a);
  static std::size_t poll_entry_bytes(const relay::poll& p);
  // A free-text poll's poll_results at most, with its answers counted in `counts_bytes`.
  static std::size_t results_bytes(const relay::poll& p) noexcept;
  static void count_answer(relay::poll& p, const std::string& text);
  static void uncount_answer(relay::poll& p, const std::string& text);
  static std::size_t client_message_bytes(const relay::queued_message& queued);
  // Removes a connected audience member (and its entry in the host's client list).
  void forget_audience(connection_id conn);
  // Drops the oldest queued messages until the queue fits its limits; counts each when `out`.
  void trim_host_queue(effects* out);

  relay_config config_;
  relay::room_state state_;
  std::size_t clients_bytes_ = 0;     // seat and audience entries of the host's client list
  std::size_t polls_bytes_ = 0;       // poll entries of the host's poll list
  std::size_t host_queue_bytes_ = 0;  // client_message frames waiting for a host
};

// snapshot.cpp: rebuilds a relay_game from snapshot() bytes; nullptr on any malformed input.
std::unique_ptr<game> relay_restore(const relay_config& config, std::string_view bytes) noexcept;

}  // namespace partyd
