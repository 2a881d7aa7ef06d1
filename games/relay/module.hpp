// The relay game module: its limits (relay_config), wire names, create and restore.
// Threads: immutable after start-up; decode/encode_error run on io threads, create on the admin
// thread, restore at start-up. Every limit a client can hit is a field of relay_config.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "engine/game_factory.hpp"
#include "engine/session.hpp"
#include "games/common/module_base.hpp"

namespace partyd {

// Sessions on request (a first message with "version"), for players and the audience. The host
// keeps its own reconnect: its handshake_response has the whole room and its queue every message
// sent while it was away, which no ring bound could promise (docs/protocol/relay.md, Sessions).
inline session_policy relay_session_policy() {
  session_policy policy;
  policy.always = false;
  policy.session_roles = role_bit(1) | role_bit(2);  // player, audience
  return policy;
}

struct relay_config {
  std::size_t max_message_bytes = 65536;
  std::size_t meta_max_bytes = 1024;  // a handshake's meta, its JSON text as sent
  std::size_t host_queue_max = 256;
  // Bytes of the client_message frames kept for an absent host: the host's handshake_response and
  // the whole queue reach its outbox in one step, so both together must fit --outbox-max-bytes.
  std::size_t host_queue_max_bytes = 327680;
  // The largest frame a room sends: the host's handshake_response (every seat, every connected
  // audience member, every poll and the game state) and a free-text poll's results. A join, poll
  // or answer that would make one larger is refused (docs/protocol/relay.md, Limits).
  std::size_t reply_max_bytes = 655360;
  // What maxPlayers / maxAudience 0 ("unlimited") mean, and their largest values.
  std::uint32_t max_seats = 1000;
  std::uint32_t max_audience = 5000;
  std::size_t poll_options_max = 32;
  std::size_t poll_option_max_chars = 200;
  std::size_t question_max_chars = 500;
  std::size_t free_text_max_chars = 500;
  std::size_t poll_id_max_chars = 64;
  std::size_t close_reason_max_chars = 200;
  std::size_t max_polls = 100;
  // Game or player state, its JSON text as sent. A state arrives inside one message: never above
  // max_message_bytes (check_config), 0 = the same as max_message_bytes.
  std::size_t state_max_bytes = 0;
  session_policy sessions = relay_session_policy();

  // The state limit in force: state_max_bytes, or max_message_bytes when that is 0 or smaller.
  std::size_t state_limit() const noexcept {
    return state_max_bytes == 0 || state_max_bytes > max_message_bytes ? max_message_bytes
                                                                       : state_max_bytes;
  }
  // WebSocket header (at most 10 bytes) and slack, per frame.
  static constexpr std::size_t frame_overhead_bytes = 16;
  // The most one step queues for one connection: a host that connects gets its handshake_response
  // and then every queued message.
  // A session's RECONNECTED carries the viewer's state and every frame of its ring.
  std::size_t largest_reply_bytes() const noexcept {
    const std::size_t host =
        reply_max_bytes + host_queue_max_bytes + (host_queue_max + 1) * frame_overhead_bytes;
    const std::size_t resume = 2 * state_limit() + sessions.ring_bytes + sessions.ring_frames * 64 +
                               relay_resume_slack_bytes;
    return host > resume ? host : resume;
  }
  static constexpr std::size_t relay_resume_slack_bytes = 4096;
};

class relay_module : public module_base<relay_config> {
 public:
  static constexpr std::string_view game_name = "relay";
  static void declare_options(option_list& options, relay_config& config);
  static std::string check_config(const relay_config& config);

  explicit relay_module(relay_config config = {});

  decode_result decode(std::string_view text, bool first_message) const override;
  std::string encode_error(std::string_view code, std::string_view message) const override;
  // An error frame with `requestType`, as for the errors the room finds.
  std::string encode_request_error(std::string_view code, std::string_view message,
                                   std::string_view request_type) const override;
  // A refused first message is answered like a failed handshake: handshake_response, status error.
  std::string encode_handshake_error(std::string_view code, std::string_view message,
                                     std::string_view room_code = {}) const override;

  socketio_shape socketio() const noexcept override { return socketio_shape::flat; }
  const session_policy* sessions() const noexcept override { return &config().sessions; }

  create_result create(const boost::json::object& options, std::string_view code) const override;
  std::unique_ptr<game> restore(std::string_view bytes) const override;
};

}  // namespace partyd
