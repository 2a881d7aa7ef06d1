#include "support/postgres_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

namespace partyd::testing {

using namespace std::chrono_literals;

namespace {

// Appended in place: GCC 12 at -O1 takes `std::string(dir) + "/" + name` for an out-of-bounds copy
// (-Warray-bounds, a known false positive of its inlined basic_string move).
std::string binary(const char* name) {
  std::string path = postgres_bin_dir;
  path += '/';
  path += name;
  return path;
}

// Who initdb and postgres run as: the caller, or `postgres` when the caller is root.
struct identity {
  bool switch_user = false;
  uid_t uid = 0;
  gid_t gid = 0;
};

std::optional<identity> server_identity(std::string& error) {
  identity id;
  if (::geteuid() != 0) {
    return id;
  }
  const passwd* pw = ::getpwnam("postgres");
  if (pw == nullptr) {
    error =
        "running as root, initdb and postgres need the `postgres` user, which the postgresql "
        "package creates: run tools/setup-deps.sh";
    return std::nullopt;
  }
  id.switch_user = true;
  id.uid = pw->pw_uid;
  id.gid = pw->pw_gid;
  return id;
}

// As in redis_server: another process could take the port before postgres binds it; start()
// would then fail loudly (its own child exits), never talk to a stranger.
int free_loopback_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    return -1;
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  int port = -1;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
    port = ntohs(addr.sin_port);
  }
  ::close(fd);
  return port;
}

// fork + exec: the child switches user when asked, then asks to be killed when this process
// dies (after the switch: a credential change clears that request). Between fork and exec only
// async-signal-safe calls. `output_fd` becomes the child's stdout and stderr.
pid_t spawn(const std::vector<std::string>& args, const identity& as, int output_fd) {
  std::vector<std::string> copy = args;
  std::vector<char*> argv;
  for (std::string& arg : copy) {
    argv.push_back(arg.data());
  }
  argv.push_back(nullptr);
  const pid_t parent = ::getpid();
  const pid_t child = ::fork();
  if (child != 0) {
    return child;  // the child's pid, or -1
  }
  if (as.switch_user &&
      (::setgroups(0, nullptr) != 0 || ::setgid(as.gid) != 0 || ::setuid(as.uid) != 0)) {
    ::_exit(126);
  }
  ::prctl(PR_SET_PDEATHSIG, SIGKILL);
  if (::getppid() != parent) {
    ::_exit(127);
  }
  const int null_fd = ::open("/dev/null", O_RDONLY);
  if (null_fd >= 0) {
    ::dup2(null_fd, STDIN_FILENO);
  }
  if (output_fd >= 0) {
    ::dup2(output_fd, STDOUT_FILENO);
    ::dup2(output_fd, STDERR_FILENO);
  }
  ::execv(argv[0], argv.data());
  ::_exit(127);
}

// Waits for `pid` up to `timeout`; SIGKILL after it. The exit status, or -1.
int reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  bool killed = false;
  for (;;) {
    int status = 0;
    const pid_t r = ::waitpid(pid, &status, WNOHANG);
    if (r == pid) {
      return killed ? -1 : status;
    }
    if (r < 0 && errno != EINTR) {
      return -1;
    }
    if (!killed && std::chrono::steady_clock::now() >= deadline) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(2ms);
  }
}

struct run_result {
  bool ok = false;  // exited 0 within the timeout
  std::string output;
};

// Runs a program to its end (bounded), with its stdout and stderr collected.
run_result run(const std::vector<std::string>& args, const identity& as,
               std::chrono::milliseconds timeout) {
  run_result result;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) {
    result.output = std::string("pipe: ") + std::strerror(errno);
    return result;
  }
  const pid_t pid = spawn(args, as, fds[1]);
  ::close(fds[1]);
  if (pid < 0) {
    ::close(fds[0]);
    result.output = std::string("fork: ") + std::strerror(errno);
    return result;
  }
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  char buffer[4096];
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      result.output += "\n(timed out after " + std::to_string(timeout.count()) + " ms)";
      break;
    }
    pollfd p{fds[0], POLLIN, 0};
    const int n = ::poll(&p, 1, static_cast<int>(left.count()));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) continue;
    const ssize_t got = ::read(fds[0], buffer, sizeof buffer);
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) break;  // every writer closed: the program ended
    result.output.append(buffer, static_cast<std::size_t>(got));
  }
  ::close(fds[0]);
  const int status = reap(pid, std::chrono::duration_cast<std::chrono::milliseconds>(
                                   std::max(deadline - std::chrono::steady_clock::now(),
                                            std::chrono::steady_clock::duration(100ms))));
  result.ok = status >= 0 && WIFEXITED(status) && WEXITSTATUS(status) == 0;
  return result;
}

}  // namespace

std::string postgres_missing() {
  for (const char* name : {"initdb", "postgres", "pg_isready", "psql"}) {
    if (::access(binary(name).c_str(), X_OK) != 0) {
      return binary(name) +
             " is not installed (Debian's postgresql-15): run tools/setup-deps.sh, which "
             "installs the postgresql package";
    }
  }
  std::string error;
  if (!server_identity(error)) {
    return error;
  }
  return {};
}

postgres_server::~postgres_server() {
  stop();
  if (!dir_.empty()) {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
}

std::string postgres_server::url(std::string_view database) const {
  return "postgresql://postgres@127.0.0.1:" + std::to_string(port_) + "/" + std::string(database);
}

std::string postgres_server::log_tail() const {
  std::ifstream in(dir_ + "/postgres.log");
  std::stringstream all;
  all << in.rdbuf();
  const std::string text = all.str();
  return text.size() > 4000 ? text.substr(text.size() - 4000) : text;
}

bool postgres_server::init_cluster() {
  std::string error;
  const auto as = server_identity(error);
  if (!as) {
    ADD_FAILURE() << error;
    return false;
  }
  char pattern[] = "/tmp/partyd-pg-XXXXXX";
  if (::mkdtemp(pattern) == nullptr) {
    ADD_FAILURE() << "mkdtemp: " << std::strerror(errno);
    return false;
  }
  dir_ = pattern;
  // initdb creates data/ inside it as the server's user, and postgres writes its socket there.
  if (as->switch_user && ::chown(dir_.c_str(), as->uid, as->gid) != 0) {
    ADD_FAILURE() << "chown " << dir_ << " to postgres: " << std::strerror(errno);
    return false;
  }
  // -N: no fsync of the new cluster (a test's cluster outlives no machine crash).
  const run_result init = run({binary("initdb"), "-D", dir_ + "/data", "-U", "postgres", "-A",
                               "trust", "-E", "UTF8", "--no-locale", "-N"},
                              *as, 120s);
  if (!init.ok) {
    ADD_FAILURE() << "initdb failed:\n" << init.output;
    return false;
  }
  return true;
}

bool postgres_server::start(std::chrono::milliseconds timeout) {
  if (pid_ > 0) {
    return true;
  }
  if (dir_.empty() && !init_cluster()) {
    return false;
  }
  if (port_ == 0) {
    port_ = free_loopback_port();
    if (port_ <= 0) {
      port_ = 0;
      ADD_FAILURE() << "no free loopback port for postgres";
      return false;
    }
  }
  std::string error;
  const auto as = server_identity(error);
  if (!as) {
    ADD_FAILURE() << error;
    return false;
  }
  const int log_fd =
      ::open((dir_ + "/postgres.log").c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
  // fsync off: the data survives a stop, a kill and a restart (the page cache keeps it), which is
  // all a test needs, and the tests run faster.
  pid_ = spawn(
      {binary("postgres"), "-D", dir_ + "/data", "-p", std::to_string(port_), "-k", dir_, "-c",
       "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "full_page_writes=off", "-c",
       "shared_buffers=16MB", "-c", "max_connections=40", "-c", "logging_collector=off"},
      *as, log_fd);
  if (log_fd >= 0) {
    ::close(log_fd);
  }
  if (pid_ < 0) {
    ADD_FAILURE() << "fork: " << std::strerror(errno);
    return false;
  }
  const identity caller;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      ADD_FAILURE() << "postgres exited while starting on port " << port_ << " (status " << status
                    << "); its log:\n"
                    << log_tail();
      return false;
    }
    if (run({binary("pg_isready"), "-q", "-h", "127.0.0.1", "-p", std::to_string(port_), "-t", "1"},
            caller, 5s)
            .ok) {
      return true;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      ADD_FAILURE() << "postgres did not take connections on port " << port_ << " within "
                    << timeout.count() << " ms; its log:\n"
                    << log_tail();
      kill();
      return false;
    }
    std::this_thread::sleep_for(50ms);
  }
}

void postgres_server::stop(std::chrono::milliseconds timeout) {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGINT);  // fast shutdown: roll back open transactions, disconnect, checkpoint
  if (reap(pid_, timeout) < 0) {
    ADD_FAILURE() << "postgres (pid " << pid_ << ") did not shut down within " << timeout.count()
                  << " ms; killed";
  }
  pid_ = -1;
}

void postgres_server::kill() {
  if (pid_ <= 0) {
    return;
  }
  ::kill(pid_, SIGKILL);
  reap(pid_, 5s);
  pid_ = -1;
  // The backends notice their postmaster died and exit; a restart waits for them (it refuses
  // while the old shared memory is attached), which start() covers with its timeout.
}

std::optional<std::string> postgres_server::psql(std::string_view database, std::string_view sql,
                                                 bool quiet) const {
  const identity caller;
  run_result r = run({binary("psql"), "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-h",
                      "127.0.0.1", "-p", std::to_string(port_), "-U", "postgres", "-d",
                      std::string(database), "-c", std::string(sql)},
                     caller, 30s);
  if (!r.ok) {
    if (!quiet) {
      ADD_FAILURE() << "psql on " << database << " failed: " << sql << "\n" << r.output;
    }
    return std::nullopt;
  }
  while (!r.output.empty() && r.output.back() == '\n') {
    r.output.pop_back();
  }
  return std::move(r.output);
}

bool postgres_server::create_database(std::string_view name) const {
  for (const char ch : name) {
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '_')) {
      ADD_FAILURE() << "database name " << name << ": lowercase letters, digits and '_' only";
      return false;
    }
  }
  return psql("postgres", "CREATE DATABASE " + std::string(name)).has_value();
}

}  // namespace partyd::testing
