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

// The stream under the websocket layer: a plain socket bound to the io_context's own executor
// (no type-erased executor, no timeout bookkeeping of beast::tcp_stream on every read), read in
// the reactor style: wait until readable, then one non-blocking recv of up to 64 KiB, whose bytes
// then serve Beast's small reads. Reading through Asio's async_read_some instead costs more than
// one recv per small frame: Beast asks for at most 1536 bytes (often exactly the rest of a
// frame), and after every read Asio tries another at once, which mostly fails with EAGAIN.
class read_ahead_socket {
 public:
  using socket_type = net::basic_stream_socket<tcp, net::io_context::executor_type>;
  using executor_type = net::io_context::executor_type;
  static constexpr std::size_t read_ahead_bytes = 64 * 1024;

  explicit read_ahead_socket(executor_type ex) : socket_(ex) { buffer_.reserve(read_ahead_bytes); }

  executor_type get_executor() noexcept { return socket_.get_executor(); }
  socket_type& socket() { return socket_; }

  template <class ConstBufferSequence, class WriteHandler>
  auto async_write_some(const ConstBufferSequence& buffers, WriteHandler&& handler) {
    return socket_.async_write_some(buffers, std::forward<WriteHandler>(handler));
  }

  template <class MutableBufferSequence, class ReadHandler>
  auto async_read_some(const MutableBufferSequence& buffers, ReadHandler&& handler) {
    return net::async_initiate<ReadHandler, void(beast::error_code, std::size_t)>(
        [this](auto h, const MutableBufferSequence& b) {
          if (buffer_.size() > 0) {
            // Served from what was read ahead; completes through the executor, never inline.
            const std::size_t n = take(b);
            net::post(socket_.get_executor(),
                      beast::bind_front_handler(std::move(h), beast::error_code{}, n));
            return;
          }
          wait_and_read(std::move(h), b);
        },
        handler, buffers);
  }

 private:
  template <class MutableBufferSequence>
  std::size_t take(const MutableBufferSequence& b) {
    const std::size_t n = net::buffer_copy(b, buffer_.data());
    buffer_.consume(n);
    return n;
  }

  template <class Handler, class MutableBufferSequence>
  void wait_and_read(Handler h, const MutableBufferSequence& b) {
    socket_.async_wait(
        socket_type::wait_read, [this, h = std::move(h), b](beast::error_code ec) mutable {
          if (!ec) {
            const std::size_t n = socket_.read_some(buffer_.prepare(read_ahead_bytes), ec);
            if (ec == net::error::would_block || ec == net::error::try_again) {
              return wait_and_read(std::move(h), b);  // woken without data
            }
            buffer_.commit(n);
          }
          if (ec) return std::move(h)(ec, std::size_t{0});
          std::move(h)(ec, take(b));
        });
  }

  socket_type socket_;
  beast::flat_buffer buffer_;
};

// What Beast needs of a next layer beyond reading and writing (found by ADL): closing it, and the
// TCP teardown of the websocket close handshake, both on the socket underneath.
inline void beast_close_socket(read_ahead_socket& s) {
  beast::error_code ignored;
  s.socket().close(ignored);
}
inline void teardown(beast::role_type role, read_ahead_socket& s, beast::error_code& ec) {
  websocket::teardown(role, s.socket(), ec);
}
template <class TeardownHandler>
void async_teardown(beast::role_type role, read_ahead_socket& s, TeardownHandler&& handler) {
  websocket::async_teardown(role, s.socket(), std::forward<TeardownHandler>(handler));
}

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

  std::optional<websocket::stream<read_ahead_socket>> ws_;
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
