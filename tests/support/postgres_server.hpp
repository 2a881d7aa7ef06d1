// postgres_server: a real PostgreSQL 15 cluster for tests, made by Debian's initdb in a private
// temporary directory and served by `postgres` on a free 127.0.0.1 port, with its Unix socket
// and log (postgres.log) in that directory. Owns the postmaster (stopped, or killed, and started
// again on the same port and data directory; it also dies with the test process) and removes
// the directory at the end. Uses no libpq: psql runs the queries a test makes behind a client's
// back, pg_isready says when the server takes connections.
//
// Root: initdb and postgres refuse to run as root. When the test runs as root, the directory is
// handed to the `postgres` user that the postgresql package creates, and both run as that user
// (setgid/setuid in the child between fork and exec, so neither runuser nor setpriv is needed).
// psql is only a client and runs as the caller.
// Thread: the test's thread (the parent-death signal follows the thread that started the server).
// Every wait is bounded.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

namespace partyd::testing {

inline constexpr const char* postgres_bin_dir = "/usr/lib/postgresql/15/bin";

// Empty when the cluster can be made here; else what is missing, with how to install it.
std::string postgres_missing();

class postgres_server {
 public:
  postgres_server() = default;
  ~postgres_server();
  postgres_server(const postgres_server&) = delete;
  postgres_server& operator=(const postgres_server&) = delete;

  // The first time: a new cluster (initdb, superuser `postgres`, trust authentication, UTF-8, C
  // locale) on a free port. Later: the same data directory and port. Returns false (and says why,
  // with the server log, by ADD_FAILURE) when it does not take connections within `timeout`.
  bool start(std::chrono::milliseconds timeout = std::chrono::seconds(60));
  // Fast shutdown (SIGINT): clients are disconnected, committed data is kept. SIGKILL after
  // `timeout`.
  void stop(std::chrono::milliseconds timeout = std::chrono::seconds(15));
  // SIGKILL: a crash; the next start() recovers from the WAL.
  void kill();

  bool running() const noexcept { return pid_ > 0; }
  int port() const noexcept { return port_; }
  const std::string& directory() const noexcept { return dir_; }
  // "postgresql://postgres@127.0.0.1:<port>/<database>".
  std::string url(std::string_view database = "postgres") const;

  // Runs `sql` with psql on `database` (unaligned, tuples only: one row a line, columns split by
  // '|'); its output without the last newline. nullopt (reported by ADD_FAILURE unless `quiet`)
  // when psql fails or takes longer than 30 s.
  std::optional<std::string> psql(std::string_view database, std::string_view sql,
                                  bool quiet = false) const;
  // CREATE DATABASE `name` (lowercase letters, digits and '_').
  bool create_database(std::string_view name) const;

 private:
  bool init_cluster();
  std::string log_tail() const;

  std::string dir_;  // the temporary directory: data/, the socket, postgres.log
  pid_t pid_ = -1;
  int port_ = 0;
};

}  // namespace partyd::testing
