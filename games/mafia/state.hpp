// State of one Mafia room (docs/protocol/mafia.md) and of the public matchmaking queue. Plain
// data: the games (game.hpp, matchmaker.hpp) own the rules, snapshot.cpp the bytes.
// Thread: owned by the room's worker.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "engine/types.hpp"

namespace partyd::mafia {

enum class phase : std::uint8_t { lobby, night, day, voting, ended };
enum class role : std::uint8_t { none, mafia, detective, doctor, villager };
// How a player died: the night's kill, the day's vote, or gone past the reconnect grace.
enum class death_cause : std::uint8_t { night_kill, vote, abandoned };

struct settings {
  std::uint32_t discussion_s = 90;  // the seed's discussionTime
  std::uint32_t vote_s = 30;        // voteTime
  std::uint32_t night_s = 30;
};

struct player {
  std::string user_id;
  std::string username;
  bool guest = true;       // identified by auth:identify (not by a token at the upgrade)
  connection_id conn = 0;  // the seat's connection (a session's logical id); 0: none
  time_ms joined_at = 0;
  std::uint64_t join_order = 0;  // host succession and roster order
  bool ready = false;
  bool connected = true;
  bool muted = false;  // by the host: chat:send is refused
  // In a game:
  role assigned = role::none;
  bool in_game = false;  // dealt a role in the current game
  bool alive = false;
  std::uint32_t died_round = 0;
  death_cause cause = death_cause::night_kill;
  bool gone = false;  // past the reconnect grace or left during the game: no seat to come back to
  // Chat rate limit: start of the current window and messages in it.
  time_ms chat_window_start = 0;
  std::uint32_t chat_in_window = 0;
};

// Night choices (the seed's room:{id}:actions): the mafia's votes with the order they came in.
struct night_actions {
  struct mafia_vote {
    std::string target;
    std::uint64_t order = 0;  // for the tie-break: the earliest choice of a tied target wins
  };
  std::map<std::string, mafia_vote> mafia;  // mafia user id -> choice
  std::string doctor_save;
  std::string detective_inspect;
  std::uint64_t next_order = 1;
};

struct death {
  std::string user_id;
  std::uint32_t round = 0;
  death_cause cause = death_cause::night_kill;
};

// A finished game's record for the history database, kept in the snapshot until the history
// writer confirms it (the room's id, its game's id and every row id come from the room's rng).
struct history_entry {
  std::string game_id;
  std::string room_host_id;  // the room as it was at the game's end
  std::string winner;
  std::uint32_t rounds = 0;
  time_ms started_at = 0;
  time_ms ended_at = 0;
  struct seat {
    std::string user_id;
    std::string username;
    bool guest = true;
    std::string role;         // empty: left before the game ended (no game_roles row)
    std::string row_id;       // room_players.id
    std::string role_row_id;  // game_roles.id
    time_ms joined_at = 0;
    time_ms left_at = 0;  // 0: still in the room
    bool kicked = false;
  };
  std::vector<seat> seats;
};

struct room_state {
  std::string code;
  std::string room_id;  // UUID, the history's rooms.id
  bool is_public = false;
  bool matched = false;  // made by the matchmaker: starts itself after its countdown
  std::uint32_t max_players = 10;
  settings config;
  phase current = phase::lobby;
  std::string host_id;
  time_ms created_at = 0;
  std::uint64_t next_join_order = 1;
  std::vector<player> players;  // in join order
  // The matchmaker's players who may take a seat of a matched room, and its countdown's end.
  std::vector<std::string> reserved;
  time_ms countdown_ends_at = 0;

  // The current game.
  std::string game_id;
  std::uint32_t round = 0;  // 1 on the first night
  time_ms phase_ends_at = 0;
  time_ms started_at = 0;
  night_actions night;
  std::map<std::string, std::string> votes;  // the seed's room:{id}:votes; "" = skip
  std::vector<death> deaths;
  std::string winner;  // once ended

  // Seats that left the room since it opened (the newest kept): room_players rows of the next
  // finished game's record.
  std::vector<history_entry::seat> departed;
  std::vector<history_entry> unwritten;  // finished games the history has not confirmed
  std::uint64_t history_requests = 0;
  // The room should close (emptied, inactive) but waits until the history has its records.
  std::string closing;
};

// The public queue (the seed's matchmaking:public).
struct queued_player {
  std::string user_id;
  std::string username;
  connection_id conn = 0;
  time_ms queued_at = 0;
  bool connected = true;
};

struct match_group {
  std::uint64_t request = 0;  // effects::create_room's request
  std::vector<queued_player> members;
};

struct queue_state {
  std::string code;
  std::vector<queued_player> waiting;  // oldest first
  std::vector<match_group> forming;    // rooms asked for, not yet answered
  std::uint64_t next_request = 1;
  std::uint64_t matches_made = 0;
  time_ms retry_at = 0;  // after a refused creation: wait before asking again
};

}  // namespace partyd::mafia
