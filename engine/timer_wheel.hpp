// Hashed timing wheel keyed by absolute deadlines (ms since epoch).
// Entries are never removed early: cancelling is done by the owner bumping a generation, and a
// stale entry is dropped when its slot comes round. Expired entries are reported in deadline order,
// so deadlines that passed during a stall or a restart fire at once, oldest first.
// Thread: one worker.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "engine/types.hpp"

namespace partyd {

class timer_wheel {
 public:
  struct entry {
    time_ms deadline;
    std::uint64_t owner;       // room serial
    std::uint64_t key;         // game timer key, or an engine-reserved key
    std::uint64_t generation;  // the owner's generation for (owner, key) when armed
    std::uint64_t sequence;    // insertion order, breaks deadline ties
  };

  timer_wheel(time_ms start, time_ms tick_ms = 10, std::size_t slots = 4096);

  void schedule(time_ms deadline, std::uint64_t owner, std::uint64_t key, std::uint64_t generation);
  // Collects every entry with deadline <= now, sorted by (deadline, sequence).
  void advance(time_ms now, std::vector<entry>& expired);
  // Earliest time worth waking for, or -1 when the wheel is empty. May be early, never late.
  time_ms next_wake() const;
  std::size_t size() const noexcept { return size_; }

 private:
  std::size_t slot_of(time_ms deadline) const;
  time_ms scan_next_wake() const;

  time_ms tick_ms_;
  time_ms current_tick_;  // every tick < current_tick_ has been processed; this one may hold more
  std::vector<std::vector<entry>> slots_;
  std::size_t size_ = 0;
  std::uint64_t sequence_ = 0;
  // next_wake() scans up to every slot; its answer is kept until an entry expires or the time
  // it names has come (a worker asks on every wake-up, and rooms keep far-away timers).
  mutable time_ms wake_cache_ = 0;
  mutable bool wake_cache_valid_ = false;
};

}  // namespace partyd
