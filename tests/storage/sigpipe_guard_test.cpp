// The SIGPIPE guard the Redis store wraps around hiredis calls: a write to a closed socket must
// return EPIPE, not kill the process, and leave no SIGPIPE pending or blocked afterwards.
#include "storage/sigpipe_guard.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>

namespace partyd {
namespace {

bool sigpipe_pending() {
  sigset_t pending;
  sigemptyset(&pending);
  sigpending(&pending);
  return sigismember(&pending, SIGPIPE) == 1;
}

bool sigpipe_blocked() {
  sigset_t mask;
  sigemptyset(&mask);
  pthread_sigmask(SIG_BLOCK, nullptr, &mask);
  return sigismember(&mask, SIGPIPE) == 1;
}

TEST(SigpipeGuard, WriteToClosedSocketReturnsEpipeAndLeavesNoSignal) {
  ASSERT_EQ(signal(SIGPIPE, SIG_DFL) != SIG_ERR, true);  // the default kills: prove we survive
  int fds[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
  ::close(fds[1]);
  {
    const sigpipe_guard guard;
    EXPECT_TRUE(sigpipe_blocked());
    errno = 0;
    EXPECT_EQ(::write(fds[0], "x", 1), -1);  // plain write(2), as hiredis does
    EXPECT_EQ(errno, EPIPE);
    EXPECT_TRUE(sigpipe_pending());
  }
  EXPECT_FALSE(sigpipe_pending());
  EXPECT_FALSE(sigpipe_blocked());
  ::close(fds[0]);
}

}  // namespace
}  // namespace partyd
