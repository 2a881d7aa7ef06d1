// Quiz wire codec (docs/protocol/quiz.md): client messages are `{type, ...fields}` objects (the
// seed's discriminated union on `type`); decode checks every field and turns a malformed message
// into a documented error. Also the shipped question packs and the settings validation shared by
// decode (io threads), the admin API's create and the game (worker).
// Thread: pure; nothing here throws out of decode.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "engine/game.hpp"
#include "games/quiz/state.hpp"

namespace partyd {
struct quiz_config;
}

namespace partyd::quiz {

enum class in_type : std::uint16_t {
  lobby_create,
  lobby_join,
  lobby_leave,
  lobby_settings,
  lobby_start,
  game_answer,
};

enum class out_type : std::uint16_t {
  lobby_state,
  lobby_closed,
  game_question,
  game_answered,
  game_answer_result,
  game_finished,
  error,
};

inline constexpr std::array<std::string_view, 1> role_names = {"player"};
inline constexpr std::array<std::string_view, 6> in_type_names = {
    "lobby:create", "lobby:join", "lobby:leave", "lobby:settings", "lobby:start", "game:answer"};
inline constexpr std::array<std::string_view, 7> out_type_names = {
    "lobby:state",        "lobby:closed",  "game:question", "game:answered",
    "game:answer_result", "game:finished", "error"};

inline constexpr std::string_view room_code_alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
inline constexpr std::size_t room_code_length = 6;
inline constexpr std::string_view custom_pack_id = "custom";

constexpr std::uint16_t index_of(in_type t) { return static_cast<std::uint16_t>(t); }
constexpr std::uint16_t index_of(out_type t) { return static_cast<std::uint16_t>(t); }

// The settings a message changes; absent members keep their value.
struct settings_update {
  std::optional<std::uint32_t> rounds;
  std::optional<std::uint32_t> seconds_per_question;
  std::optional<std::string> pack_id;
  std::optional<pack> custom;
};

struct request : command {
  std::string code;                         // lobby:join
  std::optional<settings_update> settings;  // lobby:create, lobby:settings
  std::string question_id;                  // game:answer
  std::uint32_t option_index = 0;           // game:answer
};

inline in_type type_of(const request& r) noexcept { return static_cast<in_type>(r.type); }

// The packs built into the server (games/quiz/packs/*.json), parsed once; ordered by id.
const std::vector<pack>& shipped_packs();
const pack* find_shipped_pack(std::string_view id);

// Parses `settings` (a message's or the admin API's object) into an update. On failure returns
// nullopt and sets `field` (a path like "customPack.questions[3].options") and `reason`.
std::optional<settings_update> parse_settings(const quiz_config& config,
                                              const boost::json::object& settings,
                                              std::string& field, std::string& reason);
// Applies `update` to `current` when the result is playable (the pack exists, rounds fit it);
// otherwise leaves `current` alone and says why (field, reason).
bool apply_settings(const settings_update& update, settings& current, std::string& field,
                    std::string& reason);
// The pack the settings name, or nullptr (a custom pack that was never sent).
const pack* selected_pack(const settings& s);

decode_result decode(const quiz_config& config, std::string_view text, bool first_message);

std::string_view status_name(status s) noexcept;
std::optional<status> parse_status(std::string_view name) noexcept;
std::string_view close_reason_name(close_reason r) noexcept;

// {"type":"error","code":..,"message":..,"requestType":..}; requestType left out when empty.
std::string encode_error(std::string_view code, std::string_view message,
                         std::string_view request_type = {});
// A frame's object with its "type" as the first member; the caller adds the rest.
boost::json::object frame_of(out_type type);

}  // namespace partyd::quiz
