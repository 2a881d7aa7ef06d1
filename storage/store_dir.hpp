// What the embedded stores share: the store directory (created private, synced, checked for a
// loss through a marker file) and small POSIX helpers for their files.
// Thread: like the stores, one thread at a time.
#pragma once

#include <sys/types.h>
#include <sys/uio.h>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>

#include "storage/snapshot_store.hpp"

namespace partyd {

std::string errno_text(int err);
inline store_result store_failure(std::string message) {
  return store_result{false, std::move(message)};
}

// Closes on scope exit; close errors on a write path are checked explicitly before this runs.
class unique_fd {
 public:
  unique_fd() = default;
  explicit unique_fd(int fd) : fd_(fd) {}
  ~unique_fd() { reset(); }
  unique_fd(const unique_fd&) = delete;
  unique_fd& operator=(const unique_fd&) = delete;
  unique_fd(unique_fd&& other) noexcept : fd_(other.release()) {}
  unique_fd& operator=(unique_fd&& other) noexcept {
    if (this != &other) {
      reset(other.release());
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() { return std::exchange(fd_, -1); }
  void reset(int fd = -1);

 private:
  int fd_ = -1;
};

// Writes every byte of `iov` (retrying short writes and EINTR). Returns 0 or an errno.
int write_all(int fd, iovec* iov, int count);

// Reads the whole regular file at `path` into `out`. Returns why not when it cannot be opened or
// read, is not a regular file (a symbolic link is not followed) or is larger than `bytes_max`;
// empty on success.
std::string read_whole_file(const std::string& path, std::size_t bytes_max, std::string& out);

class store_dir {
 public:
  explicit store_dir(std::string path) : path_(std::move(path)) {}
  const std::string& path() const noexcept { return path_; }
  std::string describe() const { return "file:" + path_; }

  // Creates the directory (mode 0700; parents with the default mode) when it does not exist.
  store_result ensure();
  store_result sync();      // fsync of the directory: its renames and unlinks are durable
  store_result writable();  // exists (or can be created) and is writable: the stores' ping()
  // snapshot_store::check_intact through <dir>/.partyd-marker and the directory's device and
  // inode: `lost` says why when the marker is gone or the directory was deleted or replaced.
  store_result check_intact(std::string& lost);
  static constexpr std::string_view marker_name = ".partyd-marker";

 private:
  std::string path_;
  bool marked_ = false;  // check_intact() wrote the marker
  dev_t dev_ = 0;
  ino_t ino_ = 0;
};

}  // namespace partyd
