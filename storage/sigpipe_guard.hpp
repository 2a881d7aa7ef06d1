// Keeps SIGPIPE from killing the process while the current thread writes to a socket with
// write(2) (hiredis does, without MSG_NOSIGNAL). Blocks SIGPIPE in this thread for the guard's
// scope, then discards any SIGPIPE that became pending. The process-wide disposition is untouched.
// Thread: the calling thread only; an instance must not outlive its scope or change threads.
#pragma once

#include <pthread.h>
#include <signal.h>

#include <cerrno>
#include <ctime>

namespace partyd {

class sigpipe_guard {
 public:
  sigpipe_guard() {
    sigemptyset(&pipe_set_);
    sigaddset(&pipe_set_, SIGPIPE);
    sigemptyset(&old_mask_);
    // A SIGPIPE already pending before the guard is someone else's; leave it alone.
    sigset_t pending;
    sigemptyset(&pending);
    sigpending(&pending);
    was_pending_ = sigismember(&pending, SIGPIPE) == 1;
    pthread_sigmask(SIG_BLOCK, &pipe_set_, &old_mask_);
  }

  ~sigpipe_guard() {
    if (!was_pending_) {
      sigset_t pending;
      sigemptyset(&pending);
      sigpending(&pending);
      if (sigismember(&pending, SIGPIPE) == 1) {
        // SIGPIPE from write(2) is thread-directed: this consumes the one our writes raised.
        const timespec zero{0, 0};
        while (sigtimedwait(&pipe_set_, nullptr, &zero) == -1 && errno == EINTR) {
        }
      }
    }
    pthread_sigmask(SIG_SETMASK, &old_mask_, nullptr);
  }

  sigpipe_guard(const sigpipe_guard&) = delete;
  sigpipe_guard& operator=(const sigpipe_guard&) = delete;

 private:
  sigset_t pipe_set_;
  sigset_t old_mask_;
  bool was_pending_ = false;
};

}  // namespace partyd
