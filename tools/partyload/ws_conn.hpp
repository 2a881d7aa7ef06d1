// partyload: one lean WebSocket client connection. Received frames are handed on as string_views
// into the read buffer (no copy); outgoing frames are built into a ring of strings that keep their
// capacity (no allocation once warm). Handlers capture `this`: a connection must outlive its
// io_context's run (the scenario owns connections until every io thread has been joined).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/websocket.hpp>

#include "common.hpp"

namespace partyload {

namespace beast = boost::beast;
namespace websocket = beast::websocket;

class ws_conn {
 public:
  ws_conn(net::io_context& ctx, shard& sh, run_state& run) : ctx_(ctx), shard_(sh), run_(run) {}
  ws_conn(const ws_conn&) = delete;
  ws_conn& operator=(const ws_conn&) = delete;
  virtual ~ws_conn() = default;

  net::io_context& context() { return ctx_; }

  // Opens a new connection (a fresh stream; any older one is closed first).
  void connect(const tcp::resolver::results_type& endpoints, const std::string& host,
               const char* path);

  // Closes the socket without a close frame (a dropped connection). Stale handlers of the old
  // stream are ignored.
  void drop();

  // Stops for good: closes the socket, reports nothing more. Call on the connection's thread.
  void stop() {
    stopped_ = true;
    drop();
  }

  bool is_open() const { return open_; }

 protected:
  // A text frame to send: fill the returned string, then call commit().
  std::string& next_frame();
  void commit();
  void send(std::string_view text) {
    next_frame().assign(text);
    commit();
  }
  std::size_t backlog() const { return count_; }

  void error(std::string_view code) {
    if (!stopped_) run_.error(code);
  }
  bool stopped() const { return stopped_; }

  virtual void on_open() = 0;
  virtual void on_frame(std::string_view frame) = 0;
  // The connection ended (closed by the server or failed). `expected` when the subclass said so.
  virtual void on_closed(bool expected) {}
  // The server's close is expected from now on (e.g. after room_closed or leave).
  void expect_close() { expect_close_ = true; }

  net::io_context& ctx_;
  shard& shard_;
  run_state& run_;
  std::int64_t connect_started_ns_ = 0;

 private:
  void do_read();
  void do_write();
  void closed(std::string_view code);

  // A plain socket bound to the io_context's own executor: no type-erased executor and no
  // timeout machinery of beast::tcp_stream on every read (both showed in profiles).
  using socket_type = net::basic_stream_socket<tcp, net::io_context::executor_type>;
  std::optional<websocket::stream<socket_type>> ws_;
  beast::flat_buffer buffer_;
  std::vector<std::string> ring_;
  std::size_t head_ = 0;
  std::size_t count_ = 0;
  std::uint64_t generation_ = 0;
  bool writing_ = false;
  bool open_ = false;
  bool stopped_ = false;
  bool expect_close_ = false;
};

}  // namespace partyload
