// Alias wire codec (docs/protocol/alias.md). Client messages use the design's envelope
// `{type, roomId, actorId, timestamp, version, payload}` (seed 004, 2.1); decode checks every
// field and turns a malformed message into a documented ERROR. Server frames are
// `{type, roomId, timestamp, version, broadcast, payload}`. Also the shipped word packs and the
// validation of a room's settings, shared by decode (io threads) and create.
// Thread: pure; nothing here throws out of decode.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "engine/game.hpp"
#include "games/alias/state.hpp"

namespace partyd {
struct alias_config;
}

namespace partyd::alias {

enum class in_type : std::uint16_t {
  create_room,
  join_room,
  leave_room,
  start_team_setup,
  join_team,
  cancel_team_setup,
  confirm_start,
  word_swiped,
  pause_game,
  resume_game,
  restart_game,
  close_room,
};

enum class out_type : std::uint16_t {
  room_created,
  room_joined,
  player_joined,
  player_left,
  player_status,
  host_changed,
  team_setup_started,
  player_assigned_team,
  teams_balanced,
  team_setup_cancelled,
  countdown,
  round_started,
  word_revealed,
  word_result,
  timer_tick,
  game_paused,
  game_resumed,
  round_ended,
  score_summary,
  next_round_ready,
  game_ended,
  final_results,
  game_restarted,
  room_closed,
  error,
};

inline constexpr std::array<std::string_view, 2> role_names = {"host", "player"};
inline constexpr std::array<std::string_view, 12> in_type_names = {
    "CREATE_ROOM", "JOIN_ROOM",         "LEAVE_ROOM",    "START_TEAM_SETUP",
    "JOIN_TEAM",   "CANCEL_TEAM_SETUP", "CONFIRM_START", "WORD_SWIPED",
    "PAUSE_GAME",  "RESUME_GAME",       "RESTART_GAME",  "CLOSE_ROOM"};
inline constexpr std::array<std::string_view, 25> out_type_names = {
    "ROOM_CREATED",   "ROOM_JOINED",          "PLAYER_JOINED",      "PLAYER_LEFT",
    "PLAYER_STATUS",  "HOST_CHANGED",         "TEAM_SETUP_STARTED", "PLAYER_ASSIGNED_TEAM",
    "TEAMS_BALANCED", "TEAM_SETUP_CANCELLED", "COUNTDOWN",          "ROUND_STARTED",
    "WORD_REVEALED",  "WORD_RESULT",          "TIMER_TICK",         "GAME_PAUSED",
    "GAME_RESUMED",   "ROUND_ENDED",          "SCORE_SUMMARY",      "NEXT_ROUND_READY",
    "GAME_ENDED",     "FINAL_RESULTS",        "GAME_RESTARTED",     "ROOM_CLOSED",
    "ERROR"};

inline constexpr std::string_view room_code_alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
inline constexpr std::size_t room_code_length = 6;
inline constexpr std::string_view custom_pack_id = "custom";
inline constexpr std::string_view protocol_version = "1.0";

constexpr std::uint16_t index_of(in_type t) { return static_cast<std::uint16_t>(t); }
constexpr std::uint16_t index_of(out_type t) { return static_cast<std::uint16_t>(t); }

struct request : command {
  std::string actor_id;  // as the client named itself; checked against the seat when present
  // CREATE_ROOM, JOIN_ROOM
  std::string name;
  // START_TEAM_SETUP
  std::uint32_t num_teams = 2;
  // JOIN_TEAM: the team, and (the host only) whom to move
  std::string team_id;
  std::string player_id;
  // WORD_SWIPED
  std::string word_id;
  bool guessed = false;
};

inline in_type type_of(const request& r) noexcept { return static_cast<in_type>(r.type); }

// The packs built into the server (games/alias/packs/*.json), parsed once; ordered by id.
const std::vector<word_pack>& shipped_packs();
const word_pack* find_shipped_pack(std::string_view id);
// The pack the settings name (the custom one for "custom"), or nullptr.
const word_pack* selected_pack(const settings& s);

// CREATE_ROOM's payload (without hostName) into settings; on failure nullopt with `field` (a
// path like "customPack.words[3].text") and `reason`.
std::optional<settings> parse_settings(const alias_config& config,
                                       const boost::json::object& payload, std::string& field,
                                       std::string& reason);

decode_result decode(const alias_config& config, std::string_view text, bool first_message);

// The server envelope around `payload_json` (JSON object text).
std::string encode_frame(out_type type, std::string_view room_code, time_ms now,
                         std::string_view broadcast, std::string_view payload_json);
// ERROR {code, message, requestType?, currentState?, stateVersion?} to the actor.
std::string encode_error(std::string_view room_code, time_ms now, std::string_view code,
                         std::string_view message, std::string_view request_type = {},
                         std::string_view current_state = {},
                         std::optional<std::uint64_t> state_version = std::nullopt);
// An error code of the engine or the session layer ("room_not_found") as alias.md spells it
// ("ROOM_NOT_FOUND").
std::string upper_code(std::string_view code);

}  // namespace partyd::alias
