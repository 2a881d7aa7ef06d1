// tcp_probe: plain TCP sockets for tests that attack the server below HTTP and WebSocket (idle
// connections, pipelined requests) and figures of the server process read from /proc. A socket
// can connect from any loopback address (all of 127.0.0.0/8 is loopback), so one test can play
// several client addresses. Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace partyd::testing {

// Writes every byte of `bytes` to the blocking socket `fd` (no SIGPIPE); false when it fails.
bool send_all(int fd, std::string_view bytes);

class tcp_socket {
 public:
  tcp_socket() = default;
  ~tcp_socket();
  tcp_socket(tcp_socket&& other) noexcept;
  tcp_socket& operator=(tcp_socket&& other) noexcept;
  tcp_socket(const tcp_socket&) = delete;
  tcp_socket& operator=(const tcp_socket&) = delete;

  // Connects to 127.0.0.1:port from `source` (a 127.x.y.z address).
  bool connect(std::uint16_t port, const std::string& source = "127.0.0.1");
  bool send_all(std::string_view bytes);
  // Reads until `done(everything received)` is true, EOF or `timeout`; returns what arrived.
  std::string read_until(const std::function<bool(std::string_view)>& done,
                         std::chrono::milliseconds timeout);
  // True when the peer closed the connection (EOF or reset) within `timeout`; bytes that arrive
  // meanwhile are dropped.
  bool wait_closed(std::chrono::milliseconds timeout);
  // True when, right now, the connection is open and nothing is waiting to be read.
  bool quiet_now();
  // True when the peer has closed the connection (EOF or reset already arrived); never waits.
  bool closed_now();
  void close();
  bool is_open() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// A size field of /proc/<pid>/status in KiB ("VmRSS", "VmHWM": the peak); nullopt when unreadable.
std::optional<std::int64_t> status_kib(pid_t pid, std::string_view field);
// Sockets among the open descriptors of `pid` (/proc/<pid>/fd).
std::size_t socket_descriptors(pid_t pid);
// An executable script in `dir` that runs `binary` with its arguments under `ulimit -n nofile`
// (soft and hard): for test_server(server_binary{...}). Returns its path; empty on failure.
std::string nofile_wrapper(const std::string& dir, const std::string& binary, int nofile);

}  // namespace partyd::testing
