#include "support/session_client.hpp"

#include <boost/json.hpp>

namespace partyd::testing {

namespace json = boost::json;

bool session_client::open(const json::object& first, std::chrono::milliseconds timeout) {
  ws_ = std::make_unique<ws_client>();
  if (!ws_->connect(port_, path_) || !ws_->send(first)) return false;
  // CONNECTED, then the game's own reply: the first numbered frame.
  return pump_until([&] { return !session_id.empty() && !stream.empty(); }, timeout);
}

void session_client::drop() {
  if (ws_) ws_->drop();
}

std::optional<json::object> session_client::resume(std::string_view room_code,
                                                   std::chrono::milliseconds timeout) {
  ws_ = std::make_unique<ws_client>();
  if (!ws_->connect(port_, path_)) return std::nullopt;
  const json::object reconnect{{"type", "RECONNECT"},
                               {"roomId", room_code},
                               {"version", "1.0"},
                               {"payload",
                                {{"sessionId", session_id},
                                 {"resumeToken", resume_token},
                                 {"lastSeqId", last_seq},
                                 {"disconnectTimestamp", 0}}}};
  if (!ws_->send(reconnect)) return std::nullopt;
  const std::size_t before = unnumbered.size();
  auto answered = [&] {
    for (std::size_t i = before; i < unnumbered.size(); ++i) {
      const auto& type = unnumbered[i].at("type");
      if (type == "RECONNECTED" || type == "RECONNECT_FAILED") return true;
    }
    return false;
  };
  if (!pump_until(answered, timeout)) return std::nullopt;
  for (std::size_t i = before; i < unnumbered.size(); ++i) {
    const auto& type = unnumbered[i].at("type");
    if (type == "RECONNECTED" || type == "RECONNECT_FAILED") return unnumbered[i];
  }
  return std::nullopt;
}

bool session_client::send(const json::object& message) { return ws_ && ws_->send(message); }

void session_client::pump(std::chrono::milliseconds quiet) {
  while (ws_) {
    auto frame = ws_->receive(quiet);
    if (!frame) return;
    process(std::move(*frame));
  }
}

void session_client::process(json::object frame) {
  const json::value* seq_field = frame.if_contains("sequenceId");
  if (!seq_field) {
    const json::value* type = frame.if_contains("type");
    if (type && *type == "CONNECTED") {
      const json::object& p = frame.at("payload").as_object();
      session_id = std::string(p.at("sessionId").as_string());
      resume_token = std::string(p.at("resumeToken").as_string());
      epoch = std::string(p.at("epoch").as_string());
    }
    if (type && *type == "RECONNECTED") {
      const json::object& p = frame.at("payload").as_object();
      epoch = std::string(p.at("epoch").as_string());
      if (const json::array* missed = p.at("missedEvents").if_array()) {
        for (const json::value& event : *missed) process(event.as_object());
      }
      // The next live frame is lastSeqId + 1 (after a snapshot, the missed ones are in it).
      last_seq = std::max<std::uint64_t>(last_seq, p.at("lastSeqId").to_number<std::uint64_t>());
    }
    unnumbered.push_back(std::move(frame));
    return;
  }
  const auto seq = seq_field->to_number<std::uint64_t>();
  if (frame.contains("requiresAck") && acknowledge && ws_) {
    ws_->send(json::object{{"type", "ACK"},
                           {"payload", {{"ackId", frame.at("ackId")}, {"status", "received"}}}});
  }
  if (seq <= last_seq) {
    ++duplicates;
    return;
  }
  if (seq != last_seq + 1) gaps += seq - last_seq - 1;
  last_seq = seq;
  frame.erase("sequenceId");
  frame.erase("requiresAck");
  frame.erase("ackId");
  numbers.push_back(seq);
  stream.push_back(std::move(frame));
}

}  // namespace partyd::testing
