// The relay room's state: plain data owned by one relay_game and touched only by the room's
// worker. Connections appear as connection_id, never as pointers, and every container whose order
// reaches a frame or a snapshot is ordered (std::map, std::vector, std::deque).
// Bounds: host_queue <= host_queue_max messages and host_queue_max_bytes, polls <= max_polls,
// states <= state_max_bytes each, seats <= max_seats, audience <= max_audience; the host's
// handshake_response and a free-text poll's results <= reply_max_bytes (relay_game counts them).
// JSON a client sent (game and player states, meta, messages to the host) is kept as its text and
// relayed byte for byte: parsed and written again, numbers could change (relay::decode).
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/container/flat_map.hpp>

#include "engine/types.hpp"

namespace partyd::relay {

inline constexpr role_id host_role = 0;
inline constexpr role_id player_role = 1;
inline constexpr role_id audience_role = 2;

enum class poll_type : std::uint8_t { single_choice, multiple_choice, free_text };

// A player's seat: survives disconnects (and restarts) until `leave` or the room closes.
struct seat {
  std::string client_id;      // public: the host and others may see it
  std::string token_hash;     // sha256 of the seat token, the secret only its holder was given
  std::uint64_t seq = 0;      // join order, for the host's client list
  std::string meta = "null";  // JSON text; "null" when none was sent
  std::optional<std::string> player_state;  // private state set by the host: an object's text
  connection_id conn = 0;                   // 0 while disconnected
  // The connection id a session of this seat resumes as (its connection at the last join), kept
  // across restarts; `away` while that session is detached past its grace (not persisted).
  connection_id resume_conn = 0;
  bool away = false;
};

// A connected audience member; connection-scoped, never persisted.
struct audience_member {
  std::string client_id;
  std::uint64_t seq = 0;
  std::string meta = "null";  // JSON text
};

struct poll {
  std::string id;
  poll_type type = poll_type::single_choice;
  std::string question;
  std::vector<std::string> options;
  bool active = true;
  // clientId -> the recorded answer: one option, several options, or one trimmed text.
  std::map<std::string, std::vector<std::string>> responses;
  // Derived from `responses`, never persisted (rebuilt when the room is restored): free_text
  // only, each distinct answer with its count, and what they take in poll_results' `counts`.
  std::map<std::string, std::uint64_t, std::less<>> answer_counts;
  std::size_t counts_bytes = 0;
};

// A message_to_host waiting for a host to connect.
struct queued_message {
  std::string client_id;
  role_id role = player_role;
  std::string message;          // JSON text
  std::size_t frame_bytes = 0;  // of its client_message frame; derived, never persisted
};

// What a joined connection is.
struct member {
  role_id role = host_role;
  std::string client_id;
};

struct room_state {
  // Configuration, fixed at creation.
  std::string room_code;
  std::string password_hash;       // "sha256:<hex>", empty when the room has no password
  std::string host_key_hash;       // "sha256:<hex>"
  std::uint32_t max_players = 0;   // 0 = up to relay_config::max_seats; counts seats held
  std::uint32_t max_audience = 0;  // 0 = up to relay_config::max_audience; connected audience

  // Persisted game data.
  std::string game_state = "{}";      // a JSON object's text: broadcast and stored as it is
  std::map<std::string, seat> seats;  // by clientId
  std::vector<poll> polls;            // in start order
  std::deque<queued_message> host_queue;
  std::uint64_t next_seq = 1;

  // Connections: not persisted (after a restore nobody is connected).
  connection_id host_conn = 0;
  std::string host_client_id;
  std::map<connection_id, audience_member> audience;
  // Every joined connection. A connection the game closes leaves this map at once: the engine
  // forgets it too and sends no disconnect for it. A sorted vector: every command looks its
  // sender up here, and a std::map node was a cache miss per command.
  boost::container::flat_map<connection_id, member> members;
  bool closed = false;
};

}  // namespace partyd::relay
