// The snapshot store: where room snapshots live between a crash and a restart. One key per room.
// Backends: Redis (storage/redis_store) and the embedded default, an append-only log in a
// directory (storage/log_store). Chosen by --store.
// Thread: a store instance is used by one thread at a time (the snapshot writer, or the boot
// loader before the writer starts); implementations need not be thread-safe.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace partyd {

struct snapshot_record {
  std::string key;         // the room code; the store adds its own prefix
  std::string value;       // self-describing snapshot bytes
  std::int64_t ttl_s = 0;  // expire this many seconds after the write; 0 = never; not negative
};

struct store_result {
  bool ok = true;
  std::string error;  // set when !ok: the store is unreachable or refused the batch
};

// Told about an entry that load_all() found but could not hand to its visitor: `key` (the room
// code, or the file name when it is not one) and why.
using skip_observer = std::function<void(std::string_view key, std::string_view reason)>;

class snapshot_store {
 public:
  virtual ~snapshot_store() = default;

  // Every entry load_all() skips (an unreadable file, a malformed header, a value that is not a
  // string) is reported here, besides being counted by the backend. Empty: not reported.
  void set_skip_observer(skip_observer observer) { skip_observer_ = std::move(observer); }

  // "redis://host:port/db" or "file:/path" — for logs and /ready. Never includes a password.
  virtual std::string describe() const = 0;

  // Writes (SET key value EX ttl) all records, as one pipelined batch where the backend can.
  // On failure nothing is assumed written: the caller retries the whole batch later (every write
  // is idempotent). Within a batch, the last record for a key wins.
  virtual store_result write(const std::vector<snapshot_record>& records) = 0;

  // Deletes the keys of closed rooms. Missing keys are not an error.
  virtual store_result remove(const std::vector<std::string>& keys) = 0;

  // Calls `visit(key, value)` once for every live (not expired) snapshot under the prefix, in no
  // particular order. Used at boot. The views are valid only during the call. Returns !ok when the
  // store could not be read; keys visited before the failure were visited, the rest were not.
  virtual store_result load_all(
      const std::function<void(std::string_view key, std::string_view value)>& visit) = 0;

  // Moves the snapshots of failed rooms aside (Redis: RENAME to the quarantine prefix, which keeps
  // the key's TTL; the log: a quarantine record, with its expiry). A quarantined snapshot
  // is never visited by load_all(); a missing key is not an error.
  virtual store_result quarantine(const std::vector<std::string>& keys) = 0;

  // Like load_all(), over the quarantined snapshots that have not expired (admin listing).
  virtual store_result load_quarantined(
      const std::function<void(std::string_view key, std::string_view value)>& visit) = 0;

  // Cheap liveness probe (PING); also re-establishes a lost connection. Bounded by the store's
  // timeouts, like every other call.
  virtual store_result ping() = 0;

  // Detects a store that lost what this process wrote to it: Redis emptied (FLUSHALL, FLUSHDB, a
  // restart without its data) or restarted (its run_id changed: it may have reloaded older
  // data); the log store's directory deleted or replaced. The first successful call writes a
  // marker (Redis: the key <prefix>.marker; the log: <dir>/.partyd-marker) and remembers the
  // server; each later call checks both and, when the marker is gone or the server changed, sets
  // `lost` to the reason and writes the marker again. `lost` stays empty while the store is
  // intact. !ok: the store could not be checked; nothing is known.
  virtual store_result check_intact(std::string& lost) = 0;

 protected:
  void report_skip(std::string_view key, std::string_view reason) const {
    if (skip_observer_) skip_observer_(key, reason);
  }

 private:
  skip_observer skip_observer_;
};

// Parses --store: "redis://[:password@]host:port[/db]", "file:/some/dir" (or a plain directory
// path), or "memory" (no persistence: returns nullptr). `prefix` and `quarantine_prefix` are the
// key prefixes of live and quarantined snapshots (Redis) or are ignored (files). On a malformed
// setting returns nullptr and fills `error`.
std::unique_ptr<snapshot_store> make_snapshot_store(
    const std::string& setting, const std::string& prefix, std::string& error,
    const std::string& quarantine_prefix = "partyd:quarantine:");

}  // namespace partyd
