#include "engine/timer_wheel.hpp"

#include <algorithm>

#include "engine/check.hpp"

namespace partyd {

timer_wheel::timer_wheel(time_ms start, time_ms tick_ms, std::size_t slots)
    : tick_ms_(tick_ms), current_tick_(start / tick_ms), slots_(slots) {
  PARTYD_CHECK(tick_ms > 0 && slots > 0);
}

std::size_t timer_wheel::slot_of(time_ms deadline) const {
  time_ms tick = deadline / tick_ms_;
  // A deadline in the past goes to the current tick, which the next advance() walks again.
  if (tick < current_tick_) tick = current_tick_;
  return static_cast<std::size_t>(tick % static_cast<time_ms>(slots_.size()));
}

void timer_wheel::schedule(time_ms deadline, std::uint64_t owner, std::uint64_t key,
                           std::uint64_t generation) {
  slots_[slot_of(deadline)].push_back(entry{deadline, owner, key, generation, sequence_++});
  ++size_;
  if (wake_cache_valid_) {
    wake_cache_ = std::min(wake_cache_, deadline);
  }
}

void timer_wheel::advance(time_ms now, std::vector<entry>& expired) {
  expired.clear();
  const time_ms target_tick = now / tick_ms_;
  if (target_tick < current_tick_) {
    return;
  }
  // The current tick is walked again: it may hold entries due later within it (its slot was
  // visited at the start of the tick) and entries scheduled in the past since. After a long stall
  // there is no point walking the same slots more than once.
  const time_ms steps =
      std::min<time_ms>(target_tick - current_tick_ + 1, static_cast<time_ms>(slots_.size()));
  for (time_ms step = 0; step < steps; ++step) {
    auto& slot = slots_[static_cast<std::size_t>((current_tick_ + step) %
                                                 static_cast<time_ms>(slots_.size()))];
    auto keep = slot.begin();
    for (auto it = slot.begin(); it != slot.end(); ++it) {
      if (it->deadline <= now) {
        expired.push_back(*it);
      } else {
        *keep++ = *it;  // later in this tick, or a later revolution
      }
    }
    slot.erase(keep, slot.end());
  }
  current_tick_ = target_tick;
  size_ -= expired.size();
  // Removing entries can only make the earliest deadline later: a cached wake stays early, never
  // late, but one that has come must be recomputed or the worker would wake for it again at once.
  if (!expired.empty() || wake_cache_ <= now) {
    wake_cache_valid_ = false;
  }
  std::sort(expired.begin(), expired.end(), [](const entry& a, const entry& b) {
    return a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence;
  });
}

time_ms timer_wheel::next_wake() const {
  if (size_ == 0) {
    return -1;
  }
  if (!wake_cache_valid_) {
    wake_cache_ = scan_next_wake();
    wake_cache_valid_ = true;
  }
  return wake_cache_;
}

time_ms timer_wheel::scan_next_wake() const {
  const auto count = static_cast<time_ms>(slots_.size());
  for (time_ms step = 0; step < count; ++step) {
    const time_ms tick = current_tick_ + step;
    // Entries of this revolution end before the next tick; later revolutions are skipped.
    const time_ms tick_end = (tick + 1) * tick_ms_;
    time_ms earliest = tick_end;
    for (const entry& e : slots_[static_cast<std::size_t>(tick % count)]) {
      earliest = std::min(earliest, e.deadline);
    }
    if (earliest < tick_end) {
      return earliest;
    }
  }
  // Every entry is at least one revolution away.
  return (current_tick_ + count) * tick_ms_;
}

}  // namespace partyd
