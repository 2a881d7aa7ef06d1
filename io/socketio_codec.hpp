// Engine.IO v4 and Socket.IO v5 packets without sockets (docs/protocol/socketio.md): the packet
// grammar, and the mapping between Socket.IO events and the games' JSON messages.
// The mapping works on the JSON text itself, never re-serializing it: the relay passes its
// clients' JSON on byte for byte, and a broadcast frame stays the one serialization the game made.
// Thread: free functions are pure.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/types.hpp"

namespace partyd::sio {

// Engine.IO packet types (the first character of a packet).
inline constexpr char eio_open = '0';
inline constexpr char eio_close = '1';
inline constexpr char eio_ping = '2';
inline constexpr char eio_pong = '3';
inline constexpr char eio_message = '4';
inline constexpr char eio_upgrade = '5';
inline constexpr char eio_noop = '6';

// Polling payloads join packets with the record separator.
inline constexpr char record_separator = '\x1e';

using shape = socketio_shape;

// A Socket.IO packet: `<type>[<attachments>-][<namespace>,][<ack id>][<JSON data>]`.
struct packet {
  enum class kind : std::uint8_t {
    connect,
    disconnect,
    event,
    ack,
    connect_error,
    binary_event,
    binary_ack,
    invalid,
  };
  kind what = kind::invalid;
  std::string_view nsp = "/";
  std::int64_t ack_id = -1;  // -1: none
  std::string_view data;     // the JSON text after namespace and ack id (may be empty)
};

packet parse_packet(std::string_view text);

// What an EVENT's data `["type", arg, extra?]` stands for in the game's protocol, written to
// `message`. `type` (raw, unescaped-if-simple) names the event for error replies. False with
// `error` set ("bad_request" and a message) when the data is not an event of that shape.
struct event_error {
  std::string_view code;
  std::string_view message;
};
bool event_to_message(std::string_view data, shape game_shape, std::string& message,
                      std::string& type, event_error& error);

// Appends the Engine.IO message of a Socket.IO EVENT (`42[...]`) for one of the game's frames.
// `session_members` (may be empty): `"sequenceId":N,...` members the session layer adds to this
// recipient's copy; `offset` (may be empty): the recovery offset, appended as the last argument.
// False when `frame` is not a JSON object with a string `type` (nothing appended).
bool append_event(std::string& out, std::string_view frame, shape game_shape,
                  std::string_view session_members, std::string_view offset);

// The ACK answer `43<id>[<json>]` to an event that asked for one.
std::string ack_packet(std::int64_t ack_id, std::string_view json);

// Engine.IO open packet of a new session.
std::string open_packet(std::string_view sid, bool can_upgrade, std::int64_t ping_interval_ms,
                        std::int64_t ping_timeout_ms, std::size_t max_payload);

// Socket.IO CONNECT answer `40{"sid":..[,"pid":..]}` and CONNECT_ERROR `44{"message":..}`.
std::string connect_packet(std::string_view sid, std::string_view pid);
std::string connect_error_packet(std::string_view message, std::string_view code = {});

// Engine.IO's HTTP errors (400): {"code":N,"message":...}; `error` adds partyd's own code.
enum class http_error : std::uint8_t {
  unknown_transport = 0,
  unknown_sid = 1,
  bad_handshake_method = 2,
  bad_request = 3,
  forbidden = 4,
  unsupported_protocol_version = 5,
};
std::string http_error_body(http_error code, std::string_view error = {});

// A JSON string member `name` of the object `object_text` (top level only, the first one), its
// raw token unescaped when it has no escapes; empty when absent or not a simple string.
std::string_view string_member(std::string_view object_text, std::string_view name);

// The elements of a JSON array's text (raw); empty when malformed.
std::vector<std::string_view> array_elements(std::string_view array_text);

// `object_text` without its top-level member `name` (as it was when absent or malformed).
std::string without_member(std::string_view object_text, std::string_view name);

// The raw JSON text of the top-level member `name` of `object_text`; empty when absent.
std::string_view raw_member(std::string_view object_text, std::string_view name);

}  // namespace partyd::sio
