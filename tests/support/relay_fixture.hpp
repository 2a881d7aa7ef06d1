// relay_fixture: GoogleTest fixture and helpers for relay integration tests. Owns one test_server
// per test (started with the test's extra flags) and builds handshakes, joins clients by role and
// checks the common frame shapes. Helpers report problems with ADD_FAILURE and return empty
// values, so callers ASSERT on the result.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json/object.hpp>

#include "support/test_server.hpp"
#include "support/ws_client.hpp"

namespace partyd::testing {

struct relay_room {
  std::string code;
  std::string host_key;
};

// A client after a successful handshake.
struct joined {
  std::unique_ptr<ws_client> ws;
  boost::json::object response;  // its handshake_response
  std::string client_id;
  std::string seat_token;  // players: the secret that reclaims the seat, with client_id
  // The handshake fields that reclaim this player's seat.
  boost::json::object reclaim() const {
    return {{"clientId", client_id}, {"seatToken", seat_token}};
  }
  explicit operator bool() const noexcept { return ws != nullptr; }
  ws_client* operator->() const noexcept { return ws.get(); }
};

boost::json::object handshake_message(const std::string& room_code, const std::string& role,
                                      boost::json::object extra = {});

class relay_fixture : public ::testing::Test {
 protected:
  // Starts the server with `extra_args`; fails the test when it does not come up.
  void start_server(std::vector<std::string> extra_args = {});
  // Creates a relay room through the admin API.
  relay_room create_room(const boost::json::object& options = {});

  // A connected (not handshaken) client; nullptr (with a failure) when the connect failed.
  std::unique_ptr<ws_client> connect(connect_options options = {});
  // Connects and sends `handshake`; returns the client and its first frame.
  std::pair<std::unique_ptr<ws_client>, std::optional<boost::json::object>> try_handshake(
      const boost::json::object& handshake, connect_options options = {});
  // Connects and hand-shakes; the handshake must succeed.
  joined join(const boost::json::object& handshake, connect_options options = {});
  joined join_host(const relay_room& room);
  joined join_player(const relay_room& room, boost::json::object extra = {},
                     connect_options options = {});
  joined join_audience(const relay_room& room, boost::json::object extra = {});

  std::unique_ptr<test_server> server_;
};

// Sends a message that makes the host's next frame a known error (poll_not_found), then checks
// that this error is indeed the next frame: proves the host got nothing in between.
::testing::AssertionResult host_got_nothing_more(ws_client& host);

// The next frame is an `error` with this code and a message; requestType must equal
// `request_type`, or be absent when it is nullopt.
::testing::AssertionResult next_is_error(ws_client& client, const std::string& code,
                                         std::optional<std::string> request_type = std::nullopt,
                                         std::chrono::milliseconds timeout = 5s);

// The next frame is a failed handshake_response with this code, then the socket closes with
// 1008 and reason = code.
::testing::AssertionResult handshake_refused(ws_client& client,
                                             const std::optional<boost::json::object>& first,
                                             const std::string& code);

// The connection ends with a close frame carrying this code and reason.
::testing::AssertionResult closed_with(ws_client& client, std::uint16_t code,
                                       const std::string& reason,
                                       std::chrono::milliseconds timeout = 5s);

}  // namespace partyd::testing
