#include "engine/session_codec.hpp"

#include <boost/json.hpp>

namespace partyd {

namespace json = boost::json;

namespace {

session_decode refuse(std::string message) {
  session_decode out;
  out.result = session_decode::outcome::error;
  out.error_code = "BAD_SESSION_MESSAGE";
  out.error_message = std::move(message);
  return out;
}

const json::object* payload_of(const json::object& message) {
  const json::value* payload = message.if_contains("payload");
  return payload ? payload->if_object() : nullptr;
}

bool read_string(const json::object& o, std::string_view key, std::string& out,
                 std::size_t max_bytes) {
  const json::value* v = o.if_contains(key);
  if (!v || !v->is_string() || v->get_string().size() > max_bytes) return false;
  out = std::string(v->get_string());
  return true;
}

bool read_count(const json::object& o, std::string_view key, std::uint64_t& out) {
  const json::value* v = o.if_contains(key);
  if (!v) return false;
  if (v->is_uint64()) {
    out = v->get_uint64();
    return true;
  }
  if (v->is_int64() && v->get_int64() >= 0) {
    out = static_cast<std::uint64_t>(v->get_int64());
    return true;
  }
  return false;
}

}  // namespace

session_decode decode_session_fields(std::string_view text, bool first,
                                     const session_policy& policy) {
  session_decode out;
  boost::system::error_code ec;
  json::parse_options options;
  options.max_depth = 32;
  const json::value parsed = json::parse(text, ec, json::storage_ptr(), options);
  const json::object* message = ec ? nullptr : parsed.if_object();
  const json::value* type_field = message ? message->if_contains("type") : nullptr;
  if (!type_field || !type_field->is_string()) {
    return out;  // the game's decode answers it
  }
  const std::string_view type = type_field->get_string();

  if (const json::value* version = message->if_contains("version"); version && first) {
    if (!version->is_string() || version->get_string().size() > 16) {
      return refuse("version must be a string \"MAJOR.MINOR\"");
    }
    out.request.version = std::string(version->get_string());
    if (!version_compatible(out.request.version, policy.protocol_version,
                            policy.supported_majors)) {
      out.result = session_decode::outcome::error;
      out.error_code = "UPGRADE_REQUIRED";
      out.error_message = "this server speaks protocol " + std::string(policy.protocol_version) +
                          "; upgrade the client";
      out.error_closes = true;
      return out;
    }
  }

  if (type == "RECONNECT") {
    if (!first) return refuse("RECONNECT must be a connection's first message");
    const json::object* payload = payload_of(*message);
    if (!read_string(*message, "roomId", out.room_code, 64) || !payload ||
        !read_string(*payload, "sessionId", out.request.session_id, 64) ||
        !read_string(*payload, "resumeToken", out.request.resume_token, 128) ||
        !read_count(*payload, "lastSeqId", out.request.last_seq)) {
      return refuse("RECONNECT needs roomId and payload {sessionId, resumeToken, lastSeqId}");
    }
    out.request.what = session_request::kind::reconnect;
    out.result = session_decode::outcome::session_message;
    return out;
  }
  if (type == "ACK" || type == "HEARTBEAT") {
    if (first) return refuse(std::string(type) + " needs a session: join or RECONNECT first");
    const json::object* payload = payload_of(*message);
    if (!payload) return refuse(std::string(type) + " needs a payload object");
    if (type == "ACK") {
      if (!read_string(*payload, "ackId", out.request.ack_id, 64)) {
        return refuse("ACK needs payload {ackId}");
      }
      out.request.what = session_request::kind::ack;
    } else {
      if (!read_string(*payload, "stateChecksum", out.request.state_checksum, 128)) {
        return refuse("HEARTBEAT needs payload {stateVersion, stateChecksum}");
      }
      read_count(*payload, "stateVersion", out.request.state_version);
      out.request.what = session_request::kind::heartbeat;
    }
    out.result = session_decode::outcome::session_message;
    return out;
  }

  if (const json::value* id = message->if_contains("clientMsgId")) {
    if (!id->is_string() || id->get_string().empty() ||
        id->get_string().size() > max_client_msg_id_bytes) {
      return refuse("clientMsgId must be a string of 1 to 64 bytes");
    }
    out.request.client_msg_id = std::string(id->get_string());
  }
  return out;
}

}  // namespace partyd
