// Basic vocabulary shared by the engine, the games and the network edge.
// Plain values only: safe to copy between threads.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

namespace partyd {

// A connection's identity for its whole life; assigned by io, never reused within a process.
// Game state refers to connections by this id, never by pointer.
using connection_id = std::uint64_t;

// Milliseconds since the Unix epoch. Deadlines are absolute so that they survive a restart.
// Game code never reads a clock: `now` is injected by the worker.
using time_ms = std::int64_t;

// Game-defined roles (relay: host, player, audience). At most 8 per game.
using role_id = std::uint8_t;
using role_mask = std::uint8_t;
constexpr std::size_t max_roles = 8;
constexpr role_mask role_bit(role_id role) { return static_cast<role_mask>(1u << role); }

// A serialized outbound text frame. Serialized once, shared by every recipient.
using frame_ptr = std::shared_ptr<const std::string>;
inline frame_ptr make_frame(std::string text) {
  return std::make_shared<const std::string>(std::move(text));
}

// How a game's messages look as Socket.IO events (docs/protocol/socketio.md).
enum class socketio_shape : std::uint8_t {
  none,     // not served over Socket.IO
  flat,     // {"type": T, ...members}: the event's argument is the object without `type`
  payload,  // {"type": T, "payload": P, ...}: the first argument is P, the second the others
};

// Who a connection belongs to, as its upgrade proved it (io/auth.hpp): the token's `sub` and a
// display name, or "dev:<name>" in development mode.
struct connection_identity {
  std::string user_id;
  std::string display_name;
  bool guest = false;  // an anonymous identity the game itself handed out (Mafia's auth:identify)
};

}  // namespace partyd
