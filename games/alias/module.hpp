// The Alias game module (docs/protocol/alias.md): its limits (alias_config), wire names, create
// and restore. A host creates a room from a browser with CREATE_ROOM as its first message
// (decode_result::creates_room; bounded by the server's per-address creation rate and quota and
// the room limit); players join with JOIN_ROOM. Every connection gets a session
// (docs/protocol/sessions.md); the host gets the host's windows.
// Threads: immutable after start-up; decode/encode_error run on io threads, create on an io
// thread or the admin thread, restore at start-up.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "engine/game_factory.hpp"
#include "engine/session.hpp"
#include "games/alias/state.hpp"
#include "games/common/module_base.hpp"

namespace partyd {

inline session_policy alias_session_policy() {
  session_policy policy;
  policy.always = true;
  policy.host_roles = role_bit(alias::host_role);
  return policy;
}

struct alias_config {
  // CREATE_ROOM with a custom pack of custom_max_words at the longest words.
  std::size_t max_message_bytes = 131072;
  std::uint32_t max_players = 10;  // players besides the host (the design's 10 + 1)
  std::uint32_t min_round_sec = 10;
  std::uint32_t max_round_sec = 300;
  std::uint32_t max_rounds_per_team = 10;
  std::uint32_t max_score_review_sec = 60;
  std::uint32_t countdown_sec = 3;  // ROUND_STARTING's 3-2-1
  std::size_t name_max_chars = 32;
  std::size_t word_max_chars = 40;
  std::size_t pack_name_max_chars = 60;
  std::size_t custom_min_words = 10;
  std::size_t custom_max_words = 1000;
  std::size_t id_max_chars = 32;  // actorId, teamId, playerId, wordId
  // ROOM_CREATED's qrCodeUrl is this with "/<room code>" appended.
  std::string public_base_url = "http://localhost:8080/alias";
  // A host gone this long during a round pauses it (seed 004, 3.5); promotion follows when its
  // session ends (sessions.removal_ms, 60 s).
  time_ms host_pause_after_ms = 10'000;
  session_policy sessions = alias_session_policy();

  // The largest frame a room sends: a viewer's state (RECONNECTED, ROOM_JOINED) with every
  // participant and team at the longest names (escaped at most 6x).
  std::size_t largest_reply_bytes() const noexcept {
    return 16384 + std::size_t{max_players + 1} * 2048;
  }
};

class alias_module : public module_base<alias_config> {
 public:
  static constexpr std::string_view game_name = "alias";
  static void declare_options(option_list& options, alias_config& config);
  static std::string check_config(const alias_config& config);

  explicit alias_module(alias_config config = {});

  decode_result decode(std::string_view text, bool first_message) const override;
  std::string encode_error(std::string_view code, std::string_view message) const override;
  std::string encode_request_error(std::string_view code, std::string_view message,
                                   std::string_view request_type) const override;
  std::string encode_handshake_error(std::string_view code, std::string_view message,
                                     std::string_view room_code) const override;

  std::size_t room_code_length() const noexcept override;
  std::string_view room_code_alphabet() const noexcept override;
  const session_policy* sessions() const noexcept override { return &config().sessions; }

  // `options` holds CREATE_ROOM's settings (or the admin API's, validated here).
  create_result create(const boost::json::object& options, std::string_view code) const override;
  std::unique_ptr<game> restore(std::string_view bytes) const override;
};

}  // namespace partyd
