// Brainrot wire codec: the seed 000 v3 catalogue (docs/protocol/brainrot.md). Decodes client
// `{type, payload}` JSON into one request struct and encodes outbound envelopes. Stateless: decode
// and the CREATE_ROOM validation run on io threads, the encoders on the room's worker. Nothing
// here throws out of decode; every malformed input becomes a protocol_error.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "engine/game.hpp"
#include "games/brainrot/module.hpp"
#include "games/brainrot/state.hpp"

namespace partyd::brainrot {

enum class in_type : std::uint16_t {
  create_room,
  join_room,
  take_player,
  rename_player,
  update_avatar,
  toggle_player,
  start_game,
  reel_opened,
  submit_vote,
  end_item,
  start_next_round,
  state_sync,
  room_closed,
};

enum class out_type : std::uint16_t {
  room_created,
  join_ok,
  error,
  take_player_ok,
  take_player_fail,
  player_update,
  slot_invalidated,
  game_start,
  new_item,
  start_vote,
  vote_ack,
  player_voted,
  vote_results,
  round_recap,
  round_finished,
  state_sync_response,
  game_over,
  room_closed_broadcast,
};

inline constexpr std::array<std::string_view, 2> role_names = {"master", "play"};
inline constexpr std::array<std::string_view, 13> in_type_names = {
    "CREATE_ROOM",      "JOIN_ROOM",  "TAKE_PLAYER", "RENAME_PLAYER", "UPDATE_AVATAR",
    "TOGGLE_PLAYER",    "START_GAME", "REEL_OPENED", "SUBMIT_VOTE",   "END_ITEM",
    "START_NEXT_ROUND", "STATE_SYNC", "ROOM_CLOSED"};
inline constexpr std::array<std::string_view, 18> out_type_names = {
    "ROOM_CREATED",        "JOIN_OK",          "ERROR",
    "TAKE_PLAYER_OK",      "TAKE_PLAYER_FAIL", "PLAYER_UPDATE",
    "SLOT_INVALIDATED",    "GAME_START",       "NEW_ITEM",
    "START_VOTE",          "VOTE_ACK",         "PLAYER_VOTED",
    "VOTE_RESULTS",        "ROUND_RECAP",      "ROUND_FINISHED",
    "STATE_SYNC_RESPONSE", "GAME_OVER",        "ROOM_CLOSED_BROADCAST"};

inline constexpr std::string_view room_code_alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
inline constexpr std::size_t room_code_length = 8;

constexpr std::uint16_t index_of(in_type t) { return static_cast<std::uint16_t>(t); }
constexpr std::uint16_t index_of(out_type t) { return static_cast<std::uint16_t>(t); }

// One decoded client message. The v3 requests share their fields, so one struct carries them
// all; decode fills (and checks) exactly the fields of the message's type.
struct request : command {
  std::string code;
  std::string device_id;
  std::string player_id;
  std::string round_id;
  std::string item_id;
  std::string new_name;                   // RENAME_PLAYER, raw (normalized by the game)
  std::optional<std::string> master_key;  // master messages; optional in STATE_SYNC
  std::optional<std::string> image;       // UPDATE_AVATAR; nullopt when not a string
  bool active = false;                    // TOGGLE_PLAYER
  std::vector<std::string> selections;    // SUBMIT_VOTE
  bool selections_are_strings = true;     // false when an entry was not a string
  std::size_t selections_total = 0;       // entries, strings or not
};

in_type type_of(const request& r) noexcept;

// Never throws. Every message but CREATE_ROOM carries `code`, which routes a first message.
decode_result decode(const brainrot_config& config, std::string_view text, bool first_message);

// A CREATE_ROOM payload checked and turned into the room's content (no code, no key, no times).
// On failure `error` is set: `message` is a short code, `details` names the field.
struct create_validation {
  room_state state;
  std::string message;
  boost::json::object details;
  explicit operator bool() const noexcept { return message.empty(); }
};
create_validation validate_create_room(const brainrot_config& config,
                                       const boost::json::object& payload);

// Trims and collapses inner runs of whitespace to one space.
std::string normalize_name(std::string_view text);

std::string_view phase_name(phase p) noexcept;
std::string_view status_name(status s) noexcept;
std::optional<phase> parse_phase(std::string_view name) noexcept;
std::optional<status> parse_status(std::string_view name) noexcept;

// --- outbound envelopes ---

// {"type": <name>, "payload": payload} serialized.
std::string encode(out_type type, boost::json::object payload);
// A vote's results as the seed's VoteResults object (VOTE_RESULTS, STATE_SYNC and the snapshot).
boost::json::object results_json(const vote_results& results);
// ERROR payload {code?, error, message?, details?}; empty strings / objects are left out.
boost::json::object error_payload(std::string_view room_code, std::string_view error,
                                  std::string_view message, const boost::json::object& details);
// The io-side ERROR frame. Error codes outside the seed's set (rate_limited, inbox_full, ...)
// become bad_request with the engine code as message; a `message` that is a JSON object is a
// complete payload pre-encoded by decode (it carries details).
std::string encode_error(std::string_view code, std::string_view message,
                         std::string_view room_code = {});

}  // namespace partyd::brainrot
