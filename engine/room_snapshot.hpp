// The persisted form of a room: an envelope (schema version, game, code, times, state version,
// rng state, armed timers, CRC-32 of the game state) around the game's own snapshot bytes.
// JSON, so `redis-cli GET` shows it. Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/rng.hpp"
#include "engine/types.hpp"

namespace partyd {

// 3: the session table of a session game ("sessions", JSON text; absent for other games).
// 2: the rng's state as four words ("rng"). 1 (up to abb3642): a seed and a count of draws
// ("rngSeed", "rngDraws"), still read: no game drew then, so the seed alone is the position.
inline constexpr int room_snapshot_schema = 3;

struct room_snapshot {
  std::string game;
  std::string code;
  time_ms created_at = 0;
  time_ms last_activity = 0;
  std::uint64_t version = 0;
  room_rng::state_type rng_state{};
  std::vector<std::pair<std::uint64_t, time_ms>> timers;  // (game timer key, deadline), sorted
  std::string state;                                      // the game's snapshot() bytes
  std::string sessions;  // session_table::encode(); empty when the game has no sessions
};

std::string encode_room_snapshot(const room_snapshot& snapshot);
// nullopt when the bytes are not a valid envelope of a known schema, or the CRC does not match.
std::optional<room_snapshot> decode_room_snapshot(std::string_view bytes, std::string& error);

}  // namespace partyd
