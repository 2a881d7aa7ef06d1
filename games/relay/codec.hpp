// Relay wire codec: decodes client JSON into typed commands and encodes outbound frames
// (docs/protocol/relay.md). Stateless: decode runs on io threads, the encoders on the room's
// worker. decode never throws; every malformed input becomes a protocol_error.
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
#include "games/common/text.hpp"
#include "games/relay/module.hpp"
#include "games/relay/state.hpp"

namespace partyd::relay {

enum class in_type : std::uint16_t {
  handshake,
  set_game_state,
  set_player_state,
  message_to_host,
  leave,
  poll_start,
  poll_response,
  poll_end,
  poll_results_request,
  close_room,
};

enum class out_type : std::uint16_t {
  handshake_response,
  client_joined,
  client_disconnected,
  client_left,
  game_state,
  player_state,
  client_message,
  poll_started,
  poll_response,
  poll_ended,
  poll_results,
  room_closed,
  host_replaced,
  seat_reclaimed,
  client_degraded,
  error,
};

inline constexpr std::array<std::string_view, 3> role_names = {"host", "player", "audience"};
inline constexpr std::array<std::string_view, 10> in_type_names = {
    "handshake",  "set_game_state", "set_player_state", "message_to_host",      "leave",
    "poll_start", "poll_response",  "poll_end",         "poll_results_request", "close_room"};
inline constexpr std::array<std::string_view, 16> out_type_names = {
    "handshake_response", "client_joined",  "client_disconnected", "client_left",
    "game_state",         "player_state",   "client_message",      "poll_started",
    "poll_response",      "poll_ended",     "poll_results",        "room_closed",
    "host_replaced",      "seat_reclaimed", "client_degraded",     "error"};

constexpr std::uint16_t index_of(in_type t) { return static_cast<std::uint16_t>(t); }
constexpr std::uint16_t index_of(out_type t) { return static_cast<std::uint16_t>(t); }

std::string_view poll_type_name(poll_type t) noexcept;
std::optional<poll_type> parse_poll_type(std::string_view name) noexcept;

// --- commands (one per in_type) ---

struct handshake_cmd : command {
  std::string room_code;
  role_id role = player_role;
  std::optional<std::string> password;
  std::optional<std::string> host_key;
  std::optional<std::string> client_id;
  std::optional<std::string> seat_token;  // with client_id: the secret that reclaims the seat
  // Client JSON is kept as the text the client wrote (relayed byte for byte, never parsed again).
  std::optional<std::string> meta;  // nullopt when absent or null
};
struct set_game_state_cmd : command {
  std::string state;  // the object's text: the relay never looks inside it
};
struct set_player_state_cmd : command {
  std::string client_id;
  std::string state;  // the object's text
};
struct message_to_host_cmd : command {
  std::string message;  // any JSON value's text
};
struct leave_cmd : command {};
struct poll_start_cmd : command {
  std::string poll_id;
  poll_type kind = poll_type::single_choice;
  std::string question;
  std::vector<std::string> options;
};
struct poll_response_cmd : command {
  std::string poll_id;
  boost::json::value response;
};
struct poll_end_cmd : command {
  std::string poll_id;
};
struct poll_results_request_cmd : command {
  std::string poll_id;
};
struct close_room_cmd : command {
  std::optional<std::string> reason;
};

// Never throws. For a first message, anything but a handshake is `handshake_required`.
decode_result decode(const relay_config& config, std::string_view text, bool first_message);

// --- outbound frames ---

std::string encode_error(std::string_view code, std::string_view message,
                         std::string_view request_type = {});
std::string encode_handshake_error(std::string_view code, std::string_view message);
std::string encode(const boost::json::object& frame);
// {"type":"<type>","state":<state>} for a state already serialized: the same text as encode() of
// that object, without building it.
std::string encode_with_state(out_type type, std::string_view state_json);
// A stored state back as an object (for replies and snapshots that embed it).
boost::json::object parse_state(std::string_view state_json);
boost::json::object frame_of(out_type type);

}  // namespace partyd::relay
