// The largest frame a brainrot room may send, bounded from its content (docs/protocol/brainrot.md,
// Limits): a CREATE_ROOM whose room could send a frame over brainrot_config::reply_max_bytes is
// refused, and so is an avatar that would take it there.
// Thread: pure.
#pragma once

#include <cstddef>
#include <optional>
#include <string>

#include "games/brainrot/module.hpp"
#include "games/brainrot/state.hpp"

namespace partyd::brainrot {

// Bytes of `avatar` in a player entry: the JSON string, or null.
std::size_t avatar_bytes(const std::optional<std::string>& avatar) noexcept;

// At least the size of every frame the room can send in any phase, whatever its players rename
// themselves to: the master's STATE_SYNC_RESPONSE (every player twice, with its avatar, every
// sender twice, the current item, the votes or results, the scores) plus the per-player lines of
// VOTE_RESULTS, ROUND_RECAP and GAME_OVER. It grows only with avatars.
std::size_t largest_reply_bound(const brainrot_config& config, const room_state& state) noexcept;

}  // namespace partyd::brainrot
