#include "engine/rng.hpp"

#include <gtest/gtest.h>

#include <set>
#include <vector>

namespace partyd {
namespace {

std::vector<std::uint64_t> draw(room_rng& rng, int n) {
  std::vector<std::uint64_t> out;
  for (int i = 0; i < n; ++i) out.push_back(rng.next());
  return out;
}

TEST(rng, same_seed_same_sequence) {
  room_rng a(42);
  room_rng b(42);
  room_rng c(43);
  const auto from_a = draw(a, 100);
  EXPECT_EQ(from_a, draw(b, 100));
  EXPECT_NE(from_a, draw(c, 100));
  EXPECT_EQ(a.seed(), 42u);
  EXPECT_EQ(a.draws(), 100u);
}

TEST(rng, at_reproduces_the_continuation) {
  room_rng original(7);
  for (int i = 0; i < 37; ++i) original.next();
  for (int i = 0; i < 20; ++i) original.below(6);  // below() may draw more than once
  room_rng restored = room_rng::at(original.seed(), original.draws());
  EXPECT_EQ(restored.seed(), 7u);
  EXPECT_EQ(restored.draws(), original.draws());
  EXPECT_EQ(draw(restored, 50), draw(original, 50));
  for (int i = 0; i < 50; ++i) {
    EXPECT_EQ(restored.below(1000), original.below(1000));
  }
  EXPECT_EQ(restored.draws(), original.draws());
}

TEST(rng, at_zero_draws_is_a_fresh_generator) {
  room_rng fresh(99);
  room_rng at = room_rng::at(99, 0);
  EXPECT_EQ(draw(at, 10), draw(fresh, 10));
}

TEST(rng, below_stays_in_bounds_and_counts_draws) {
  room_rng rng(1);
  for (const std::uint64_t bound : {1ull, 2ull, 3ull, 6ull, 1000ull, (1ull << 63) + 1}) {
    for (int i = 0; i < 1000; ++i) {
      ASSERT_LT(rng.below(bound), bound);
    }
  }
  EXPECT_GE(rng.draws(), 6000u);
  room_rng one(5);
  EXPECT_EQ(one.below(1), 0u);
}

TEST(rng, below_reaches_every_value) {
  room_rng rng(3);
  std::vector<int> counts(6, 0);
  for (int i = 0; i < 6000; ++i) ++counts[rng.below(6)];
  for (int n : counts) {
    EXPECT_GT(n, 800);
    EXPECT_LT(n, 1200);
  }
}

}  // namespace
}  // namespace partyd
