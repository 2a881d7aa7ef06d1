// HTTP on the shared port: /health, /ready, /metrics and the admin API (/api/rooms, bearer
// token). An http_session reads requests with bounded header and body sizes and hands a WebSocket
// upgrade on a game's path to a ws_session on the same io thread.
// Thread: each http_session lives on the io thread that accepted it.
#pragma once

#include <functional>
#include <memory>
#include <optional>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "engine/game.hpp"
#include "io/server_context.hpp"

namespace partyd {

using http_request = boost::beast::http::request<boost::beast::http::string_body>;
using http_response = boost::beast::http::response<boost::beast::http::string_body>;

inline constexpr std::string_view kSocketioPath = "/socket.io/";

// Sends an answer later, from any thread (e.g. once a new room is durable).
using http_responder = std::function<void(http_response)>;

// Answers one plain HTTP request, or returns nullopt and answers later through `respond`.
// Thread-safe.
std::optional<http_response> handle_http(const http_request& request, server_context& ctx,
                                         const http_responder& respond);

class http_session : public std::enable_shared_from_this<http_session> {
 public:
  http_session(server_context& ctx, io_thread& thread, boost::asio::ip::tcp::socket&& socket,
               socket_slot slot);
  ~http_session();
  void start();
  // io thread, from the sweep: closes a connection whose request or response is overdue, and,
  // while the server is near --max-sockets, one that has not sent a whole request within a
  // second (idle sockets must not keep new clients out).
  void sweep(std::int64_t now_ms);

 private:
  void do_read();
  void read_request();
  void on_read(boost::beast::error_code ec, std::size_t bytes);
  // Answers 101 to a valid upgrade, then hands the socket to a ws_session of `module`.
  // `identity`: who the upgrade's token (or development-mode name) says the client is.
  // The 101 answering a valid upgrade with Sec-WebSocket-Key `key`.
  static std::string switching_protocols(std::string_view key);
  // Bytes the client sent right behind its request: the start of its WebSocket stream.
  std::string early_bytes() const;
  void accept_upgrade(std::string_view key, const game_module& module,
                      std::optional<connection_identity> identity, bool socketio);
  // The checks every new connection passes (phase, WebSocket version and key, Origin, token,
  // --max-connections); nullopt when it may open, with the connection counted and `auth` set.
  std::optional<http_response> refuse_upgrade(const http_request& request,
                                              const game_module& module, auth_outcome& auth,
                                              bool token_may_follow);
  // Socket.IO at /socket.io/ (io/http_socketio.cpp): Engine.IO handshakes, polling requests and
  // WebSockets, new or upgrading a polling session.
  void handle_socketio(http_request request);
  void answer_socketio(const http_request& request, int status, std::string body);
  // GET /api/stats/stream (admin): server-sent events, one stats summary a second, until the
  // client goes away (io/console.hpp).
  void start_stats_stream(const http_request& request);
  void send_stats(std::string prefix);
  struct stats_stream;
  std::unique_ptr<stats_stream> stream_;
  void write_response();
  void write_response(http_response response);
  void on_write(bool keep_alive, boost::beast::error_code ec, std::size_t bytes);
  void close();

  server_context& ctx_;
  io_thread& thread_;
  // A plain socket: deadlines come from the io thread's sweep, so a connection that has not sent
  // its request yet holds no timer, buffer or read operation (a join storm opens thousands).
  boost::asio::ip::tcp::socket socket_;
  socket_slot slot_;  // released when the socket closes, or moved to the ws_session
  std::int64_t deadline_ms_ = 0;
  std::int64_t waiting_since_ms_ = 0;  // when the wait for the current request began
  bool awaiting_request_ = false;      // no whole request read since waiting_since_ms_
  boost::beast::flat_buffer buffer_;
  std::optional<boost::beast::http::request_parser<boost::beast::http::string_body>> parser_;
  std::shared_ptr<http_response> response_;
};

}  // namespace partyd
