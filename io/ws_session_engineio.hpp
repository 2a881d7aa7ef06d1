// The Socket.IO state of a ws_session (docs/protocol/socketio.md). Private to io/ws_session*.cpp.
// Thread: the session's io thread only.
#pragma once

#include <deque>
#include <string>

#include "io/ws_session.hpp"

namespace partyd {

struct ws_session::engineio {
  std::string sid;  // Engine.IO session id (the polling requests' and the upgrade's `sid`)
  socketio_shape shape = socketio_shape::none;
  bool polling = false;         // packets go by HTTP long-polling (until an upgrade completes)
  bool probing = false;         // polling still carries packets; a WebSocket is attached, probing
  bool probe_answered = false;  // 3probe sent: GETs are answered at once until the upgrade
  bool connected = false;       // the CONNECT to "/" was answered
  bool closing = false;         // polling: the closing packets wait for a GET; finish once taken
  bool close_packet_pending = false;  // polling: the close packet waits for a GET of its own
  std::string socket_id;              // Socket.IO's id, in the CONNECT answer
  // Connection-state recovery (games with sessions): the client's pid and the session layer's
  // credentials it stands for, once the session's CONNECTED frame passed by.
  std::string pid;
  bool pid_registered = false;
  bool awaiting_recovery = false;  // the CONNECT answer waits for the resume's first frame
  std::int64_t next_ping_ms = 0;
  std::int64_t ping_sent_ms = 0;  // 0: no ping outstanding
  // Polling: packets waiting for a GET (joined by the record separator), the GET held while
  // none wait, and packets of a POST behind a first message that is held back.
  std::string poll_out;
  poll_responder held_get;
  std::int64_t held_since_ms = 0;
  std::deque<std::string> pending_in;
  // A polling session has no pending socket operation to keep it alive: it holds itself until
  // finish().
  std::shared_ptr<ws_session> keep_alive;
};

}  // namespace partyd
