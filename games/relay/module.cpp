#include "games/relay/module.hpp"

#include <algorithm>
#include <utility>

#include "engine/secrets.hpp"
#include "games/common/session_options.hpp"
#include "games/relay/codec.hpp"
#include "games/relay/game.hpp"

namespace partyd {

namespace json = boost::json;

namespace {

constexpr std::size_t password_max_chars = 128;
constexpr std::uint64_t capacity_max = 100000;
constexpr std::size_t host_key_bytes = 24;
constexpr std::size_t host_key_min_chars = 8;
constexpr std::size_t host_key_max_chars = 128;
constexpr std::size_t relay_reply_slack_bytes = 1024;

// Reads an optional capacity; false when present but not an integer in 0..largest.
bool read_capacity(const json::object& options, std::string_view key, std::uint32_t largest,
                   std::uint32_t& out) {
  const json::value* found = options.if_contains(key);
  if (found == nullptr || found->is_null()) {
    out = 0;
    return true;
  }
  std::uint64_t value = 0;
  if (found->is_uint64()) {
    value = found->get_uint64();
  } else if (found->is_int64() && found->get_int64() >= 0) {
    value = static_cast<std::uint64_t>(found->get_int64());
  } else {
    return false;
  }
  if (value > largest) {
    return false;
  }
  out = static_cast<std::uint32_t>(value);
  return true;
}

}  // namespace

void relay_module::declare_options(option_list& options, relay_config& config) {
  // The relay was the first game: its message limit kept the server-wide flag name.
  options.add("max-message-bytes", config.max_message_bytes,
              "largest relay WebSocket message; larger ones close the connection with 1009");
  options.add("relay-state-max-bytes", config.state_max_bytes,
              "largest relay game or player state, as sent (0: --max-message-bytes)");
  options.add("relay-meta-max-bytes", config.meta_max_bytes,
              "largest relay handshake meta (its JSON text, as sent)");
  options.add("relay-host-queue-max", config.host_queue_max,
              "messages kept for an absent relay host; the oldest is dropped past this");
  options.add("relay-host-queue-max-bytes", config.host_queue_max_bytes,
              "bytes of the messages kept for an absent relay host; the oldest are dropped past "
              "this");
  options.add("relay-reply-max-bytes", config.reply_max_bytes,
              "largest relay frame (the host's handshake_response, a poll's results); a join, "
              "poll or answer that would make one larger is refused");
  options.add("relay-max-seats", config.max_seats,
              "player seats of a relay room with maxPlayers 0, and the largest maxPlayers");
  options.add("relay-max-audience", config.max_audience,
              "connected audience of a relay room with maxAudience 0, and the largest maxAudience");
  declare_session_options(options, "relay", config.sessions);
}

std::string relay_module::check_config(const relay_config& config) {
  if (config.max_message_bytes < 256) {
    return "--max-message-bytes must be at least 256";
  }
  if (config.state_max_bytes > config.max_message_bytes) {
    return "--relay-state-max-bytes cannot exceed --max-message-bytes: a state arrives in one "
           "message";
  }
  if (config.meta_max_bytes > config.max_message_bytes) {
    return "--relay-meta-max-bytes cannot exceed --max-message-bytes";
  }
  if (config.max_seats == 0 || config.max_seats > capacity_max || config.max_audience == 0 ||
      config.max_audience > capacity_max) {
    return "--relay-max-seats and --relay-max-audience must be 1.." + std::to_string(capacity_max);
  }
  // A player's handshake_response carries the game state and its player state, each relayed as
  // sent: up to a message's size.
  if (config.reply_max_bytes < 2 * config.max_message_bytes + relay_reply_slack_bytes) {
    return "--relay-reply-max-bytes must be at least twice --max-message-bytes plus " +
           std::to_string(relay_reply_slack_bytes) +
           ": a player's handshake_response carries two states";
  }
  return check_session_policy("relay", config.sessions);
}

relay_module::relay_module(relay_config config)
    : module_base(game_name, "/ws/relay",
                  {relay::role_names, relay::in_type_names, relay::out_type_names}, config) {}

decode_result relay_module::decode(std::string_view text, bool first_message) const {
  return relay::decode(config(), text, first_message);
}

std::string relay_module::encode_error(std::string_view code, std::string_view message) const {
  return relay::encode_error(code, message);
}

std::string relay_module::encode_request_error(std::string_view code, std::string_view message,
                                               std::string_view request_type) const {
  return relay::encode_error(code, message, request_type);
}

std::string relay_module::encode_handshake_error(std::string_view code, std::string_view message,
                                                 std::string_view /*room_code*/) const {
  return relay::encode_handshake_error(code, message);
}

create_result relay_module::create(const boost::json::object& options,
                                   std::string_view code) const {
  create_result result;
  relay::room_state state;
  state.room_code = std::string(code);

  std::string password;
  if (const json::value* found = options.if_contains("password");
      found != nullptr && !found->is_null()) {
    if (!found->is_string() || utf8_length(found->get_string()) > password_max_chars) {
      result.error =
          protocol_error{"bad_request", "option 'password' must be a string of at most " +
                                            std::to_string(password_max_chars) + " characters"};
      return result;
    }
    password = std::string(found->get_string());
  }
  if (!read_capacity(options, "maxPlayers", config().max_seats, state.max_players)) {
    result.error = protocol_error{"bad_request", "option 'maxPlayers' must be an integer 0.." +
                                                     std::to_string(config().max_seats)};
    return result;
  }
  if (!read_capacity(options, "maxAudience", config().max_audience, state.max_audience)) {
    result.error = protocol_error{"bad_request", "option 'maxAudience' must be an integer 0.." +
                                                     std::to_string(config().max_audience)};
    return result;
  }
  // `hostKey`: one the admin chose (printable ASCII without spaces, 8 to 128 characters).
  std::string host_key;
  if (const json::value* found = options.if_contains("hostKey");
      found != nullptr && !found->is_null()) {
    const bool printable =
        found->is_string() && std::all_of(found->get_string().begin(), found->get_string().end(),
                                          [](char c) { return c > ' ' && c <= '~'; });
    if (!printable || found->get_string().size() < host_key_min_chars ||
        found->get_string().size() > host_key_max_chars) {
      result.error = protocol_error{
          "bad_request", "option 'hostKey' must be 8 to 128 printable characters without spaces"};
      return result;
    }
    host_key = std::string(found->get_string());
  } else {
    host_key = random_token(host_key_bytes);
  }
  state.host_key_hash = sha256_tagged(host_key);
  if (!password.empty()) {
    state.password_hash = sha256_tagged(password);
  }
  if (state.host_key_hash.empty() || (!password.empty() && state.password_hash.empty())) {
    result.error = protocol_error{"bad_request", "could not hash the room secrets"};
    return result;
  }

  result.reply["roomCode"] = state.room_code;
  result.reply["hostKey"] = host_key;
  result.reply["game"] = "relay";
  result.reply["maxPlayers"] = state.max_players;
  result.reply["maxAudience"] = state.max_audience;
  result.reply["hasPassword"] = !password.empty();
  result.instance = std::make_unique<relay_game>(config(), std::move(state));
  return result;
}

std::unique_ptr<game> relay_module::restore(std::string_view bytes) const {
  return relay_restore(config(), bytes);
}

}  // namespace partyd
