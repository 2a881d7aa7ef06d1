// One WebSocket client connection after its upgrade. Lives on one io thread for its whole life.
// Reads: when the socket is readable, bytes are read into the io thread's shared read buffer and
// parsed in place (io/ws_codec); only an incomplete frame is copied into the connection, so an
// idle connection holds no read buffer. Each message is decoded with its game's codec, passes the
// per-client rate limit and is pushed into its room's inbox.
// Writes: implements connection_sink for the room's worker: frames are appended to a
// mutex-guarded outbox and one flush per batch is posted to the io thread, which frames
// everything queued into the thread's shared write buffer and writes it with one write(); only
// what the socket does not take stays with the connection.
// Timers: none per connection; the io thread's sweep (about every second) enforces the first
// message deadline, the deadline of a message begun (--message-timeout-ms), keep-alive pings,
// the idle timeout and the close handshake timeout.
// Bounds: message size (frame_reader), outbox bytes (slow consumers are disconnected): every byte
// queued for the connection counts, frames of its room and our own pongs and close frames alike.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/ip/tcp.hpp>

#include "engine/connection_sink.hpp"
#include "engine/game.hpp"
#include "io/engineio_registry.hpp"
#include "io/server_context.hpp"
#include "io/socketio_codec.hpp"
#include "io/ws_codec.hpp"

namespace partyd {

// io thread: writes out what every session queued in thread.flush_queue has in its outbox.
void drain_flush_queue(io_thread& thread);

// An answer to a Socket.IO polling request: HTTP status and body (the HTTP side adds headers).
using poll_responder = std::function<void(int status, std::string body)>;

class ws_session final : public connection_sink, public std::enable_shared_from_this<ws_session> {
 public:
  // `identity`: who the upgrade's token proved the client to be (null: anonymous); handed to the
  // game with the connection's first message.
  ws_session(server_context& ctx, io_thread& thread, boost::asio::ip::tcp::socket&& socket,
             const game_module& module, socket_slot slot,
             std::shared_ptr<const connection_identity> identity = nullptr);
  ~ws_session() override;

  // io thread, right after a valid upgrade request: writes `upgrade_response` (the 101) and
  // starts reading. `early_bytes` are bytes the client sent right behind its upgrade request
  // (already read by the HTTP parser).
  void start(std::string_view upgrade_response, std::string_view early_bytes);

  // Socket.IO (docs/protocol/socketio.md). The session then speaks Engine.IO packets instead of
  // the game's JSON, over a WebSocket or HTTP long-polling; everything else is the same.
  // A WebSocket-only Engine.IO session: like start(), then the open packet.
  void start_socketio(std::string_view upgrade_response, std::string_view early_bytes);
  // A polling session opened by a handshake GET from `peer`; returns the open packet to answer.
  // The session has no socket of its own until an upgrade attaches one.
  std::string start_polling(const boost::asio::ip::address& peer);
  const std::string& sid() const;
  // io thread (the session's): a polling GET (answered now or when packets wait) and POST.
  void poll_get(poll_responder respond);
  void poll_post(std::string body, poll_responder respond);
  // io thread (the session's): a polling body over maxPayload; the session ends (1009).
  void close_too_large() { request_close(ws::close_too_big, "message_too_big"); }
  // io thread (the session's): a WebSocket opened with this session's sid, to probe and upgrade.
  void attach_probe(boost::asio::ip::tcp::socket socket, socket_slot slot,
                    std::string upgrade_response, std::string early_bytes);
  // io thread: server shutdown; queued frames are flushed, then close 1001.
  void shutdown();
  // io thread, from the sweep: deadlines, pings, idle and close timeouts.
  void sweep(std::int64_t now_ms);

  // connection_sink (any thread)
  connection_id id() const noexcept override { return id_; }
  void deliver(const frame_ptr& frame) noexcept override;
  void deliver_numbered(const frame_ptr& frame, std::uint64_t seq, bool reliable) noexcept override;
  void session_opened() noexcept override;
  std::size_t queued_bytes() const noexcept override;
  void bind(role_id role, bool rate_limited) noexcept override;
  void close(std::uint16_t code, std::string_view reason) noexcept override;
  void released(std::uint64_t route, std::string next_message) noexcept override;

 private:
  void wait_readable();
  void on_readable();
  // Parses `data` (unmasking in place); keeps an incomplete frame in partial_.
  void consume(char* data, std::size_t size);
  bool on_frame(const ws::reader_event& event);
  // `from_server`: a message a room handed back to run as this connection's next first message
  // (released()); it skips the client's rate limit and the failed-handshake delay.
  void handle_message(std::string_view text, bool from_server = false);
  // The connection is in no room any more (a leave, a release): the next message routes anew.
  void leave_room();
  void on_released(std::uint64_t route, std::string next_message);
  // Session games (engine/session_codec.hpp): RECONNECT, ACK and HEARTBEAT go to the room without
  // the game's decode. True when `text` was one of them (or refused as one).
  bool handle_session_message(std::string_view text, bool first, session_request& fields);
  // Hands an input to the room; `may_wait`: runtime::submit_lazily (session ACKs, heartbeats).
  push_result push_to_room(room_input&& in, bool may_wait);
  // First message path (io/client_limits): holds the message back while its address pays for
  // failed handshakes (true: it waits; reading pauses until on_delay_over handles it), creates a
  // room within the anonymous creation limits, counts a failed handshake of the address.
  bool delay_first_message(std::string_view text);
  void on_delay_over();
  bool create_anonymous_room(const decode_result& decoded, std::size_t message_bytes);
  void note_handshake_failure(std::string_view reason, bool refused_by_room);  // any thread
  // close() of the io thread itself; close() is the room's (connection_sink).
  void request_close(std::uint16_t code, std::string_view reason);
  bool allow_by_rate_limit();
  // `request_type`: the message's type when it was known (named in a later message's error).
  void reply_error(std::string_view code, std::string_view message, bool first_message,
                   std::string_view room_code = {}, std::string_view request_type = {});
  // Remembers how the connection ended, for its client_disconnected line; the first call wins.
  void note_end(std::uint16_t code, std::string_view reason);
  void schedule_flush_locked();
  void on_flush();
  friend void drain_flush_queue(io_thread& thread);

  // A queued frame; a session's carries its number, spliced in when it is framed.
  struct outbound_frame {
    frame_ptr frame;
    std::uint64_t seq = 0;
    bool reliable = false;
    // Bytes it takes in the outbox: the frame, and room for the spliced members.
    std::size_t size() const noexcept { return frame->size() + (seq != 0 ? 64 : 0); }
  };
  void queue_frame(outbound_frame frame) noexcept;
  // Frames `frames` (and a control frame, if any) behind what is unsent and writes.
  void write_frames(const std::vector<outbound_frame>& frames, std::string_view control);
  void write_out(std::string& bytes);
  void wait_writable();
  void note_waiting(std::int64_t bytes);
  // io thread: `bytes` more wait behind a full socket; false when that put the connection over
  // --outbox-max-bytes and it was dropped as a slow consumer.
  bool queue_unsent(std::size_t bytes);
  void drop_slow_consumer();
  // After bytes were parsed: starts or ends the deadline of a message in progress.
  void note_message_progress();
  void on_writable(const boost::system::error_code& ec, std::size_t bytes);
  void send_close(std::uint16_t code, std::string_view reason);
  void after_writes();
  void finish();

  // ---- Socket.IO (io/ws_session_engineio.cpp) ----
  struct engineio;
  void on_engineio_packet(std::string_view packet);
  void on_socketio_packet(std::string_view packet);
  void on_socketio_connect(const sio::packet& packet);
  void on_socketio_event(const sio::packet& packet);
  // Sends one Engine.IO packet on the current transport.
  void send_engineio(std::string_view packet);
  // Appends a queued frame's packets to `out`: WebSocket frames, or polling records.
  void append_engineio_frames(std::string& out, const std::vector<outbound_frame>& frames);
  void append_engineio_packet(std::string& out, std::string_view packet);
  void write_engineio(const std::vector<outbound_frame>& frames, std::string_view control);
  void answer_held_get();
  // Answers the held GET (200) with `body`.
  void respond_held(std::string body);
  // `bytes` that waited in poll_out or for a socket are gone: no longer counted as waiting.
  void release_unsent(std::size_t bytes);
  // A polling request the session cannot take (it ended: `gone`; or it was upgraded): answered
  // with the Engine.IO error; true then.
  bool refuse_poll(bool gone, const poll_responder& respond);
  // An emit that asked for an ack, answered once: ok, or refused with the error.
  void answer_ack(bool ok, std::string_view code = {}, std::string_view message = {});
  // A close in Socket.IO terms; false when it was done here (polling), true when the
  // WebSocket's close frame is to follow.
  bool close_engineio(std::uint16_t code, std::string_view reason);
  void sweep_engineio(std::int64_t now_ms);
  // A socket error: ends a probing WebSocket alone, else the whole connection.
  void on_socket_error();
  void drop_probe();
  void finish_engineio();

  server_context& ctx_;
  io_thread& thread_;
  const game_module& module_;
  const connection_id id_;
  boost::asio::ip::tcp::socket socket_;
  socket_slot slot_;  // released when the socket closes (finish)
  // Who the client is: from the upgrade's token (then fixed), or from an in-band identify message
  // (decode_result::identity). io thread only; rooms get a copy with each first message.
  std::shared_ptr<const connection_identity> identity_;
  bool identity_from_upgrade_;
  ws::frame_reader reader_;
  std::unique_ptr<engineio> eio_;  // null: a plain WebSocket client of the game's JSON
  std::int64_t ack_id_ = -1;       // the Socket.IO emit being handled asked for this ack
  // Bumped when socket_ changes (a probing WebSocket attached or dropped): completions of the
  // old socket's waits are stale.
  std::uint32_t socket_epoch_ = 0;

  // Set by start() before the room can know the session; read by any thread after.
  address_key address_;

  // io thread only
  std::shared_ptr<room> room_;
  std::uint64_t route_ = 0;  // counts routings into a room (room_input::route)
  struct delayed_message;
  std::unique_ptr<delayed_message> delayed_;  // only while (or once) a first message waited
  bool paused_ = false;        // a first message waits: no reads, no parsing until it is handled
  bool delay_served_ = false;  // the message being handled has waited its delay

  std::string partial_;             // bytes of an incomplete frame
  std::string in_flight_;           // framed bytes Asio is writing because the socket was full
  std::string unsent_;              // framed bytes queued behind in_flight_
  std::int64_t waiting_bytes_ = 0;  // unsent_ + in_flight_, as counted in partyd_outbox_bytes
  bool waiting_writable_ = false;   // an async_write of in_flight_ is pending
  bool first_message_ = true;
  bool finished_ = false;
  bool close_sent_ = false;      // our close frame is queued or written
  bool close_received_ = false;  // the peer's close frame arrived
  bool ping_outstanding_ = false;
  std::int64_t opened_ms_ = 0;
  std::int64_t unrouted_since_ms_ = 0;  // since when the connection is in no room
  std::int64_t last_read_ms_ = 0;
  std::int64_t close_deadline_ms_ = 0;
  std::int64_t message_started_ms_ = 0;  // 0: no message in progress
  std::int64_t window_start_ms_ = 0;
  std::uint32_t window_count_ = 0;
  bool window_logged_ = false;
  std::uint16_t end_code_ = 0;  // 0 until note_end(); 1006 = ended without a close frame
  std::string end_reason_;
  std::vector<outbound_frame> taken_;  // frames moved out of the outbox for one flush
  std::string numbered_;               // a numbered frame's spliced members while it is framed

  // Written by workers, read by the io thread.
  std::atomic<bool> bound_{false};
  std::atomic<bool> in_session_{false};  // session_opened(): session messages are read
  std::atomic<bool> rate_exempt_{false};
  std::atomic<role_id> role_{0};  // valid once bound_

  // Outbox: guarded by outbox_mutex_.
  mutable std::mutex outbox_mutex_;
  std::vector<outbound_frame> outbox_;
  std::size_t outbox_bytes_ = 0;  // payload bytes queued, or framed and not yet written
  bool flush_posted_ = false;
  std::int64_t flush_posted_ns_ = 0;  // steady ns: when flush_posted_ was set (partyd_flush_wait)
  bool stop_delivery_ = false;        // slow consumer or finished: frames are dropped
  std::optional<std::pair<std::uint16_t, std::string>> close_request_;
};

}  // namespace partyd
