// Names the calling thread (as `top -H`, `ps -L`, perf and gdb show it), so that an operator can
// tell partyd's io threads, workers and snapshot writer apart. Linux keeps 15 characters.
// Thread: any; affects only the calling thread.
#pragma once

#include <pthread.h>

#include <string>

namespace partyd {

inline void name_this_thread(const std::string& name) {
  ::pthread_setname_np(::pthread_self(), name.substr(0, 15).c_str());
}

}  // namespace partyd
