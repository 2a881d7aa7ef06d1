// partyload: one lean WebSocket client connection. The upgrade and the framing are done here with
// partyd's own codec (io/ws_codec), not Beast's websocket stream, so that the client adds little
// to the kernel's cost of a received frame (recv and the ACK it sends: most of partyload's time,
// bench/README.md) and so that a host's burst leaves as one segment.
//
// Reads: wait until readable, one recv of up to 64 KiB into the io thread's buffer, every complete
// frame parsed in place and handed on as a string_view (no copy); a partial frame is kept for the
// next read. Writes: frames are masked into one buffer per connection; every frame committed
// during one handler goes out in one write (a host's burst is one TCP segment, as from a client
// that sends several messages back to back).
// Socket.IO (set_socketio, the relay scenarios' --transport socketio): the same WebSocket carries
// Engine.IO and Socket.IO packets (socketio.hpp). This class answers the open packet with CONNECT
// and pings with pongs, calls on_open() once the namespace accepted the client, hands each EVENT
// to on_frame() as the game's JSON and sends each committed message as an EVENT; the subclass
// sees the JSON protocol. Without it, the JSON path pays one flag test per frame each way.
// Handlers capture `this`: a connection must outlive its io_context's run (the scenario owns
// connections until every io thread has been joined). Thread: the connection's io thread only.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <random>
#include <string>
#include <string_view>

#include "common.hpp"
#include "io/ws_codec.hpp"

namespace partyload {

class ws_conn {
 public:
  ws_conn(net::io_context& ctx, shard& sh, run_state& run);
  ws_conn(const ws_conn&) = delete;
  ws_conn& operator=(const ws_conn&) = delete;
  virtual ~ws_conn() = default;

  net::io_context& context() { return ctx_; }

  // Opens a new connection (a fresh socket; any older one is closed first).
  void connect(const tcp::resolver::results_type& endpoints, const std::string& host,
               const char* path);

  // Closes the socket without a close frame (a dropped connection). Stale handlers of the old
  // socket are ignored.
  void drop();

  // Stops for good: closes the socket, reports nothing more. Call on the connection's thread.
  void stop() {
    stopped_ = true;
    drop();
  }

  bool is_open() const { return open_; }

  // Speak Socket.IO on the next connect() (its `path` then names the Engine.IO endpoint).
  void set_socketio(bool on) { socketio_ = on; }

 protected:
  // A text frame to send: fill the returned string, then call commit().
  std::string& next_frame();
  void commit();
  void send(std::string_view text) {
    next_frame().assign(text);
    commit();
  }
  // Frames committed and not yet fully written.
  std::size_t backlog() const { return unsent_frames_; }

  // Session clients (docs/protocol/sessions.md). ACK for a reliable frame's `ack_id` (counted in
  // shard_.acks); the wait before the next HEARTBEAT: one interval, and for the first a share of
  // it that differs per connection, so that a storm's clients do not all send in one instant.
  void send_ack(std::string_view ack_id);
  // Checks a numbered frame against `last_seq`, the client's latest number (a number skipped
  // counts the error `gap`), takes its number and ACKs it when reliable. False for a reliable
  // frame sent again (its first copy was handled).
  bool take_numbered(const numbering& n, std::uint64_t& last_seq, std::string_view gap);
  // RECONNECT: resumes the session on this (new) connection after frame `last_seq`.
  void send_reconnect(std::string_view room, std::string_view session_id,
                      std::string_view resume_token, std::uint64_t last_seq);
  std::chrono::milliseconds heartbeat_delay(bool next, std::int64_t interval_ms) const;
  // HEARTBEAT with the client's view of the room (counted in shard_.heartbeats).
  void send_heartbeat(std::int64_t state_version, std::string_view checksum);

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
  using socket_type = net::basic_stream_socket<tcp, net::io_context::executor_type>;

  void queue(partyd::ws::opcode op, std::string_view payload);
  void schedule_flush();
  void flush();
  void wait_readable();
  void on_readable();
  // Reads the upgrade response at the front of data; returns the bytes it took (0: incomplete),
  // or std::nullopt when the upgrade failed (the connection is then closed).
  std::optional<std::size_t> read_upgrade_response(std::string_view data);
  // Parses frames from data; returns the bytes consumed, or nullopt if the connection ended.
  std::optional<std::size_t> read_frames(char* data, std::size_t size);
  // One Engine.IO packet; returns the code to close with when it ends the session, else empty.
  std::string_view on_socketio_frame(std::string_view frame);
  void closed(std::string_view code);

  std::optional<socket_type> socket_;
  std::optional<partyd::ws::frame_reader> reader_;
  std::string expected_accept_;  // Sec-WebSocket-Accept the server must answer
  std::string text_;             // the frame being filled (next_frame)
  std::string out_;              // framed bytes not yet written, from out_sent_ on
  std::size_t out_sent_ = 0;
  std::size_t unsent_frames_ = 0;
  std::string partial_in_;  // bytes of an incomplete frame (or upgrade response) from the last read
  std::uint64_t generation_ = 0;
  // Mask keys and the upgrade nonce: a load generator needs them well-formed, not unpredictable.
  std::minstd_rand random_;
  bool flush_scheduled_ = false;
  bool write_blocked_ = false;
  bool upgraded_ = false;
  bool open_ = false;
  bool stopped_ = false;
  bool expect_close_ = false;
  bool socketio_ = false;
  bool namespace_joined_ = false;  // Socket.IO: the CONNECT was answered
};

}  // namespace partyload
