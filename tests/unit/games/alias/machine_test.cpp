// The Alias transition table, every state x every event, against the table of
// docs/protocol/alias.md written out again here: applies (to which state), no-op or refused.
#include <map>
#include <string>
#include <utility>

#include <gtest/gtest.h>

#include "games/alias/machine.hpp"

namespace partyd::alias {
namespace {

using enum phase;

// The cells that are not "refused": applies with a target, or "no-op".
struct cell {
  phase from;
  event what;
  std::optional<phase> to;  // nullopt: a no-op
};

std::vector<cell> expected_cells() {
  std::vector<cell> cells;
  auto add = [&](phase from, event what, std::optional<phase> to) {
    cells.push_back({from, what, to});
  };
  const phase all_open[] = {room_created,   lobby,          team_setup,   ready_to_start,
                            round_starting, round_active,   round_paused, round_ended,
                            score_review,   ready_for_next, game_ended,   final_results};
  add(room_created, event::room_created, std::nullopt);
  for (phase p : all_open) {
    add(p, event::room_close, room_closed);
    if (p == room_created) {
      add(p, event::player_joined, lobby);
    } else if (p == ready_to_start) {
      add(p, event::player_joined, team_setup);
      add(p, event::player_left, team_setup);
    } else {
      add(p, event::player_joined, p);
      add(p, event::player_left, p);
    }
  }
  add(room_closed, event::room_close, std::nullopt);
  add(lobby, event::host_start_setup, team_setup);
  add(team_setup, event::host_start_setup, std::nullopt);
  add(ready_to_start, event::host_start_setup, std::nullopt);
  add(team_setup, event::player_assigned, team_setup);
  add(ready_to_start, event::player_assigned, team_setup);
  add(team_setup, event::teams_balanced, ready_to_start);
  add(ready_to_start, event::teams_balanced, std::nullopt);
  add(ready_to_start, event::host_confirm_start, round_starting);
  add(ready_for_next, event::host_confirm_start, round_starting);
  add(round_starting, event::host_confirm_start, std::nullopt);
  add(team_setup, event::host_cancel_setup, lobby);
  add(ready_to_start, event::host_cancel_setup, lobby);
  add(lobby, event::host_cancel_setup, std::nullopt);
  add(round_starting, event::countdown_tick, round_starting);
  add(round_starting, event::round_started, round_active);
  add(round_active, event::round_started, std::nullopt);
  add(round_active, event::word_swiped, round_active);
  add(round_active, event::timer_tick, round_active);
  add(round_active, event::host_pause, round_paused);
  add(round_paused, event::host_pause, std::nullopt);
  add(round_paused, event::host_resume, round_active);
  add(round_active, event::host_resume, std::nullopt);
  add(round_active, event::round_timeout, round_ended);
  add(round_active, event::pack_exhausted, round_ended);
  add(round_ended, event::scores_calculated, score_review);
  add(game_ended, event::scores_calculated, final_results);
  add(score_review, event::next_round_ready, ready_for_next);
  add(ready_for_next, event::next_round_ready, std::nullopt);
  add(score_review, event::game_complete, game_ended);
  add(game_ended, event::game_complete, std::nullopt);
  add(final_results, event::game_complete, std::nullopt);
  add(lobby, event::host_restart, std::nullopt);
  for (phase p : {team_setup, ready_to_start, round_starting, round_active, round_paused,
                  round_ended, score_review, ready_for_next, game_ended, final_results}) {
    add(p, event::host_restart, lobby);
  }
  return cells;
}

TEST(AliasMachine, EveryStateAndEventIsAppliedRefusedOrANoOpAsDocumented) {
  std::map<std::pair<int, int>, std::optional<phase>> expected;
  for (const cell& c : expected_cells()) {
    const auto key = std::make_pair(static_cast<int>(c.from), static_cast<int>(c.what));
    ASSERT_EQ(expected.count(key), 0u) << "cell listed twice";
    expected[key] = c.to;
  }
  int applies = 0;
  int no_ops = 0;
  for (std::size_t p = 0; p < phase_count; ++p) {
    for (std::size_t e = 0; e < event_count; ++e) {
      const auto from = static_cast<phase>(p);
      const auto what = static_cast<event>(e);
      const transition t = transition_of(from, what);
      const auto it = expected.find({static_cast<int>(p), static_cast<int>(e)});
      SCOPED_TRACE(std::string(phase_name(from)) + " x " + std::string(event_name(what)));
      if (it == expected.end()) {
        EXPECT_EQ(t.result, outcome::refused);
      } else if (!it->second) {
        EXPECT_EQ(t.result, outcome::no_op);
        ++no_ops;
      } else {
        EXPECT_EQ(t.result, outcome::applies);
        EXPECT_EQ(t.next, *it->second);
        ++applies;
      }
    }
  }
  EXPECT_GT(applies, 40);
  EXPECT_GT(no_ops, 10);
}

TEST(AliasMachine, RoomClosedIsTerminal) {
  for (std::size_t e = 0; e < event_count; ++e) {
    const auto what = static_cast<event>(e);
    EXPECT_NE(transition_of(room_closed, what).result, outcome::applies) << event_name(what);
  }
}

TEST(AliasMachine, HostOnlyEventsAreTheHostsCommands) {
  for (event e : {event::host_start_setup, event::host_confirm_start, event::host_cancel_setup,
                  event::word_swiped, event::host_pause, event::host_resume, event::host_restart,
                  event::room_close}) {
    EXPECT_TRUE(host_only(e)) << event_name(e);
  }
  for (event e : {event::player_joined, event::player_left, event::player_assigned,
                  event::timer_tick, event::round_timeout}) {
    EXPECT_FALSE(host_only(e)) << event_name(e);
  }
}

TEST(AliasMachine, OnlyClockTicksKeepTheVersion) {
  for (std::size_t e = 0; e < event_count; ++e) {
    const auto what = static_cast<event>(e);
    EXPECT_EQ(keeps_version(what), what == event::timer_tick || what == event::countdown_tick)
        << event_name(what);
  }
}

TEST(AliasMachine, PhaseNamesAreTheDesignsAndReadBack) {
  EXPECT_EQ(phase_name(room_created), "ROOM_CREATED");
  EXPECT_EQ(phase_name(ready_for_next), "READY_FOR_NEXT");
  EXPECT_EQ(phase_name(room_closed), "ROOM_CLOSED");
  for (std::size_t p = 0; p < phase_count; ++p) {
    EXPECT_EQ(parse_phase(phase_name(static_cast<phase>(p))), static_cast<phase>(p));
  }
  EXPECT_FALSE(parse_phase("LOBBY ").has_value());
  EXPECT_EQ(event_name(event::host_confirm_start), "HOST_CONFIRM_START");
}

}  // namespace
}  // namespace partyd::alias
