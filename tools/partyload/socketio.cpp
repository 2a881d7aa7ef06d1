#include "socketio.hpp"

namespace partyload::socketio {

namespace {

constexpr std::size_t npos = std::string_view::npos;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view s, std::size_t at) {
  while (at < s.size() && is_space(s[at])) ++at;
  return at;
}

// `s[at]` is a string's opening quote: the index after its closing quote, or npos.
std::size_t string_end(std::string_view s, std::size_t at) {
  for (std::size_t i = at + 1; i < s.size(); ++i) {
    if (s[i] == '\\') {
      ++i;
    } else if (s[i] == '"') {
      return i + 1;
    }
  }
  return npos;
}

// The index after the JSON value that starts at `at`, or npos. Only as strict as finding the end
// of a value the server wrote needs: brackets are counted, strings skipped.
std::size_t value_end(std::string_view s, std::size_t at) {
  if (at >= s.size()) return npos;
  const char first = s[at];
  if (first == '"') return string_end(s, at);
  if (first == '{' || first == '[') {
    int depth = 0;
    std::size_t i = at;
    while (i < s.size()) {
      const char c = s[i];
      if (c == '"') {
        i = string_end(s, i);
        if (i == npos) return npos;
        continue;
      }
      if (c == '{' || c == '[') {
        ++depth;
      } else if ((c == '}' || c == ']') && --depth == 0) {
        return i + 1;
      }
      ++i;
    }
    return npos;
  }
  // A number, true, false or null: up to the next delimiter.
  std::size_t i = at;
  while (i < s.size() && s[i] != ',' && s[i] != ']' && s[i] != '}' && !is_space(s[i])) ++i;
  return i == at ? npos : i;
}

// 42[...] (or 42/nsp,N[...]) from its array on: the game's JSON message into `json`.
packet read_event(std::string_view frame, std::string& json) {
  std::size_t at = 2;
  if (at < frame.size() && frame[at] == '/') {
    at = frame.find(',', at);
    if (at == npos) return packet::malformed;
    ++at;
  }
  while (at < frame.size() && frame[at] >= '0' && frame[at] <= '9') ++at;  // an ack id
  if (at >= frame.size() || frame[at] != '[') return packet::malformed;
  at = skip_space(frame, at + 1);
  if (at >= frame.size() || frame[at] != '"') return packet::malformed;
  const std::size_t name_end = string_end(frame, at);
  if (name_end == npos) return packet::malformed;
  // The name goes into the message as written: its escapes are JSON's in both places.
  json.assign("{\"type\":");
  json.append(frame.substr(at, name_end - at));
  at = skip_space(frame, name_end);
  while (at < frame.size() && frame[at] == ',') {
    const std::size_t begin = skip_space(frame, at + 1);
    const std::size_t end = value_end(frame, begin);
    if (end == npos) return packet::malformed;
    if (frame[begin] == '{') {
      const std::size_t members = skip_space(frame, begin + 1);
      if (members < end - 1) {
        json += ',';
        json.append(frame.substr(members, end - 1 - members));
      }
    }
    at = skip_space(frame, end);
  }
  if (at >= frame.size() || frame[at] != ']') return packet::malformed;
  json += '}';
  return packet::event;
}

}  // namespace

std::string path(std::string_view game) {
  std::string out = "/socket.io/?EIO=4&transport=websocket";
  if (!game.empty()) {
    out += "&game=";
    out += game;
  }
  return out;
}

packet read(std::string_view frame, std::string& json) {
  if (frame.empty()) return packet::noop;
  switch (frame[0]) {
    case '0':
      return packet::open;
    case '1':
      return packet::close;
    case '2':
      return packet::ping;
    case '4':
      if (frame.size() < 2) return packet::noop;
      switch (frame[1]) {
        case '0':
          return packet::connected;
        case '1':
          return packet::disconnect;
        case '2':
          return read_event(frame, json);
        case '4':
          return packet::connect_error;
        default:
          return packet::noop;  // an ack (the client asks for none), a binary packet
      }
    default:
      return packet::noop;
  }
}

bool to_event(std::string& message) {
  constexpr std::string_view head = "{\"type\":\"";
  constexpr std::string_view event_head = "42[\"";
  constexpr std::size_t shift = head.size() - event_head.size();
  if (!std::string_view(message).starts_with(head)) return false;
  // partyload's own type names have no escapes: the first quote closes the name.
  const std::size_t close = message.find('"', head.size());
  if (close == std::string::npos || close + 1 >= message.size()) return false;
  const char after = message[close + 1];
  if (after != ',' && after != '}') return false;
  message.replace(0, head.size(), event_head);
  if (after == '}') {
    message.resize(close - shift + 1);  // 42["T"
  } else {
    message.insert(close - shift + 2, 1, '{');  // 42["T",{ then the other members and }
  }
  message += ']';
  return true;
}

}  // namespace partyload::socketio
