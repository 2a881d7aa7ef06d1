#include "games/alias/module.hpp"

#include <utility>

#include "engine/clock.hpp"
#include "games/alias/codec.hpp"
#include "games/alias/game.hpp"
#include "games/common/session_options.hpp"

namespace partyd {

namespace json = boost::json;

void alias_module::declare_options(option_list& options, alias_config& config) {
  options.add("alias-max-players", config.max_players,
              "players in one Alias room besides the host (the design's 10)");
  options.add("alias-public-base-url", config.public_base_url,
              "base of ROOM_CREATED's qrCodeUrl (the room code is appended)");
  options.add("alias-host-pause-after-ms", config.host_pause_after_ms,
              "a host gone this long pauses the running round");
  options.add("alias-countdown-sec", config.countdown_sec, "the 3-2-1 before each round");
  options.add("alias-custom-max-words", config.custom_max_words, "words in a host's custom pack");
  options.add("alias-max-message-bytes", config.max_message_bytes,
              "largest Alias WebSocket message (must admit a custom pack)");
  declare_session_options(options, game_name, config.sessions);
}

std::string alias_module::check_config(const alias_config& config) {
  if (config.max_players < 2 || config.max_players > 64) {
    return "--alias-max-players must be from 2 to 64";
  }
  if (config.host_pause_after_ms < 0) return "--alias-host-pause-after-ms must not be negative";
  if (config.countdown_sec > 10) return "--alias-countdown-sec must be at most 10";
  if (config.custom_max_words < config.custom_min_words || config.custom_max_words > 5000) {
    return "--alias-custom-max-words must be from " + std::to_string(config.custom_min_words) +
           " to 5000";
  }
  if (config.max_message_bytes < 4096) return "--alias-max-message-bytes must be at least 4096";
  if (config.public_base_url.empty()) return "--alias-public-base-url must not be empty";
  return check_session_policy(game_name, config.sessions);
}

alias_module::alias_module(alias_config config)
    : module_base(game_name, "/ws/alias",
                  {alias::role_names, alias::in_type_names, alias::out_type_names},
                  std::move(config)) {
  (void)alias::shipped_packs();  // parsed at start-up, not on a worker's first round
}

decode_result alias_module::decode(std::string_view text, bool first_message) const {
  return alias::decode(config(), text, first_message);
}

// Errors io sends before a message reached a room carry the server's clock; a room's own errors
// carry its step's `now`.
std::string alias_module::encode_error(std::string_view code, std::string_view message) const {
  return alias::encode_error({}, wall_clock_ms(), alias::upper_code(code), message);
}

std::string alias_module::encode_request_error(std::string_view code, std::string_view message,
                                               std::string_view request_type) const {
  return alias::encode_error({}, wall_clock_ms(), alias::upper_code(code), message, request_type);
}

std::string alias_module::encode_handshake_error(std::string_view code, std::string_view message,
                                                 std::string_view room_code) const {
  return alias::encode_error(room_code, wall_clock_ms(), alias::upper_code(code), message);
}

std::size_t alias_module::room_code_length() const noexcept { return alias::room_code_length; }
std::string_view alias_module::room_code_alphabet() const noexcept {
  return alias::room_code_alphabet;
}

create_result alias_module::create(const json::object& options, std::string_view code) const {
  create_result result;
  std::string field;
  std::string reason;
  std::optional<alias::settings> settings = alias::parse_settings(config(), options, field, reason);
  if (!settings) {
    result.error = protocol_error{"VALIDATION_FAILED", "payload." + field + ": " + reason};
    return result;
  }
  alias::room_state state;
  state.code = std::string(code);
  state.config = std::move(*settings);
  state.state_version = 1;  // ROOM_CREATED
  result.reply["code"] = state.code;
  result.reply["game"] = "alias";
  result.reply["qrCodeUrl"] = config().public_base_url + "/" + state.code;
  result.instance = std::make_unique<alias_game>(config(), std::move(state));
  return result;
}

std::unique_ptr<game> alias_module::restore(std::string_view bytes) const {
  return alias_restore(config(), bytes);
}

}  // namespace partyd
