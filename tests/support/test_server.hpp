// test_server: one real partyd process for an integration test. Owns the child process (spawned
// from PARTYD_BINARY on 127.0.0.1 with --port 0), its temp dir (port file, stderr log) and a small
// bounded HTTP client for the health, metrics and admin endpoints. Every wait is bounded; the log
// is printed when the owning test failed.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace partyd::testing {

using namespace std::chrono_literals;

// The relay game's WebSocket path (README, ARCHITECTURE). PARTYD_IT_RELAY_PATH overrides it.
std::string relay_path();

inline constexpr std::string_view admin_token = "test-token";

struct http_result {
  int status = 0;  // 0: no answer (connect error or timeout); `body` then says why
  std::string body;
  // The body parsed as JSON; null when it is not JSON.
  boost::json::value json() const;
};

// Another server binary than partyd (e.g. partyd_probe, with a test-only game registered).
struct server_binary {
  std::string path;
};

class test_server {
 public:
  // Starts partyd with the default flags (--port 0 --port-file ... --admin-token test-token
  // --log-level warn --bind 127.0.0.1) plus `extra_args`; a flag given in `extra_args` replaces
  // its default. Waits (bounded) until GET /ready answers 200; on failure `started()` is false
  // and the reason was reported with ADD_FAILURE.
  explicit test_server(std::vector<std::string> extra_args = {},
                       std::chrono::milliseconds start_timeout = 10s);
  test_server(server_binary binary, std::vector<std::string> extra_args = {},
              std::chrono::milliseconds start_timeout = 10s);
  ~test_server();
  test_server(const test_server&) = delete;
  test_server& operator=(const test_server&) = delete;

  bool started() const noexcept { return port_ != 0; }
  std::uint16_t port() const noexcept { return port_; }
  pid_t pid() const noexcept { return pid_; }

  // SIGTERM, then waits up to `timeout` (then SIGKILL). Returns the exit status (0..255), or
  // 128 + signal when killed by a signal, or -1 when there was no process.
  int stop(std::chrono::milliseconds timeout = 10s);
  // Sends a signal without waiting.
  void signal(int signal_number);
  // Waits for the process to exit by itself; nullopt on timeout.
  std::optional<int> wait_exit(std::chrono::milliseconds timeout);
  bool running();

  // The child's stdout+stderr so far.
  std::string log() const;
  // The structured log lines (one JSON object a line, docs/operations.md "Logs") whose "event" is
  // `event`, in order; other output is skipped. Info events need "--log-level", "info".
  std::vector<boost::json::object> log_events(std::string_view event) const;
  // Polls the log until a line of `event` satisfies `match` (any line when `match` is empty) and
  // returns it; nullopt on timeout.
  std::optional<boost::json::object> wait_log_event(
      std::string_view event, const std::function<bool(const boost::json::object&)>& match = {},
      std::chrono::milliseconds timeout = 5s) const;

  http_result http(std::string_view method, std::string_view path, std::string_view body = {},
                   std::optional<std::string_view> token = admin_token,
                   std::chrono::milliseconds timeout = 5s) const;

  // POST /api/rooms with `options`; expects 201 (ADD_FAILURE otherwise) and returns the reply
  // (roomCode, hostKey, ...); an empty object on failure.
  boost::json::object create_relay_room(const boost::json::object& options = {}) const;

  std::string metrics_text() const;
  // The value of the sample `series` (name with its labels exactly as rendered, e.g.
  // partyd_rooms{game="relay"}) in GET /metrics; nullopt when absent.
  std::optional<double> metric(std::string_view series) const;
  // Polls /metrics until `series` >= `at_least`; returns the last value seen.
  std::optional<double> wait_metric_at_least(std::string_view series, double at_least,
                                             std::chrono::milliseconds timeout = 5s) const;
  // Polls /metrics until `series` <= `at_most`; returns the last value seen.
  std::optional<double> wait_metric_at_most(std::string_view series, double at_most,
                                            std::chrono::milliseconds timeout = 5s) const;

 private:
  std::optional<double> wait_metric(std::string_view series,
                                    const std::function<bool(double)>& done,
                                    std::chrono::milliseconds timeout) const;
  bool spawn(const std::vector<std::string>& args);
  bool wait_ready(std::chrono::milliseconds timeout);
  std::optional<int> reap(bool block);

  std::string dir_;
  std::string port_file_;
  std::string log_file_;
  pid_t pid_ = -1;
  std::optional<int> exit_status_;
  bool stopped_ = false;  // stop() or signal() was called
  std::uint16_t port_ = 0;
};

// One HTTP request to 127.0.0.1:`port` (any partyd, also one still starting), with `headers`
// ("Connection: close" unless given) and a JSON `body` when not empty, under one deadline.
http_result http_request(std::uint16_t port, std::string_view method, std::string_view path,
                         std::string_view body = {},
                         const std::vector<std::pair<std::string, std::string>>& headers = {},
                         std::chrono::milliseconds timeout = 5s);

// Parses one Prometheus sample value out of a /metrics text; nullopt when absent.
std::optional<double> find_metric(std::string_view text, std::string_view series);

// Runs `command` through the shell, stderr merged into stdout: its exit status (-1 when it did
// not exit normally) and its output.
std::pair<int, std::string> run_command(const std::string& command);

// Sleeps a few milliseconds (the polling step of eventually()).
void sleep_briefly();

// Polls `condition` every few milliseconds until it is true or `timeout` passed.
template <typename Condition>
bool eventually(Condition condition, std::chrono::milliseconds timeout = 5s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (condition()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return false;
    }
    sleep_briefly();
  }
}

}  // namespace partyd::testing
