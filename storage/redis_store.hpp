// The Redis snapshot store: one string key per room (prefix + room code), written with pipelined
// SET ... EX through one synchronous hiredis context that it alone owns and connects lazily.
// Thread: one thread at a time (the snapshot writer, or the boot loader before it); hiredis is not
// thread-safe. Bounds: connect 1 s and every socket read/write 2 s, so no call hangs on a dead
// Redis; a pipeline is sent in chunks of at most 1000 commands / 8 MiB.
#pragma once

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

#include "storage/snapshot_store.hpp"

struct redisContext;

namespace partyd {

struct redis_settings {
  std::string host;
  int port = 6379;
  int db = 0;            // SELECT <db> after connecting when not 0
  std::string username;  // empty: AUTH <password> (requirepass); else AUTH <user> <password>
  std::string password;  // empty: no AUTH
  int connect_timeout_ms = 1000;
  int command_timeout_ms = 2000;  // per socket read or write (SO_RCVTIMEO / SO_SNDTIMEO)
};

// Parses "redis://[[user]:password@]host[:port][/db]" (port 1..65535, default 6379; db 0..15,
// default 0; the password may be percent-encoded; an IPv6 host goes in brackets). Returns false
// and fills `error` on a malformed URL; the error never quotes the password.
bool parse_redis_url(std::string_view url, redis_settings& out, std::string& error);

class redis_store final : public snapshot_store {
 public:
  static constexpr std::size_t pipeline_commands_max = 1000;
  static constexpr std::size_t pipeline_bytes_max = 8u << 20;
  static constexpr int scan_count = 1000;

  // Does not connect: the first call does, so start-up with Redis down still works.
  // Live snapshots live under `prefix`, quarantined ones under `quarantine_prefix` (neither may
  // start with the other: make_snapshot_store checks).
  redis_store(redis_settings settings, std::string prefix,
              std::string quarantine_prefix = "partyd:quarantine:");
  ~redis_store() override;
  redis_store(const redis_store&) = delete;
  redis_store& operator=(const redis_store&) = delete;

  std::string describe() const override;  // "redis://host:port/db"
  store_result write(const std::vector<snapshot_record>& records) override;
  store_result remove(const std::vector<std::string>& keys) override;
  store_result load_all(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override;
  store_result quarantine(const std::vector<std::string>& keys) override;
  store_result load_quarantined(
      const std::function<void(std::string_view key, std::string_view value)>& visit) override;
  store_result ping() override;
  // The marker is the key <prefix>.marker (no TTL; never visited as a room, as no room code starts
  // with '.'). Under the prefix, so a Redis user whose ACL allows ~<prefix>* may write it. The
  // server's identity is its INFO run_id (ignored where INFO is refused).
  store_result check_intact(std::string& lost) override;

  static constexpr std::string_view marker_suffix = ".marker";
  bool connected() const { return ctx_ != nullptr; }

 private:
  store_result ensure_connected();
  void disconnect();
  // Builds the error from the context (or `detail` when given), drops the connection so the next
  // call reconnects, and scrubs the password from the message.
  store_result fail(std::string_view what, std::string_view detail = {});
  // One pipelined command per key (`append` queues it), in chunks of pipeline_commands_max; an
  // error reply fails the call unless it contains `tolerated_error`.
  store_result per_key(const std::vector<std::string>& keys, std::string_view command,
                       const std::function<int(const std::string& key)>& append,
                       std::string_view tolerated_error = {});
  // SCAN + GET over every key under `prefix`.
  store_result load_prefixed(
      const std::string& prefix,
      const std::function<void(std::string_view key, std::string_view value)>& visit);

  redis_settings settings_;
  std::string prefix_;
  std::string quarantine_prefix_;
  std::string marker_key_;
  bool marked_ = false;  // check_intact() saw or wrote the marker
  std::string run_id_;   // the server's INFO run_id when check_intact() last succeeded
  redisContext* ctx_ = nullptr;
};

}  // namespace partyd
