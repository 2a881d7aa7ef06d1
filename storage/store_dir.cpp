#include "storage/store_dir.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>

namespace partyd {

std::string errno_text(int err) { return std::strerror(err); }

void unique_fd::reset(int fd) {
  if (fd_ >= 0) {
    ::close(fd_);
  }
  fd_ = fd;
}

int write_all(int fd, iovec* iov, int count) {
  while (count > 0) {
    const ssize_t n = ::writev(fd, iov, count);
    if (n < 0) {
      if (errno == EINTR) {
        continue;
      }
      return errno;
    }
    auto left = static_cast<std::size_t>(n);
    while (count > 0 && left >= iov->iov_len) {
      left -= iov->iov_len;
      ++iov;
      --count;
    }
    if (count > 0) {
      iov->iov_base = static_cast<char*>(iov->iov_base) + left;
      iov->iov_len -= left;
    }
  }
  return 0;
}

std::string read_whole_file(const std::string& path, std::size_t bytes_max, std::string& out) {
  const unique_fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK));
  if (fd.get() < 0) {
    return errno == ELOOP ? "a symbolic link (not followed)" : "open: " + errno_text(errno);
  }
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) {
    return "fstat: " + errno_text(errno);
  }
  if (S_ISDIR(st.st_mode)) {
    return "a directory";
  }
  if (!S_ISREG(st.st_mode)) {
    return "not a regular file";
  }
  if (static_cast<std::uint64_t>(st.st_size) > bytes_max) {
    return "larger than " + std::to_string(bytes_max) + " bytes";
  }
  out.resize(static_cast<std::size_t>(st.st_size));
  std::size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::read(fd.get(), out.data() + done, out.size() - done);
    if (n < 0 && errno == EINTR) {
      continue;
    }
    if (n < 0) {
      return "read: " + errno_text(errno);
    }
    if (n == 0) {
      return "shrank while being read";
    }
    done += static_cast<std::size_t>(n);
  }
  return {};
}

store_result store_dir::ensure() {
  struct stat st {};
  if (::stat(path_.c_str(), &st) == 0) {
    if (!S_ISDIR(st.st_mode)) {
      return store_failure(describe() + ": not a directory");
    }
    return {};
  }
  // Parents get the default mode; the store directory itself is private to this user.
  const std::filesystem::path parent = std::filesystem::path(path_).parent_path();
  if (!parent.empty()) {
    std::error_code ec;
    std::filesystem::create_directories(parent, ec);
    if (ec) {
      return store_failure(describe() + ": create " + parent.string() + ": " + ec.message());
    }
  }
  if (::mkdir(path_.c_str(), 0700) != 0 && errno != EEXIST) {
    return store_failure(describe() + ": mkdir: " + errno_text(errno));
  }
  return {};
}

store_result store_dir::sync() {
  const unique_fd fd(::open(path_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (fd.get() < 0) {
    return store_failure(describe() + ": open directory: " + errno_text(errno));
  }
  if (::fsync(fd.get()) != 0) {
    return store_failure(describe() + ": fsync directory: " + errno_text(errno));
  }
  return {};
}

store_result store_dir::writable() {
  if (store_result r = ensure(); !r.ok) {
    return r;
  }
  if (::access(path_.c_str(), W_OK | X_OK) != 0) {
    return store_failure(describe() + ": not writable: " + errno_text(errno));
  }
  return {};
}

store_result store_dir::check_intact(std::string& lost) {
  lost.clear();
  const std::string marker = path_ + "/" + std::string(marker_name);
  if (marked_) {
    struct stat dir_st {};
    struct stat st {};
    if (::stat(path_.c_str(), &dir_st) != 0) {
      if (errno != ENOENT) {
        return store_failure(describe() + ": stat: " + errno_text(errno));
      }
      lost = "the store directory was deleted";
    } else if (dir_st.st_dev != dev_ || dir_st.st_ino != ino_) {
      lost = "the store directory was replaced";
    } else if (::lstat(marker.c_str(), &st) != 0) {
      if (errno != ENOENT) {
        return store_failure(describe() + ": stat " + marker + ": " + errno_text(errno));
      }
      lost = "the marker file is gone: the store directory was emptied";
    } else {
      return {};
    }
  }
  if (store_result r = ensure(); !r.ok) {
    return r;
  }
  // An empty file: it needs no data block, so even a full disk usually takes it.
  const unique_fd fd(::open(marker.c_str(), O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (fd.get() < 0) {
    return store_failure(describe() + ": create " + marker + ": " + errno_text(errno));
  }
  if (store_result r = sync(); !r.ok) {
    return r;
  }
  struct stat dir_st {};
  if (::stat(path_.c_str(), &dir_st) != 0) {
    return store_failure(describe() + ": stat: " + errno_text(errno));
  }
  // Only now: a check that failed half-way reports the loss again on the next call.
  dev_ = dir_st.st_dev;
  ino_ = dir_st.st_ino;
  marked_ = true;
  return {};
}

}  // namespace partyd
