#include "io/socketio_codec.hpp"

#include <array>

namespace partyd::sio {

namespace {

constexpr std::size_t npos = std::string_view::npos;
// Deeper than any game accepts (32): the game's own parser refuses what is too deep.
constexpr int kMaxDepth = 64;

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }

std::size_t skip_space(std::string_view text, std::size_t at) {
  while (at < text.size() && is_space(text[at])) ++at;
  return at;
}

// `at` is on the opening quote; returns the index after the closing one, or npos.
std::size_t skip_string(std::string_view text, std::size_t at) {
  for (std::size_t i = at + 1; i < text.size(); ++i) {
    if (text[i] == '\\') {
      ++i;
    } else if (text[i] == '"') {
      return i + 1;
    }
  }
  return npos;
}

// The end of the JSON value that starts at `at`, or npos. Only the extent is checked (brackets,
// strings); the game's parser validates the text itself.
std::size_t skip_value(std::string_view text, std::size_t at) {
  if (at >= text.size()) return npos;
  const char first = text[at];
  if (first == '"') return skip_string(text, at);
  if (first == '{' || first == '[') {
    int depth = 0;
    for (std::size_t i = at; i < text.size(); ++i) {
      const char c = text[i];
      if (c == '"') {
        i = skip_string(text, i);
        if (i == npos) return npos;
        --i;
      } else if (c == '{' || c == '[') {
        if (++depth > kMaxDepth) return npos;
      } else if (c == '}' || c == ']') {
        if (--depth == 0) return i + 1;
      }
    }
    return npos;
  }
  std::size_t i = at;
  while (i < text.size() && !is_space(text[i]) && text[i] != ',' && text[i] != ']' &&
         text[i] != '}') {
    ++i;
  }
  return i == at ? npos : i;
}

// Calls f(raw key token, raw value) for each top-level member; false when malformed.
template <class F>
bool walk_object(std::string_view text, F&& f) {
  std::size_t i = skip_space(text, 0);
  if (i >= text.size() || text[i] != '{') return false;
  i = skip_space(text, i + 1);
  if (i < text.size() && text[i] == '}') return skip_space(text, i + 1) == text.size();
  while (i < text.size()) {
    if (text[i] != '"') return false;
    const std::size_t key_end = skip_string(text, i);
    if (key_end == npos) return false;
    const std::string_view key = text.substr(i, key_end - i);
    i = skip_space(text, key_end);
    if (i >= text.size() || text[i] != ':') return false;
    i = skip_space(text, i + 1);
    const std::size_t value_end = skip_value(text, i);
    if (value_end == npos) return false;
    f(key, text.substr(i, value_end - i));
    i = skip_space(text, value_end);
    if (i >= text.size()) return false;
    if (text[i] == '}') return skip_space(text, i + 1) == text.size();
    if (text[i] != ',') return false;
    i = skip_space(text, i + 1);
  }
  return false;
}

// Calls f(raw element) for each element of a top-level array; false when malformed, or when f
// returns false (enough elements).
template <class F>
bool walk_array(std::string_view text, F&& f) {
  std::size_t i = skip_space(text, 0);
  if (i >= text.size() || text[i] != '[') return false;
  i = skip_space(text, i + 1);
  if (i < text.size() && text[i] == ']') return skip_space(text, i + 1) == text.size();
  while (i < text.size()) {
    const std::size_t end = skip_value(text, i);
    if (end == npos || !f(text.substr(i, end - i))) return false;
    i = skip_space(text, end);
    if (i >= text.size()) return false;
    if (text[i] == ']') return skip_space(text, i + 1) == text.size();
    if (text[i] != ',') return false;
    i = skip_space(text, i + 1);
  }
  return false;
}

// Up to N elements of a top-level array; returns the count, or -1 when malformed or longer.
template <std::size_t N>
int split_array(std::string_view text, std::array<std::string_view, N>& elements) {
  int count = 0;
  const bool ok = walk_array(text, [&](std::string_view element) {
    if (count == static_cast<int>(N)) return false;
    elements[static_cast<std::size_t>(count++)] = element;
    return true;
  });
  return ok ? count : -1;
}

bool is_object(std::string_view value) { return !value.empty() && value.front() == '{'; }

// The members of an object's text without its braces ("" for {}).
std::string_view inner_members(std::string_view object) {
  std::size_t begin = skip_space(object, 1);
  std::size_t end = object.size() - 1;  // the closing brace
  while (end > begin && is_space(object[end - 1])) --end;
  return begin >= end ? std::string_view() : object.substr(begin, end - begin);
}

void append_members(std::string& out, std::string_view members, bool& first) {
  if (members.empty()) return;
  if (!first) out += ',';
  out += members;
  first = false;
}

void append_json_string(std::string& out, std::string_view text) {
  out += '"';
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (byte < 0x20) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\u00";
      out += kHex[byte >> 4];
      out += kHex[byte & 0xF];
    } else {
      out += c;
    }
  }
  out += '"';
}

}  // namespace

packet parse_packet(std::string_view text) {
  packet p;
  if (text.empty() || text[0] < '0' || text[0] > '6') return p;
  const auto kind = static_cast<packet::kind>(text[0] - '0');
  std::size_t i = 1;
  if (kind == packet::kind::binary_event || kind == packet::kind::binary_ack) {
    p.what = kind;  // refused by the caller; the rest is not read
    return p;
  }
  if (i < text.size() && text[i] == '/') {
    const std::size_t comma = text.find(',', i);
    if (comma == npos) {
      p.nsp = text.substr(i);
      i = text.size();
    } else {
      p.nsp = text.substr(i, comma - i);
      i = comma + 1;
    }
  }
  if (i < text.size() && text[i] >= '0' && text[i] <= '9') {
    std::int64_t id = 0;
    int digits = 0;
    while (i < text.size() && text[i] >= '0' && text[i] <= '9') {
      if (++digits > 15) return p;  // ids are counters: keep them exact in a JSON number
      id = id * 10 + (text[i] - '0');
      ++i;
    }
    p.ack_id = id;
  }
  p.data = text.substr(i);
  p.what = kind;
  return p;
}

bool event_to_message(std::string_view data, shape game_shape, std::string& message,
                      std::string& type, event_error& error) {
  std::array<std::string_view, 3> args;
  const int count = split_array(data, args);
  if (count < 1 || args[0].empty() || args[0].front() != '"') {
    error = {"bad_request", "an event is [\"name\", argument?]: a name string first"};
    return false;
  }
  const std::string_view name = args[0];
  type.assign(name.substr(1, name.size() - 2));
  const std::string_view arg = count >= 2 ? args[1] : std::string_view("{}");
  if (!is_object(arg)) {
    error = {"bad_request", "an event's argument must be a JSON object"};
    return false;
  }
  const std::string_view extra = count >= 3 ? args[2] : std::string_view();
  if (!extra.empty() && (game_shape != shape::payload || !is_object(extra))) {
    error = {"bad_request", game_shape == shape::payload
                                ? "an event's second argument must be a JSON object"
                                : "an event carries one argument"};
    return false;
  }
  message.clear();
  message += "{\"type\":";
  message += name;
  if (game_shape == shape::payload) {
    message += ",\"payload\":";
    message += arg;
    if (!extra.empty()) {
      const std::string_view members = inner_members(extra);
      if (!members.empty()) {
        message += ',';
        message += members;
      }
    }
  } else {
    const std::string_view members = inner_members(arg);
    if (!members.empty()) {
      message += ',';
      message += members;
    }
  }
  message += '}';
  return true;
}

bool append_event(std::string& out, std::string_view frame, shape game_shape,
                  std::string_view session_members, std::string_view offset) {
  constexpr std::string_view kTypeFirst = "{\"type\":\"";
  const std::size_t start = out.size();
  if (game_shape == shape::flat && frame.starts_with(kTypeFirst)) {
    // The games write `type` first: the rest of the frame is the argument, copied as it is.
    const std::size_t type_end = skip_string(frame, kTypeFirst.size() - 1);
    if (type_end != npos && type_end < frame.size() &&
        (frame[type_end] == ',' || frame[type_end] == '}')) {
      out += "42[";
      out.append(frame.substr(kTypeFirst.size() - 1, type_end - (kTypeFirst.size() - 1)));
      out += ",{";
      out += session_members;
      if (frame[type_end] == ',') {
        if (!session_members.empty()) out += ',';
        out.append(frame.substr(type_end + 1));  // ends with the frame's closing brace
      } else {
        out += '}';
      }
      if (!offset.empty()) {
        out += ",\"";
        out += offset;
        out += '"';
      }
      out += ']';
      return true;
    }
  }
  std::string_view type;
  std::string_view payload;
  std::string others;
  bool first_other = true;
  append_members(others, session_members, first_other);
  const bool ok = walk_object(frame, [&](std::string_view key, std::string_view value) {
    if (key == "\"type\"" && type.empty()) {
      type = value;
      return;
    }
    if (game_shape == shape::payload && key == "\"payload\"" && payload.empty()) {
      payload = value;
      return;
    }
    if (!first_other) others += ',';
    others += key;
    others += ':';
    others += value;
    first_other = false;
  });
  if (!ok || type.empty() || type.front() != '"') {
    out.resize(start);
    return false;
  }
  out += "42[";
  out += type;
  if (game_shape == shape::payload) {
    out += ',';
    out += payload.empty() ? std::string_view("{}") : payload;
    if (!others.empty()) {
      out += ",{";
      out += others;
      out += '}';
    }
  } else {
    out += ",{";
    out += others;
    out += '}';
  }
  if (!offset.empty()) {
    out += ",\"";
    out += offset;
    out += '"';
  }
  out += ']';
  return true;
}

std::string ack_packet(std::int64_t ack_id, std::string_view json) {
  std::string out = "43";
  out += std::to_string(ack_id);
  out += '[';
  out += json;
  out += ']';
  return out;
}

std::string open_packet(std::string_view sid, bool can_upgrade, std::int64_t ping_interval_ms,
                        std::int64_t ping_timeout_ms, std::size_t max_payload) {
  std::string out = "0{\"sid\":";
  append_json_string(out, sid);
  out += can_upgrade ? ",\"upgrades\":[\"websocket\"]" : ",\"upgrades\":[]";
  out += ",\"pingInterval\":" + std::to_string(ping_interval_ms);
  out += ",\"pingTimeout\":" + std::to_string(ping_timeout_ms);
  out += ",\"maxPayload\":" + std::to_string(max_payload);
  out += '}';
  return out;
}

std::string connect_packet(std::string_view sid, std::string_view pid) {
  std::string out = "40{\"sid\":";
  append_json_string(out, sid);
  if (!pid.empty()) {
    out += ",\"pid\":";
    append_json_string(out, pid);
  }
  out += '}';
  return out;
}

std::string connect_error_packet(std::string_view message, std::string_view code) {
  std::string out = "44{\"message\":";
  append_json_string(out, message);
  if (!code.empty()) {
    out += ",\"data\":{\"code\":";
    append_json_string(out, code);
    out += '}';
  }
  out += '}';
  return out;
}

std::string http_error_body(http_error code, std::string_view error) {
  static constexpr std::string_view kMessages[] = {
      "Transport unknown", "Session ID unknown", "Bad handshake method",
      "Bad request",       "Forbidden",          "Unsupported protocol version"};
  std::string out = "{\"code\":";
  out += std::to_string(static_cast<int>(code));
  out += ",\"message\":";
  append_json_string(out, kMessages[static_cast<std::size_t>(code)]);
  if (!error.empty()) {
    out += ",\"error\":";
    append_json_string(out, error);
  }
  out += '}';
  return out;
}

std::vector<std::string_view> array_elements(std::string_view text) {
  std::vector<std::string_view> elements;
  const bool ok = walk_array(text, [&](std::string_view element) {
    elements.push_back(element);
    return true;
  });
  if (!ok) elements.clear();
  return elements;
}

std::string without_member(std::string_view object_text, std::string_view name) {
  std::string out = "{";
  bool first = true;
  bool dropped = false;
  const bool ok = walk_object(object_text, [&](std::string_view key, std::string_view value) {
    if (!dropped && key.size() == name.size() + 2 && key.substr(1, name.size()) == name) {
      dropped = true;
      return;
    }
    if (!first) out += ',';
    out += key;
    out += ':';
    out += value;
    first = false;
  });
  if (!ok || !dropped) return std::string(object_text);
  out += '}';
  return out;
}

std::string_view raw_member(std::string_view object_text, std::string_view name) {
  std::string_view found;
  bool have = false;
  walk_object(object_text, [&](std::string_view key, std::string_view value) {
    if (!have && key.size() == name.size() + 2 && key.substr(1, name.size()) == name) {
      found = value;
      have = true;
    }
  });
  return found;
}

std::string_view string_member(std::string_view object_text, std::string_view name) {
  const std::string_view raw = raw_member(object_text, name);
  if (raw.size() < 2 || raw.front() != '"' || raw.find('\\') != npos) return {};
  return raw.substr(1, raw.size() - 2);
}

}  // namespace partyd::sio
