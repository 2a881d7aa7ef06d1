// A throwaway redis-server for the storage tests: a child process on a free loopback port, with no
// persistence, started and stopped (or paused) by the test that owns it.
// Thread: the test's thread. Bounds: start waits at most 5 s for PING, stop at most 5 s.
#pragma once

#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

namespace partyd::testing {

inline constexpr const char* redis_server_path = "/usr/bin/redis-server";

inline bool redis_server_available() { return ::access(redis_server_path, X_OK) == 0; }

// Binds port 0, reads the port the kernel chose, closes. Another process could take it before
// redis-server binds it; on loopback in a test run that race is negligible.
inline int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

class redis_test_server {
 public:
  redis_test_server() = default;
  redis_test_server(const redis_test_server&) = delete;
  redis_test_server& operator=(const redis_test_server&) = delete;
  ~redis_test_server() { stop(); }

  // Starts on `port_` (a free one when 0). Returns false if it does not answer PING within 5 s.
  bool start(int port = 0, std::string password = {}, std::vector<std::string> extra_args = {}) {
    if (port != 0) {
      port_ = port;
    } else if (port_ == 0) {
      port_ = free_loopback_port();
    }
    password_ = std::move(password);
    std::vector<std::string> args = {redis_server_path,
                                     "--port",
                                     std::to_string(port_),
                                     "--bind",
                                     "127.0.0.1",
                                     "--save",
                                     "",
                                     "--appendonly",
                                     "no",
                                     "--daemonize",
                                     "no",
                                     "--dir",
                                     "/tmp",
                                     "--loglevel",
                                     "warning"};
    if (!password_.empty()) {
      args.push_back("--requirepass");
      args.push_back(password_);
    }
    args.insert(args.end(), extra_args.begin(), extra_args.end());
    std::vector<char*> argv;
    for (std::string& a : args) {
      argv.push_back(a.data());
    }
    argv.push_back(nullptr);

    // fork + exec rather than posix_spawn: the child asks to be killed when this test process
    // dies, so a crashing test never leaves a redis-server behind.
    const pid_t parent = ::getpid();
    pid_ = ::fork();
    if (pid_ < 0) {
      return false;
    }
    if (pid_ == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (::getppid() != parent) {
        ::_exit(127);
      }
      const int null_fd = ::open("/dev/null", O_WRONLY);
      if (null_fd >= 0) {
        ::dup2(null_fd, STDOUT_FILENO);
      }
      ::execv(redis_server_path, argv.data());
      ::_exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      if (answers_ping()) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    stop();
    return false;
  }

  void stop() {
    if (pid_ <= 0) {
      return;
    }
    ::kill(pid_, SIGCONT);  // in case a test paused it
    ::kill(pid_, SIGKILL);  // nothing to save: --save "" --appendonly no
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (::waitpid(pid_, nullptr, WNOHANG) == 0 && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    pid_ = -1;
  }

  void pause() { ::kill(pid_, SIGSTOP); }
  void resume() { ::kill(pid_, SIGCONT); }

  int port() const { return port_; }
  std::string url(const std::string& userinfo = {}, int db = 0) const {
    return "redis://" + userinfo + "127.0.0.1:" + std::to_string(port_) + "/" + std::to_string(db);
  }

  // A raw connection for checks behind the store's back; AUTHed and SELECTed. Caller frees it.
  redisContext* raw(int db = 0) const {
    const timeval tv{2, 0};
    redisContext* c = redisConnectWithTimeout("127.0.0.1", port_, tv);
    if (c == nullptr || c->err != 0) {
      if (c != nullptr) {
        redisFree(c);
      }
      return nullptr;
    }
    redisSetTimeout(c, tv);
    if (!password_.empty()) {
      discard(redisCommand(c, "AUTH %s", password_.c_str()));
    }
    if (db != 0) {
      discard(redisCommand(c, "SELECT %d", db));
    }
    return c;
  }

 private:
  static void discard(void* reply) {
    if (reply != nullptr) {
      freeReplyObject(reply);
    }
  }

  bool answers_ping() const {
    redisContext* c = raw();
    if (c == nullptr) {
      return false;
    }
    auto* reply = static_cast<redisReply*>(redisCommand(c, "PING"));
    const bool ok = reply != nullptr && reply->type == REDIS_REPLY_STATUS;
    discard(reply);
    redisFree(c);
    return ok;
  }

  pid_t pid_ = -1;
  int port_ = 0;
  std::string password_;
};

}  // namespace partyd::testing
