#include "games/brainrot/module.hpp"

#include <algorithm>
#include <utility>

#include <boost/json/serialize.hpp>

#include "engine/secrets.hpp"
#include "games/brainrot/codec.hpp"
#include "games/brainrot/game.hpp"

namespace partyd {

namespace json = boost::json;

namespace {
constexpr std::size_t master_key_bytes = 24;
// Room for an UPDATE_AVATAR envelope around its data URL (type, code, ids, key).
constexpr std::size_t avatar_envelope_bytes = 4096;
// Room beside one largest avatar (twice) in a reply: the rest of a small room's content.
constexpr std::size_t reply_room_bytes = 65536;
}  // namespace

void brainrot_module::declare_options(option_list& options, brainrot_config& config) {
  options.add("brainrot-max-message-bytes", config.max_message_bytes,
              "largest brainrot WebSocket message (must admit an avatar in its envelope)");
  options.add("brainrot-avatar-max-chars", config.avatar_max_chars,
              "longest brainrot avatar data URL");
  options.add("brainrot-reply-max-bytes", config.reply_max_bytes,
              "largest brainrot frame (a master's STATE_SYNC_RESPONSE, with every avatar twice); a "
              "room or avatar that would make one larger is refused");
}

std::string brainrot_module::check_config(const brainrot_config& config) {
  // A data URL is ASCII: one byte per character on the wire.
  if (config.avatar_max_chars + avatar_envelope_bytes > config.max_message_bytes) {
    return "--brainrot-max-message-bytes must exceed --brainrot-avatar-max-chars by " +
           std::to_string(avatar_envelope_bytes) + " bytes: an avatar arrives in one message";
  }
  // A master's STATE_SYNC_RESPONSE lists an avatar twice: one of the largest must fit, with room.
  if (config.reply_max_bytes < 2 * config.avatar_max_chars + reply_room_bytes) {
    return "--brainrot-reply-max-bytes must be at least twice --brainrot-avatar-max-chars plus " +
           std::to_string(reply_room_bytes) +
           " bytes: a master's STATE_SYNC_RESPONSE carries "
           "each avatar twice";
  }
  return {};
}

brainrot_module::brainrot_module(brainrot_config config)
    : module_base(game_name, "/ws/brainrot",
                  {brainrot::role_names, brainrot::in_type_names, brainrot::out_type_names},
                  config) {}

decode_result brainrot_module::decode(std::string_view text, bool first_message) const {
  return brainrot::decode(config(), text, first_message);
}

std::string brainrot_module::encode_error(std::string_view code, std::string_view message) const {
  return brainrot::encode_error(code, message);
}

std::string brainrot_module::encode_handshake_error(std::string_view code, std::string_view message,
                                                    std::string_view room_code) const {
  return brainrot::encode_error(code, message, room_code);
}

std::size_t brainrot_module::room_code_length() const noexcept {
  return brainrot::room_code_length;
}
std::string_view brainrot_module::room_code_alphabet() const noexcept {
  return brainrot::room_code_alphabet;
}

create_result brainrot_module::create(const boost::json::object& options,
                                      std::string_view code) const {
  create_result result;
  brainrot::create_validation checked = brainrot::validate_create_room(config(), options);
  if (!checked) {
    // Reached through the admin API only: CREATE_ROOM payloads were checked by decode.
    std::string message = checked.message;
    message += ": ";
    message += json::serialize(checked.details);
    result.error = protocol_error{"bad_request", std::move(message)};
    return result;
  }
  brainrot::room_state state = std::move(checked.state);
  state.code = std::string(code);
  // A key for the admin caller; CREATE_ROOM replaces it with its socket's secret.
  const std::string master_key = random_token(master_key_bytes);
  state.master_key_hash = sha256_tagged(master_key);
  if (state.master_key_hash.empty()) {
    result.error = protocol_error{"bad_request", "could not hash the master key"};
    return result;
  }
  result.reply["code"] = state.code;
  result.reply["master_key"] = master_key;
  result.reply["game"] = "brainrot";
  result.instance = std::make_unique<brainrot_game>(config(), std::move(state));
  return result;
}

std::unique_ptr<game> brainrot_module::restore(std::string_view bytes) const {
  return brainrot_restore(config(), bytes);
}

std::int64_t brainrot_module::snapshot_ttl_s(time_ms created_at, time_ms now,
                                             time_ms inactivity_ms) const {
  (void)inactivity_ms;
  const time_ms end = created_at + config().room_lifetime_ms + config().expired_grace_ms;
  return std::max<std::int64_t>(1, (end - now + 999) / 1000);
}

}  // namespace partyd
