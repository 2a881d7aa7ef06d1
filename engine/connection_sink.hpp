// The engine's handle on a client connection; implemented by io/.
// Thread safety: every method may be called from any worker thread, never blocks and never
// touches the socket directly (the implementation appends to an outbox and posts to its io thread).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "engine/types.hpp"

namespace partyd {

class connection_sink {
 public:
  virtual ~connection_sink() = default;

  virtual connection_id id() const noexcept = 0;

  // Queues one text frame. A connection whose outbox exceeds its cap is disconnected.
  virtual void deliver(const frame_ptr& frame) noexcept = 0;
  // Queues a frame of a session with its sequence number (and ACK request when `reliable`),
  // spliced in when it is written (engine/session.hpp, append_session_members).
  virtual void deliver_numbered(const frame_ptr& frame, std::uint64_t seq, bool reliable) noexcept {
    (void)seq;
    (void)reliable;
    deliver(frame);
  }
  // The connection now speaks for a session: its later messages may be session messages (ACK,
  // HEARTBEAT) and carry clientMsgId.
  virtual void session_opened() noexcept {}

  // The game accepted the connection's handshake in `role`. `rate_limited` tells io whether the
  // per-client message rate limit applies (the relay host is exempt).
  virtual void bind(role_id role, bool rate_limited) noexcept = 0;

  // Bytes queued for the connection and not yet written (the admin API's inspector).
  virtual std::size_t queued_bytes() const noexcept { return 0; }

  // Closes the connection once the frames already queued have been written.
  virtual void close(std::uint16_t code, std::string_view reason) noexcept = 0;

  // The room let the connection go without closing it (effects::release): the connection is in
  // no room again once the frames already queued are written. `route` is the number io gave the
  // connection's first message in that room (room_input::route), so a release that crosses a
  // client's own leave and rejoin is ignored. A non-empty `next_message` is then handled as if
  // the client had sent it as a new first message (a matchmaker's move into a game room).
  virtual void released(std::uint64_t route, std::string next_message) noexcept {
    (void)route;
    (void)next_message;
  }
};

}  // namespace partyd
