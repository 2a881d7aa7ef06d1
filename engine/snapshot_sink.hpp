// Where workers hand finished room snapshots: immutable bytes, encoded on the room's worker, never
// live state. Implemented by storage/snapshot_writer, which coalesces per room and writes in
// batches on its own thread.
// Thread safety: offer() is called from worker threads, must not block and must not fail.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "engine/types.hpp"

namespace partyd {

struct snapshot_job {
  // quarantine: the room failed; its stored snapshot (after any pending write of it) moves aside,
  // kept for its remaining lifetime, never restored at boot.
  enum class kind : std::uint8_t { write, remove, quarantine };
  kind what = kind::write;
  std::string code;
  std::string value;          // room snapshot bytes (write only)
  std::int64_t ttl_s = 0;     // key lifetime (write only)
  std::uint64_t version = 0;  // room state version the bytes reflect
  time_ms dirty_since = 0;    // when the oldest change in these bytes happened
  bool important = false;     // flush without waiting for the next batch
  // Called by the writer once these bytes (or newer ones of the same room) are in the store.
  // Set when the room holds replies back until its state is durable.
  std::function<void()> on_durable;
};

class snapshot_sink {
 public:
  virtual ~snapshot_sink() = default;
  virtual void offer(snapshot_job&& job) noexcept = 0;
  // False while the store is failing: replies are then not held back for durability.
  virtual bool healthy() const noexcept { return true; }
};

}  // namespace partyd
