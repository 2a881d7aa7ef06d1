// What the history tests share: finished games with made-up but valid ids, and a bounded wait.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "storage/history.hpp"

namespace partyd::testing {

// A lowercase UUID from a kind (one hex digit: 1 users, 2 rooms, 3 players, 4 games, 5 roles)
// and a number, so the rows a test expects can be spelled out.
inline std::string test_uuid(int kind, std::uint64_t n) {
  char text[40];
  std::snprintf(text, sizeof text, "%08x-0000-4000-8000-%012llx", kind,
                static_cast<unsigned long long>(n));
  return text;
}

inline constexpr std::int64_t test_epoch_ms = 1'700'000'000'123;

// Game `game` in room `room`: four users (1..4 + 10*room), each a player, roles mafia,
// detective, doctor, villager; the villagers win after 3 rounds.
inline history_record test_record(std::uint64_t game, std::uint64_t room = 1) {
  history_record r;
  r.game_id = test_uuid(4, game);
  const std::int64_t t = test_epoch_ms + static_cast<std::int64_t>(game) * 60'000;
  r.room_row.id = test_uuid(2, room);
  r.room_row.code = "ROOM" + std::to_string(room % 100);
  r.room_row.is_public = true;
  r.room_row.status = "lobby";
  r.room_row.max_players = 8;
  r.room_row.host_id = test_uuid(1, 10 * room + 1);
  r.room_row.created_at_ms = test_epoch_ms - 1000;
  static const char* const roles[] = {"mafia", "detective", "doctor", "villager"};
  for (std::uint64_t i = 1; i <= 4; ++i) {
    const std::string user = test_uuid(1, 10 * room + i);
    r.users.push_back({user, "player" + std::to_string(10 * room + i), true, t});
    r.players.push_back({test_uuid(3, 10 * room + i), user, test_epoch_ms - 500, 0, false});
    r.roles.push_back({test_uuid(5, 10 * game + i), user, roles[i - 1]});
  }
  r.winner = "villagers";
  r.total_rounds = 3;
  r.started_at_ms = t - 30'000;
  r.ended_at_ms = t;
  return r;
}

// Polls `done` every few milliseconds until it holds or `timeout` passed; its last answer.
inline bool wait_for(const std::function<bool()>& done,
                     std::chrono::milliseconds timeout = std::chrono::seconds(20)) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return done();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

// The same check on either backend: recent_games is newest first, with its roles and winner.
inline void expect_recent_games_newest_first(history_backend& backend) {
  backend.ensure_schema();
  EXPECT_TRUE(backend.recent_games(5).empty());
  history_record mafia_won = test_record(3, 2);
  mafia_won.winner = "mafia";
  mafia_won.total_rounds = 5;
  backend.write(std::vector{test_record(1), mafia_won, test_record(2)});

  const auto games = backend.recent_games(2);
  ASSERT_EQ(games.size(), 2u);
  EXPECT_EQ(games[0].game_id, test_uuid(4, 3));
  EXPECT_EQ(games[0].room_code, "ROOM2");
  EXPECT_EQ(games[0].winner, "mafia");
  EXPECT_EQ(games[0].total_rounds, 5);
  EXPECT_EQ(games[0].started_at_ms, test_epoch_ms + 150'000);
  EXPECT_EQ(games[0].ended_at_ms, test_epoch_ms + 180'000);
  ASSERT_EQ(games[0].roles.size(), 4u);
  EXPECT_EQ(games[0].roles[0].user_id, test_uuid(1, 21));
  EXPECT_EQ(games[0].roles[0].username, "player21");
  EXPECT_EQ(games[0].roles[0].role, "mafia");
  EXPECT_EQ(games[0].roles[3].role, "villager");
  EXPECT_EQ(games[1].game_id, test_uuid(4, 2));
  EXPECT_EQ(games[1].winner, "villagers");
  EXPECT_EQ(backend.recent_games(10).size(), 3u);
}

}  // namespace partyd::testing
