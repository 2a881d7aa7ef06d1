#include "io/server.hpp"

#include <algorithm>
#include <chrono>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/ip/address.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/signal_set.hpp>

#include "engine/log.hpp"
#include "engine/thread_name.hpp"
#include "io/http_api.hpp"
#include "io/listener.hpp"
#include "io/ws_session.hpp"

namespace partyd {

namespace net = boost::asio;

namespace {

// Connection deadlines without a timer per connection: each io thread visits its sessions every
// `interval` (first-message deadline, keep-alive pings, idle and close-handshake timeouts).
void sweep_sessions(io_thread& thread, std::chrono::milliseconds interval) {
  const std::int64_t now = steady_ms();
  std::vector<std::shared_ptr<ws_session>> live;
  live.reserve(thread.sessions.size());
  for (auto& [id, weak] : thread.sessions) {
    if (auto session = weak.lock()) {
      live.push_back(std::move(session));
    }
  }
  for (auto& session : live) {
    session->sweep(now);  // may remove itself from thread.sessions
  }
  std::vector<std::shared_ptr<http_session>> http_live;
  for (auto it = thread.http_sessions.begin(); it != thread.http_sessions.end();) {
    if (auto session = it->second.lock()) {
      http_live.push_back(std::move(session));
      ++it;
    } else {
      it = thread.http_sessions.erase(it);
    }
  }
  for (auto& session : http_live) {
    session->sweep(now);  // may remove itself from thread.http_sessions
  }
  thread.sweep_timer.expires_after(interval);
  thread.sweep_timer.async_wait([&thread, interval](const boost::system::error_code& ec) {
    if (!ec) {
      sweep_sessions(thread, interval);
    }
  });
}

}  // namespace

io_metrics::io_metrics(metrics_registry& m)
    : ws_open(m.get_gauge("partyd_ws_connections_open", "", "Open WebSocket connections")),
      ws_accepted(
          m.get_counter("partyd_ws_connections_accepted_total", "", "WebSocket upgrades accepted")),
      ws_refused(m.get_counter("partyd_ws_connections_refused_total", "reason=\"max_connections\"",
                               "WebSocket upgrades refused")),
      ws_origin_rejected(m.get_counter("partyd_ws_origin_rejected_total", "",
                                       "WebSocket upgrades refused for an Origin not allowed")),
      rate_limited(m.get_counter("partyd_rate_limited_total", "",
                                 "Client messages dropped by the per-client rate limit")),
      slow_consumers(m.get_counter("partyd_slow_consumer_disconnects_total", "",
                                   "Connections dropped because their outbox exceeded its cap")),
      handshake_timeouts(m.get_counter("partyd_handshake_timeouts_total", "",
                                       "Connections closed for not completing the handshake")),
      too_large(m.get_counter("partyd_messages_too_large_total", "",
                              "Connections closed with 1009 for an oversized message")),
      protocol_errors(
          m.get_counter("partyd_ws_protocol_errors_total", "",
                        "Connections failed for a WebSocket protocol error (1002/1007)")),
      idle_timeouts(m.get_counter("partyd_ws_idle_timeouts_total", "",
                                  "Connections closed after the idle timeout without any bytes")),
      reads(m.get_counter("partyd_ws_reads_total", "", "read() calls that returned client bytes")),
      writes(m.get_counter("partyd_ws_writes_total", "",
                           "write() calls to clients (each carries every frame queued)")),
      frames_out(m.get_counter("partyd_ws_frames_out_total", "", "Frames written to clients")),
      write_waits(m.get_counter("partyd_ws_write_waits_total", "",
                                "Writes a client's full socket buffer made wait (slow readers)")),
      inbox_full(m.get_counter("partyd_inbox_full_replies_total", "",
                               "Client messages answered inbox_full")),
      auth_failures(m.get_counter("partyd_admin_auth_failures_total", "",
                                  "Admin API requests with a missing or wrong token")),
      http_requests(m.get_counter("partyd_http_requests_total", "", "Plain HTTP requests served")),
      outbox_bytes(m.get_gauge("partyd_outbox_bytes", "",
                               "Bytes waiting for slow client sockets to drain, all connections")) {
}

server::server(const server_config& config, runtime& engine, metrics_registry& metrics)
    : ctx_(config, engine, metrics) {
  for (std::size_t i = 0; i < config.io_threads; ++i) {
    threads_.push_back(std::make_unique<io_thread>());
  }
}

server::~server() { shutdown(); }

std::uint16_t server::start() {
  const net::ip::tcp::endpoint endpoint(net::ip::make_address(ctx_.config.bind_address),
                                        ctx_.config.port);
  listener_ = std::make_shared<listener>(ctx_, threads_, endpoint);
  // A quarter of the shortest deadline, between 10 ms and 1 s: deadlines are kept to within that.
  const std::int64_t shortest =
      std::min({ctx_.config.handshake_timeout_ms, ctx_.config.idle_timeout_ms / 2,
                ctx_.config.http_timeout_ms});
  const auto interval = std::chrono::milliseconds(std::clamp<std::int64_t>(shortest / 4, 10, 1000));
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    io_thread* t = threads_[i].get();
    net::post(t->context, [t, interval] { sweep_sessions(*t, interval); });
    t->thread = std::thread([t, i] {
      name_this_thread("partyd-io-" + std::to_string(i));
      auto guard = net::make_work_guard(t->context);
      t->context.run();
    });
  }
  listener_->start();
  return listener_->port();
}

void server::set_ready() { ctx_.phase.store(server_phase::ready); }

void server::wait_for_signal() {
  net::io_context signals_context;
  net::signal_set signals(signals_context, SIGINT, SIGTERM);
  signals.async_wait([](const boost::system::error_code&, int signal_number) {
    log::info("signal_received", {{"signal", signal_number}});
  });
  signals_context.run();
}

void server::shutdown() {
  if (stopped_ || threads_.empty() || !listener_) {
    return;
  }
  stopped_ = true;
  ctx_.phase.store(server_phase::stopping);
  log::info("shutdown_started", {{"connections", ctx_.ws_connections.load()}});
  listener_->stop();
  // Inputs already queued are processed; their replies land in the outboxes.
  ctx_.engine.stop();
  for (auto& thread : threads_) {
    io_thread* t = thread.get();
    net::post(t->context, [t] {
      for (auto& [id, weak] : t->sessions) {
        if (auto session = weak.lock()) {
          session->shutdown();
        }
      }
    });
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::milliseconds(ctx_.config.shutdown_grace_ms);
  while (ctx_.ws_connections.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  for (auto& thread : threads_) {
    thread->context.stop();
  }
  for (auto& thread : threads_) {
    if (thread->thread.joinable()) thread->thread.join();
  }
  log::info("shutdown_complete", {{"connections_left", ctx_.ws_connections.load()}});
}

}  // namespace partyd
