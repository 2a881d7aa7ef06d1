#include "io/server.hpp"

#include <sys/resource.h>

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
void sweep_sessions(server_context& ctx, io_thread& thread, bool first_thread,
                    std::chrono::milliseconds interval) {
  const std::int64_t now = steady_ms();
  if (first_thread) {
    ctx.logs.flush(now);  // counts of rate-limited log lines whose window is over
  }
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
  thread.sweep_timer.async_wait(
      [&ctx, &thread, first_thread, interval](const boost::system::error_code& ec) {
        if (!ec) {
          sweep_sessions(ctx, thread, first_thread, interval);
        }
      });
}

// Descriptors kept back from --max-sockets for everything else the process opens: stdio, epoll
// and eventfds of each io thread, the listener, the store's files or Redis socket, the descriptor
// the listener holds in reserve for EMFILE (17 in all with one io thread and the file store).
constexpr std::size_t kDescriptorReserve = 64;

// The soft descriptor limit, raised to the hard one first: systemd and most distributions give
// processes a soft limit of 1024 and expect servers that need more to raise it themselves.
std::size_t raise_descriptor_limit() {
  rlimit limit{};
  if (::getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    return 0;
  }
  if (limit.rlim_cur < limit.rlim_max) {
    rlimit raised = limit;
    raised.rlim_cur = limit.rlim_max == RLIM_INFINITY ? rlim_t{1} << 20 : limit.rlim_max;
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) {
      limit = raised;
    }
  }
  return limit.rlim_cur == RLIM_INFINITY ? std::size_t{1} << 20
                                         : static_cast<std::size_t>(limit.rlim_cur);
}

}  // namespace

server_context::admission server_context::admit(const net::ip::address& peer, socket_slot& slot) {
  if (sockets.fetch_add(1, std::memory_order_relaxed) >= max_sockets) {
    sockets.fetch_sub(1, std::memory_order_relaxed);
    return admission::max_sockets;
  }
  const std::size_t per_ip = config.max_connections_per_ip;
  const address_key key = per_ip > 0 ? address_key::of(peer) : address_key{};
  if (per_ip > 0) {
    std::lock_guard lock(addresses_mutex);
    std::uint32_t& count = sockets_by_address[key];
    if (count >= per_ip) {  // count > 0: the entry was there already
      sockets.fetch_sub(1, std::memory_order_relaxed);
      return admission::max_per_ip;
    }
    ++count;
  }
  io.sockets_open.add(1);
  slot = socket_slot(*this, key);
  return admission::admitted;
}

void socket_slot::release() noexcept {
  if (ctx_ == nullptr) {
    return;
  }
  server_context& ctx = *ctx_;
  ctx_ = nullptr;
  if (ctx.config.max_connections_per_ip > 0) {
    std::lock_guard lock(ctx.addresses_mutex);
    const auto found = ctx.sockets_by_address.find(key_);
    if (found != ctx.sockets_by_address.end() && --found->second == 0) {
      ctx.sockets_by_address.erase(found);
    }
  }
  ctx.io.sockets_open.sub(1);
  ctx.sockets.fetch_sub(1, std::memory_order_relaxed);
}

counter& io_metrics::socketio_error(std::string_view reason) {
  return registry.get_counter("partyd_socketio_errors_total",
                              "reason=\"" + std::string(reason) + "\"",
                              "Socket.IO requests and packets refused, by reason");
}

io_metrics::io_metrics(metrics_registry& m)
    : sockets_open(m.get_gauge("partyd_sockets_open", "",
                               "Accepted client sockets open, HTTP and WebSocket (--max-sockets)")),
      refused_max_sockets(m.get_counter("partyd_connections_refused_total",
                                        "reason=\"max_sockets\"",
                                        "Accepted sockets closed at once, by reason")),
      refused_per_ip(m.get_counter("partyd_connections_refused_total",
                                   "reason=\"max_connections_per_ip\"",
                                   "Accepted sockets closed at once, by reason")),
      refused_descriptors(m.get_counter("partyd_connections_refused_total",
                                        "reason=\"descriptors\"",
                                        "Accepted sockets closed at once, by reason")),
      accept_failures(m.get_counter("partyd_accept_failures_total", "",
                                    "accept() calls that failed (EMFILE and others)")),
      http_pressure_closes(
          m.get_counter("partyd_http_pressure_closes_total", "",
                        "HTTP connections without a request closed early near --max-sockets")),
      ws_open(m.get_gauge("partyd_ws_connections_open", "", "Open WebSocket connections")),
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
      message_timeouts(
          m.get_counter("partyd_ws_message_timeouts_total", "",
                        "Connections closed for a message not complete in --message-timeout-ms")),
      reads(m.get_counter("partyd_ws_reads_total", "", "read() calls that returned client bytes")),
      writes(m.get_counter("partyd_ws_writes_total", "",
                           "write() calls to clients (each carries every frame queued)")),
      frames_out(m.get_counter("partyd_ws_frames_out_total", "", "Frames written to clients")),
      write_waits(m.get_counter("partyd_ws_write_waits_total", "",
                                "Writes a client's full socket buffer made wait (slow readers)")),
      flush_wait(m.get_histogram("partyd_flush_wait_seconds", "",
                                 "Time from a frame queued for an idle connection to its write")),
      socketio_open(m.get_gauge("partyd_socketio_sessions_open", "",
                                "Open Socket.IO sessions (also in partyd_ws_connections_open)")),
      socketio_opened_polling(m.get_counter("partyd_socketio_sessions_total",
                                            "transport=\"polling\"",
                                            "Socket.IO sessions opened, by first transport")),
      socketio_opened_websocket(m.get_counter("partyd_socketio_sessions_total",
                                              "transport=\"websocket\"",
                                              "Socket.IO sessions opened, by first transport")),
      socketio_upgrades(m.get_counter("partyd_socketio_upgrades_total", "",
                                      "Socket.IO sessions upgraded from polling to WebSocket")),
      socketio_ping_timeouts(m.get_counter("partyd_socketio_ping_timeouts_total", "",
                                           "Socket.IO sessions closed for a ping not answered")),
      socketio_polls_held_to_limit(
          m.get_counter("partyd_socketio_polls_held_to_limit_total", "",
                        "Polling GETs answered empty (noop) after being held their longest")),
      socketio_poll_gets(m.get_counter("partyd_socketio_poll_requests_total", "method=\"GET\"",
                                       "Socket.IO polling requests, by method")),
      socketio_poll_posts(m.get_counter("partyd_socketio_poll_requests_total", "method=\"POST\"",
                                        "Socket.IO polling requests, by method")),
      registry(m),
      inbox_full(m.get_counter("partyd_inbox_full_replies_total", "",
                               "Client messages answered inbox_full")),
      auth_failures(m.get_counter("partyd_admin_auth_failures_total", "",
                                  "Admin API requests with a missing or wrong token")),
      handshake_failures_no_room(m.get_counter("partyd_handshake_failures_total",
                                               "reason=\"room_not_found\"",
                                               "Failed first messages, by reason")),
      handshake_failures_refused(m.get_counter("partyd_handshake_failures_total",
                                               "reason=\"refused\"",
                                               "Failed first messages, by reason")),
      handshakes_delayed(
          m.get_counter("partyd_handshakes_delayed_total", "",
                        "First messages held back because their address failed handshakes")),
      http_requests(m.get_counter("partyd_http_requests_total", "", "Plain HTTP requests served")),
      outbox_bytes(m.get_gauge("partyd_outbox_bytes", "",
                               "Bytes waiting for slow client sockets to drain, all connections")) {
  for (std::size_t i = 1; i < auth_refusal_count; ++i) {
    const std::string_view reason = auth_refusal_code(static_cast<auth_refusal>(i));
    ws_auth_refused[i] =
        &m.get_counter("partyd_ws_auth_refused_total", "reason=\"" + std::string(reason) + "\"",
                       "WebSocket upgrades refused with 401, by reason");
  }
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
  // Every accepted socket is a descriptor: keep their number below the process's limit, so that
  // the store, the listener and new clients (/health) always find one.
  const std::size_t descriptors = raise_descriptor_limit();
  const std::size_t reserve = std::min(kDescriptorReserve, descriptors / 2);
  const std::size_t usable = descriptors > reserve ? descriptors - reserve : 1;
  if (ctx_.config.max_sockets > 0) {
    ctx_.max_sockets = ctx_.config.max_sockets;
    if (descriptors > 0 && ctx_.max_sockets > usable) {
      log::warn("max_sockets_above_descriptor_limit", {{"max_sockets", ctx_.max_sockets},
                                                       {"descriptor_limit", descriptors},
                                                       {"reserve", reserve}});
    }
  } else {
    // WebSockets plus as many sockets again for HTTP and upgrades in progress (at least 1024):
    // enough for any legitimate mix, and a bound on what idle sockets can cost.
    const std::size_t websockets = ctx_.config.max_connections;
    ctx_.max_sockets = std::max<std::size_t>(
        1, std::min(usable, websockets + std::max<std::size_t>(websockets, 1024)));
  }
  descriptor_limit_ = descriptors;
  listener_ = std::make_shared<listener>(ctx_, threads_, endpoint);
  // A quarter of the shortest deadline, between 10 ms and 1 s: deadlines are kept to within that.
  const std::int64_t shortest =
      std::min({ctx_.config.handshake_timeout_ms, ctx_.config.idle_timeout_ms / 2,
                ctx_.config.http_timeout_ms, ctx_.config.message_timeout_ms});
  const auto interval = std::chrono::milliseconds(std::clamp<std::int64_t>(shortest / 4, 10, 1000));
  for (std::size_t i = 0; i < threads_.size(); ++i) {
    io_thread* t = threads_[i].get();
    net::post(t->context,
              [this, t, first = i == 0, interval] { sweep_sessions(ctx_, *t, first, interval); });
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
