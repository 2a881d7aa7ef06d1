// raw_ws_client: a WebSocket client built on a plain blocking socket and io/ws_codec, for tests
// that need to send what a well-behaved client library never would (unmasked or fragmented
// frames, bad UTF-8, pings) or to control the socket (a tiny receive buffer, reading late).
// Every read is bounded by a timeout.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>

#include "io/ws_codec.hpp"

namespace partyd::testing {

struct raw_frame {
  ws::opcode op = ws::opcode::text;
  std::string payload;
  // For a close frame: the code (ws::close_no_status when it had none) and the reason.
  std::uint16_t close_code = 0;
  std::string close_reason;
};

class raw_ws_client {
 public:
  raw_ws_client() = default;
  ~raw_ws_client();
  raw_ws_client(const raw_ws_client&) = delete;
  raw_ws_client& operator=(const raw_ws_client&) = delete;

  // Connects to 127.0.0.1:port; `receive_buffer` > 0 sets SO_RCVBUF before connecting.
  bool connect(std::uint16_t port, int receive_buffer = 0);
  // Sends `request` (a whole HTTP request) and reads the response head. Returns the status code
  // (0 on failure); the response headers are in headers() (names lower-case).
  int upgrade_with(const std::string& request);
  // A well-formed upgrade to `path`.
  int upgrade(std::string_view path, std::string_view key = "dGhlIHNhbXBsZSBub25jZQ==");
  const std::map<std::string, std::string>& headers() const noexcept { return headers_; }

  bool send_bytes(std::string_view bytes);
  // One masked frame; `fin` false leaves the message open for continuation frames.
  bool send_frame(ws::opcode op, std::string_view payload, bool fin = true);

  // The next frame from the server (unmasked, as servers send); nullopt on timeout or EOF.
  std::optional<raw_frame> receive(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // True when the server closed the TCP connection (EOF or reset) within `timeout`.
  bool wait_eof(std::chrono::milliseconds timeout = std::chrono::seconds(5));

 private:
  bool read_more(std::chrono::milliseconds timeout);

  int fd_ = -1;
  std::string inbox_;  // bytes read and not yet parsed into frames
  std::map<std::string, std::string> headers_;
  bool eof_ = false;
};

}  // namespace partyd::testing
