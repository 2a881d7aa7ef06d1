// The largest reply of a game: what one step of a room may queue for one connection, with the
// module's configured limits. A connection whose queued bytes exceed --outbox-max-bytes is cut as
// a slow consumer, so the server refuses to start when a game's largest reply does not fit
// (check_largest_reply, called by io/server_main.cpp). Header only: io links no game.
// Thread: immutable after start-up, like every game_module.
#pragma once

#include <cstddef>
#include <string>

#include "engine/game.hpp"

namespace partyd {

// Implemented by module_base: the module's config says its largest reply.
class reply_bound {
 public:
  virtual ~reply_bound() = default;
  // Payload bytes one step may queue for one connection, WebSocket frame headers included.
  virtual std::size_t largest_reply_bytes() const noexcept = 0;
};

// Empty when `module`'s largest reply fits `outbox_max_bytes` (or the module does not say it;
// its message limit is checked against the outbox when the config is parsed), else the reason.
inline std::string check_largest_reply(const game_module& module, std::size_t outbox_max_bytes) {
  const auto* bound = dynamic_cast<const reply_bound*>(&module);
  if (bound == nullptr || bound->largest_reply_bytes() <= outbox_max_bytes) {
    return {};
  }
  return "--outbox-max-bytes (" + std::to_string(outbox_max_bytes) +
         ") must hold the largest reply of game '" + std::string(module.name()) + "' (" +
         std::to_string(bound->largest_reply_bytes()) +
         " bytes with its limits): raise it or lower that game's reply limits";
}

}  // namespace partyd
