// The network edge: io threads (one io_context each), the listener, and the orderly shutdown on
// SIGTERM/SIGINT: stop accepting, let the workers finish queued inputs, flush and close every
// WebSocket with 1001, exit.
// Thread: constructed and driven by the main thread.
#pragma once

#include <memory>
#include <vector>

#include "io/config.hpp"
#include "io/server_context.hpp"

namespace partyd {

class listener;

class server {
 public:
  server(const server_config& config, runtime& engine, metrics_registry& metrics);
  ~server();

  // Binds and starts the io threads; returns the bound port. Throws when the port cannot be bound.
  // /ready answers 503 ("starting") and WebSocket upgrades are refused until set_ready().
  std::uint16_t start();
  void set_ready();
  // Blocks until SIGINT or SIGTERM.
  void wait_for_signal();
  void shutdown();

  server_context& context() noexcept { return ctx_; }
  // RLIMIT_NOFILE as start() found it (after raising the soft limit to the hard one).
  std::size_t descriptor_limit() const noexcept { return descriptor_limit_; }

 private:
  server_context ctx_;
  std::vector<std::unique_ptr<io_thread>> threads_;
  std::shared_ptr<listener> listener_;
  bool stopped_ = false;
  std::size_t descriptor_limit_ = 0;
};

}  // namespace partyd
