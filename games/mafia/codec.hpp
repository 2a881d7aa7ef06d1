// Mafia wire codec (docs/protocol/mafia.md): client messages are `{type, payload}` objects with the
// seed's event names as types; decode checks every field and turns a malformed message into a
// documented room:error. Also the guest identity (auth:identify's user ids and their tokens).
// Thread: pure; nothing here throws out of decode.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "engine/game.hpp"
#include "games/mafia/state.hpp"

namespace partyd {
struct mafia_config;
}

namespace partyd::mafia {

enum class in_type : std::uint16_t {
  auth_identify,
  room_create,
  room_join,
  room_leave,
  room_ready,
  room_unready,
  room_kick,
  room_start,
  action_mafia_kill,
  action_doctor_save,
  action_detective_inspect,
  chat_send,
  chat_mute,
  chat_unmute,
  vote_cast,
  matchmaking_join,
  matchmaking_leave,
};

enum class out_type : std::uint16_t {
  auth_success,
  auth_reconnect,
  room_update,
  room_error,
  room_left,
  game_phase,
  game_role,
  action_result,
  action_accepted,
  action_mafia_votes,
  chat_message,
  chat_mute,
  vote_update,
  vote_result,
  game_end,
  matchmaking_queued,
  matchmaking_found,
  matchmaking_left,
};

inline constexpr role_id player_role = 0;
inline constexpr role_id queued_role = 1;
inline constexpr std::array<std::string_view, 2> role_names = {"player", "queued"};
inline constexpr std::array<std::string_view, 17> in_type_names = {"auth:identify",
                                                                   "room:create",
                                                                   "room:join",
                                                                   "room:leave",
                                                                   "room:ready",
                                                                   "room:unready",
                                                                   "room:kick",
                                                                   "room:start",
                                                                   "action:mafiaKill",
                                                                   "action:doctorSave",
                                                                   "action:detectiveInspect",
                                                                   "chat:send",
                                                                   "chat:mute",
                                                                   "chat:unmute",
                                                                   "vote:cast",
                                                                   "matchmaking:join",
                                                                   "matchmaking:leave"};
inline constexpr std::array<std::string_view, 18> out_type_names = {
    "auth:success",      "auth:reconnect",    "room:update",  "room:error",
    "room:left",         "game:phase",        "game:role",    "action:result",
    "action:accepted",   "action:mafiaVotes", "chat:message", "chat:mute",
    "vote:update",       "vote:result",       "game:end",     "matchmaking:queued",
    "matchmaking:found", "matchmaking:left"};

// Room codes: the seed's short, human-readable code (section 2.2), without look-alikes.
inline constexpr std::string_view room_code_alphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789";
inline constexpr std::size_t room_code_length = 6;
// The public queue's room: a code no client-made room can have (lower case).
inline constexpr std::string_view queue_code = "matchmaking";

constexpr std::uint16_t index_of(in_type t) { return static_cast<std::uint16_t>(t); }
constexpr std::uint16_t index_of(out_type t) { return static_cast<std::uint16_t>(t); }

struct settings_update {
  std::optional<std::uint32_t> discussion_s;
  std::optional<std::uint32_t> vote_s;
  std::optional<std::uint32_t> night_s;
};

struct request : command {
  std::string username;                  // auth:identify
  std::string token;                     // auth:identify (optional)
  bool is_public = false;                // room:create
  std::uint32_t max_players = 0;         // room:create (0: the default)
  settings_update settings;              // room:create
  std::string room_code;                 // room:join
  std::string user_id;                   // room:kick, chat:mute, chat:unmute
  std::optional<std::string> target_id;  // actions; vote:cast (nullopt: skip)
  std::string message;                   // chat:send
};

inline in_type type_of(const request& r) noexcept { return static_cast<in_type>(r.type); }

// Guest identities: a user id (UUID v4) and its token, "<userId>.<32 hex>", an HMAC of the id
// under the server's key, so any later connection proves it is that user with no table to look up.
class guest_keys {
 public:
  explicit guest_keys(std::string key) : key_(std::move(key)) {}
  std::string token_for(std::string_view user_id) const;
  // The user id a token proves, or nullopt.
  std::optional<std::string> verify(std::string_view token) const;

 private:
  std::string key_;
};

decode_result decode(const mafia_config& config, const guest_keys& keys, std::string_view text,
                     bool first_message);

// A UUID v4 from two 64-bit draws (the room's rng for history ids; the CSPRNG for users).
std::string uuid_from(std::uint64_t high, std::uint64_t low);
bool is_uuid(std::string_view text) noexcept;

std::string_view phase_name(phase p) noexcept;
std::optional<phase> parse_phase(std::string_view name) noexcept;
std::string_view role_name(role r) noexcept;
std::optional<role> parse_role(std::string_view name) noexcept;
std::string_view cause_name(death_cause c) noexcept;
std::optional<death_cause> parse_cause(std::string_view name) noexcept;
// The seed's room status: lobby, in_game, ended.
std::string_view status_name(phase p) noexcept;

// {"type":"room:error","payload":{"reason":..,"message":..,"requestType":..}}.
std::string encode_error(std::string_view reason, std::string_view message,
                         std::string_view request_type = {});
// {"type":<type>,"payload":<payload>}.
std::string encode_frame(out_type type, const boost::json::object& payload);

}  // namespace partyd::mafia
