// State shared by the network edge: configuration, the engine, io metrics and the per-thread
// session registries. One io_thread per io_context; a connection lives on one for its whole life.
// Threads: server_context fields are immutable or atomic; io_thread::sessions is touched only on
// that io_thread's own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "engine/metrics.hpp"
#include "engine/runtime.hpp"
#include "io/config.hpp"

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
  gauge& ws_open;
  counter& ws_accepted;
  counter& ws_refused;
  counter& ws_origin_rejected;
  counter& rate_limited;
  counter& slow_consumers;
  counter& handshake_timeouts;
  counter& too_large;
  counter& protocol_errors;
  counter& idle_timeouts;
  counter& reads;
  counter& writes;
  counter& frames_out;
  counter& write_waits;
  counter& inbox_full;
  counter& auth_failures;
  counter& http_requests;
  gauge& outbox_bytes;
};

class snapshot_writer;

struct server_context {
  server_context(const server_config& cfg, runtime& rt, metrics_registry& m)
      : config(cfg), engine(rt), metrics(m), io(m) {}

  const server_config& config;
  runtime& engine;
  metrics_registry& metrics;
  io_metrics io;
  std::atomic<server_phase> phase{server_phase::starting};
  snapshot_writer* writer = nullptr;           // null with --store memory
  std::atomic<std::size_t> ws_connections{0};  // accepted upgrades not yet finished
  std::atomic<connection_id> next_connection_id{1};
  const std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now();
};

}  // namespace partyd
