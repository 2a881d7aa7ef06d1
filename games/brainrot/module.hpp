// The brainrot game module (docs/protocol/brainrot.md): its limits (brainrot_config), wire names,
// create and restore. Rooms are created over the WebSocket by CREATE_ROOM (decode_result::
// creates_room) or through the admin API with the same payload.
// Threads: immutable after start-up; decode/encode_error run on io threads, create on an io
// thread or the admin thread, restore at start-up. Every limit a client can hit is a field of
// brainrot_config.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "engine/game_factory.hpp"
#include "games/common/module_base.hpp"

namespace partyd {

struct brainrot_config {
  // Must admit a 200,000-character avatar data URL inside its UPDATE_AVATAR envelope.
  std::size_t max_message_bytes = 262144;
  std::size_t avatar_max_chars = 200000;  // UTF-16 code units, like the seed's string length
  std::size_t name_max_chars = 24;        // after trimming and collapsing whitespace
  std::size_t id_max_chars = 128;         // device, player, sender, round, item and reel ids
  std::size_t code_max_chars = 64;        // room code field of a client message
  std::size_t master_key_max_chars = 256;
  // The largest frame a room may send (brainrot::largest_reply_bound of its content): a master's
  // STATE_SYNC_RESPONSE carries every avatar twice. A CREATE_ROOM or an avatar that would take it
  // past this is refused; the rest of --outbox-max-bytes is left for the frames that follow.
  std::size_t reply_max_bytes = 917504;
  time_ms room_lifetime_ms = 12LL * 60 * 60 * 1000;  // expires_at = created_at + this
  time_ms expired_grace_ms = 60LL * 60 * 1000;       // kept answering room_expired, then deleted

  // The most one step queues for one connection: one frame, with its WebSocket header.
  std::size_t largest_reply_bytes() const noexcept { return reply_max_bytes + 16; }
};

class brainrot_module : public module_base<brainrot_config> {
 public:
  static constexpr std::string_view game_name = "brainrot";
  static void declare_options(option_list& options, brainrot_config& config);
  static std::string check_config(const brainrot_config& config);

  explicit brainrot_module(brainrot_config config = {});

  decode_result decode(std::string_view text, bool first_message) const override;
  // The seed's ERROR envelope, also for a refused first message (the socket stays open).
  std::string encode_error(std::string_view code, std::string_view message) const override;
  // Like encode_error, with the requested room code in the payload (ERROR's `code` "when known").
  std::string encode_handshake_error(std::string_view code, std::string_view message,
                                     std::string_view room_code = {}) const override;

  std::size_t room_code_length() const noexcept override;
  std::string_view room_code_alphabet() const noexcept override;
  bool first_message_error_closes() const noexcept override { return false; }

  // `options` is a CREATE_ROOM payload. The reply (admin API) carries a fresh master key; a room
  // created by CREATE_ROOM replaces it with the socket's secret on its first step.
  create_result create(const boost::json::object& options, std::string_view code) const override;
  std::unique_ptr<game> restore(std::string_view bytes) const override;

  // A room lives room_lifetime_ms + expired_grace_ms from creation, never refreshed.
  std::int64_t snapshot_ttl_s(time_ms created_at, time_ms now,
                              time_ms inactivity_ms) const override;
};

}  // namespace partyd
