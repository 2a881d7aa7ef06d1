// brainrot_game: the brainrot room's rules (docs/protocol/brainrot.md). Owns a
// brainrot::room_state.
// Thread: touched only by the room's worker, one input at a time; step() is deterministic (no
// clock but `now`, no randomness besides input.secret) and never throws.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>

#include "engine/game.hpp"
#include "games/brainrot/codec.hpp"
#include "games/brainrot/module.hpp"
#include "games/brainrot/state.hpp"

namespace partyd {

class brainrot_game : public game {
 public:
  // The game timer that deletes an expired room after its grace period.
  static constexpr std::uint64_t expiry_timer_key = 1;

  brainrot_game(brainrot_config config, brainrot::room_state state);

  void step(const input& in, time_ms now, room_rng& rng, effects& out) override;
  std::string snapshot() const override;  // snapshot.cpp
  room_summary summary() const noexcept override;

  const brainrot::room_state& state() const noexcept { return state_; }

 private:
  void on_input(const input& in, time_ms now, effects& out);
  void start_clock(time_ms now, effects& out);
  void on_command(const input& in, time_ms now, effects& out);
  void close_all(std::string reason, effects& out);

  void on_create_room(const input& in, effects& out);
  void on_join_room(connection_id conn, const brainrot::request& req, effects& out);
  void on_take_player(connection_id conn, const brainrot::request& req, effects& out);
  void on_rename_player(connection_id conn, const brainrot::request& req, effects& out);
  void on_update_avatar(connection_id conn, const brainrot::request& req, effects& out);
  void on_toggle_player(connection_id conn, const brainrot::request& req, effects& out);
  void on_start_game(connection_id conn, effects& out);
  void on_reel_opened(connection_id conn, const brainrot::request& req, effects& out);
  void on_submit_vote(connection_id conn, const brainrot::request& req, effects& out);
  void on_end_item(connection_id conn, const brainrot::request& req, effects& out);
  void on_start_next_round(connection_id conn, effects& out);
  void on_state_sync(connection_id conn, const brainrot::request& req, effects& out);

  // Registers `conn`: play unless it is (or just proved to be) a master socket.
  void register_play(connection_id conn, const std::string& device_id, effects& out);
  void register_master(connection_id conn, effects& out);
  bool master_key_valid(const std::optional<std::string>& key) const;

  // Progress helpers.
  void close_vote(effects& out);
  void send_new_item(effects& out);
  void game_over(effects& out);

  // Lookups.
  brainrot::player* find_player(std::string_view player_id) noexcept;
  brainrot::sender* find_sender(std::string_view sender_id) noexcept;
  const brainrot::round& current_round() const;
  const brainrot::item& current_item() const;
  std::string claimed_by(std::string_view device_id) const;  // player_id or ""
  bool check_phase(connection_id conn, brainrot::phase expected, effects& out) const;

  // Payload pieces.
  boost::json::object player_visible(const brainrot::player& p) const;
  boost::json::object player_all(const brainrot::player& p) const;
  static boost::json::object sender_json(const brainrot::sender& s, bool visible);
  boost::json::array players_visible() const;
  boost::json::array senders_visible() const;
  boost::json::array senders_selectable() const;
  boost::json::object base_payload() const;  // {code}

  // Output helpers.
  void send(connection_id conn, brainrot::out_type type, boost::json::object payload,
            effects& out) const;
  void send_to(role_mask roles, brainrot::out_type type, boost::json::object payload,
               effects& out) const;
  void send_error(connection_id conn, std::string_view error, std::string_view message,
                  const boost::json::object& details, effects& out) const;

  brainrot_config config_;
  brainrot::room_state state_;
};

// snapshot.cpp: rebuilds a brainrot_game from snapshot() bytes; nullptr on any malformed input.
std::unique_ptr<game> brainrot_restore(const brainrot_config& config,
                                       std::string_view bytes) noexcept;

}  // namespace partyd
