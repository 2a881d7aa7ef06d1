// ws_client: a test WebSocket client on Boost.Beast with its own io_context. One read is always
// pending; it only makes progress inside this client's calls (receive, send, expect_closed), each
// bounded by a timeout, so a test can never hang. A client that is never asked to receive does
// not read its socket at all (used to make slow consumers).
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <boost/asio/io_context.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace partyd::testing {

using namespace std::chrono_literals;

// How a connection ended, as seen by the client.
struct close_info {
  bool closed = false;       // the connection ended within the timeout
  bool close_frame = false;  // ... with a WebSocket close frame (code/reason valid)
  std::uint16_t code = 0;
  std::string reason;
  std::string error;  // "socket error: ..." when it ended without a close frame
};

std::ostream& operator<<(std::ostream& out, const close_info& info);

struct connect_options {
  std::chrono::milliseconds timeout = 5s;
  // SO_RCVBUF for the socket (0: system default); small values make a slow consumer quickly.
  int receive_buffer_bytes = 0;
};

class ws_client {
 public:
  ws_client();
  ~ws_client();
  ws_client(const ws_client&) = delete;
  ws_client& operator=(const ws_client&) = delete;

  // Opens ws://127.0.0.1:port/path. False on failure; then upgrade_status() holds the HTTP
  // status of a refused upgrade (0 when there was no HTTP answer) and last_error() says why.
  bool connect(std::uint16_t port, std::string_view path, connect_options options = {});
  int upgrade_status() const noexcept { return upgrade_status_; }
  const std::string& last_error() const noexcept { return last_error_; }
  bool is_open() const;

  // Writes one text frame; false when the write failed or timed out.
  bool send(const boost::json::value& message, std::chrono::milliseconds timeout = 5s);
  bool send_raw(std::string_view text, std::chrono::milliseconds timeout = 5s);
  // One text message of exactly `bytes` bytes (not JSON).
  bool send_bytes(std::size_t bytes, std::chrono::milliseconds timeout = 5s);

  // The next message parsed as JSON (a non-object or unparsable message is returned as
  // {"type":"<unparsable>","raw":...}); nullopt on timeout or when the connection ended.
  std::optional<boost::json::object> receive(std::chrono::milliseconds timeout = 5s);
  // The next message as its text, unparsed (to check bytes the server passes through).
  std::optional<std::string> receive_text(std::chrono::milliseconds timeout = 5s);
  // Skips messages until one with this `type`; nullopt on timeout or close.
  std::optional<boost::json::object> receive_until(std::string_view type,
                                                   std::chrono::milliseconds timeout = 5s);
  // Skips (and drops) messages until the connection ends.
  close_info expect_closed(std::chrono::milliseconds timeout = 5s);

  // Messages received and not consumed yet (after running the io_context for `for_at_most`).
  std::size_t pending(std::chrono::milliseconds for_at_most = 0ms);

  // Sends a close frame (normal closure) and waits for the close to complete.
  void close(std::chrono::milliseconds timeout = 2s);
  // Drops the TCP connection without a close frame.
  void drop();

  // Skipped messages, for diagnostics: every message receive_until() passed over.
  const std::deque<std::string>& skipped() const noexcept { return skipped_; }

 private:
  void start_read();
  // Runs the io_context until `done()` or the deadline; returns done().
  template <typename Done>
  bool run_until(Done done, std::chrono::milliseconds timeout);

  boost::asio::io_context ioc_;
  std::unique_ptr<boost::beast::websocket::stream<boost::beast::tcp_stream>> ws_;
  boost::beast::flat_buffer buffer_;
  std::deque<std::string> inbox_;
  std::deque<std::string> skipped_;
  bool reading_ = false;
  bool connected_ = false;
  std::optional<close_info> ended_;
  int upgrade_status_ = 0;
  std::string last_error_;
};

// Field helpers for asserting on frames.
std::string str(const boost::json::object& frame, std::string_view key);
std::string dump(const std::optional<boost::json::object>& frame);

}  // namespace partyd::testing
