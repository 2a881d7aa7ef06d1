#include "games/relay/codec.hpp"

#include <algorithm>
#include <exception>
#include <memory>
#include <set>
#include <utility>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "games/common/envelope.hpp"
#include "games/common/json_io.hpp"
#include "games/common/text.hpp"

namespace partyd::relay {

namespace json = boost::json;

namespace {

// Fills `result.error` and returns false, so that a check reads `if (!ok) return bad(...)`.
bool bad(decode_result& result, std::string message) {
  result.error = protocol_error{"bad_request", std::move(message)};
  return false;
}

// nullptr when absent or null: null is treated as absent for every optional field.
const json::value* find_field(const json::object& object, std::string_view key) {
  const json::value* found = object.if_contains(key);
  if (found == nullptr || found->is_null()) {
    return nullptr;
  }
  return found;
}

// Reads an optional string field; false (with error) when present but not a string.
bool optional_string(decode_result& result, const json::object& object, std::string_view key,
                     std::optional<std::string>& out) {
  const json::value* found = find_field(object, key);
  if (found == nullptr) {
    return true;
  }
  if (!found->is_string()) {
    return bad(result, "field '" + std::string(key) + "' must be a string");
  }
  out = std::string(found->get_string());
  return true;
}

// Reads a required string of min_chars..max_chars code points.
bool required_string(decode_result& result, const json::object& object, std::string_view key,
                     std::size_t min_chars, std::size_t max_chars, std::string& out) {
  const json::value* found = find_field(object, key);
  if (found == nullptr) {
    return bad(result, "field '" + std::string(key) + "' is required");
  }
  if (!found->is_string()) {
    return bad(result, "field '" + std::string(key) + "' must be a string");
  }
  const json::string& text = found->get_string();
  const std::size_t length = utf8_length(text);
  if (length < min_chars || length > max_chars) {
    return bad(result, "field '" + std::string(key) + "' must have " + std::to_string(min_chars) +
                           ".." + std::to_string(max_chars) + " characters");
  }
  out = std::string(text);
  return true;
}

// The text of member `key` (its parsed value: `parsed`) as the client wrote it, so that numbers
// and escapes pass through exactly as sent. Serialized again only when the member cannot be cut
// out of the message (a duplicate key, or a top-level key written with escapes).
std::string client_json_text(std::string_view text, std::string_view key,
                             const json::value& parsed) {
  const std::optional<std::string_view> raw = raw_member(text, key);
  return raw ? std::string(*raw) : json::serialize(parsed);
}

// The state as text, as every update is relayed and stored; measured as it is relayed.
bool state_text(decode_result& result, const relay_config& config, const json::object& object,
                std::string_view text, std::string& out) {
  const json::value* found = object.if_contains("state");
  if (found == nullptr || !found->is_object()) {
    return bad(result, "field 'state' must be an object");
  }
  out = client_json_text(text, "state", *found);
  if (out.size() > config.state_limit()) {
    return bad(result, "field 'state' exceeds " + std::to_string(config.state_limit()) + " bytes");
  }
  return true;
}

template <typename Command>
std::unique_ptr<Command> make(in_type type) {
  auto cmd = std::make_unique<Command>();
  cmd->type = index_of(type);
  return cmd;
}

bool decode_handshake(decode_result& result, const relay_config& config, const json::object& object,
                      std::string_view text) {
  auto cmd = make<handshake_cmd>(in_type::handshake);
  if (!required_string(result, object, "roomCode", 1, 64, cmd->room_code)) {
    return false;
  }
  std::string role;
  if (!required_string(result, object, "role", 1, 16, role)) {
    return false;
  }
  auto role_it = std::find(role_names.begin(), role_names.end(), role);
  if (role_it == role_names.end()) {
    return bad(result, "field 'role' must be \"host\", \"player\" or \"audience\"");
  }
  cmd->role = static_cast<role_id>(role_it - role_names.begin());
  if (!optional_string(result, object, "password", cmd->password) ||
      !optional_string(result, object, "hostKey", cmd->host_key) ||
      !optional_string(result, object, "clientId", cmd->client_id) ||
      !optional_string(result, object, "seatToken", cmd->seat_token)) {
    return false;
  }
  if (const json::value* meta = find_field(object, "meta")) {
    cmd->meta = client_json_text(text, "meta", *meta);
    if (cmd->meta->size() > config.meta_max_bytes) {
      return bad(result,
                 "field 'meta' exceeds " + std::to_string(config.meta_max_bytes) + " bytes");
    }
  }
  result.room_code = cmd->room_code;
  result.cmd = std::move(cmd);
  return true;
}

bool decode_poll_start(decode_result& result, const relay_config& config,
                       const json::object& object) {
  auto cmd = make<poll_start_cmd>(in_type::poll_start);
  if (!required_string(result, object, "pollId", 1, config.poll_id_max_chars, cmd->poll_id)) {
    return false;
  }
  std::string kind;
  if (!required_string(result, object, "pollType", 1, 32, kind)) {
    return false;
  }
  std::optional<poll_type> parsed = parse_poll_type(kind);
  if (!parsed) {
    return bad(result,
               "field 'pollType' must be \"single_choice\", \"multiple_choice\" or \"free_text\"");
  }
  cmd->kind = *parsed;
  if (!required_string(result, object, "question", 1, config.question_max_chars, cmd->question)) {
    return false;
  }
  const json::value* options = find_field(object, "options");
  if (options != nullptr && !options->is_array()) {
    return bad(result, "field 'options' must be an array of strings");
  }
  if (cmd->kind == poll_type::free_text) {
    if (options != nullptr && !options->get_array().empty()) {
      return bad(result, "field 'options' must be absent or empty for a free_text poll");
    }
  } else {
    if (options == nullptr) {
      return bad(result, "field 'options' is required for a choice poll");
    }
    const json::array& list = options->get_array();
    if (list.size() < 2 || list.size() > config.poll_options_max) {
      return bad(result, "field 'options' must have 2.." + std::to_string(config.poll_options_max) +
                             " entries");
    }
    std::set<std::string_view> seen;
    for (const json::value& option : list) {
      if (!option.is_string()) {
        return bad(result, "field 'options' must be an array of strings");
      }
      const json::string& text = option.get_string();
      const std::size_t length = utf8_length(text);
      if (length == 0 || length > config.poll_option_max_chars) {
        return bad(result, "field 'options' entries must have 1.." +
                               std::to_string(config.poll_option_max_chars) + " characters");
      }
      if (!seen.insert(std::string_view(text)).second) {
        return bad(result, "field 'options' entries must be unique");
      }
      cmd->options.emplace_back(text);
    }
  }
  result.cmd = std::move(cmd);
  return true;
}

bool decode_body(decode_result& result, const relay_config& config, in_type type,
                 const json::object& object, std::string_view text) {
  switch (type) {
    case in_type::handshake:
      return decode_handshake(result, config, object, text);
    case in_type::set_game_state: {
      auto cmd = make<set_game_state_cmd>(type);
      if (!state_text(result, config, object, text, cmd->state)) {
        return false;
      }
      result.cmd = std::move(cmd);
      return true;
    }
    case in_type::set_player_state: {
      auto cmd = make<set_player_state_cmd>(type);
      if (!required_string(result, object, "clientId", 1, 256, cmd->client_id) ||
          !state_text(result, config, object, text, cmd->state)) {
        return false;
      }
      result.cmd = std::move(cmd);
      return true;
    }
    case in_type::message_to_host: {
      auto cmd = make<message_to_host_cmd>(type);
      const json::value* message = object.if_contains("message");
      if (message == nullptr) {
        return bad(result, "field 'message' is required");
      }
      cmd->message = client_json_text(text, "message", *message);
      result.cmd = std::move(cmd);
      return true;
    }
    case in_type::leave:
      result.cmd = make<leave_cmd>(type);
      return true;
    case in_type::poll_start:
      return decode_poll_start(result, config, object);
    case in_type::poll_response: {
      auto cmd = make<poll_response_cmd>(type);
      if (!required_string(result, object, "pollId", 1, config.poll_id_max_chars, cmd->poll_id)) {
        return false;
      }
      const json::value* response = find_field(object, "response");
      if (response == nullptr) {
        return bad(result, "field 'response' is required");
      }
      cmd->response = *response;
      result.cmd = std::move(cmd);
      return true;
    }
    case in_type::poll_end: {
      auto cmd = make<poll_end_cmd>(type);
      if (!required_string(result, object, "pollId", 1, config.poll_id_max_chars, cmd->poll_id)) {
        return false;
      }
      result.cmd = std::move(cmd);
      return true;
    }
    case in_type::poll_results_request: {
      auto cmd = make<poll_results_request_cmd>(type);
      if (!required_string(result, object, "pollId", 1, config.poll_id_max_chars, cmd->poll_id)) {
        return false;
      }
      result.cmd = std::move(cmd);
      return true;
    }
    case in_type::close_room: {
      auto cmd = make<close_room_cmd>(type);
      if (!optional_string(result, object, "reason", cmd->reason)) {
        return false;
      }
      if (cmd->reason && utf8_length(*cmd->reason) > config.close_reason_max_chars) {
        return bad(result, "field 'reason' must have at most " +
                               std::to_string(config.close_reason_max_chars) + " characters");
      }
      result.cmd = std::move(cmd);
      return true;
    }
  }
  return bad(result, "unhandled message type");
}

decode_result decode_unsafe(const relay_config& config, std::string_view text, bool first_message) {
  decode_result result;
  if (text.size() > config.max_message_bytes) {
    result.error = protocol_error{
        "bad_request", "message exceeds " + std::to_string(config.max_message_bytes) + " bytes"};
    return result;
  }
  envelope message = parse_envelope(text, in_type_names);
  switch (message.outcome) {
    case envelope::status::not_an_object:
      result.error = protocol_error{"invalid_json", "message must be one JSON object"};
      return result;
    case envelope::status::no_type:
      result.error = protocol_error{"unknown_type", "field 'type' must be a string"};
      return result;
    case envelope::status::unknown_type:
      result.error = protocol_error{"unknown_type", "unknown message type"};
      return result;
    case envelope::status::ok:
      break;
  }
  const json::object& object = message.object();
  const auto type = static_cast<in_type>(message.type_index);
  // Known from here on: every later error names the request (docs/protocol/relay.md, error).
  result.request_type = in_type_names[message.type_index];
  if (first_message && type != in_type::handshake) {
    result.error = protocol_error{"handshake_required", "the first message must be a handshake"};
    return result;
  }
  decode_body(result, config, type, object, text);
  if (result.error) {
    result.cmd.reset();
    result.room_code.clear();
  }
  return result;
}

}  // namespace

std::string_view poll_type_name(poll_type t) noexcept {
  switch (t) {
    case poll_type::single_choice:
      return "single_choice";
    case poll_type::multiple_choice:
      return "multiple_choice";
    case poll_type::free_text:
      return "free_text";
  }
  return "single_choice";
}

std::optional<poll_type> parse_poll_type(std::string_view name) noexcept {
  if (name == "single_choice") {
    return poll_type::single_choice;
  }
  if (name == "multiple_choice") {
    return poll_type::multiple_choice;
  }
  if (name == "free_text") {
    return poll_type::free_text;
  }
  return std::nullopt;
}

decode_result decode(const relay_config& config, std::string_view text, bool first_message) {
  try {
    return decode_unsafe(config, text, first_message);
  } catch (const std::exception&) {
    // Only allocation failures can get here; answer with an error rather than unwinding into io.
    decode_result result;
    result.error = protocol_error{"bad_request", "message could not be decoded"};
    return result;
  }
}

boost::json::object frame_of(out_type type) {
  json::object frame;
  frame["type"] = out_type_names[index_of(type)];
  return frame;
}

std::string encode(const boost::json::object& frame) { return json::serialize(frame); }

boost::json::object parse_state(std::string_view state_json) {
  // Always text this server serialized from an object; anything else would be a bug, and then an
  // empty state is the safe answer.
  boost::system::error_code ec;
  json::value parsed = json::parse(state_json, ec);
  if (ec || !parsed.is_object()) {
    return {};
  }
  return std::move(parsed.get_object());
}

std::string encode_with_state(out_type type, std::string_view state_json) {
  const std::string_view name = out_type_names[index_of(type)];
  std::string text;
  text.reserve(state_json.size() + name.size() + 21);
  text += "{\"type\":\"";
  text += name;
  text += "\",\"state\":";
  text += state_json;
  text += '}';
  return text;
}

std::string encode_error(std::string_view code, std::string_view message,
                         std::string_view request_type) {
  json::object frame = frame_of(out_type::error);
  frame["code"] = code;
  frame["message"] = message;
  if (!request_type.empty()) {
    frame["requestType"] = request_type;
  }
  return encode(frame);
}

std::string encode_handshake_error(std::string_view code, std::string_view message) {
  json::object frame = frame_of(out_type::handshake_response);
  frame["status"] = "error";
  frame["code"] = code;
  frame["message"] = message;
  return encode(frame);
}

}  // namespace partyd::relay
