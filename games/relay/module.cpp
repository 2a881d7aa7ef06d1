#include "games/relay/module.hpp"

#include <utility>

#include "engine/secrets.hpp"
#include "games/relay/codec.hpp"
#include "games/relay/game.hpp"

namespace partyd {

namespace json = boost::json;

namespace {

constexpr std::size_t password_max_chars = 128;
constexpr std::uint64_t capacity_max = 100000;
constexpr std::size_t host_key_bytes = 24;

// Reads an optional capacity; false when present but not an integer in 0..capacity_max.
bool read_capacity(const json::object& options, std::string_view key, std::uint32_t& out) {
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
  if (value > capacity_max) {
    return false;
  }
  out = static_cast<std::uint32_t>(value);
  return true;
}

}  // namespace

relay_module::relay_module(relay_config config) : config_(config) {}

std::string_view relay_module::name() const noexcept { return "relay"; }
std::string_view relay_module::ws_path() const noexcept { return "/ws/relay"; }
std::size_t relay_module::max_message_bytes() const noexcept { return config_.max_message_bytes; }

std::span<const std::string_view> relay_module::role_names() const noexcept {
  return relay::role_names;
}
std::span<const std::string_view> relay_module::in_types() const noexcept {
  return relay::in_type_names;
}
std::span<const std::string_view> relay_module::out_types() const noexcept {
  return relay::out_type_names;
}

decode_result relay_module::decode(std::string_view text, bool first_message) const {
  return relay::decode(config_, text, first_message);
}

std::string relay_module::encode_error(std::string_view code, std::string_view message) const {
  return relay::encode_error(code, message);
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
    if (!found->is_string() || relay::utf8_length(found->get_string()) > password_max_chars) {
      result.error =
          protocol_error{"bad_request", "option 'password' must be a string of at most " +
                                            std::to_string(password_max_chars) + " characters"};
      return result;
    }
    password = std::string(found->get_string());
  }
  if (!read_capacity(options, "maxPlayers", state.max_players)) {
    result.error =
        protocol_error{"bad_request", "option 'maxPlayers' must be an integer 0..100000"};
    return result;
  }
  if (!read_capacity(options, "maxAudience", state.max_audience)) {
    result.error =
        protocol_error{"bad_request", "option 'maxAudience' must be an integer 0..100000"};
    return result;
  }
  const std::string host_key = random_token(host_key_bytes);
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
  result.instance = std::make_unique<relay_game>(config_, std::move(state));
  return result;
}

std::unique_ptr<game> relay_module::restore(std::string_view bytes) const {
  return relay_restore(config_, bytes);
}

}  // namespace partyd
