#include "games/alias/machine.hpp"

namespace partyd::alias {

namespace {

constexpr std::array<std::string_view, phase_count> phase_names = {
    "ROOM_CREATED", "LOBBY",         "TEAM_SETUP",  "READY_TO_START", "ROUND_STARTING",
    "ROUND_ACTIVE", "ROUND_PAUSED",  "ROUND_ENDED", "SCORE_REVIEW",   "READY_FOR_NEXT",
    "GAME_ENDED",   "FINAL_RESULTS", "ROOM_CLOSED"};

constexpr std::array<std::string_view, event_count> event_names = {
    "ROOM_CREATED",      "PLAYER_JOINED",    "PLAYER_LEFT",        "HOST_START_SETUP",
    "PLAYER_ASSIGNED",   "TEAMS_BALANCED",   "HOST_CONFIRM_START", "HOST_CANCEL_SETUP",
    "COUNTDOWN_TICK",    "ROUND_STARTED",    "WORD_SWIPED",        "TIMER_TICK",
    "HOST_PAUSE",        "HOST_RESUME",      "ROUND_TIMEOUT",      "PACK_EXHAUSTED",
    "SCORES_CALCULATED", "NEXT_ROUND_READY", "GAME_COMPLETE",      "HOST_RESTART",
    "ROOM_CLOSE"};

constexpr transition refused{outcome::refused, phase::room_created};
constexpr transition no_op{outcome::no_op, phase::room_created};
constexpr transition to(phase p) { return {outcome::applies, p}; }

bool in_round(phase p) {
  return p == phase::round_starting || p == phase::round_active || p == phase::round_paused ||
         p == phase::round_ended || p == phase::score_review || p == phase::ready_for_next;
}

}  // namespace

transition transition_of(phase from, event what) noexcept {
  using enum phase;
  if (from == room_closed) {
    return what == event::room_close ? no_op : refused;  // terminal
  }
  switch (what) {
    case event::room_created:
      return from == room_created ? no_op : refused;
    case event::player_joined:
      // The first player opens the lobby; a join during setup leaves someone unassigned.
      if (from == room_created) return to(lobby);
      if (from == ready_to_start) return to(team_setup);
      return to(from);
    case event::player_left:
      if (from == room_created) return refused;  // nobody to leave
      if (from == ready_to_start) return to(team_setup);
      return to(from);
    case event::host_start_setup:
      if (from == lobby) return to(team_setup);
      if (from == team_setup || from == ready_to_start) return no_op;
      return refused;
    case event::player_assigned:
      if (from == team_setup || from == ready_to_start) return to(team_setup);
      return refused;
    case event::teams_balanced:
      if (from == team_setup) return to(ready_to_start);
      if (from == ready_to_start) return no_op;
      return refused;
    case event::host_confirm_start:
      // The first round after setup, or the next one after the score review.
      if (from == ready_to_start || from == ready_for_next) return to(round_starting);
      if (from == round_starting) return no_op;
      return refused;
    case event::host_cancel_setup:
      if (from == team_setup || from == ready_to_start) return to(lobby);
      if (from == lobby) return no_op;
      return refused;
    case event::countdown_tick:
      return from == round_starting ? to(round_starting) : refused;
    case event::round_started:
      if (from == round_starting) return to(round_active);
      if (from == round_active) return no_op;
      return refused;
    case event::word_swiped:
    case event::timer_tick:
      return from == round_active ? to(round_active) : refused;
    case event::host_pause:
      if (from == round_active) return to(round_paused);
      if (from == round_paused) return no_op;
      return refused;
    case event::host_resume:
      if (from == round_paused) return to(round_active);
      if (from == round_active) return no_op;
      return refused;
    case event::round_timeout:
    case event::pack_exhausted:
      return from == round_active ? to(round_ended) : refused;
    case event::scores_calculated:
      // A round's scores are shown in the review; the game's in the final results.
      if (from == round_ended) return to(score_review);
      if (from == game_ended) return to(final_results);
      return refused;
    case event::next_round_ready:
      if (from == score_review) return to(ready_for_next);
      if (from == ready_for_next) return no_op;
      return refused;
    case event::game_complete:
      if (from == score_review) return to(game_ended);
      if (from == game_ended || from == final_results) return no_op;
      return refused;
    case event::host_restart:
      // A new game from the lobby: after the last one, or abandoning the one running.
      if (from == lobby) return no_op;
      if (from == game_ended || from == final_results || from == team_setup ||
          from == ready_to_start || in_round(from)) {
        return to(lobby);
      }
      return refused;
    case event::room_close:
      return to(room_closed);
  }
  return refused;
}

bool host_only(event what) noexcept {
  switch (what) {
    case event::host_start_setup:
    case event::host_confirm_start:
    case event::host_cancel_setup:
    case event::word_swiped:
    case event::host_pause:
    case event::host_resume:
    case event::host_restart:
    case event::room_close:
      return true;
    default:
      return false;
  }
}

bool keeps_version(event what) noexcept {
  return what == event::timer_tick || what == event::countdown_tick;
}

std::string_view phase_name(phase p) noexcept { return phase_names[static_cast<std::size_t>(p)]; }

std::optional<phase> parse_phase(std::string_view name) noexcept {
  for (std::size_t i = 0; i < phase_count; ++i) {
    if (phase_names[i] == name) return static_cast<phase>(i);
  }
  return std::nullopt;
}

std::string_view event_name(event e) noexcept { return event_names[static_cast<std::size_t>(e)]; }

}  // namespace partyd::alias
