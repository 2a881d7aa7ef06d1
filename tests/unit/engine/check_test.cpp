// PARTYD_CHECK stays on in every build: the unit tests run in Release in CI, so this also shows
// that NDEBUG does not remove it.
#include "engine/check.hpp"

#include <gtest/gtest.h>

namespace partyd {
namespace {

int checked_divide(int a, int b) {
  PARTYD_CHECK(b != 0);
  return a / b;
}

TEST(CheckDeathTest, AFailedInvariantLogsAndAborts) {
  GTEST_FLAG_SET(death_test_style, "threadsafe");
  EXPECT_DEATH(checked_divide(1, 0), "invariant_failed.*b != 0");
}

TEST(Check, APassingInvariantCostsNothingVisible) { EXPECT_EQ(checked_divide(6, 3), 2); }

}  // namespace
}  // namespace partyd
