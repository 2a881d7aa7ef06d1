#include "support/test_server.hpp"

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include <gtest/gtest.h>
#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http.hpp>
#include <boost/json.hpp>

extern char** environ;

namespace partyd::testing {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;

std::string relay_path() {
  if (const char* path = std::getenv("PARTYD_IT_RELAY_PATH"); path && *path) {
    return path;
  }
  return "/ws/relay";
}

void sleep_briefly() { std::this_thread::sleep_for(5ms); }

json::value http_result::json() const {
  boost::system::error_code ec;
  json::value parsed = json::parse(body, ec);
  return ec ? json::value() : parsed;
}

namespace {

// "--name" of an argument "--name" or "--name=value"; empty for values.
std::string flag_name(const std::string& arg) {
  if (arg.rfind("--", 0) != 0) {
    return {};
  }
  return arg.substr(0, arg.find('='));
}

int decode_status(int status) {
  if (WIFEXITED(status)) {
    return WEXITSTATUS(status);
  }
  if (WIFSIGNALED(status)) {
    return 128 + WTERMSIG(status);
  }
  return -1;
}

}  // namespace

test_server::test_server(std::vector<std::string> extra_args,
                         std::chrono::milliseconds start_timeout)
    : test_server(server_binary{PARTYD_BINARY}, std::move(extra_args), start_timeout) {}

test_server::test_server(server_binary binary, std::vector<std::string> extra_args,
                         std::chrono::milliseconds start_timeout) {
  char dir_template[] = "/tmp/partyd-it-XXXXXX";
  if (!::mkdtemp(dir_template)) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return;
  }
  dir_ = dir_template;
  port_file_ = dir_ + "/port";
  log_file_ = dir_ + "/partyd.log";

  std::vector<std::pair<std::string, std::string>> defaults = {
      {"--port", "0"},
      {"--port-file", port_file_},
      {"--admin-token", std::string(admin_token)},
      {"--log-level", "warn"},
      {"--bind", "127.0.0.1"},
      {"--store", "file:" + dir_ + "/data"},  // the embedded default store, private to this server
  };
  std::vector<std::string> args = {binary.path};
  for (const auto& [flag, value] : defaults) {
    bool overridden = false;
    for (const auto& extra : extra_args) {
      overridden = overridden || flag_name(extra) == flag;
    }
    if (!overridden) {
      args.push_back(flag);
      args.push_back(value);
    }
  }
  args.insert(args.end(), extra_args.begin(), extra_args.end());
  if (!spawn(args)) {
    return;
  }
  if (!wait_ready(start_timeout)) {
    port_ = 0;
    stop(2s);
  }
}

test_server::~test_server() {
  if (!stopped_ && pid_ > 0) {
    if (auto status = reap(false)) {
      ADD_FAILURE() << "partyd (pid " << pid_ << ") exited by itself during the test with status "
                    << *status << (*status > 128 ? " (killed by a signal: crash?)" : "");
    }
  }
  if (pid_ > 0 && !exit_status_) {
    ::kill(pid_, SIGKILL);
    reap(true);
  }
  if (::testing::Test::HasFailure() && !log_file_.empty()) {
    std::cerr << "---- partyd log (" << log_file_ << ") ----\n"
              << log() << "---- end of partyd log ----\n";
  }
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

bool test_server::spawn(const std::vector<std::string>& args) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log_file_.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);

  std::vector<char*> argv;
  for (const auto& arg : args) {
    argv.push_back(const_cast<char*>(arg.c_str()));
  }
  argv.push_back(nullptr);
  // The child sees our environment minus PARTYD_* settings, so the test fixes every flag.
  std::vector<char*> envp;
  for (char** env = environ; *env; ++env) {
    if (std::strncmp(*env, "PARTYD_", 7) != 0) {
      envp.push_back(*env);
    }
  }
  envp.push_back(nullptr);

  const int rc =
      ::posix_spawn(&pid_, args.front().c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) {
    pid_ = -1;
    ADD_FAILURE() << "posix_spawn " << args.front() << ": " << std::strerror(rc);
    return false;
  }
  return true;
}

std::optional<int> test_server::reap(bool block) {
  if (exit_status_) {
    return exit_status_;
  }
  if (pid_ <= 0) {
    return std::nullopt;
  }
  int status = 0;
  pid_t r;
  do {
    r = ::waitpid(pid_, &status, block ? 0 : WNOHANG);
  } while (r < 0 && errno == EINTR);
  if (r == pid_) {
    exit_status_ = decode_status(status);
  }
  return exit_status_;
}

bool test_server::running() { return pid_ > 0 && !reap(false); }

bool test_server::wait_ready(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // 1. The port file: written once the listener is bound. A complete file ends with '\n'.
  while (port_ == 0) {
    std::ifstream in(port_file_);
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (!content.empty() && content.back() == '\n') {
      const int port = std::atoi(content.c_str());
      if (port <= 0 || port > 65535) {
        ADD_FAILURE() << "bad port file content: " << content;
        return false;
      }
      port_ = static_cast<std::uint16_t>(port);
      break;
    }
    if (auto status = reap(false)) {
      ADD_FAILURE() << "partyd exited with status " << *status << " before listening";
      return false;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "partyd wrote no port file within " << timeout.count() << " ms";
      return false;
    }
    sleep_briefly();
  }
  // 2. GET /ready = 200.
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left <= 0ms) {
      ADD_FAILURE() << "partyd did not answer GET /ready with 200 within " << timeout.count()
                    << " ms";
      return false;
    }
    if (http("GET", "/ready", {}, std::nullopt, std::min<std::chrono::milliseconds>(left, 2s))
            .status == 200) {
      return true;
    }
    if (auto status = reap(false)) {
      ADD_FAILURE() << "partyd exited with status " << *status << " while starting";
      return false;
    }
    sleep_briefly();
  }
}

void test_server::signal(int signal_number) {
  stopped_ = true;  // an exit from now on is expected
  if (pid_ > 0 && !exit_status_) {
    ::kill(pid_, signal_number);
  }
}

std::optional<int> test_server::wait_exit(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    if (auto status = reap(false)) {
      return status;
    }
    if (pid_ <= 0 || std::chrono::steady_clock::now() >= deadline) {
      return std::nullopt;
    }
    sleep_briefly();
  }
}

int test_server::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) {
    return -1;
  }
  signal(SIGTERM);
  if (auto status = wait_exit(timeout)) {
    return *status;
  }
  ADD_FAILURE() << "partyd did not exit within " << timeout.count() << " ms of SIGTERM; killing it";
  ::kill(pid_, SIGKILL);
  return reap(true).value_or(-1);
}

std::string test_server::log() const {
  std::ifstream in(log_file_);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

std::vector<json::object> test_server::log_events(std::string_view event) const {
  std::vector<json::object> found;
  std::istringstream lines(log());
  std::string line;
  while (std::getline(lines, line)) {
    boost::system::error_code ec;
    json::value parsed = json::parse(line, ec);
    if (ec || !parsed.is_object()) {
      continue;
    }
    const json::value* name = parsed.as_object().if_contains("event");
    if (name != nullptr && name->is_string() && name->get_string() == event) {
      found.push_back(std::move(parsed.as_object()));
    }
  }
  return found;
}

std::optional<json::object> test_server::wait_log_event(
    std::string_view event, const std::function<bool(const json::object&)>& match,
    std::chrono::milliseconds timeout) const {
  std::optional<json::object> hit;
  eventually(
      [&] {
        for (json::object& line : log_events(event)) {
          if (!match || match(line)) {
            hit = std::move(line);
            return true;
          }
        }
        return false;
      },
      timeout);
  return hit;
}

http_result http_request(std::uint16_t port, std::string_view method, std::string_view path,
                         std::string_view body,
                         const std::vector<std::pair<std::string, std::string>>& headers,
                         std::chrono::milliseconds timeout) {
  http_result result;
  net::io_context ioc;
  beast::tcp_stream stream(ioc);
  beast::flat_buffer buffer;
  http::request<http::string_body> request{http::string_to_verb(method), std::string(path), 11};
  request.set(http::field::host, "127.0.0.1");
  for (const auto& [name, value] : headers) {
    request.set(name, value);
  }
  if (request[http::field::connection].empty()) {
    request.set(http::field::connection, "close");
  }
  if (!body.empty()) {
    request.set(http::field::content_type, "application/json");
    request.body() = std::string(body);
  }
  request.prepare_payload();
  http::response_parser<http::string_body> parser;
  parser.body_limit(64 * 1024 * 1024);
  std::string failure;

  // connect -> write -> read, all under one deadline (tcp_stream timeouts apply to async ops).
  stream.expires_after(timeout);
  const tcp::endpoint endpoint(net::ip::make_address("127.0.0.1"), port);
  stream.async_connect(endpoint, [&](beast::error_code ec) {
    if (ec) {
      failure = "connect: " + ec.message();
      return;
    }
    http::async_write(stream, request, [&](beast::error_code wec, std::size_t) {
      if (wec) {
        failure = "write: " + wec.message();
        return;
      }
      http::async_read(stream, buffer, parser, [&](beast::error_code rec, std::size_t) {
        if (rec) {
          failure = "read: " + rec.message();
        }
      });
    });
  });
  ioc.run_for(timeout + 1s);
  if (!ioc.stopped()) {
    failure = "timeout";
    beast::error_code ignored;
    stream.socket().close(ignored);
    ioc.restart();
    ioc.run_for(1s);
  }
  if (!failure.empty()) {
    result.body = failure;
    return result;
  }
  auto response = parser.release();
  result.status = static_cast<int>(response.result_int());
  result.body = std::move(response.body());
  return result;
}

http_result test_server::http(std::string_view method, std::string_view path, std::string_view body,
                              std::optional<std::string_view> token,
                              std::chrono::milliseconds timeout) const {
  if (port_ == 0) {
    http_result result;
    result.body = "server not started";
    return result;
  }
  std::vector<std::pair<std::string, std::string>> headers;
  if (token) {
    headers.emplace_back("Authorization", "Bearer " + std::string(*token));
  }
  return http_request(port_, method, path, body, headers, timeout);
}

json::object test_server::create_relay_room(const json::object& options) const {
  const auto reply = http("POST", "/api/rooms", json::serialize(options));
  EXPECT_EQ(reply.status, 201) << "POST /api/rooms " << json::serialize(options) << ": "
                               << reply.body;
  const json::value parsed = reply.json();
  if (reply.status != 201 || !parsed.is_object()) {
    return {};
  }
  return parsed.as_object();
}

std::string test_server::metrics_text() const {
  const auto reply = http("GET", "/metrics", {}, std::nullopt);
  EXPECT_EQ(reply.status, 200) << reply.body;
  return reply.status == 200 ? reply.body : std::string();
}

std::optional<double> test_server::metric(std::string_view series) const {
  return find_metric(metrics_text(), series);
}

std::optional<double> test_server::wait_metric(std::string_view series,
                                               const std::function<bool(double)>& done,
                                               std::chrono::milliseconds timeout) const {
  std::optional<double> last;
  eventually(
      [&] {
        last = metric(series);
        return last && done(*last);
      },
      timeout);
  return last;
}

std::optional<double> test_server::wait_metric_at_least(std::string_view series, double at_least,
                                                        std::chrono::milliseconds timeout) const {
  return wait_metric(
      series, [at_least](double v) { return v >= at_least; }, timeout);
}

std::optional<double> test_server::wait_metric_at_most(std::string_view series, double at_most,
                                                       std::chrono::milliseconds timeout) const {
  return wait_metric(
      series, [at_most](double v) { return v <= at_most; }, timeout);
}

std::optional<double> find_metric(std::string_view text, std::string_view series) {
  std::size_t pos = 0;
  while (pos < text.size()) {
    std::size_t end = text.find('\n', pos);
    if (end == std::string_view::npos) {
      end = text.size();
    }
    const std::string_view line = text.substr(pos, end - pos);
    pos = end + 1;
    if (line.size() > series.size() && line.substr(0, series.size()) == series &&
        line[series.size()] == ' ') {
      return std::strtod(std::string(line.substr(series.size() + 1)).c_str(), nullptr);
    }
  }
  return std::nullopt;
}

std::pair<int, std::string> run_command(const std::string& command) {
  FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
  if (pipe == nullptr) return {-1, "popen failed"};
  std::string output;
  char chunk[4096];
  while (const std::size_t n = std::fread(chunk, 1, sizeof chunk, pipe)) output.append(chunk, n);
  const int status = ::pclose(pipe);
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, output};
}

}  // namespace partyd::testing
