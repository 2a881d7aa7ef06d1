// libFuzzer target: the Mafia wire decoder on arbitrary text, as first and as later message, and
// the history's reader of finished-game records (storage/history.hpp) on the same bytes read as
// JSON. A decode gives exactly one of a command or an error; an identity comes only from
// auth:identify and, when the message carries a token, only from a token of this server's key;
// room:create's options are ones create() takes. No crash, no exception, no sanitizer report.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "games/mafia/codec.hpp"
#include "games/mafia/module.hpp"
#include "storage/history.hpp"

namespace {

using namespace partyd;
namespace json = boost::json;

[[noreturn]] void fail(const char* what, std::string_view text) {
  std::fprintf(stderr, "mafia_codec_fuzz: %s\ninput: %.*s\n", what, static_cast<int>(text.size()),
               text.data());
  __builtin_trap();
}

const mafia_module& module() {
  // A fixed key: the corpus holds tokens signed with it.
  static const mafia_module m([] {
    mafia_config config;
    config.identity_key = "00112233445566778899aabbccddeeff";
    return config;
  }());
  return m;
}

std::optional<json::value> parse(std::string_view text) {
  boost::system::error_code ec;
  json::value v = json::parse(text, ec);
  if (ec) return std::nullopt;
  return v;
}

const json::value* payload_member(const json::value& message, std::string_view key) {
  const json::object* o = message.if_object();
  const json::value* p = o ? o->if_contains("payload") : nullptr;
  return p && p->is_object() ? p->get_object().if_contains(key) : nullptr;
}

void check_decode(std::string_view text, bool first) {
  const mafia_module& m = module();
  decode_result result = m.decode(text, first);
  if (static_cast<bool>(result.error) == static_cast<bool>(result.cmd)) {
    fail("a decode must give a command or an error, not both or neither", text);
  }
  if (!result.cmd) {
    if (result.identity || result.creates_room) fail("a refused message named an identity", text);
    return;
  }
  const auto& req = static_cast<const mafia::request&>(*result.cmd);
  const auto type = mafia::type_of(req);
  if (req.type >= mafia::in_type_names.size() ||
      result.request_type != mafia::in_type_names[req.type]) {
    fail("request_type is not the command's type", text);
  }
  if (result.identity) {
    if (!first || type != mafia::in_type::auth_identify) fail("identity outside auth", text);
    if (!result.identity->guest || result.identity->display_name.empty() ||
        !mafia::is_uuid(result.identity->user_id)) {
      fail("auth:identify gave a malformed identity", text);
    }
    // With a token, the identity is the token's user; the same user's token verifies again.
    const std::optional<json::value> message = parse(text);
    if (!message) fail("an identity from text that is not JSON", text);
    const json::value* token = payload_member(*message, "token");
    if (token && !token->is_null()) {
      if (!token->is_string()) fail("an identity from a token that is not a string", text);
      const std::optional<std::string> user = m.keys().verify(token->get_string());
      if (!user || *user != result.identity->user_id) fail("an identity from a bad token", text);
    }
    if (m.keys().verify(m.keys().token_for(result.identity->user_id)) != result.identity->user_id) {
      fail("a token made for a user does not verify", text);
    }
  } else if (type == mafia::in_type::auth_identify) {
    fail("auth:identify accepted without an identity", text);
  }
  if (result.creates_room) {
    if (!first || type != mafia::in_type::room_create) fail("creates_room outside create", text);
    create_result made = m.create(result.create_options, "ABCDEF");
    if (made.error || !made.instance) fail("create() refused room:create's options", text);
    const std::string bytes = made.instance->snapshot();
    auto restored = m.restore(bytes);
    if (!restored || restored->snapshot() != bytes) fail("a created room does not restore", text);
  }
  if (first && type == mafia::in_type::room_join &&
      (result.room_code.size() != mafia::room_code_length ||
       result.room_code.find_first_not_of(mafia::room_code_alphabet) != std::string::npos)) {
    fail("room:join accepted with a code no room can have", text);
  }
  if (first && type == mafia::in_type::matchmaking_join && result.room_code != mafia::queue_code) {
    fail("matchmaking:join does not route to the queue", text);
  }
  if (type == mafia::in_type::room_leave && !first && !result.leaves_room) {
    fail("room:leave does not leave the room", text);
  }
}

// The same auth:identify with the token of its user id signed by this server: the fuzzer cannot
// find an HMAC, so the accepted-token path is reached from any user id it tries.
void check_signed_variant(std::string_view text) {
  std::optional<json::value> message = parse(text);
  if (!message || !message->is_object()) return;
  json::value* payload = message->get_object().if_contains("payload");
  if (!payload || !payload->is_object()) return;
  json::value* token = payload->get_object().if_contains("token");
  if (!token || !token->is_string()) return;
  const std::string_view current = token->get_string();
  const std::string user(current.substr(0, current.rfind('.')));
  *token = module().keys().token_for(user);
  const std::string signed_text = json::serialize(*message);
  decode_result result = module().decode(signed_text, true);
  if (result.identity && result.identity->user_id != user) {
    fail("a signed token gave another user", signed_text);
  }
  if (mafia::is_uuid(user) && result.error.code == "invalid_token" &&
      result.request_type == "auth:identify") {
    fail("a valid token was refused", signed_text);
  }
  check_decode(signed_text, true);
}

void check_history(std::string_view text) {
  const std::optional<json::value> v = parse(text);
  if (!v || !v->is_object()) return;
  std::string error;
  const std::optional<history_record> record = history_record_from_json(v->get_object(), error);
  if (!record) {
    if (error.empty()) fail("a refused history record without an error", text);
    return;
  }
  std::string why;
  if (!validate_history_record(*record, why) && why.empty()) {
    fail("an invalid history record without an error", text);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (const bool first : {true, false}) check_decode(text, first);
  check_signed_variant(text);
  check_history(text);
  return 0;
}
