// One WebSocket client connection. Lives on one io thread for its whole life; reads frames,
// decodes them with its game's codec (on the io thread), applies the per-client rate limit and
// pushes inputs into its room's inbox. Implements connection_sink for the room's worker: frames
// are appended to a mutex-guarded outbox and one flush per batch is posted to the io thread.
// Bounds: message size (read_message_max), outbox bytes (slow consumers are disconnected),
// handshake deadline, idle timeout with pings.
#pragma once

#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/websocket/stream.hpp>

#include "engine/connection_sink.hpp"
#include "engine/game.hpp"
#include "io/server_context.hpp"

namespace partyd {

class ws_session final : public connection_sink, public std::enable_shared_from_this<ws_session> {
 public:
  ws_session(server_context& ctx, io_thread& thread, boost::beast::tcp_stream&& stream,
             const game_module& module);
  ~ws_session() override;

  // io thread: completes the upgrade for `request` and starts reading.
  void start(boost::beast::http::request<boost::beast::http::string_body> request);
  // io thread: server shutdown; queued frames are flushed, then close 1001.
  void shutdown();

  // connection_sink (any thread)
  connection_id id() const noexcept override { return id_; }
  void deliver(const frame_ptr& frame) noexcept override;
  void bind(role_id role, bool rate_limited) noexcept override;
  void close(std::uint16_t code, std::string_view reason) noexcept override;

 private:
  void on_accept(boost::beast::error_code ec);
  void do_read();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  void handle_message(std::string_view text);
  bool allow_by_rate_limit();
  void reply_error(std::string_view code, std::string_view message, bool first_message,
                   std::string_view room_code = {});
  void schedule_flush_locked();
  void on_flush();
  void do_write();
  void on_write(boost::beast::error_code ec, std::size_t bytes);
  void do_close();
  void hard_close();
  void finish();

  server_context& ctx_;
  io_thread& thread_;
  const game_module& module_;
  const connection_id id_;
  boost::beast::websocket::stream<boost::beast::tcp_stream> ws_;
  boost::beast::flat_buffer read_buffer_;
  boost::asio::steady_timer handshake_timer_;

  // io thread only
  std::shared_ptr<room> room_;
  bool first_message_ = true;
  bool finished_ = false;
  bool writing_ = false;
  bool closing_ = false;
  std::deque<frame_ptr> write_queue_;
  std::int64_t window_start_ms_ = 0;
  std::uint32_t window_count_ = 0;
  bool window_logged_ = false;

  // Written by workers, read by the io thread.
  std::atomic<bool> bound_{false};
  std::atomic<bool> rate_exempt_{false};

  // Outbox: guarded by outbox_mutex_.
  std::mutex outbox_mutex_;
  std::vector<frame_ptr> outbox_;
  std::size_t outbox_bytes_ = 0;  // queued or being written
  bool flush_posted_ = false;
  bool slow_consumer_ = false;
  std::optional<std::pair<std::uint16_t, std::string>> close_request_;
};

}  // namespace partyd
