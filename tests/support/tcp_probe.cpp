#include "support/tcp_probe.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>

namespace partyd::testing {

tcp_socket::~tcp_socket() { close(); }

tcp_socket::tcp_socket(tcp_socket&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }

tcp_socket& tcp_socket::operator=(tcp_socket&& other) noexcept {
  if (this != &other) {
    close();
    fd_ = other.fd_;
    other.fd_ = -1;
  }
  return *this;
}

bool tcp_socket::connect(std::uint16_t port, const std::string& source) {
  close();
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd_ < 0) {
    return false;
  }
  // The port is picked at connect, for the whole 4-tuple: a port bound early must be free of every
  // socket on the source address, TIME_WAIT ones of earlier tests included, and may run out.
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  local.sin_port = 0;
  if (::inet_pton(AF_INET, source.c_str(), &local.sin_addr) != 1 ||
      ::bind(fd_, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0) {
    close();
    return false;
  }
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0) {
    const int error = errno;
    std::fprintf(stderr, "tcp_socket: connect from %s: %s\n", source.c_str(), std::strerror(error));
    close();
    return false;
  }
  return true;
}

bool send_all(int fd, std::string_view bytes) {
  while (!bytes.empty()) {
    const ssize_t sent = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
    if (sent <= 0) {
      return false;
    }
    bytes.remove_prefix(static_cast<std::size_t>(sent));
  }
  return true;
}

bool tcp_socket::send_all(std::string_view bytes) { return partyd::testing::send_all(fd_, bytes); }

std::string tcp_socket::read_until(const std::function<bool(std::string_view)>& done,
                                   std::chrono::milliseconds timeout) {
  std::string received;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fd_ >= 0 && !done(received)) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      break;
    }
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) {
      break;
    }
    char buffer[64 * 1024];
    const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
    if (got <= 0) {
      break;
    }
    received.append(buffer, static_cast<std::size_t>(got));
  }
  return received;
}

bool tcp_socket::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (fd_ >= 0) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    pollfd ready{fd_, POLLIN, 0};
    if (::poll(&ready, 1, static_cast<int>(left.count())) <= 0) {
      return false;
    }
    char buffer[4096];
    if (::recv(fd_, buffer, sizeof buffer, 0) <= 0) {
      return true;  // EOF or reset
    }
  }
  return false;
}

bool tcp_socket::quiet_now() {
  if (fd_ < 0) {
    return false;
  }
  pollfd ready{fd_, POLLIN, 0};
  return ::poll(&ready, 1, 0) == 0;
}

bool tcp_socket::closed_now() {
  if (fd_ < 0) {
    return true;
  }
  pollfd ready{fd_, POLLIN, 0};
  if (::poll(&ready, 1, 0) <= 0) {
    return false;
  }
  char buffer[4096];
  const ssize_t got = ::recv(fd_, buffer, sizeof buffer, MSG_DONTWAIT);
  if (got < 0) {
    return errno != EAGAIN && errno != EWOULDBLOCK;  // a reset
  }
  return got == 0;  // EOF; bytes that arrived are dropped
}

void tcp_socket::close() {
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::optional<std::int64_t> status_kib(pid_t pid, std::string_view field) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  const std::string prefix = std::string(field) + ":";
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind(prefix, 0) == 0) {
      return std::atoll(line.c_str() + prefix.size());
    }
  }
  return std::nullopt;
}

std::size_t socket_descriptors(pid_t pid) {
  const std::string dir = "/proc/" + std::to_string(pid) + "/fd";
  DIR* listing = ::opendir(dir.c_str());
  if (listing == nullptr) {
    return 0;
  }
  std::size_t sockets = 0;
  while (const dirent* entry = ::readdir(listing)) {
    char target[256];
    const std::string path = dir + "/" + entry->d_name;
    const ssize_t n = ::readlink(path.c_str(), target, sizeof target - 1);
    if (n > 0 && std::string_view(target, static_cast<std::size_t>(n)).rfind("socket:", 0) == 0) {
      ++sockets;
    }
  }
  ::closedir(listing);
  return sockets;
}

std::string nofile_wrapper(const std::string& dir, const std::string& binary, int nofile) {
  const std::string path = dir + "/partyd-nofile-" + std::to_string(nofile) + ".sh";
  {
    std::ofstream script(path);
    script << "#!/bin/sh\nulimit -n " << nofile << " || exit 97\nexec '" << binary << "' \"$@\"\n";
    if (!script) {
      return {};
    }
  }
  if (::chmod(path.c_str(), 0755) != 0) {
    return {};
  }
  return path;
}

}  // namespace partyd::testing
