#include "engine/timer_wheel.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <vector>

namespace partyd {
namespace {

std::vector<std::uint64_t> keys_of(const std::vector<timer_wheel::entry>& entries) {
  std::vector<std::uint64_t> keys;
  for (const auto& e : entries) {
    keys.push_back(e.key);
  }
  return keys;
}

TEST(timer_wheel, empty_wheel_has_no_wake_and_expires_nothing) {
  timer_wheel wheel(1000);
  EXPECT_EQ(wheel.next_wake(), -1);
  EXPECT_EQ(wheel.size(), 0u);
  std::vector<timer_wheel::entry> expired{{1, 2, 3, 4, 5}};
  wheel.advance(100000, expired);
  EXPECT_TRUE(expired.empty());  // advance clears the output
}

TEST(timer_wheel, expires_by_deadline_then_insertion_order) {
  timer_wheel wheel(0, 10, 64);
  wheel.schedule(50, 1, 1, 0);
  wheel.schedule(30, 1, 2, 0);
  wheel.schedule(50, 2, 3, 0);
  wheel.schedule(30, 3, 4, 0);
  wheel.schedule(45, 1, 5, 0);  // same tick as 40..49, earlier than the 50s
  wheel.schedule(50, 1, 6, 0);
  std::vector<timer_wheel::entry> expired;
  wheel.advance(100, expired);
  EXPECT_EQ(keys_of(expired), (std::vector<std::uint64_t>{2, 4, 5, 1, 3, 6}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(timer_wheel, fires_nothing_before_its_deadline) {
  timer_wheel wheel(0, 10, 64);
  wheel.schedule(105, 1, 1, 0);
  std::vector<timer_wheel::entry> expired;
  for (time_ms now = 0; now < 105; ++now) {
    wheel.advance(now, expired);
    ASSERT_TRUE(expired.empty()) << "fired at " << now;
  }
  wheel.advance(105, expired);
  EXPECT_EQ(keys_of(expired), (std::vector<std::uint64_t>{1}));
}

// Regression: a deadline in the middle of a tick, with the wheel advanced to the start of that
// tick first (as a worker does when it wakes at next_wake()), used to be skipped for a whole
// revolution (slots * tick_ms, 41 s with the defaults).
TEST(timer_wheel, deadline_inside_a_tick_already_visited_still_fires) {
  timer_wheel wheel(0, 10, 4096);
  wheel.schedule(1008, 7, 1, 0);
  std::vector<timer_wheel::entry> expired;
  wheel.advance(1000, expired);
  EXPECT_TRUE(expired.empty());
  wheel.advance(1005, expired);
  EXPECT_TRUE(expired.empty());
  const time_ms wake = wheel.next_wake();
  EXPECT_GE(wake, 1000);
  EXPECT_LE(wake, 1008);
  wheel.advance(1008, expired);
  EXPECT_EQ(keys_of(expired), (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(timer_wheel, far_future_entries_wait_for_their_revolution) {
  // 16 slots of 10 ms: one revolution is 160 ms.
  timer_wheel wheel(0, 10, 16);
  wheel.schedule(1000, 1, 1, 0);  // six revolutions ahead
  wheel.schedule(35, 1, 2, 0);
  wheel.schedule(1000 - 160, 1, 3, 0);  // same slot, one revolution earlier
  EXPECT_EQ(wheel.size(), 3u);
  std::vector<timer_wheel::entry> expired;
  std::vector<std::pair<time_ms, std::uint64_t>> fired;
  for (time_ms now = 0; now <= 1200; now += 5) {
    wheel.advance(now, expired);
    for (const auto& e : expired) {
      fired.emplace_back(now, e.key);
      EXPECT_LE(e.deadline, now);
    }
  }
  ASSERT_EQ(fired.size(), 3u);
  EXPECT_EQ(fired[0], (std::pair<time_ms, std::uint64_t>{35, 2}));
  EXPECT_EQ(fired[1], (std::pair<time_ms, std::uint64_t>{840, 3}));
  EXPECT_EQ(fired[2], (std::pair<time_ms, std::uint64_t>{1000, 1}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(timer_wheel, past_deadlines_fire_at_once_oldest_first) {
  timer_wheel wheel(10000, 10, 64);
  wheel.schedule(9000, 1, 1, 0);
  wheel.schedule(500, 1, 2, 0);
  wheel.schedule(9999, 1, 3, 0);
  wheel.schedule(10000, 1, 4, 0);
  wheel.schedule(500, 1, 5, 0);
  EXPECT_LE(wheel.next_wake(), 10000);
  std::vector<timer_wheel::entry> expired;
  wheel.advance(10000, expired);  // no time has passed: still due now
  EXPECT_EQ(keys_of(expired), (std::vector<std::uint64_t>{2, 5, 1, 3, 4}));
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(timer_wheel, large_time_jump_fires_everything_due_in_order) {
  timer_wheel wheel(0, 10, 64);
  std::mt19937_64 gen(42);
  std::vector<time_ms> deadlines;
  for (int i = 0; i < 2000; ++i) {
    const auto d = static_cast<time_ms>(gen() % 100000);
    deadlines.push_back(d);
    wheel.schedule(d, 1, static_cast<std::uint64_t>(i), 0);
  }
  wheel.schedule(10'000'000 + 1, 1, 99999, 0);  // stays
  std::vector<timer_wheel::entry> expired;
  wheel.advance(5'000'000, expired);
  ASSERT_EQ(expired.size(), deadlines.size());
  EXPECT_TRUE(std::is_sorted(expired.begin(), expired.end(), [](const auto& a, const auto& b) {
    return a.deadline != b.deadline ? a.deadline < b.deadline : a.sequence < b.sequence;
  }));
  EXPECT_EQ(wheel.size(), 1u);
  EXPECT_LE(wheel.next_wake(), 10'000'000 + 1);
  wheel.advance(10'000'000, expired);
  EXPECT_TRUE(expired.empty());
  wheel.advance(10'000'001, expired);
  EXPECT_EQ(keys_of(expired), (std::vector<std::uint64_t>{99999}));
  EXPECT_EQ(wheel.size(), 0u);
}

// Drives the wheel the way a worker does (sleep until next_wake(), then advance) and checks that
// the wake is never after the earliest pending deadline, that every entry fires exactly once and
// that the loop always makes progress (no busy spin on a wake that expires nothing).
TEST(timer_wheel, next_wake_is_never_late_and_always_makes_progress) {
  for (const std::size_t slots : {8u, 64u, 4096u}) {
    timer_wheel wheel(1000, 10, slots);
    std::mt19937_64 gen(slots);
    std::multiset<time_ms> pending;
    for (int i = 0; i < 500; ++i) {
      const time_ms d = 1000 + static_cast<time_ms>(gen() % 5000);
      pending.insert(d);
      wheel.schedule(d, 1, static_cast<std::uint64_t>(i), 0);
    }
    std::vector<timer_wheel::entry> expired;
    time_ms now = 1000;
    int idle_wakes = 0;
    int wakes = 0;
    while (!pending.empty()) {
      ASSERT_LT(++wakes, 100000) << "slots " << slots;
      const time_ms wake = wheel.next_wake();
      ASSERT_GE(wake, 0);
      ASSERT_LE(wake, *pending.begin()) << "late wake, slots " << slots;
      now = std::max(now, wake);
      wheel.advance(now, expired);
      for (const auto& e : expired) {
        ASSERT_LE(e.deadline, now);
        auto it = pending.find(e.deadline);
        ASSERT_NE(it, pending.end());
        pending.erase(it);
      }
      if (expired.empty()) {
        // An early wake is allowed, but it must move the wheel forward.
        ++idle_wakes;
        ASSERT_GT(wheel.next_wake(), now) << "spin at " << now << ", slots " << slots;
      }
      ASSERT_EQ(wheel.size(), pending.size());
    }
    EXPECT_EQ(wheel.next_wake(), -1);
    EXPECT_LT(idle_wakes, 1000);
  }
}

// next_wake() keeps its answer between calls; scheduling and expiring must keep it right.
TEST(timer_wheel, next_wake_follows_schedules_made_after_it_was_asked) {
  timer_wheel wheel(0, 10, 16);
  wheel.schedule(5000, 1, 1, 0);      // many revolutions away
  EXPECT_EQ(wheel.next_wake(), 160);  // one revolution ahead: early, never late
  wheel.schedule(75, 1, 2, 0);
  EXPECT_EQ(wheel.next_wake(), 75);
  wheel.schedule(42, 1, 3, 0);
  EXPECT_EQ(wheel.next_wake(), 42);
  std::vector<timer_wheel::entry> expired;
  wheel.advance(42, expired);
  EXPECT_EQ(keys_of(expired), (std::vector<std::uint64_t>{3}));
  EXPECT_EQ(wheel.next_wake(), 75);
  wheel.advance(75, expired);
  EXPECT_EQ(keys_of(expired), (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(wheel.next_wake(), 70 + 160);
  wheel.advance(230, expired);  // the early wake comes: nothing due, the next one moves on
  EXPECT_TRUE(expired.empty());
  EXPECT_GT(wheel.next_wake(), 230);
  EXPECT_LE(wheel.next_wake(), 5000);
  wheel.schedule(100, 1, 4, 0);  // already past: due at once
  EXPECT_LE(wheel.next_wake(), 230);
  wheel.advance(230, expired);
  EXPECT_EQ(keys_of(expired), (std::vector<std::uint64_t>{4}));
}

TEST(timer_wheel, size_counts_scheduled_minus_expired) {
  timer_wheel wheel(0, 10, 32);
  std::vector<timer_wheel::entry> expired;
  for (int i = 0; i < 100; ++i) {
    wheel.schedule(i * 10, 1, static_cast<std::uint64_t>(i), 0);
  }
  EXPECT_EQ(wheel.size(), 100u);
  wheel.advance(495, expired);
  EXPECT_EQ(expired.size(), 50u);
  EXPECT_EQ(wheel.size(), 50u);
  // Same owner and key twice (a re-arm): both entries stay until due; the owner's generation
  // tells the stale one apart.
  wheel.schedule(600, 9, 1, 1);
  wheel.schedule(600, 9, 1, 2);
  EXPECT_EQ(wheel.size(), 52u);
  wheel.advance(2000, expired);
  EXPECT_EQ(expired.size(), 52u);
  EXPECT_EQ(wheel.size(), 0u);
}

TEST(timer_wheel, entries_keep_owner_key_and_generation) {
  timer_wheel wheel(0);
  wheel.schedule(20, 11, 22, 33);
  std::vector<timer_wheel::entry> expired;
  wheel.advance(20, expired);
  ASSERT_EQ(expired.size(), 1u);
  EXPECT_EQ(expired[0].deadline, 20);
  EXPECT_EQ(expired[0].owner, 11u);
  EXPECT_EQ(expired[0].key, 22u);
  EXPECT_EQ(expired[0].generation, 33u);
}

}  // namespace
}  // namespace partyd
