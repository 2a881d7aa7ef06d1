// The persisted form of a room: an envelope (schema version, game, code, times, state version,
// rng position, armed timers, CRC-32 of the game state) around the game's own snapshot bytes.
// JSON, so `redis-cli GET` shows it. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.hpp"

namespace partyd {

inline constexpr int room_snapshot_schema = 1;

struct room_snapshot {
  std::string game;
  std::string code;
  time_ms created_at = 0;
  time_ms last_activity = 0;
  std::uint64_t version = 0;
  std::uint64_t rng_seed = 0;
  std::uint64_t rng_draws = 0;
  std::vector<std::pair<std::uint64_t, time_ms>> timers;  // (game timer key, deadline), sorted
  std::string state;                                      // the game's snapshot() bytes
};

std::string encode_room_snapshot(const room_snapshot& snapshot);
// nullopt when the bytes are not a valid envelope of a known schema, or the CRC does not match.
std::optional<room_snapshot> decode_room_snapshot(std::string_view bytes, std::string& error);

}  // namespace partyd
