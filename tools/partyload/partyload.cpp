// partyload: a bounded load generator for partyd over real WebSocket connections.
// One io_context per thread (--threads); every client lives on one of them. Scenarios:
//   relay-fanout  R relay rooms (created through the admin API), 1 host + M players each; every
//                 host sets a game state P times a second (S bytes, carrying a send time); players
//                 send Q messages a second to the host. Measures delivery latency both ways.
//   idle          N player connections that only keep alive; reports server RSS per connection.
// Every run is bounded by --duration and by counts; only 127.0.0.1 unless --host says otherwise.
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;

namespace {

struct options {
  std::string host = "127.0.0.1";
  std::string port = "8080";
  std::string token;
  std::string scenario = "relay-fanout";
  int rooms = 10;
  int players = 8;
  double state_rate = 10;  // host set_game_state per second per room
  double player_rate = 0;  // message_to_host per second per player
  int state_bytes = 200;
  double duration_s = 10;
  int threads = 1;
  int connections = 1000;  // idle scenario
  int server_pid = 0;
  int burst = 1;  // frames sent back to back per host tick
};

std::int64_t mono_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

double process_cpu_seconds(int pid) {
  if (pid <= 0) {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return usage.ru_utime.tv_sec + usage.ru_stime.tv_sec +
           (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
  }
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string content((std::istreambuf_iterator<char>(stat)), std::istreambuf_iterator<char>());
  const auto close = content.rfind(')');
  if (close == std::string::npos) return 0;
  std::vector<std::string> fields;
  std::size_t pos = close + 2;
  while (pos < content.size()) {
    const auto next = content.find(' ', pos);
    fields.push_back(content.substr(pos, next - pos));
    if (next == std::string::npos) break;
    pos = next + 1;
  }
  // fields[0] is state (field 3); utime is field 14, stime 15.
  if (fields.size() < 13) return 0;
  const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
  return (std::stod(fields[11]) + std::stod(fields[12])) / ticks;
}

long rss_kib(int pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

// Latency samples per thread (ns), merged at the end.
struct stats {
  std::mutex mutex;
  std::vector<std::int64_t> to_players_ns;
  std::vector<std::int64_t> to_host_ns;
  std::atomic<std::uint64_t> delivered{0};
  std::atomic<std::uint64_t> sent{0};
  std::atomic<std::uint64_t> errors{0};
  std::atomic<std::uint64_t> joined{0};
  std::atomic<bool> measuring{false};
};

std::optional<std::int64_t> extract_time(std::string_view frame) {
  const auto at = frame.find("\"t\":");
  if (at == std::string_view::npos) return std::nullopt;
  std::int64_t value = 0;
  const char* begin = frame.data() + at + 4;
  auto [ptr, ec] = std::from_chars(begin, frame.data() + frame.size(), value);
  if (ec != std::errc()) return std::nullopt;
  return value;
}

class client : public std::enable_shared_from_this<client> {
 public:
  client(net::io_context& ctx, const options& opt, stats& st, std::string room, std::string role,
         std::string host_key)
      : ctx_(ctx),
        opt_(opt),
        stats_(st),
        ws_(ctx),
        timer_(ctx),
        room_(std::move(room)),
        role_(std::move(role)),
        host_key_(std::move(host_key)) {}

  void start(const tcp::resolver::results_type& endpoints) {
    beast::get_lowest_layer(ws_).async_connect(
        endpoints, [self = shared_from_this()](beast::error_code ec, const tcp::endpoint&) {
          if (ec) return self->fail();
          beast::get_lowest_layer(self->ws_).socket().set_option(tcp::no_delay(true));
          self->ws_.async_handshake(self->opt_.host, "/ws/relay",
                                    [self](beast::error_code e) { self->on_upgrade(e); });
        });
  }

  net::io_context& context() { return ctx_; }

  void stop() {
    stopped_ = true;
    timer_.cancel();
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  void fail() {
    if (!stopped_) stats_.errors.fetch_add(1);
  }

  void on_upgrade(beast::error_code ec) {
    if (ec) return fail();
    json::object hs{{"type", "handshake"}, {"roomCode", room_}, {"role", role_}};
    if (role_ == "host") hs["hostKey"] = host_key_;
    if (role_ == "player") hs["meta"] = json::object{{"name", "load"}};
    send_text(json::serialize(hs));
    do_read();
  }

  void send_text(std::string text) {
    queue_.push_back(std::move(text));
    if (!writing_) do_write();
  }

  void do_write() {
    writing_ = true;
    ws_.async_write(net::buffer(queue_.front()),
                    [self = shared_from_this()](beast::error_code ec, std::size_t) {
                      self->queue_.erase(self->queue_.begin());
                      self->writing_ = false;
                      if (ec) return self->fail();
                      if (!self->queue_.empty()) self->do_write();
                    });
  }

  void do_read() {
    ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->fail();
      self->on_message(beast::buffers_to_string(self->buffer_.data()));
      self->buffer_.consume(self->buffer_.size());
      self->do_read();
    });
  }

  void on_message(const std::string& text) {
    const std::int64_t now = mono_ns();
    if (!joined_) {
      if (text.find("\"status\":\"success\"") == std::string::npos) {
        std::cerr << "handshake failed: " << text << "\n";
        return fail();
      }
      joined_ = true;
      stats_.joined.fetch_add(1);
      arm_timer();
      return;
    }
    if (!stats_.measuring.load(std::memory_order_relaxed)) return;
    const bool state = text.find("\"type\":\"game_state\"") != std::string::npos;
    const bool message = text.find("\"type\":\"client_message\"") != std::string::npos;
    if (!state && !message) {
      if (text.find("\"type\":\"error\"") != std::string::npos) stats_.errors.fetch_add(1);
      return;
    }
    if (auto sent = extract_time(text)) {
      (state ? state_samples_ : message_samples_).push_back(now - *sent);
      stats_.delivered.fetch_add(1, std::memory_order_relaxed);
    }
  }

  void arm_timer() {
    const double rate = role_ == "host"     ? opt_.state_rate
                        : role_ == "player" ? opt_.player_rate
                                            : 0;
    if (rate <= 0 || stopped_) return;
    // Spread the first tick so that rooms do not all fire in the same instant.
    const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
    if (!next_tick_) {
      next_tick_ = std::chrono::steady_clock::now() +
                   std::chrono::nanoseconds(static_cast<std::int64_t>(
                       (static_cast<double>(reinterpret_cast<std::uintptr_t>(this) % 1000) / 1000) *
                       period.count()));
    } else {
      *next_tick_ += period;
    }
    timer_.expires_at(*next_tick_);
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->stopped_) return;
      self->tick();
      self->arm_timer();
    });
  }

  void tick() {
    if (queue_.size() > 64) return;  // our own backlog: do not queue without bound
    for (int i = 0; i < (role_ == "host" ? opt_.burst : 1); ++i) {
      const std::int64_t now = mono_ns();
      std::string text;
      if (role_ == "host") {
        text = "{\"type\":\"set_game_state\",\"state\":{\"seq\":" + std::to_string(seq_++) +
               ",\"t\":" + std::to_string(now) + ",\"pad\":\"";
        const int pad = std::max(0, opt_.state_bytes - 40);
        text.append(static_cast<std::size_t>(pad), 'x');
        text += "\"}}";
      } else {
        text = "{\"type\":\"message_to_host\",\"message\":{\"t\":" + std::to_string(now) + "}}";
      }
      stats_.sent.fetch_add(1, std::memory_order_relaxed);
      send_text(std::move(text));
    }
  }

 public:
  std::vector<std::int64_t> state_samples_;
  std::vector<std::int64_t> message_samples_;

 private:
  net::io_context& ctx_;
  const options& opt_;
  stats& stats_;
  websocket::stream<beast::tcp_stream> ws_;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::vector<std::string> queue_;
  bool writing_ = false;
  bool joined_ = false;
  bool stopped_ = false;
  std::optional<std::chrono::steady_clock::time_point> next_tick_;
  std::uint64_t seq_ = 0;
  std::string room_;
  std::string role_;
  std::string host_key_;
};

json::value admin_request(const options& opt, http::verb verb, const std::string& target,
                          const std::string& body) {
  net::io_context ctx;
  tcp::resolver resolver(ctx);
  beast::tcp_stream stream(ctx);
  stream.connect(resolver.resolve(opt.host, opt.port));
  http::request<http::string_body> req{verb, target, 11};
  req.set(http::field::host, opt.host);
  req.set(http::field::authorization, "Bearer " + opt.token);
  req.set(http::field::content_type, "application/json");
  req.body() = body;
  req.prepare_payload();
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  if (res.result_int() >= 300) {
    throw std::runtime_error("admin API " + target + ": " + std::to_string(res.result_int()) + " " +
                             res.body());
  }
  return json::parse(res.body());
}

double percentile(std::vector<std::int64_t>& sorted, double p) {
  if (sorted.empty()) return 0;
  const auto index = static_cast<std::size_t>(p * static_cast<double>(sorted.size() - 1));
  return static_cast<double>(sorted[index]) / 1e6;  // ms
}

void usage() {
  std::cout << "usage: partyload [--host H] [--port P] --token T [--scenario relay-fanout|idle]\n"
               "  relay-fanout: --rooms R --players M --rate P (states/s/room) --size S\n"
               "                [--player-rate Q] [--burst B]\n"
               "  idle:         --connections N (players spread over --rooms R)\n"
               "  common:       --duration SECONDS --threads T [--server-pid PID]\n";
}

}  // namespace

int main(int argc, char** argv) {
  options opt;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (arg == "--host")
      opt.host = next();
    else if (arg == "--port")
      opt.port = next();
    else if (arg == "--token")
      opt.token = next();
    else if (arg == "--scenario")
      opt.scenario = next();
    else if (arg == "--rooms")
      opt.rooms = std::stoi(next());
    else if (arg == "--players")
      opt.players = std::stoi(next());
    else if (arg == "--rate")
      opt.state_rate = std::stod(next());
    else if (arg == "--player-rate")
      opt.player_rate = std::stod(next());
    else if (arg == "--size")
      opt.state_bytes = std::stoi(next());
    else if (arg == "--duration")
      opt.duration_s = std::stod(next());
    else if (arg == "--threads")
      opt.threads = std::stoi(next());
    else if (arg == "--connections")
      opt.connections = std::stoi(next());
    else if (arg == "--server-pid")
      opt.server_pid = std::stoi(next());
    else if (arg == "--burst")
      opt.burst = std::stoi(next());
    else {
      usage();
      return arg == "--help" ? 0 : 2;
    }
  }
  if (opt.duration_s <= 0 || opt.duration_s > 600 || opt.rooms <= 0 || opt.threads <= 0) {
    std::cerr << "partyload: duration must be in (0, 600] s, rooms and threads positive\n";
    return 2;
  }
  const bool idle = opt.scenario == "idle";
  if (!idle && opt.scenario != "relay-fanout") {
    usage();
    return 2;
  }

  stats st;
  std::vector<std::unique_ptr<net::io_context>> contexts;
  for (int i = 0; i < opt.threads; ++i) contexts.push_back(std::make_unique<net::io_context>(1));
  tcp::resolver resolver(*contexts[0]);
  const auto endpoints = resolver.resolve(opt.host, opt.port);

  const long rss_before = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  std::vector<std::shared_ptr<client>> clients;
  int next_context = 0;
  auto add_client = [&](const std::string& code, const std::string& role, const std::string& key) {
    auto c = std::make_shared<client>(*contexts[next_context], opt, st, code, role, key);
    next_context = (next_context + 1) % opt.threads;
    clients.push_back(c);
    return c;
  };
  int expected = 0;
  for (int r = 0; r < opt.rooms; ++r) {
    const json::value room = admin_request(opt, http::verb::post, "/api/rooms", "{}");
    const std::string code(room.at("roomCode").as_string());
    const std::string key(room.at("hostKey").as_string());
    if (!idle) {
      add_client(code, "host", key);
      ++expected;
    }
    const int players =
        idle ? (opt.connections / opt.rooms + (r < opt.connections % opt.rooms)) : opt.players;
    for (int p = 0; p < players; ++p) {
      add_client(code, "player", "");
      ++expected;
    }
  }
  const auto join_started = std::chrono::steady_clock::now();
  for (auto& c : clients) {
    c->start(endpoints);
  }
  std::vector<std::thread> threads;
  for (auto& ctx : contexts) {
    threads.emplace_back([&ctx] {
      auto guard = net::make_work_guard(*ctx);
      ctx->run();
    });
  }
  while (st.joined.load() + st.errors.load() < static_cast<std::uint64_t>(expected) &&
         std::chrono::steady_clock::now() - join_started < std::chrono::seconds(60)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  const double join_s =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - join_started).count();
  std::fprintf(stderr, "joined %llu/%d in %.3f s (errors %llu)\n",
               static_cast<unsigned long long>(st.joined.load()), expected, join_s,
               static_cast<unsigned long long>(st.errors.load()));

  // Warm up for one second, then measure.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  const double server_cpu_start = opt.server_pid ? process_cpu_seconds(opt.server_pid) : 0;
  const double self_cpu_start = process_cpu_seconds(0);
  st.measuring.store(true);
  const auto started = std::chrono::steady_clock::now();
  std::uint64_t last_delivered = 0;
  for (int second = 1; second <= static_cast<int>(opt.duration_s); ++second) {
    std::this_thread::sleep_until(started + std::chrono::seconds(second));
    const auto delivered = st.delivered.load();
    const double self_cpu = process_cpu_seconds(0) - self_cpu_start;
    std::fprintf(stderr, "t=%2ds delivered/s=%llu sent=%llu errors=%llu loadgen_cpu=%.0f%%\n",
                 second, static_cast<unsigned long long>(delivered - last_delivered),
                 static_cast<unsigned long long>(st.sent.load()),
                 static_cast<unsigned long long>(st.errors.load()), 100 * self_cpu / second);
    if (self_cpu / second > 0.9 * opt.threads) {
      std::fprintf(stderr, "warning: partyload itself is above 90%% CPU; it may be the limit\n");
    }
    last_delivered = delivered;
  }
  st.measuring.store(false);
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const double server_cpu =
      opt.server_pid ? process_cpu_seconds(opt.server_pid) - server_cpu_start : 0;
  const long rss_after = opt.server_pid ? rss_kib(opt.server_pid) : -1;

  for (auto& c : clients) {
    net::post(c->context(), [c] { c->stop(); });
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  for (auto& ctx : contexts) ctx->stop();
  for (auto& t : threads) t.join();

  std::vector<std::int64_t> to_players, to_host;
  for (auto& c : clients) {
    to_players.insert(to_players.end(), c->state_samples_.begin(), c->state_samples_.end());
    to_host.insert(to_host.end(), c->message_samples_.begin(), c->message_samples_.end());
  }
  std::sort(to_players.begin(), to_players.end());
  std::sort(to_host.begin(), to_host.end());
  const double delivered_per_s = static_cast<double>(st.delivered.load()) / elapsed;
  json::object result{
      {"scenario", opt.scenario},
      {"rooms", opt.rooms},
      {"players", idle ? opt.connections : opt.players},
      {"rate", opt.state_rate},
      {"player_rate", opt.player_rate},
      {"size", opt.state_bytes},
      {"burst", opt.burst},
      {"duration_s", elapsed},
      {"connections", expected},
      {"join_s", join_s},
      {"delivered_per_s", delivered_per_s},
      {"errors", st.errors.load()},
      {"to_players_p50_ms", percentile(to_players, 0.50)},
      {"to_players_p95_ms", percentile(to_players, 0.95)},
      {"to_players_p99_ms", percentile(to_players, 0.99)},
      {"to_players_max_ms",
       to_players.empty() ? 0.0 : static_cast<double>(to_players.back()) / 1e6},
      {"to_host_p50_ms", percentile(to_host, 0.50)},
      {"to_host_p99_ms", percentile(to_host, 0.99)},
  };
  if (opt.server_pid) {
    result["server_cpu_percent"] = 100 * server_cpu / elapsed;
    result["server_cpu_us_per_delivery"] =
        st.delivered.load() ? 1e6 * server_cpu / static_cast<double>(st.delivered.load()) : 0.0;
    result["server_rss_kib_before"] = rss_before;
    result["server_rss_kib_after"] = rss_after;
    if (idle && expected > 0) {
      result["server_rss_bytes_per_connection"] =
          1024.0 * static_cast<double>(rss_after - rss_before) / expected;
    }
  }
  std::printf("%s\n", json::serialize(result).c_str());
  return st.errors.load() == 0 ? 0 : 1;
}
