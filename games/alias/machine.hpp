// The Alias room's state machine (seed 004, 1.1-1.3): the 13 states, the 21 events and the table
// that says, for every state and event, whether the event applies (and the state it leads to),
// is a no-op (the room is in the event's target already) or is refused (INVALID_TRANSITION).
// docs/protocol/alias.md reproduces the table; tests/unit/games/alias/machine_test.cpp checks
// every cell. Thread: pure, constant data.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "games/alias/state.hpp"

namespace partyd::alias {

enum class event : std::uint8_t {
  room_created,
  player_joined,
  player_left,
  host_start_setup,
  player_assigned,
  teams_balanced,
  host_confirm_start,
  host_cancel_setup,
  countdown_tick,
  round_started,
  word_swiped,
  timer_tick,
  host_pause,
  host_resume,
  round_timeout,
  pack_exhausted,
  scores_calculated,
  next_round_ready,
  game_complete,
  host_restart,
  room_close,
};
inline constexpr std::size_t event_count = 21;

enum class outcome : std::uint8_t { refused, applies, no_op };

struct transition {
  outcome result = outcome::refused;
  phase next = phase::room_created;  // when result is applies
};

// The cell of `from` x `what`.
transition transition_of(phase from, event what) noexcept;

// Events only the host may cause (a player's attempt is UNAUTHORIZED before the table is read).
bool host_only(event what) noexcept;
// Events that change nothing the room stores (clock ticks): they never move stateVersion.
bool keeps_version(event what) noexcept;

std::string_view phase_name(phase p) noexcept;
std::optional<phase> parse_phase(std::string_view name) noexcept;
std::string_view event_name(event e) noexcept;

}  // namespace partyd::alias
