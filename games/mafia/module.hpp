// The Mafia game module (docs/protocol/mafia.md, seed 002): its limits (mafia_config), wire
// names, guest identity, create and restore. Clients identify in-band (auth:identify, answered at
// the edge), then create or join a lobby by code or join the public queue, a standing room of
// this game (games/mafia/matchmaker.hpp) that makes rooms and moves its players into them.
// Threads: immutable after start-up; decode/encode_error run on io threads, create on an io
// thread, a worker (the matchmaker's rooms) or the admin thread, restore at start-up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/game_factory.hpp"
#include "engine/session.hpp"
#include "games/common/module_base.hpp"
#include "games/mafia/codec.hpp"

namespace partyd {

inline session_policy mafia_session_policy() {
  session_policy policy;
  policy.always = true;
  // The seed's reconnect flow: connected=false at once, a 30 s grace, then the rule of the
  // player's state (docs/protocol/mafia.md, "Disconnects"). The session's end is the grace's.
  policy.away_ms = 1;  // the next session upkeep: at once
  policy.warning_ms = 15'000;
  policy.resume_ms = 30'000;
  policy.host_resume_ms = 30'000;
  policy.removal_ms = 30'000;
  return policy;
}

struct mafia_config {
  std::size_t max_message_bytes = 4096;
  std::uint32_t min_players = 4;  // room:start needs this many seated players
  std::uint32_t max_players = 16;
  std::uint32_t default_max_players = 10;
  std::uint32_t min_phase_s = 1;  // bounds of discussionTime, voteTime, nightTime
  std::uint32_t max_phase_s = 600;
  std::size_t username_min_chars = 2;
  std::size_t username_max_chars = 20;  // the seed's users.username VARCHAR(20)
  std::size_t chat_max_chars = 200;
  std::uint32_t chat_burst = 5;  // chat:send per player per chat window
  time_ms chat_window_ms = 5'000;
  // Matchmaking (seed section 6).
  std::uint32_t match_min_players = 6;
  std::uint32_t match_max_players = 10;
  std::uint32_t match_fallback_players = 4;  // after match_max_wait_ms, a game this small starts
  time_ms match_fill_ms = 5'000;             // a group of min..max-1 waits this long to fill up
  time_ms match_max_wait_ms = 30'000;        // no one waits longer (with at least the fallback)
  time_ms match_countdown_ms = 5'000;        // the seed's "short countdown" before a matched game
  std::uint32_t match_settings_discussion_s = 90;
  std::uint32_t match_settings_vote_s = 30;
  std::uint32_t match_settings_night_s = 30;
  std::size_t queue_max = 100'000;  // players waiting in the public queue
  // Guest tokens: HMAC key (hex). Empty: a random key per process, so tokens (not seats: those
  // are the session layer's) stop working after a restart; docs/operations.md.
  std::string identity_key;
  session_policy sessions = mafia_session_policy();

  // The largest frame a room sends: a game:end or a viewer's state with every seat at the
  // longest ids and names (64 + 20 code points, escaped at most 6x each).
  std::size_t largest_reply_bytes() const noexcept {
    return 16384 + std::size_t{max_players} * 2048;
  }
};

class mafia_module : public module_base<mafia_config> {
 public:
  static constexpr std::string_view game_name = "mafia";
  static void declare_options(option_list& options, mafia_config& config);
  static std::string check_config(const mafia_config& config);

  explicit mafia_module(mafia_config config = {});

  decode_result decode(std::string_view text, bool first_message) const override;
  std::string encode_error(std::string_view code, std::string_view message) const override;
  std::string encode_request_error(std::string_view code, std::string_view message,
                                   std::string_view request_type) const override;
  std::string identified_frame(const connection_identity& identity) const override;

  std::size_t room_code_length() const noexcept override { return mafia::room_code_length; }
  std::string_view room_code_alphabet() const noexcept override {
    return mafia::room_code_alphabet;
  }
  // A refused join (unknown code, full room) leaves the socket open: the client tries another.
  bool first_message_error_closes() const noexcept override { return false; }
  socketio_shape socketio() const noexcept override { return socketio_shape::payload; }
  const session_policy* sessions() const noexcept override { return &config().sessions; }
  std::vector<standing_room> standing_rooms() const override;

  // `options`: room:create's payload ({isPublic, maxPlayers, settings}), or the matchmaker's
  // {"matched": [{userId, username}], ...}, or {"queue": true} for the standing queue.
  create_result create(const boost::json::object& options, std::string_view code) const override;
  std::unique_ptr<game> restore(std::string_view bytes) const override;

  const mafia::guest_keys& keys() const noexcept { return keys_; }

 private:
  mafia::guest_keys keys_;
};

}  // namespace partyd
