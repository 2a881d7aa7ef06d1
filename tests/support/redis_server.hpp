// redis_server: a real redis-server child process for integration tests, on a free 127.0.0.1 port,
// with no persistence (--save "" --appendonly no). Owns the child (killed with SIGKILL, restarted
// on the same port, stopped at teardown; it also dies with the test process) and a tiny bounded
// RESP client on Boost.Asio for looking behind partyd's back (GET, TTL, SCAN, SET, DBSIZE, ...).
// hiredis is not linked into the integration tests. Thread: the test's thread. Every wait is
// bounded: start waits at most 5 s for PING, each command at most its timeout.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace partyd::testing {

inline constexpr const char* redis_server_binary = "/usr/bin/redis-server";

// True when /usr/bin/redis-server exists and is executable.
bool redis_server_available();

// One RESP2 reply.
struct resp_value {
  enum class kind { simple, error, integer, bulk, nil, array };
  kind type = kind::nil;
  std::string text;                  // simple, error, bulk
  long long integer = 0;             // integer
  std::vector<resp_value> elements;  // array

  bool is_nil() const noexcept { return type == kind::nil; }
  bool is_error() const noexcept { return type == kind::error; }
};

// Parses one RESP2 reply starting at `pos`; on success advances `pos` past it. nullopt when the
// input ends before the reply does (read more) or is malformed (`malformed` is then set).
std::optional<resp_value> parse_resp(std::string_view input, std::size_t& pos, bool& malformed);
// Encodes a command as a RESP array of bulk strings.
std::string encode_resp_command(const std::vector<std::string>& args);

// Settings for the next start(); a restart keeps them.
struct redis_server_options {
  std::string password;                 // --requirepass; commands then AUTH first
  std::vector<std::string> extra_args;  // appended to redis-server's arguments
};

class redis_server {
 public:
  redis_server() = default;
  ~redis_server();
  redis_server(const redis_server&) = delete;
  redis_server& operator=(const redis_server&) = delete;

  // Starts redis-server on a free port (the first time) or on the same port as before. Returns
  // false (and reports why with ADD_FAILURE) when it does not answer PING within `timeout`.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(5));
  bool start(redis_server_options options,
             std::chrono::milliseconds timeout = std::chrono::seconds(5));
  // SIGKILL, then reaps the child (bounded). Its data is gone: nothing is saved.
  void kill();
  // kill() if running, then start() on the same port.
  bool restart() {
    kill();
    return start();
  }
  // Same as kill(): there is nothing to save.
  void stop() { kill(); }

  bool running() const noexcept { return pid_ > 0; }
  int port() const noexcept { return port_; }
  // "redis://127.0.0.1:<port>", the partyd --store setting.
  std::string url() const;
  // "redis://<userinfo>127.0.0.1:<port>/<db>" (userinfo such as ":password@").
  std::string url(std::string_view userinfo, int db) const;
  // SIGSTOP / SIGCONT: a paused server accepts connections but answers nothing.
  void pause();
  void resume();

  // Sends one command on a fresh connection and reads its reply; nullopt when there was no
  // complete reply within `timeout` (server down, connection refused, ...).
  std::optional<resp_value> command(
      const std::vector<std::string>& args,
      std::chrono::milliseconds timeout = std::chrono::seconds(2)) const;

  bool ping() const;
  // The value of `key`; nullopt when the key does not exist or the command failed.
  std::optional<std::string> get(const std::string& key) const;
  // TTL in seconds (-2: no key, -1: no expiry); nullopt when the command failed.
  std::optional<long long> ttl(const std::string& key) const;
  bool set(const std::string& key, const std::string& value) const;
  std::optional<long long> dbsize() const;
  // Every key matching `pattern`, by SCAN (each key once); nullopt when a command failed.
  std::optional<std::vector<std::string>> scan(const std::string& pattern) const;

 private:
  pid_t pid_ = -1;
  int port_ = 0;
  redis_server_options options_;
};

}  // namespace partyd::testing
