// State shared by the network edge: configuration, the engine, io metrics and the per-thread
// session registries. One io_thread per io_context; a connection lives on one for its whole life.
// Threads: server_context fields are immutable or atomic; io_thread::sessions is touched only on
// that io_thread's own thread.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/metrics.hpp"
#include "engine/runtime.hpp"
#include "io/auth.hpp"
#include "io/client_limits.hpp"
#include "io/config.hpp"
#include "io/engineio_registry.hpp"
#include "io/log_limit.hpp"

namespace partyd {

class ws_session;
class http_session;

// Monotonic milliseconds, for connection deadlines.
inline std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

struct io_thread {
  boost::asio::io_context context{1};  // concurrency hint 1: exactly one thread runs it
  std::thread thread;
  std::unordered_map<connection_id, std::weak_ptr<ws_session>> sessions;
  // Connections still speaking HTTP (before an upgrade, or plain requests), for their deadlines.
  std::unordered_map<const http_session*, std::weak_ptr<http_session>> http_sessions;
  // Shared by every connection of the thread: a connection reads into read_buffer and parses in
  // place, and frames its outgoing batch into write_buffer; only leftovers (an incomplete frame,
  // bytes the socket did not take) are copied into the connection.
  std::string read_buffer = std::string(limits::read_buffer_bytes, '\0');
  std::string write_buffer;
  std::string socketio_packet;  // scratch: one frame as a Socket.IO packet (ws_session)
  boost::asio::steady_timer sweep_timer{context};
  // Sessions with frames to write, queued by workers (ws_session::deliver); one posted handler
  // drains them all, so a worker pass that feeds many connections costs one wakeup, not one each.
  std::mutex flush_mutex;
  std::vector<std::shared_ptr<ws_session>> flush_queue;  // guarded by flush_mutex
  bool flush_drain_posted = false;                       // guarded by flush_mutex
  std::vector<std::shared_ptr<ws_session>> flush_batch;  // io thread only
  // Rooms this thread's reads made ready, woken together by one posted handler after the other
  // completions of the same poll have run (runtime::submit_deferred). io thread only.
  runtime::deferred_wakes pending_wakes;
  bool wakes_posted = false;
};

enum class server_phase { starting, ready, stopping };

struct io_metrics {
  explicit io_metrics(metrics_registry& m);
  gauge& sockets_open;
  counter& refused_max_sockets;
  counter& refused_per_ip;
  counter& refused_descriptors;
  counter& accept_failures;
  counter& http_pressure_closes;
  gauge& ws_open;
  counter& ws_accepted;
  counter& ws_refused;
  counter& ws_origin_rejected;
  // Upgrades refused with 401, indexed by auth_refusal (none's entry stays null).
  std::array<counter*, auth_refusal_count> ws_auth_refused{};
  counter& rate_limited;
  counter& slow_consumers;
  counter& handshake_timeouts;
  counter& too_large;
  counter& protocol_errors;
  counter& idle_timeouts;
  counter& message_timeouts;
  counter& reads;
  counter& writes;
  counter& frames_out;
  counter& write_waits;
  histogram& flush_wait;
  // Socket.IO (docs/protocol/socketio.md)
  gauge& socketio_open;
  counter& socketio_opened_polling;
  counter& socketio_opened_websocket;
  counter& socketio_upgrades;
  counter& socketio_ping_timeouts;
  counter& socketio_polls_held_to_limit;
  counter& socketio_poll_gets;
  counter& socketio_poll_posts;
  // partyd_socketio_errors_total{reason}: refused requests and packets (rare: looked up on use).
  counter& socketio_error(std::string_view reason);
  metrics_registry& registry;
  counter& inbox_full;
  counter& auth_failures;
  counter& handshake_failures_no_room;  // a first message named no open room
  counter& handshake_failures_refused;  // the game refused it (closed 1008 before binding)
  counter& handshakes_delayed;
  counter& http_requests;
  gauge& outbox_bytes;
};

// Log lines an outsider can repeat at will, each rate-limited (io/log_limit.hpp).
struct io_logs {
  explicit io_logs(metrics_registry& m)
      : auth_failed(m, "auth_failed", log::level::warn),
        accept_failed(m, "accept_failed", log::level::warn),
        connection_refused(m, "connection_refused", log::level::warn),
        handshake_failed(m, "handshake_failed", log::level::warn),
        handshake_delayed(m, "handshake_delayed", log::level::warn),
        room_refused(m, "room_refused", log::level::warn) {}
  void flush(std::int64_t now_ms) {
    auth_failed.flush(now_ms);
    accept_failed.flush(now_ms);
    connection_refused.flush(now_ms);
    handshake_failed.flush(now_ms);
    handshake_delayed.flush(now_ms);
    room_refused.flush(now_ms);
  }
  log_limiter auth_failed;
  log_limiter accept_failed;
  log_limiter connection_refused;
  log_limiter handshake_failed;   // a first message failed (ws_session)
  log_limiter handshake_delayed;  // a first message waits for its address's failures
  log_limiter room_refused;       // anonymous room creation refused (client_limits)
};

struct server_context;

// One accepted socket counted against --max-sockets (and --max-connections-per-ip); released
// when its descriptor is closed, or at the latest when the slot is destroyed. Moves with the
// socket from the HTTP session to the WebSocket session.
class socket_slot {
 public:
  socket_slot() = default;
  socket_slot(server_context& ctx, const address_key& key) : ctx_(&ctx), key_(key) {}
  socket_slot(socket_slot&& other) noexcept { *this = std::move(other); }
  socket_slot& operator=(socket_slot&& other) noexcept {
    if (this != &other) {
      release();
      ctx_ = other.ctx_;
      key_ = other.key_;
      other.ctx_ = nullptr;
    }
    return *this;
  }
  socket_slot(const socket_slot&) = delete;
  socket_slot& operator=(const socket_slot&) = delete;
  ~socket_slot() { release(); }
  void release() noexcept;  // any thread

 private:
  server_context* ctx_ = nullptr;
  address_key key_;  // counted per address when --max-connections-per-ip is set
};

class snapshot_writer;
class history_writer;

struct server_context {
  server_context(const server_config& cfg, runtime& rt, metrics_registry& m)
      : config(cfg),
        engine(rt),
        metrics(m),
        io(m),
        logs(m),
        creations(std::make_shared<room_creation_limiter>(cfg, rt, m)),
        handshakes(cfg) {}

  enum class admission { admitted, max_sockets, max_per_ip };
  // Listener (io thread 0): counts a socket just accepted from `peer`, or says why it may not be
  // kept. The slot releases the count.
  admission admit(const boost::asio::ip::address& peer, socket_slot& slot);

  const server_config& config;
  runtime& engine;
  metrics_registry& metrics;
  io_metrics io;
  io_logs logs;
  // Anonymous room creation per address and server-wide (shared: each anonymous room's hold
  // refers to it, and the runtime may outlive this context).
  std::shared_ptr<room_creation_limiter> creations;
  handshake_guard handshakes;  // failed first messages per address
  engineio_registry engineio;  // Socket.IO sessions by sid, recovery ids
  // Tokens at the upgrade; development mode until server_main sets the configured one, before
  // any io thread runs.
  token_verifier auth;
  // Accepted sockets open (HTTP and WebSocket), at most max_sockets: --max-sockets, or derived
  // from RLIMIT_NOFILE at start (server::start), before any io thread runs.
  std::size_t max_sockets = 0;
  std::atomic<std::size_t> sockets{0};
  std::mutex addresses_mutex;
  std::unordered_map<address_key, std::uint32_t, address_key_hash>
      sockets_by_address;  // guarded by addresses_mutex; only with --max-connections-per-ip
  std::atomic<server_phase> phase{server_phase::starting};
  snapshot_writer* writer = nullptr;           // null with --store memory
  history_writer* history = nullptr;           // null with --history none
  std::atomic<std::size_t> ws_connections{0};  // accepted upgrades not yet finished
  std::atomic<int> stats_streams{0};           // open GET /api/stats/stream answers
  // Never reused, also across restarts: session games keep a seat's connection id in their
  // snapshots, and a new connection must not take the id of a restored seat. Ids start at the
  // boot's Unix time in ms times 1,024 (room for 1,024 connections per ms of uptime; below 2^53,
  // exact in any JSON reader, until the year 2249).
  std::atomic<connection_id> next_connection_id{
      static_cast<connection_id>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                     std::chrono::system_clock::now().time_since_epoch())
                                     .count()) *
      1024};
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

}  // namespace partyd
