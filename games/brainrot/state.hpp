// The brainrot room's state: plain data owned by one brainrot_game and touched only by the room's
// worker. Connections appear as connection_id, never as pointers, and every container whose order
// reaches a frame or a snapshot is ordered (std::map, std::vector).
// Bounds: senders, players, rounds and items are fixed at creation (bounded by the CREATE_ROOM
// message size); claims <= players; votes <= frozen voters <= players.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/types.hpp"

namespace partyd::brainrot {

inline constexpr role_id master_role = 0;
inline constexpr role_id play_role = 1;

enum class phase : std::uint8_t { lobby, game, over };
enum class status : std::uint8_t { idle, vote, reveal_wait, round_recap };

struct sender {
  std::string sender_id;
  std::string name;
  bool active = true;
  std::int64_t reels_count = 0;
};

struct player {
  std::string player_id;  // "p_" + sender_id
  std::string sender_id;
  bool is_sender_bound = true;
  bool active = true;
  std::string name;
  std::optional<std::string> avatar_url;  // a data URL; nullopt = null
};

struct item {
  std::string item_id;
  std::string reel_id;
  std::string url;
  std::vector<std::string> true_sender_ids;  // k = its size
};

struct round {
  std::string round_id;
  std::vector<item> items;
};

struct player_result {
  std::string player_id;
  std::vector<std::string> selections;
  std::vector<std::string> correct;
  std::vector<std::string> incorrect;
  std::int64_t points_gained = 0;
  std::int64_t score_total = 0;
};

// The closed vote of the current item (status reveal_wait).
struct vote_results {
  std::string round_id;
  std::string item_id;
  std::vector<std::string> true_senders;
  std::vector<player_result> players;
};

// What a bound connection is. Never persisted: devices reattach by device_id.
struct connection_info {
  role_id role = play_role;
  std::string device_id;  // the last device_id it registered with; empty for a master socket
};

struct room_state {
  // Identity, fixed at creation (created_at/expires_at on the room's first step).
  std::string code;
  std::string master_key_hash;  // "sha256:<hex>"
  bool master_claimed = false;  // CREATE_ROOM answered (its socket got the master key)
  time_ms created_at = 0;       // 0 until the first step
  time_ms expires_at = 0;

  // Content, fixed at creation (names and avatars change in the lobby).
  std::vector<sender> senders;  // payload order
  std::vector<player> players;  // payload order (one per sender)
  std::vector<round> rounds;    // payload order
  std::vector<std::string> round_order;

  // Progress.
  brainrot::phase phase = phase::lobby;
  brainrot::status status = status::idle;
  std::size_t round_index = 0;  // into round_order; meaningful in phase game
  std::size_t item_index = 0;   // into the current round's items; meaningful in phase game
  std::map<std::string, std::string> claims;   // player_id -> device_id
  std::map<std::string, std::int64_t> scores;  // player_id -> score (every player)
  // round_id -> player_id -> points gained in that round.
  std::map<std::string, std::map<std::string, std::int64_t>> round_points;

  // The current vote (status vote): frozen voters, arrival order, selections.
  std::vector<std::string> expected_voters;  // players order
  std::vector<std::string> votes_received;   // first-vote order
  std::map<std::string, std::vector<std::string>> votes;
  // The last closed vote (status reveal_wait).
  std::optional<vote_results> results;

  // Connections: not persisted (after a restore nobody is connected).
  std::map<connection_id, connection_info> connections;
  bool closed = false;
};

}  // namespace partyd::brainrot
