#include "games/mafia/codec.hpp"

#include <algorithm>
#include <cstdio>
#include <exception>
#include <utility>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <boost/json/serialize.hpp>

#include "engine/secrets.hpp"
#include "games/common/envelope.hpp"
#include "games/common/fields.hpp"
#include "games/common/text.hpp"
#include "games/mafia/module.hpp"

namespace partyd::mafia {

namespace json = boost::json;

namespace {

constexpr std::size_t id_max_bytes = 64;
constexpr std::size_t token_max_bytes = 128;
constexpr std::string_view token_context = "partyd-mafia-guest\n";

void bad(decode_result& result, std::string code, std::string message) {
  result.cmd.reset();
  result.error = protocol_error{std::move(code), std::move(message)};
}

bool is_entering(in_type t) {
  return t == in_type::auth_identify || t == in_type::room_create || t == in_type::room_join ||
         t == in_type::matchmaking_join;
}

// Decodes one UTF-8 code point at `i` (valid UTF-8: io checked the frame).
std::uint32_t code_point_at(std::string_view s, std::size_t& i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) {
    ++i;
    return c;
  }
  const int extra = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : 1;
  std::uint32_t cp = c & (0x3F >> extra);
  for (int k = 1; k <= extra && i + k < s.size(); ++k) {
    cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  i += static_cast<std::size_t>(extra) + 1;
  return cp;
}

bool is_control(std::uint32_t cp) { return cp < 0x20 || (cp >= 0x7F && cp < 0xA0); }

// Usernames: letters and digits of any script, space, '_', '-', '.'; no control characters and
// none of the characters that make names look like markup or quotes.
bool username_char(std::uint32_t cp) {
  if (cp >= 0xA0) return cp != 0x2028 && cp != 0x2029 && !(cp >= 0x200B && cp <= 0x200F);
  if ((cp >= 'a' && cp <= 'z') || (cp >= 'A' && cp <= 'Z') || (cp >= '0' && cp <= '9')) {
    return true;
  }
  return cp == ' ' || cp == '_' || cp == '-' || cp == '.';
}

const json::value* member_of(const json::object* payload, std::string_view key) {
  return payload ? payload->if_contains(key) : nullptr;
}

bool id_field(const json::value* v, std::string& out) {
  if (!v || !v->is_string() || v->get_string().empty() || v->get_string().size() > id_max_bytes) {
    return false;
  }
  out = std::string(v->get_string());
  return true;
}

bool parse_settings(const mafia_config& config, const json::value& v, settings_update& out,
                    std::string& why) {
  if (!v.is_object()) {
    why = "payload.settings: must be an object";
    return false;
  }
  for (const auto& member : v.get_object()) {
    const std::string_view key = member.key();
    std::optional<std::uint32_t>* target = key == "discussionTime" ? &out.discussion_s
                                           : key == "voteTime"     ? &out.vote_s
                                           : key == "nightTime"    ? &out.night_s
                                                                   : nullptr;
    if (!target) {
      why = "payload.settings." + std::string(key) +
            ": unknown setting (discussionTime, voteTime, nightTime)";
      return false;
    }
    std::uint32_t seconds = 0;
    std::string reason;
    if (!range_field(member.value(), config.min_phase_s, config.max_phase_s, seconds, reason)) {
      why = "payload.settings." + std::string(key) + ": " + reason;
      return false;
    }
    *target = seconds;
  }
  return true;
}

decode_result decode_unsafe(const mafia_config& config, const guest_keys& keys,
                            std::string_view text, bool first_message) {
  decode_result result;
  std::string refusal;
  std::string why_not;
  const envelope message = parse_message(text, config.max_message_bytes, in_type_names,
                                         "invalid_json", refusal, why_not);
  if (message.outcome != envelope::status::ok) {
    bad(result, std::move(refusal), std::move(why_not));
    return result;
  }
  auto req = std::make_unique<request>();
  req->type = static_cast<std::uint16_t>(message.type_index);
  result.request_type = in_type_names[message.type_index];
  const in_type type = type_of(*req);
  const json::object& object = message.object();
  const json::object* payload = nullptr;
  if (const json::value* p = object.if_contains("payload"); p && !p->is_null()) {
    if (!p->is_object()) {
      bad(result, "invalid_field", "payload: must be an object");
      return result;
    }
    payload = &p->get_object();
  }
  if (first_message && !is_entering(type)) {
    bad(result, "not_in_room", "join a room first (room:create, room:join or matchmaking:join)");
    return result;
  }
  if (!first_message && is_entering(type)) {
    bad(result, "already_in_room", "this connection is in a room; room:leave it first");
    return result;
  }
  std::string why;
  switch (type) {
    case in_type::auth_identify: {
      const json::value* name = member_of(payload, "username");
      if (!name || !name->is_string()) {
        bad(result, "invalid_username", "payload.username: required, a string");
        return result;
      }
      const std::string_view trimmed = trim(name->get_string());
      const std::size_t chars = utf8_length(trimmed);
      if (chars < config.username_min_chars || chars > config.username_max_chars) {
        bad(result, "invalid_username",
            "payload.username: " + std::to_string(config.username_min_chars) + " to " +
                std::to_string(config.username_max_chars) + " characters");
        return result;
      }
      for (std::size_t i = 0; i < trimmed.size();) {
        if (!username_char(code_point_at(trimmed, i))) {
          bad(result, "invalid_username",
              "payload.username: letters, digits, spaces, '_', '-' and '.' only");
          return result;
        }
      }
      auto identity = std::make_shared<connection_identity>();
      identity->display_name = std::string(trimmed);
      identity->guest = true;
      if (const json::value* token = member_of(payload, "token"); token && !token->is_null()) {
        if (!token->is_string() || token->get_string().size() > token_max_bytes) {
          bad(result, "invalid_token", "payload.token: a string from auth:success");
          return result;
        }
        std::optional<std::string> user = keys.verify(token->get_string());
        if (!user) {
          bad(result, "invalid_token",
              "payload.token: not a token of this server; identify without one for a new user");
          return result;
        }
        identity->user_id = std::move(*user);
      } else {
        identity->user_id = uuid_from(random_u64(), random_u64());
      }
      req->username = identity->display_name;
      result.identity = std::move(identity);
      break;
    }
    case in_type::room_create: {
      if (const json::value* p = member_of(payload, "isPublic"); p && !p->is_null()) {
        if (!p->is_bool()) {
          bad(result, "invalid_field", "payload.isPublic: must be true or false");
          return result;
        }
        req->is_public = p->get_bool();
      }
      req->max_players = config.default_max_players;
      if (const json::value* p = member_of(payload, "maxPlayers"); p && !p->is_null()) {
        if (!range_field(*p, config.min_players, config.max_players, req->max_players, why)) {
          bad(result, "invalid_field", "payload.maxPlayers: " + why);
          return result;
        }
      }
      if (const json::value* p = member_of(payload, "settings"); p && !p->is_null()) {
        if (!parse_settings(config, *p, req->settings, why)) {
          bad(result, "invalid_settings", why);
          return result;
        }
      }
      result.creates_room = true;
      result.create_options["isPublic"] = req->is_public;
      result.create_options["maxPlayers"] = req->max_players;
      if (const json::value* p = member_of(payload, "settings"); p && !p->is_null()) {
        result.create_options["settings"] = *p;
      }
      break;
    }
    case in_type::room_join: {
      const json::value* code = member_of(payload, "roomCode");
      if (!code || !code->is_string() || code->get_string().size() != room_code_length) {
        bad(result, "invalid_room_code",
            "payload.roomCode: " + std::to_string(room_code_length) + " letters and digits");
        return result;
      }
      std::string normalized(code->get_string());
      for (char& c : normalized) {
        c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        if (room_code_alphabet.find(c) == std::string_view::npos) {
          bad(result, "invalid_room_code",
              "payload.roomCode: " + std::to_string(room_code_length) + " of " +
                  std::string(room_code_alphabet));
          return result;
        }
      }
      req->room_code = normalized;
      result.room_code = std::move(normalized);
      break;
    }
    case in_type::matchmaking_join:
      result.room_code = std::string(queue_code);
      break;
    case in_type::room_leave:
      result.leaves_room = true;
      break;
    case in_type::room_kick:
    case in_type::chat_mute:
    case in_type::chat_unmute:
      if (!id_field(member_of(payload, "userId"), req->user_id)) {
        bad(result, "invalid_field", "payload.userId: required, a user id");
        return result;
      }
      break;
    case in_type::action_mafia_kill:
    case in_type::action_doctor_save:
    case in_type::action_detective_inspect: {
      std::string target;
      if (!id_field(member_of(payload, "targetId"), target)) {
        bad(result, "invalid_field", "payload.targetId: required, a user id");
        return result;
      }
      req->target_id = std::move(target);
      break;
    }
    case in_type::vote_cast: {
      const json::value* v = member_of(payload, "targetId");
      if (!v) {
        bad(result, "invalid_field", "payload.targetId: required, a user id or null (skip)");
        return result;
      }
      if (!v->is_null()) {
        std::string target;
        if (!id_field(v, target)) {
          bad(result, "invalid_field", "payload.targetId: a user id or null (skip)");
          return result;
        }
        req->target_id = std::move(target);
      }
      break;
    }
    case in_type::chat_send: {
      const json::value* v = member_of(payload, "message");
      if (!v) {
        bad(result, "invalid_field", "payload.message: required");
        return result;
      }
      if (!text_field(*v, config.chat_max_chars, req->message, why)) {
        bad(result, "invalid_field", "payload.message: " + why);
        return result;
      }
      for (std::size_t i = 0; i < req->message.size();) {
        const std::uint32_t cp = code_point_at(req->message, i);
        if (is_control(cp) && cp != '\n') {
          bad(result, "invalid_field", "payload.message: no control characters");
          return result;
        }
      }
      break;
    }
    case in_type::room_ready:
    case in_type::room_unready:
    case in_type::room_start:
    case in_type::matchmaking_leave:
      break;
  }
  result.cmd = std::move(req);
  return result;
}

std::string hex_of(const unsigned char* bytes, std::size_t size) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out;
  out.reserve(size * 2);
  for (std::size_t i = 0; i < size; ++i) {
    out.push_back(digits[bytes[i] >> 4]);
    out.push_back(digits[bytes[i] & 0xF]);
  }
  return out;
}

}  // namespace

std::string guest_keys::token_for(std::string_view user_id) const {
  std::string message(token_context);
  message.append(user_id);
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned int mac_size = 0;
  HMAC(EVP_sha256(), key_.data(), static_cast<int>(key_.size()),
       reinterpret_cast<const unsigned char*>(message.data()), message.size(), mac, &mac_size);
  std::string token(user_id);
  token.push_back('.');
  token += hex_of(mac, 16);
  return token;
}

std::optional<std::string> guest_keys::verify(std::string_view token) const {
  const std::size_t dot = token.rfind('.');
  if (dot == std::string_view::npos) return std::nullopt;
  const std::string_view user_id = token.substr(0, dot);
  if (!is_uuid(user_id)) return std::nullopt;
  if (!secrets_equal(token_for(user_id), token)) return std::nullopt;
  return std::string(user_id);
}

decode_result decode(const mafia_config& config, const guest_keys& keys, std::string_view text,
                     bool first_message) {
  try {
    return decode_unsafe(config, keys, text, first_message);
  } catch (const std::exception&) {
    decode_result result;
    bad(result, "invalid_json", "the message could not be read");
    return result;
  }
}

std::string uuid_from(std::uint64_t high, std::uint64_t low) {
  high = (high & ~std::uint64_t{0xF000}) | 0x4000;                         // version 4
  low = (low & ~(std::uint64_t{0xC} << 60)) | (std::uint64_t{0x8} << 60);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out, "%08x-%04x-%04x-%04x-%012llx", static_cast<unsigned>(high >> 32),
                static_cast<unsigned>((high >> 16) & 0xFFFF), static_cast<unsigned>(high & 0xFFFF),
                static_cast<unsigned>(low >> 48),
                static_cast<unsigned long long>(low & 0xFFFFFFFFFFFFULL));
  return out;
}

bool is_uuid(std::string_view text) noexcept {
  if (text.size() != 36) return false;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return false;
    } else if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

std::string_view phase_name(phase p) noexcept {
  switch (p) {
    case phase::lobby:
      return "lobby";
    case phase::night:
      return "night";
    case phase::day:
      return "day";
    case phase::voting:
      return "voting";
    case phase::ended:
      return "ended";
  }
  return "lobby";
}

std::optional<phase> parse_phase(std::string_view name) noexcept {
  for (phase p : {phase::lobby, phase::night, phase::day, phase::voting, phase::ended}) {
    if (phase_name(p) == name) return p;
  }
  return std::nullopt;
}

std::string_view role_name(role r) noexcept {
  switch (r) {
    case role::none:
      return "none";
    case role::mafia:
      return "mafia";
    case role::detective:
      return "detective";
    case role::doctor:
      return "doctor";
    case role::villager:
      return "villager";
  }
  return "none";
}

std::optional<role> parse_role(std::string_view name) noexcept {
  for (role r : {role::none, role::mafia, role::detective, role::doctor, role::villager}) {
    if (role_name(r) == name) return r;
  }
  return std::nullopt;
}

std::string_view cause_name(death_cause c) noexcept {
  switch (c) {
    case death_cause::night_kill:
      return "night_kill";
    case death_cause::vote:
      return "vote";
    case death_cause::abandoned:
      return "abandoned";
  }
  return "night_kill";
}

std::optional<death_cause> parse_cause(std::string_view name) noexcept {
  for (death_cause c : {death_cause::night_kill, death_cause::vote, death_cause::abandoned}) {
    if (cause_name(c) == name) return c;
  }
  return std::nullopt;
}

std::string_view status_name(phase p) noexcept {
  return p == phase::lobby ? "lobby" : p == phase::ended ? "ended" : "in_game";
}

std::string encode_error(std::string_view reason, std::string_view message,
                         std::string_view request_type) {
  json::object payload{{"reason", reason}, {"message", message}};
  if (!request_type.empty()) payload["requestType"] = request_type;
  return encode_frame(out_type::room_error, payload);
}

std::string encode_frame(out_type type, const json::object& payload) {
  json::object frame;
  frame["type"] = out_type_names[index_of(type)];
  frame["payload"] = payload;
  return json::serialize(frame);
}

}  // namespace partyd::mafia
