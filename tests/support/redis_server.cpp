#include "support/redis_server.hpp"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <functional>
#include <set>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/write.hpp>

namespace partyd::testing {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using namespace std::chrono_literals;

namespace {

// Binds port 0, reads the port the kernel chose, closes. Another process could take it before
// redis-server binds it; on loopback in a test run that race is negligible (start() would fail
// loudly rather than talk to a stranger: it checks that its own child is alive).
int free_loopback_port() {
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

// Reads a "\r\n"-terminated line at `pos`; nullopt when the input ends first.
std::optional<std::string_view> read_line(std::string_view input, std::size_t& pos) {
  const std::size_t end = input.find("\r\n", pos);
  if (end == std::string_view::npos) {
    return std::nullopt;
  }
  const std::string_view line = input.substr(pos, end - pos);
  pos = end + 2;
  return line;
}

bool to_integer(std::string_view text, long long& out) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out);
  return ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

bool redis_server_available() { return ::access(redis_server_binary, X_OK) == 0; }

std::optional<resp_value> parse_resp(std::string_view input, std::size_t& pos, bool& malformed) {
  malformed = false;
  std::size_t at = pos;
  if (at >= input.size()) {
    return std::nullopt;
  }
  const char marker = input[at++];
  const auto line = read_line(input, at);
  if (!line) {
    return std::nullopt;
  }
  resp_value value;
  switch (marker) {
    case '+':
      value.type = resp_value::kind::simple;
      value.text = std::string(*line);
      break;
    case '-':
      value.type = resp_value::kind::error;
      value.text = std::string(*line);
      break;
    case ':':
      value.type = resp_value::kind::integer;
      if (!to_integer(*line, value.integer)) {
        malformed = true;
        return std::nullopt;
      }
      break;
    case '$': {
      long long length = 0;
      if (!to_integer(*line, length) || length < -1) {
        malformed = true;
        return std::nullopt;
      }
      if (length == -1) {
        value.type = resp_value::kind::nil;
        break;
      }
      const auto size = static_cast<std::size_t>(length);
      if (input.size() < at + size + 2) {
        return std::nullopt;
      }
      value.type = resp_value::kind::bulk;
      value.text = std::string(input.substr(at, size));
      at += size + 2;
      break;
    }
    case '*': {
      long long count = 0;
      if (!to_integer(*line, count) || count < -1) {
        malformed = true;
        return std::nullopt;
      }
      if (count == -1) {
        value.type = resp_value::kind::nil;
        break;
      }
      value.type = resp_value::kind::array;
      for (long long i = 0; i < count; ++i) {
        auto element = parse_resp(input, at, malformed);
        if (!element) {
          return std::nullopt;
        }
        value.elements.push_back(std::move(*element));
      }
      break;
    }
    default:
      malformed = true;
      return std::nullopt;
  }
  pos = at;
  return value;
}

std::string encode_resp_command(const std::vector<std::string>& args) {
  // Appends only: GCC 12 warns (-Wrestrict, a false positive) on "literal" + std::string.
  std::string out;
  out.push_back('*');
  out.append(std::to_string(args.size())).append("\r\n");
  for (const std::string& arg : args) {
    out.push_back('$');
    out.append(std::to_string(arg.size())).append("\r\n").append(arg).append("\r\n");
  }
  return out;
}

redis_server::~redis_server() { kill(); }

std::string redis_server::url() const { return "redis://127.0.0.1:" + std::to_string(port_); }

std::string redis_server::url(std::string_view userinfo, int db) const {
  return "redis://" + std::string(userinfo) + "127.0.0.1:" + std::to_string(port_) + "/" +
         std::to_string(db);
}

bool redis_server::start(redis_server_options options, std::chrono::milliseconds timeout) {
  options_ = std::move(options);
  return start(timeout);
}

void redis_server::pause() {
  if (pid_ > 0) {
    ::kill(pid_, SIGSTOP);
  }
}

void redis_server::resume() {
  if (pid_ > 0) {
    ::kill(pid_, SIGCONT);
  }
}

bool redis_server::start(std::chrono::milliseconds timeout) {
  if (pid_ > 0) {
    return true;
  }
  if (port_ == 0) {
    port_ = free_loopback_port();
    if (port_ <= 0) {
      ADD_FAILURE() << "no free loopback port for redis-server";
      port_ = 0;
      return false;
    }
  }
  std::vector<std::string> args = {redis_server_binary,
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
  if (!options_.password.empty()) {
    args.push_back("--requirepass");
    args.push_back(options_.password);
  }
  args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
  std::vector<char*> argv;
  for (std::string& arg : args) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);

  // fork + exec rather than posix_spawn: the child asks to be killed when this test process
  // dies, so a crashing test never leaves a redis-server behind. Between fork and exec only
  // async-signal-safe calls.
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return false;
  }
  if (child == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (::getppid() != parent) {
      ::_exit(127);
    }
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) {
      ::dup2(null_fd, STDOUT_FILENO);
    }
    ::execv(redis_server_binary, argv.data());
    ::_exit(127);
  }
  pid_ = child;

  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE() << "redis-server exited while starting on port " << port_ << " (status "
                    << status << ")";
      return false;
    }
    if (ping()) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "redis-server did not answer PING on port " << port_ << " within "
                    << timeout.count() << " ms";
      kill();
      return false;
    }
    std::this_thread::sleep_for(10ms);
  }
}

void redis_server::kill() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGCONT);  // in case a test paused it
  ::kill(pid_, SIGKILL);
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  for (;;) {
    const pid_t reaped = ::waitpid(pid_, nullptr, WNOHANG);
    if (reaped == pid_ || (reaped < 0 && errno != EINTR)) {
      break;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "redis-server (pid " << pid_ << ") did not die within 5 s of SIGKILL";
      break;
    }
    std::this_thread::sleep_for(2ms);
  }
  pid_ = -1;
}

std::optional<resp_value> redis_server::command(const std::vector<std::string>& args,
                                                std::chrono::milliseconds timeout) const {
  if (port_ == 0) {
    return std::nullopt;
  }
  net::io_context ioc;
  tcp::socket socket(ioc);
  // With a password, AUTH goes first on the same connection; the caller gets the second reply.
  std::string request;
  std::size_t replies_wanted = 1;
  if (!options_.password.empty()) {
    request = encode_resp_command({"AUTH", options_.password});
    replies_wanted = 2;
  }
  request += encode_resp_command(args);
  std::string received;
  std::array<char, 16384> chunk{};
  std::optional<resp_value> reply;
  bool failed = false;

  std::function<void()> read_more = [&] {
    socket.async_read_some(net::buffer(chunk), [&](boost::system::error_code ec, std::size_t n) {
      if (ec) {
        failed = true;
        return;
      }
      received.append(chunk.data(), n);
      std::size_t pos = 0;
      bool malformed = false;
      for (std::size_t got = 0; got < replies_wanted; ++got) {
        reply = parse_resp(received, pos, malformed);
        if (!reply) {
          break;
        }
      }
      if (malformed) {
        failed = true;
        return;
      }
      if (!reply) {
        read_more();
      }
    });
  };
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"),
                               static_cast<unsigned short>(port_));
  socket.async_connect(endpoint, [&](boost::system::error_code ec) {
    if (ec) {
      failed = true;
      return;
    }
    net::async_write(socket, net::buffer(request), [&](boost::system::error_code wec, std::size_t) {
      if (wec) {
        failed = true;
        return;
      }
      read_more();
    });
  });
  ioc.run_for(timeout);
  // Cancel whatever is still pending and let the aborted handlers run before the locals go.
  boost::system::error_code ignored;
  socket.close(ignored);
  ioc.restart();
  ioc.run_for(100ms);
  if (failed) {
    return std::nullopt;
  }
  return reply;
}

bool redis_server::ping() const {
  const auto reply = command({"PING"}, 500ms);
  return reply && reply->type == resp_value::kind::simple && reply->text == "PONG";
}

std::optional<std::string> redis_server::get(const std::string& key) const {
  auto reply = command({"GET", key});
  if (!reply || reply->type != resp_value::kind::bulk) {
    return std::nullopt;
  }
  return std::move(reply->text);
}

std::optional<long long> redis_server::ttl(const std::string& key) const {
  const auto reply = command({"TTL", key});
  if (!reply || reply->type != resp_value::kind::integer) {
    return std::nullopt;
  }
  return reply->integer;
}

bool redis_server::set(const std::string& key, const std::string& value) const {
  const auto reply = command({"SET", key, value});
  return reply && reply->type == resp_value::kind::simple && reply->text == "OK";
}

std::optional<long long> redis_server::dbsize() const {
  const auto reply = command({"DBSIZE"});
  if (!reply || reply->type != resp_value::kind::integer) {
    return std::nullopt;
  }
  return reply->integer;
}

std::optional<std::vector<std::string>> redis_server::scan(const std::string& pattern) const {
  std::set<std::string> keys;
  std::string cursor = "0";
  do {
    const auto page = command({"SCAN", cursor, "MATCH", pattern, "COUNT", "1000"});
    if (!page || page->type != resp_value::kind::array || page->elements.size() != 2 ||
        page->elements[0].type != resp_value::kind::bulk ||
        page->elements[1].type != resp_value::kind::array) {
      return std::nullopt;
    }
    cursor = page->elements[0].text;
    for (const resp_value& key : page->elements[1].elements) {
      if (key.type == resp_value::kind::bulk) {
        keys.insert(key.text);
      }
    }
  } while (cursor != "0");
  return std::vector<std::string>(keys.begin(), keys.end());
}

}  // namespace partyd::testing
