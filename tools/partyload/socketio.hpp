// partyload: the Socket.IO transport of the relay scenarios (--transport socketio), as text only:
// Engine.IO 4 packets over a WebSocket, Socket.IO 5 packets inside them, the default namespace,
// no acks, no binary (docs/protocol/socketio.md). The scenarios keep writing and reading their
// JSON messages; these functions turn one into the other. No state, any thread.
#pragma once

#include <string>
#include <string_view>

namespace partyload::socketio {

// The WebSocket-only Engine.IO handshake path; `game` empty: the server's default game.
std::string path(std::string_view game);

// One received Engine.IO packet, as far as a WebSocket-only client cares.
enum class packet {
  open,           // 0{"sid":...}: the Engine.IO session; answer with a CONNECT (40)
  ping,           // 2: answer with 3
  connected,      // 40{"sid":...}: the namespace accepted us
  event,          // 42[...]: a message, `json` holds it as the game's JSON
  disconnect,     // 41: the server left the namespace (a refused handshake, a closed room)
  connect_error,  // 44{...}: the namespace refused us
  close,          // 1: the Engine.IO session ended
  noop,           // 6, 3 and anything else a client can ignore
  malformed,      // an EVENT whose array is not ["name", ...]
};

// Classifies `frame`; for an EVENT `["T", {members}, ...]`, writes `{"type":"T",members}` into
// `json` (an object argument after the first adds its members too, anything else is skipped).
packet read(std::string_view frame, std::string& json);

// Rewrites `message`, a JSON object that starts with {"type":"T", into the EVENT 42["T",{rest}]
// (42["T"] when T is the only member), in place. False when it does not start that way.
bool to_event(std::string& message);

}  // namespace partyload::socketio
