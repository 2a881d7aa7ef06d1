// partyload: the relay scenarios (relay-fanout, idle, join-storm, reconnect-storm).
// With --sessions, players ask for a session (docs/protocol/sessions.md): they keep CONNECTED's
// sessionId and resumeToken, check that the sequenceIds of their frames have no gaps, answer
// reliable frames with ACK, send HEARTBEAT every heartbeatIntervalMs, and in reconnect-storm
// resume with RECONNECT instead of reclaiming their seat with its seat token.
// With --transport socketio, every client speaks Socket.IO on /socket.io/ (ws_conn does the
// mapping, socketio.hpp): the messages and the checks below are the same.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include <boost/asio/steady_timer.hpp>

#include "runner.hpp"
#include "socketio.hpp"
#include "ws_conn.hpp"

namespace partyload {
namespace {

struct relay_room {
  std::string code;
  std::string key;
};

enum class role { host, player };

void append_int(std::string& out, std::int64_t v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, end);
}

class relay_client final : public ws_conn {
 public:
  relay_client(net::io_context& ctx, shard& sh, run_state& run, const options& opt,
               const relay_room& room, role r, bool fanout, bool set_state_once)
      : ws_conn(ctx, sh, run),
        opt_(opt),
        room_(room),
        role_(r),
        fanout_(fanout),
        set_state_once_(set_state_once),
        sessions_(opt.sessions && r == role::player),
        path_(opt.transport == transport_kind::socketio ? socketio::path(opt.socketio_game)
                                                        : std::string("/ws/relay")),
        timer_(ctx),
        heartbeat_timer_(ctx) {
    set_socketio(opt.transport == transport_kind::socketio);
  }

  void start(const tcp::resolver::results_type& endpoints) {
    joined_ = false;
    connect(endpoints, opt_.host, path_.c_str());
  }

  // Drops the socket and reclaims the seat with the clientId and seat token on a new one.
  void reclaim(const tcp::resolver::results_type& endpoints) {
    drop();
    reclaiming_ = true;
    start(endpoints);
  }

  // Sessions: drops the socket (if still open) and resumes the session with RECONNECT on a new one.
  void resume(const tcp::resolver::results_type& endpoints) {
    drop();
    heartbeat_timer_.cancel();
    resuming_ = true;
    start(endpoints);
  }

  // Drops the socket and waits (for a server restart before resume()).
  void pause() {
    drop();
    timer_.cancel();
    heartbeat_timer_.cancel();
  }

  void halt() {
    timer_.cancel();
    heartbeat_timer_.cancel();
    stop();
  }

  role role_of() const { return role_; }

 private:
  void on_open() override {
    if (resuming_) return send_reconnect(room_.code, session_id_, resume_token_, last_seq_);
    std::string& hs = next_frame();
    hs = "{\"type\":\"handshake\",\"roomCode\":\"";
    hs += room_.code;
    if (role_ == role::host) {
      hs += "\",\"role\":\"host\",\"hostKey\":\"";
      hs += room_.key;
      hs += "\"}";
    } else if (!client_id_.empty()) {
      hs += "\",\"role\":\"player\",\"clientId\":\"";
      hs += client_id_;
      hs += "\",\"seatToken\":\"";
      hs += seat_token_;
      hs += "\"}";
    } else {
      hs += "\",\"role\":\"player\",\"meta\":{\"name\":\"load\"}";
      hs += sessions_ ? ",\"version\":\"1.0\"}" : "}";
    }
    commit();
  }

  void on_frame(std::string_view frame) override {
    const std::int64_t now = mono_ns();
    if (sessions_) return on_session_frame(frame, now);
    if (!joined_) return on_handshake_response(frame, now);
    on_game_frame(frame, frame.starts_with('{') ? frame.substr(1) : std::string_view{}, now);
  }

  // `body` is the frame after its opening brace and, on a numbered frame, its session members.
  void on_game_frame(std::string_view frame, std::string_view body, std::int64_t now) {
    const bool state = body.starts_with("\"type\":\"game_state\"");
    const bool message = !state && body.starts_with("\"type\":\"client_message\"");
    if (!state && !message) {
      if (frame_type(frame) == "error") {
        const auto code = string_field(frame, "code");
        error(code.empty() ? std::string_view("error") : code);
      }
      return;
    }
    if (!run_.measuring.load(std::memory_order_relaxed)) return;
    const auto at = frame.find("\"t\":");
    if (at == std::string_view::npos) return;
    std::int64_t sent = 0;
    const char* begin = frame.data() + at + 4;
    auto [ptr, ec] = std::from_chars(begin, frame.data() + frame.size(), sent);
    if (ec != std::errc()) return;
    (state ? shard_.to_players : shard_.to_host).record(now - sent);
    histogram::bump(shard_.delivered);
  }

  // A frame to a session's player: numbered ones are checked for gaps (and acknowledged when
  // reliable), then handled as without a session; the session layer's own frames are not numbered.
  void on_session_frame(std::string_view frame, std::int64_t now) {
    const numbering n = read_numbering(frame);
    if (!n.error.empty()) return error(n.error);
    if (n.seq != 0) {
      std::string_view rest = n.rest;
      if (!take_numbered(n, last_seq_, "sequence_gap")) return;
      if (!rest.starts_with(',')) return error("bad_numbered_frame");
      rest.remove_prefix(1);
      if (!joined_) return on_handshake_response(frame, now);
      return on_game_frame(frame, rest, now);
    }
    const std::string_view type = frame_type(frame);
    if (type == "HEARTBEAT_ACK") return;
    if (type == "CONNECTED") return on_connected(frame);
    if (type == "RECONNECTED") return on_resumed(frame, now);
    if (type == "RECONNECT_FAILED") {
      if (run_.log_frame()) {
        std::fprintf(stderr, "resume failed: %.*s\n",
                     static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
      }
      return error("RECONNECT_FAILED");
    }
    if (type == "STATE_SNAPSHOT") return error("state_snapshot");  // "" always matches
    if (!joined_) return on_handshake_response(frame, now);
    on_game_frame(frame, frame.starts_with('{') ? frame.substr(1) : std::string_view{}, now);
  }

  void on_connected(std::string_view frame) {
    session_id_ = std::string(string_field(frame, "sessionId"));
    resume_token_ = std::string(string_field(frame, "resumeToken"));
    epoch_ = std::string(string_field(frame, "epoch"));
    heartbeat_ms_ = int_field(frame, "heartbeatIntervalMs").value_or(10000);
    if (session_id_.empty() || resume_token_.empty() || heartbeat_ms_ <= 0) error("bad_connected");
  }

  void on_resumed(std::string_view frame, std::int64_t now) {
    if (joined_) return error("unexpected_reconnected");
    const auto last = int_field(frame, "lastSeqId");
    if (!last || *last < 0 || static_cast<std::uint64_t>(*last) < last_seq_) {
      error("bad_last_seq_id");
    } else if (frame.find("\"recovered\":true") != std::string_view::npos) {
      // The backfill must hold exactly the frames after ours.
      histogram::bump(shard_.recovered);
      std::uint64_t missed = 0;
      const auto events = frame.find("\"missedEvents\":[");
      for (auto at = events; at != std::string_view::npos;) {
        at = frame.find("{\"sequenceId\":", at + 1);
        if (at != std::string_view::npos) ++missed;
      }
      if (events == std::string_view::npos ||
          missed != static_cast<std::uint64_t>(*last) - last_seq_) {
        error("backfill_gap");
      }
    } else {
      histogram::bump(shard_.snapshot_resumes);
    }
    if (last) last_seq_ = static_cast<std::uint64_t>(std::max<std::int64_t>(*last, 0));
    const std::string_view epoch = string_field(frame, "epoch");
    if (epoch != epoch_) {
      histogram::bump(shard_.epoch_changed);
      epoch_ = std::string(epoch);
    }
    if (frame.find("\"gameState\":{\"seq\":") == std::string_view::npos) {
      error("resync_without_state");
    }
    joined_ = true;
    histogram::bump(shard_.joined);
    shard_.rejoin.record(now - connect_started_ns_);
    shard_.last_join_ns.store(now, std::memory_order_relaxed);
    arm_heartbeat(false);
  }

  void arm_heartbeat(bool next) {
    if (stopped()) return;
    heartbeat_timer_.expires_after(heartbeat_delay(next, heartbeat_ms_));
    heartbeat_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped() || !is_open()) return;
      if (backlog() <= 64) send_heartbeat(0, "");  // no game state: "" always matches
      arm_heartbeat(true);
    });
  }

  void on_handshake_response(std::string_view frame, std::int64_t now) {
    if (frame_type(frame) != "handshake_response" || string_field(frame, "status") != "success") {
      const auto code = string_field(frame, "code");
      if (run_.log_frame()) {
        std::fprintf(stderr, "handshake failed: %.*s\n",
                     static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
      }
      return error(code.empty() ? std::string_view("handshake_failed") : code);
    }
    if (reclaiming_ && frame.find("\"gameState\":{\"seq\":") == std::string_view::npos) {
      error("resync_without_state");
    }
    joined_ = true;
    histogram::bump(shard_.joined);
    (reclaiming_ ? shard_.rejoin : shard_.join).record(now - connect_started_ns_);
    shard_.last_join_ns.store(now, std::memory_order_relaxed);
    if (role_ == role::player && client_id_.empty()) {
      client_id_ = std::string(string_field(frame, "clientId"));
      seat_token_ = std::string(string_field(frame, "seatToken"));
      if (client_id_.empty() || seat_token_.empty()) error("no_client_id");
    }
    if (sessions_) {
      if (session_id_.empty()) error("no_session");
      arm_heartbeat(false);
    }
    if (role_ == role::host && set_state_once_) {
      std::string& text = next_frame();
      text = "{\"type\":\"set_game_state\",\"state\":{\"seq\":1,\"t\":";
      append_int(text, now);
      text += "}}";
      commit();
    }
    if (fanout_) arm_timer();
  }

  void on_closed(bool) override {
    timer_.cancel();
    heartbeat_timer_.cancel();
  }

  void arm_timer() {
    const double rate = role_ == role::host ? opt_.state_rate : opt_.player_rate;
    if (rate <= 0 || stopped()) return;
    // Spread the first tick so that rooms do not all fire in the same instant.
    const auto period = std::chrono::nanoseconds(static_cast<std::int64_t>(1e9 / rate));
    if (!next_tick_) {
      next_tick_ = std::chrono::steady_clock::now() +
                   std::chrono::nanoseconds(static_cast<std::int64_t>(
                       (static_cast<double>(reinterpret_cast<std::uintptr_t>(this) % 1000) / 1000) *
                       static_cast<double>(period.count())));
    } else {
      *next_tick_ += period;
    }
    timer_.expires_at(*next_tick_);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped() || !is_open()) return;
      tick();
      arm_timer();
    });
  }

  void tick() {
    if (backlog() > 64) return;  // our own backlog: do not queue without bound
    const int frames = role_ == role::host ? opt_.burst : 1;
    for (int i = 0; i < frames; ++i) {
      const std::int64_t now = mono_ns();
      std::string& text = next_frame();
      if (role_ == role::host) {
        text = "{\"type\":\"set_game_state\",\"state\":{\"seq\":";
        append_int(text, static_cast<std::int64_t>(seq_++));
        text += ",\"t\":";
        append_int(text, now);
        text += ",\"pad\":\"";
        const int pad = std::max(0, opt_.state_bytes - 40);
        text.append(static_cast<std::size_t>(pad), 'x');
        text += "\"}}";
      } else {
        text = "{\"type\":\"message_to_host\",\"message\":{\"t\":";
        append_int(text, now);
        text += "}}";
      }
      if (run_.measuring.load(std::memory_order_relaxed)) histogram::bump(shard_.sent);
      commit();
    }
  }

  const options& opt_;
  const relay_room& room_;
  role role_;
  bool fanout_;
  bool set_state_once_;
  bool sessions_;
  std::string path_;  // the WebSocket's request target
  bool joined_ = false;
  bool reclaiming_ = false;
  bool resuming_ = false;
  net::steady_timer timer_;
  net::steady_timer heartbeat_timer_;
  std::optional<std::chrono::steady_clock::time_point> next_tick_;
  std::uint64_t seq_ = 0;
  std::string client_id_;
  std::string seat_token_;
  // Sessions.
  std::string session_id_;
  std::string resume_token_;
  std::string epoch_;
  std::int64_t heartbeat_ms_ = 10000;
  std::uint64_t last_seq_ = 0;  // highest sequenceId seen
};

// Rooms and clients of a relay scenario; clients are spread over the io threads in turn.
struct relay_setup {
  std::vector<std::unique_ptr<relay_room>> rooms;
  std::vector<std::vector<std::unique_ptr<relay_client>>> clients;  // per thread
  int next_thread = 0;
  int count = 0;

  relay_client& add(runner& r, const relay_room& room, role ro, bool fanout, bool set_state) {
    if (clients.empty()) clients.resize(r.threads());
    const int t = next_thread;
    next_thread = (next_thread + 1) % r.threads();
    ++count;
    clients[t].push_back(std::make_unique<relay_client>(r.context(t), r.shard_of(t), r.run, r.opt,
                                                        room, ro, fanout, set_state));
    return *clients[t].back();
  }

  void create_rooms(runner& r) {
    for (int i = 0; i < r.opt.rooms; ++i) {
      const json::value room = admin_request(r.opt, "POST", "/api/rooms", "{}");
      auto rr = std::make_unique<relay_room>();
      rr->code = std::string(room.at("roomCode").as_string());
      rr->key = std::string(room.at("hostKey").as_string());
      rooms.push_back(std::move(rr));
    }
  }

  // Players per room when N connections are spread over the rooms.
  static int share(const options& opt, int room) {
    return opt.connections / opt.rooms + (room < opt.connections % opt.rooms ? 1 : 0);
  }

  void start_all(runner& r) {
    for (int t = 0; t < r.threads(); ++t) {
      net::post(r.context(t), [this, t, &r] {
        for (auto& c : clients[t]) c->start(r.endpoints);
      });
    }
  }

  void finish(runner& r) {
    r.finish([this](int t) {
      for (auto& c : clients[t]) c->halt();
    });
  }
};

// Runs `f` on every client, each on its own io thread, and waits until all threads have done so.
template <class F>
void run_on_threads(runner& r, relay_setup& setup, F f) {
  std::atomic<int> pending{r.threads()};
  for (int t = 0; t < r.threads(); ++t) {
    net::post(r.context(t), [&setup, &pending, f, t] {
      for (auto& c : setup.clients[t]) f(*c);
      pending.fetch_sub(1);
    });
  }
  while (pending.load() > 0) std::this_thread::sleep_for(std::chrono::milliseconds(1));
}

// Waits until `target` joins past `base` (or errors, or the bound). Returns the seconds from
// `started_ns` to the last join (taken on the io threads, so the polling adds nothing), or to the
// bound when not all joined.
double wait_joined(runner& r, std::uint64_t target, std::uint64_t base, double bound,
                   std::int64_t started_ns) {
  r.progress(
      bound, [&] { return r.sum(&shard::joined) - base + r.run.errors.load() >= target; },
      [&] {
        char line[128];
        std::snprintf(line, sizeof line, "joined=%llu/%llu",
                      static_cast<unsigned long long>(r.sum(&shard::joined) - base),
                      static_cast<unsigned long long>(target));
        return std::string(line);
      });
  if (r.sum(&shard::joined) - base < target) {
    return static_cast<double>(mono_ns() - started_ns) / 1e9;
  }
  return static_cast<double>(r.last_join_ns() - started_ns) / 1e9;
}

void add_server_rss(runner& r, json::object& result, long before, long after, int connections) {
  if (!r.opt.server_pid) return;
  result["server_rss_kib_before"] = before;
  result["server_rss_kib_after"] = after;
  if (connections > 0) {
    result["server_rss_bytes_per_connection"] =
        1024.0 * static_cast<double>(after - before) / connections;
  }
}

// Session counters (only with --sessions: without it the JSON line stays as it was).
void add_session_counts(runner& r, json::object& result) {
  if (!r.opt.sessions) return;
  result["sessions"] = true;
  result["acks_sent"] = r.sum(&shard::acks);
  result["heartbeats_sent"] = r.sum(&shard::heartbeats);
}

void add_join_latency(runner& r, json::object& result) {
  const summary join = r.merged(&shard::join);
  print_latency_header();
  print_latency_row("connect -> handshake_response", join);
  result["join_latency"] = to_json(join);
}

}  // namespace

void run_relay_fanout(runner& r, json::object& result) {
  const options& opt = r.opt;
  relay_setup setup;
  setup.create_rooms(r);
  const long rss_before = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  for (auto& room : setup.rooms) {
    setup.add(r, *room, role::host, true, false);
    for (int p = 0; p < opt.players; ++p) setup.add(r, *room, role::player, true, false);
  }
  const int expected = setup.count;
  r.start();
  const std::int64_t join_started = mono_ns();
  setup.start_all(r);
  const double join_s = wait_joined(r, static_cast<std::uint64_t>(expected), 0, 60, join_started);
  std::fprintf(stderr, "joined %llu/%d in %.3f s (errors %llu)\n",
               static_cast<unsigned long long>(r.sum(&shard::joined)), expected, join_s,
               static_cast<unsigned long long>(r.run.errors.load()));

  // Warm up for one second, then measure.
  std::this_thread::sleep_for(std::chrono::seconds(1));
  r.begin_window();
  r.run.measuring.store(true);
  std::uint64_t last_delivered = 0;
  r.progress(
      opt.duration_s, [] { return false; },
      [&] {
        const auto delivered = r.sum(&shard::delivered);
        const summary p = r.merged(&shard::to_players);
        char line[160];
        std::snprintf(line, sizeof line, "delivered/s=%llu sent=%llu to_players_p99=%.2fms",
                      static_cast<unsigned long long>(delivered - last_delivered),
                      static_cast<unsigned long long>(r.sum(&shard::sent)), p.p99_ms);
        last_delivered = delivered;
        return std::string(line);
      });
  r.run.measuring.store(false);
  const double elapsed = r.end_window(result);
  const long rss_after = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  setup.finish(r);

  const summary to_players = r.merged(&shard::to_players);
  const summary to_host = r.merged(&shard::to_host);
  const auto delivered = r.sum(&shard::delivered);
  const double delivered_per_s = static_cast<double>(delivered) / elapsed;

  print_latency_header();
  print_latency_row("host -> players (game_state)", to_players);
  print_latency_row("player -> host (message)", to_host);
  std::fprintf(stderr, "delivered/s %.0f, sent %llu\n", delivered_per_s,
               static_cast<unsigned long long>(r.sum(&shard::sent)));

  result["rooms"] = opt.rooms;
  result["players"] = opt.players;
  result["rate"] = opt.state_rate;
  result["player_rate"] = opt.player_rate;
  result["size"] = opt.state_bytes;
  result["burst"] = opt.burst;
  result["duration_s"] = elapsed;
  result["connections"] = expected;
  result["join_s"] = join_s;
  result["delivered_per_s"] = delivered_per_s;
  result["sent"] = r.sum(&shard::sent);
  put_percentiles(result, "to_players", to_players);
  put_percentiles(result, "to_host", to_host);
  if (opt.server_pid) {
    result["server_cpu_us_per_delivery"] =
        delivered ? 1e6 * r.window_server_cpu() / static_cast<double>(delivered) : 0.0;
  }
  add_server_rss(r, result, rss_before, rss_after, 0);
  add_session_counts(r, result);
}

namespace {

// Starts every client of `setup` at once and waits (bounded by --duration) until all have
// joined; reports "<verb> joined/expected in S s" and counts join_incomplete when some did not.
// Returns the seconds it took; `joined` gets the count.
double join_all(runner& r, relay_setup& setup, const char* verb, std::uint64_t& joined) {
  const auto expected = static_cast<std::uint64_t>(setup.count);
  const std::int64_t started = mono_ns();
  setup.start_all(r);
  const double seconds = wait_joined(r, expected, 0, r.opt.duration_s, started);
  joined = r.sum(&shard::joined);
  std::fprintf(stderr, "%s %llu/%llu in %.3f s (errors %llu)\n", verb,
               static_cast<unsigned long long>(joined), static_cast<unsigned long long>(expected),
               seconds, static_cast<unsigned long long>(r.run.errors.load()));
  if (joined < expected) {
    r.run.error("join_incomplete");
  }
  return seconds;
}

// idle and join-storm: N players over R rooms, all started at once.
void run_players(runner& r, json::object& result, bool hold) {
  const options& opt = r.opt;
  relay_setup setup;
  setup.create_rooms(r);
  const long rss_before = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  for (int i = 0; i < opt.rooms; ++i) {
    for (int p = 0; p < relay_setup::share(opt, i); ++p) {
      setup.add(r, *setup.rooms[i], role::player, false, false);
    }
  }
  const int expected = setup.count;
  r.start();
  r.begin_window();
  std::uint64_t joined = 0;
  const double storm_s = join_all(r, setup, "joined", joined);
  double elapsed = 0;
  if (hold) {
    // Keep the connections for the rest of --duration, then read the server's RSS.
    const double left = std::max(0.0, opt.duration_s - storm_s);
    r.progress(
        left, [] { return false; },
        [&] { return "connections=" + std::to_string(r.sum(&shard::joined)); });
  }
  elapsed = r.end_window(result);
  const long rss_after = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  setup.finish(r);
  add_join_latency(r, result);

  result["rooms"] = opt.rooms;
  result["players"] = opt.connections;
  result["connections"] = expected;
  result["joined"] = joined;
  result["duration_s"] = elapsed;
  result["join_s"] = storm_s;
  result["storm_s"] = storm_s;
  result["joins_per_s"] = storm_s > 0 ? static_cast<double>(joined) / storm_s : 0.0;
  add_server_rss(r, result, rss_before, rss_after, hold ? expected : 0);
  add_session_counts(r, result);
}

}  // namespace

void run_idle(runner& r, json::object& result) { run_players(r, result, true); }

void run_join_storm(runner& r, json::object& result) { run_players(r, result, false); }

void run_reconnect_storm(runner& r, json::object& result) {
  const options& opt = r.opt;
  relay_setup setup;
  setup.create_rooms(r);
  const long rss_before = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  std::vector<relay_client*> players;
  for (int i = 0; i < opt.rooms; ++i) {
    setup.add(r, *setup.rooms[i], role::host, false, true);
    for (int p = 0; p < relay_setup::share(opt, i); ++p) {
      players.push_back(&setup.add(r, *setup.rooms[i], role::player, false, false));
    }
  }
  const int expected = setup.count;
  r.start();
  std::uint64_t joined = 0;
  const double join_s = join_all(r, setup, "seated", joined);
  if (joined < static_cast<std::uint64_t>(expected)) {
    setup.finish(r);
    return;
  }
  // Let every host's game state land before the storm (resync checks for it).
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  const bool restart = opt.sessions && !opt.before_storm.empty();
  if (restart) {
    // Every client drops its socket (hosts for good), then the command restarts the server.
    run_on_threads(r, setup, [](relay_client& c) {
      if (c.role_of() == role::player) {
        c.pause();
      } else {
        c.halt();
      }
    });
    std::fprintf(stderr, "before the storm: %s\n", opt.before_storm.c_str());
    const int status = std::system(opt.before_storm.c_str());
    if (status != 0) {
      std::fprintf(stderr, "the command before the storm failed (status %d)\n", status);
      r.run.error("before_storm_failed");
      setup.finish(r);
      return;
    }
  }
  std::fprintf(stderr,
               opt.sessions ? "storm: %zu players drop their sockets and resume their sessions\n"
                            : "storm: %zu players drop and reclaim their seats\n",
               players.size());

  // After a restart the server is another process: its CPU and RSS are not reported.
  if (!restart) r.begin_window();
  const std::int64_t storm_started = mono_ns();
  run_on_threads(r, setup, [&r, &opt](relay_client& c) {
    if (c.role_of() != role::player) return;
    if (opt.sessions) {
      c.resume(r.endpoints);
    } else {
      c.reclaim(r.endpoints);
    }
  });
  const double storm_s = wait_joined(r, players.size(), joined, opt.duration_s, storm_started);
  const auto resynced = r.sum(&shard::joined) - joined;
  std::fprintf(stderr, "resynced %llu/%zu in %.3f s (errors %llu)\n",
               static_cast<unsigned long long>(resynced), players.size(), storm_s,
               static_cast<unsigned long long>(r.run.errors.load()));
  if (resynced < players.size()) r.run.error("resync_incomplete");
  if (!restart) r.end_window(result);
  const long rss_after = opt.server_pid && !restart ? rss_kib(opt.server_pid) : -1;
  setup.finish(r);
  if (!restart) add_server_rss(r, result, rss_before, rss_after, 0);

  const summary setup_join = r.merged(&shard::join);
  const summary reclaim = r.merged(&shard::rejoin);
  print_latency_header();
  print_latency_row("setup: connect -> joined", setup_join);
  print_latency_row("storm: drop -> resynced", reclaim);
  result["rooms"] = opt.rooms;
  result["players"] = static_cast<std::uint64_t>(players.size());
  result["connections"] = expected;
  result["join_s"] = join_s;
  result["storm_s"] = storm_s;
  result["resynced"] = resynced;
  result["resyncs_per_s"] = storm_s > 0 ? static_cast<double>(resynced) / storm_s : 0.0;
  result["setup_join_latency"] = to_json(setup_join);
  result["resync_latency"] = to_json(reclaim);
  if (opt.sessions) {
    add_session_counts(r, result);
    result["restarted"] = restart;
    result["resumed_recovered"] = r.sum(&shard::recovered);
    result["resumed_from_snapshot"] = r.sum(&shard::snapshot_resumes);
    result["resumed_new_epoch"] = r.sum(&shard::epoch_changed);
    std::fprintf(stderr, "resumed: recovered %llu, from snapshot %llu, new epoch %llu\n",
                 static_cast<unsigned long long>(r.sum(&shard::recovered)),
                 static_cast<unsigned long long>(r.sum(&shard::snapshot_resumes)),
                 static_cast<unsigned long long>(r.sum(&shard::epoch_changed)));
  }
}

}  // namespace partyload
