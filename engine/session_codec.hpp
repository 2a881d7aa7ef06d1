// The session fields of a client message (docs/protocol/sessions.md), read by io before the
// game's own decode: the session messages (RECONNECT, ACK, HEARTBEAT) never reach a game, and a
// game command's `clientMsgId` and first-message `version` travel beside the game's command.
// Pure; any thread.
#pragma once

#include <string>
#include <string_view>

#include "engine/session.hpp"

namespace partyd {

struct session_decode {
  enum class outcome { game_message, session_message, error };
  outcome result = outcome::game_message;
  session_request request;
  std::string room_code;      // RECONNECT: the room it resumes in
  std::string error_code;     // UPGRADE_REQUIRED, BAD_SESSION_MESSAGE
  std::string error_message;  // for the error frame; never echoes a token
  bool error_closes = false;  // UPGRADE_REQUIRED: the connection closes after the error
};

inline constexpr std::size_t max_client_msg_id_bytes = 64;

// `first`: the connection's first message. Text that is not a JSON object with a string `type`
// is a game message: the game's decode reports it in the game's own words.
session_decode decode_session_fields(std::string_view text, bool first,
                                     const session_policy& policy);

}  // namespace partyd
