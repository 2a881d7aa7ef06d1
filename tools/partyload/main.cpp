// partyload: a bounded load generator for partyd over real WebSocket connections.
// One io_context per thread (--threads); every client lives on one of them. Scenarios:
//   relay-fanout     R relay rooms (created through the admin API), 1 host + M players each;
//                    every host sets a game state P times a second (S bytes, carrying a sequence
//                    number and a send time); players send Q messages a second to the host.
//                    Measures delivery latency both ways.
//   brainrot         R rooms each playing whole brainrot games in a loop, every client pausing
//                    --think-ms before each action; latency per command and games per minute.
//   quiz             R quiz lobbies of M players playing whole games in a loop on sessions;
//                    answer_result delivery after each close and the timer's close lateness.
//   alias            R Alias rooms of a host and M players playing whole games in a loop on
//                    sessions, players dropping and resuming (--drop-every-s); delivery latency
//                    per frame type, the host's swipe round trip, connect and reconnect times.
//   mafia            N players join the public Mafia queue over --join-within-s and play matched
//                    games to the end, re-queueing until --games games ended; queue-to-game
//                    time, room sizes, waits over 30 s, history records written.
//   join-storm       N relay players connect and join at once; time until all joined.
//   reconnect-storm  N seated relay players drop and reclaim their seats at once; time until all
//                    resynced.
//   idle             N player connections that only keep alive; server RSS per connection.
// --sessions: the relay players of every relay scenario ask for a session (sessionId, numbered
// frames, ACKs, heartbeats); reconnect-storm then resumes them with RECONNECT.
// --transport socketio: the relay scenarios' clients speak Socket.IO (Engine.IO over WebSocket)
// on /socket.io/ instead of JSON frames on /ws/relay; rooms still come from the admin API.
// Every run is bounded by --duration and by counts; only 127.0.0.1 unless --host says otherwise.
#include <pthread.h>
#include <time.h>

#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <iostream>

#include "runner.hpp"

namespace partyload {

// The mafia scenario (mafia.cpp): --join-within-s and --games are its own.
void run_mafia(runner& r, double join_within_s, int games, json::object& result);

runner::runner(const options& o) : opt(o) {
  for (int i = 0; i < opt.threads; ++i) {
    contexts_.push_back(std::make_unique<net::io_context>(1));
    shards_.push_back(std::make_unique<shard>());
  }
  tcp::resolver resolver(*contexts_[0]);
  endpoints = resolver.resolve(opt.host, opt.port);
}

runner::~runner() {
  finish([](int) {});
}

void runner::start() {
  for (auto& ctx : contexts_) {
    threads_.emplace_back([c = ctx.get()] {
      auto guard = net::make_work_guard(*c);
      c->run();
    });
  }
  last_thread_cpu_ = thread_cpu();
}

void runner::finish(const std::function<void(int)>& stop_thread) {
  if (finished_) return;
  finished_ = true;
  run.stopping.store(true);
  if (threads_.empty()) return;
  std::atomic<int> pending{threads()};
  for (int i = 0; i < threads(); ++i) {
    net::post(*contexts_[i], [i, &stop_thread, &pending] {
      stop_thread(i);
      pending.fetch_sub(1);
    });
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (pending.load() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  for (auto& ctx : contexts_) ctx->stop();
  for (auto& t : threads_) t.join();
  threads_.clear();
}

std::uint64_t runner::sum(std::atomic<std::uint64_t> shard::*field) const {
  std::uint64_t total = 0;
  for (const auto& s : shards_) total += ((*s).*field).load(std::memory_order_relaxed);
  return total;
}

std::int64_t runner::last_join_ns() const {
  std::int64_t last = 0;
  for (const auto& s : shards_) last = std::max(last, s->last_join_ns.load());
  return last;
}

summary runner::merged(histogram shard::*h) const {
  std::vector<const histogram*> parts;
  for (const auto& s : shards_) parts.push_back(&((*s).*h));
  return summarize(parts);
}

summary runner::merged(std::array<histogram, command_count> shard::*h, command c) const {
  std::vector<const histogram*> parts;
  for (const auto& s : shards_) parts.push_back(&((*s).*h)[static_cast<int>(c)]);
  return summarize(parts);
}

std::vector<double> runner::thread_cpu() const {
  std::vector<double> out;
  for (auto& t : const_cast<std::vector<std::thread>&>(threads_)) {
    clockid_t clock{};
    timespec ts{};
    if (pthread_getcpuclockid(t.native_handle(), &clock) == 0 && clock_gettime(clock, &ts) == 0) {
      out.push_back(static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) / 1e9);
    } else {
      out.push_back(0);
    }
  }
  return out;
}

double runner::progress(double seconds, const std::function<bool()>& done,
                        const std::function<std::string()>& line) {
  const auto started = std::chrono::steady_clock::now();
  const auto limit = started + std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                                   std::chrono::duration<double>(seconds));
  auto next_report = started + std::chrono::seconds(1);
  int second = 0;
  last_thread_cpu_ = thread_cpu();
  auto last_cpu_at = started;
  while (true) {
    const auto now = std::chrono::steady_clock::now();
    if (done()) break;
    if (now >= next_report) {
      ++second;
      const auto cpu = thread_cpu();
      double busiest = 0;
      for (std::size_t i = 0; i < cpu.size() && i < last_thread_cpu_.size(); ++i) {
        busiest = std::max(busiest, cpu[i] - last_thread_cpu_[i]);
      }
      last_thread_cpu_ = cpu;
      const double wall = std::chrono::duration<double>(now - last_cpu_at).count();
      last_cpu_at = now;
      if (wall > 0) busiest /= wall;
      std::fprintf(stderr, "t=%2ds %s errors=%llu loadgen_cpu(busiest thread)=%.0f%%\n", second,
                   line().c_str(), static_cast<unsigned long long>(run.errors.load()),
                   100 * busiest);
      if (busiest > 0.9) {
        std::fprintf(stderr,
                     "warning: a partyload io thread is above 90%% CPU; partyload may be the "
                     "limit (add --threads)\n");
      }
      next_report += std::chrono::seconds(1);
    }
    if (now >= limit) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
}

void runner::begin_window() {
  window_start_ns_ = mono_ns();
  server_cpu_start_ = opt.server_pid ? process_cpu_seconds(opt.server_pid) : 0;
  self_cpu_start_ = process_cpu_seconds(0);
  frames_start_ = sum(&shard::frames_in);
}

double runner::end_window(json::object& result) {
  const double elapsed = static_cast<double>(mono_ns() - window_start_ns_) / 1e9;
  const double self_cpu = process_cpu_seconds(0) - self_cpu_start_;
  const auto frames = sum(&shard::frames_in) - frames_start_;
  result["loadgen_cpu_percent"] = elapsed > 0 ? 100 * self_cpu / elapsed : 0.0;
  result["loadgen_frames_in_per_s"] = elapsed > 0 ? static_cast<double>(frames) / elapsed : 0.0;
  result["loadgen_cpu_us_per_frame"] = frames ? 1e6 * self_cpu / static_cast<double>(frames) : 0.0;
  if (opt.server_pid) {
    server_cpu_ = process_cpu_seconds(opt.server_pid) - server_cpu_start_;
    result["server_cpu_percent"] = elapsed > 0 ? 100 * server_cpu_ / elapsed : 0.0;
  }
  return elapsed;
}

void print_latency_header() {
  std::fprintf(stderr, "%-28s %9s %9s %9s %9s %9s\n", "latency (ms)", "count", "p50", "p95", "p99",
               "max");
}

void print_latency_row(const std::string& name, const summary& s) {
  std::fprintf(stderr, "%-28s %9llu %9.3f %9.3f %9.3f %9.3f\n", name.c_str(),
               static_cast<unsigned long long>(s.count), s.p50_ms, s.p95_ms, s.p99_ms, s.max_ms);
}

namespace {

void usage(std::FILE* out) {
  std::fprintf(
      out,
      "usage: partyload [--host H] [--port P] --token T [--scenario S] [options]\n"
      "  --host 127.0.0.1 and --port 8080 by default; --token is partyd's --admin-token\n"
      "  --scenario relay-fanout (default)\n"
      "      --rooms R --players M --rate P (states/s/room) --size S (bytes)\n"
      "      [--player-rate Q (messages/s/player)] [--burst B (states per host tick)]\n"
      "      relay rooms made through the admin API; 1 host + M players each; latency both ways\n"
      "  --scenario brainrot\n"
      "      --rooms R --players M (play devices per room, plus 1 master; default 8)\n"
      "      --think-ms T (mean pause before each action of a client; default 2000)\n"
      "      [--game-rounds N (default 2)] [--game-items N (per round, default 3)]\n"
      "      [--ramp-s S (room starts spread over the first S seconds; default 0)]\n"
      "      whole games in a loop (create over the socket, join, take, rename, start, open,\n"
      "      vote, end item, next round, close); latency per command, games per minute\n"
      "  --scenario quiz\n"
      "      --rooms R --players M (per lobby, host included; default 8) --think-ms T (mean\n"
      "      pause before an answer) [--game-rounds N (questions per game)] [--question-s S\n"
      "      (seconds per question, default 15)] [--ramp-s S]: lobbies playing whole games in\n"
      "      a loop on sessions; partyd must run without a token key (development mode)\n"
      "  --scenario alias\n"
      "      --rooms R --players M (besides the host; 4 to the server's --alias-max-players,\n"
      "      default 6) --think-ms T (the host's pause before a swipe, default 3000)\n"
      "      [--round-sec S (roundDurationSec, 10 to 300, default 60)] [--ramp-s S]\n"
      "      [--drop-every-s S (every S seconds a random player drops its socket and resumes\n"
      "      1 to 4 s later with RECONNECT; default 0: never)]: rooms playing whole games in\n"
      "      a loop on sessions; delivery per frame type, swipe round trip, (re)connect times\n"
      "  --scenario mafia\n"
      "      --players N (default 5000) [--join-within-s S (joins spread evenly over S s,\n"
      "      default 10)] [--games G (stop once G games ended, default 500; players re-queue\n"
      "      after each game until then)] [--think-ms T (pause before a night action or a vote,\n"
      "      default 200)] [--admin-token T (same as --token)] [--duration S (bound, default\n"
      "      300)]: the public queue of /ws/mafia on sessions; queue-to-game time (join to\n"
      "      game:role), room sizes, waits over 30 s, games ended and winners, then\n"
      "      partyd_history_records_written_total from /metrics; the fast pace is the server's\n"
      "      (--mafia-match-countdown-ms, --mafia-match-*-s, --max-connections-per-ip 0)\n"
      "  --scenario join-storm\n"
      "      --connections N --rooms R: N relay players join R rooms at once; time until all\n"
      "  --scenario reconnect-storm\n"
      "      --connections N --rooms R: N seated players (plus 1 host per room) drop their\n"
      "      sockets at once and reclaim their seats; time until all resynced\n"
      "  --scenario idle\n"
      "      --connections N --rooms R: joined players that only keep alive; server RSS\n"
      "  --sessions (relay scenarios): players send \"version\":\"1.0\" and get a session:\n"
      "      sequenceIds checked for gaps, reliable frames ACKed, a HEARTBEAT every\n"
      "      heartbeatIntervalMs; in reconnect-storm they resume with RECONNECT (time until\n"
      "      all RECONNECTED)\n"
      "  --before-storm CMD (reconnect-storm --sessions): after every client dropped its\n"
      "      socket, run the shell command CMD (e.g. restart the server on the same store and\n"
      "      wait until it is ready), then resume; the server's CPU and RSS are not reported\n"
      "  --transport json|socketio (relay scenarios, default json): socketio opens each\n"
      "      client's WebSocket on /socket.io/?EIO=4&transport=websocket, joins the namespace\n"
      "      \"/\", answers pings and sends and reads the same messages as Socket.IO events\n"
      "      (docs/protocol/socketio.md); --socketio-game NAME adds &game=NAME (default: none,\n"
      "      the server's default game); not with --sessions\n"
      "  common: --duration SECONDS (bound of the run, <= 600) --threads T [--server-pid PID]\n"
      "  Output: progress each second and a table on stderr, one JSON line on stdout.\n"
      "  Exit status 0 when there was no error.\n");
}

}  // namespace
}  // namespace partyload

int main(int argc, char** argv) {
  using namespace partyload;
  options opt;
  alias_options alias;
  double mafia_join_within_s = 10;
  int mafia_games = 500;
  bool players_given = false;
  bool think_given = false;
  bool duration_given = false;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string arg = argv[i];
      auto next = [&]() -> std::string {
        if (i + 1 >= argc) {
          usage(stderr);
          std::exit(2);
        }
        return argv[++i];
      };
      if (arg == "--host")
        opt.host = next();
      else if (arg == "--port")
        opt.port = next();
      else if (arg == "--token" || arg == "--admin-token")
        opt.token = next();
      else if (arg == "--scenario")
        opt.scenario = next();
      else if (arg == "--rooms")
        opt.rooms = std::stoi(next());
      else if (arg == "--players") {
        opt.players = std::stoi(next());
        players_given = true;
      } else if (arg == "--rate")
        opt.state_rate = std::stod(next());
      else if (arg == "--player-rate")
        opt.player_rate = std::stod(next());
      else if (arg == "--size")
        opt.state_bytes = std::stoi(next());
      else if (arg == "--duration") {
        opt.duration_s = std::stod(next());
        duration_given = true;
      } else if (arg == "--join-within-s")
        mafia_join_within_s = std::stod(next());
      else if (arg == "--games")
        mafia_games = std::stoi(next());
      else if (arg == "--threads")
        opt.threads = std::stoi(next());
      else if (arg == "--connections")
        opt.connections = std::stoi(next());
      else if (arg == "--server-pid")
        opt.server_pid = std::stoi(next());
      else if (arg == "--burst")
        opt.burst = std::stoi(next());
      else if (arg == "--think-ms") {
        opt.think_ms = std::stod(next());
        think_given = true;
      } else if (arg == "--ramp-s")
        opt.ramp_s = std::stod(next());
      else if (arg == "--game-rounds")
        opt.game_rounds = std::stoi(next());
      else if (arg == "--game-items")
        opt.game_items = std::stoi(next());
      else if (arg == "--question-s")
        opt.question_s = std::stoi(next());
      else if (arg == "--round-sec")
        alias.round_sec = std::stoi(next());
      else if (arg == "--drop-every-s")
        alias.drop_every_s = std::stod(next());
      else if (arg == "--sessions")
        opt.sessions = true;
      else if (arg == "--before-storm")
        opt.before_storm = next();
      else if (arg == "--transport") {
        const std::string name = next();
        if (name == "json") {
          opt.transport = transport_kind::json;
        } else if (name == "socketio") {
          opt.transport = transport_kind::socketio;
        } else {
          std::fprintf(stderr, "partyload: --transport is json or socketio\n");
          return 2;
        }
      } else if (arg == "--socketio-game")
        opt.socketio_game = next();
      else if (arg == "--help" || arg == "-h") {
        usage(stdout);
        return 0;
      } else {
        std::fprintf(stderr, "partyload: unknown argument %s\n", arg.c_str());
        usage(stderr);
        return 2;
      }
    }
  } catch (const std::exception&) {
    std::fprintf(stderr, "partyload: bad number in the arguments\n");
    usage(stderr);
    return 2;
  }
  if (opt.scenario == "alias") {
    // Its own defaults: the design's room of 6 players and a host, a swipe every 3 s.
    if (!players_given) opt.players = 6;
    if (!think_given) opt.think_ms = 3000;
  }
  if (opt.scenario == "mafia") {
    // The figure's storm: 5,000 players at a fast pace, bounded by --games rather than time.
    if (!players_given) opt.players = 5000;
    if (!think_given) opt.think_ms = 200;
    if (!duration_given) opt.duration_s = 300;
  }
  if (opt.duration_s <= 0 || opt.duration_s > 600 || opt.rooms <= 0 || opt.threads <= 0 ||
      opt.threads > 64 || opt.players < 0 || opt.players > 10000 || opt.connections <= 0 ||
      opt.connections > 1000000 || opt.burst <= 0 || opt.think_ms < 0 || opt.ramp_s < 0 ||
      opt.game_rounds <= 0 || opt.game_items <= 0 || opt.game_rounds * opt.game_items > 1000) {
    std::fprintf(
        stderr,
        "partyload: duration must be in (0, 600] s; rooms, threads (<= 64), connections "
        "and burst positive; players in [0, 10000]; think-ms, ramp-s >= 0; game rounds x items "
        "in [1, 1000]\n");
    return 2;
  }
  std::function<void(runner&, json::object&)> scenario;
  if (opt.scenario == "relay-fanout")
    scenario = run_relay_fanout;
  else if (opt.scenario == "brainrot")
    scenario = run_brainrot;
  else if (opt.scenario == "quiz")
    scenario = run_quiz;
  else if (opt.scenario == "alias")
    scenario = [&alias](runner& r, json::object& result) { run_alias(r, alias, result); };
  else if (opt.scenario == "mafia")
    scenario = [&](runner& r, json::object& result) {
      run_mafia(r, mafia_join_within_s, mafia_games, result);
    };
  else if (opt.scenario == "join-storm")
    scenario = run_join_storm;
  else if (opt.scenario == "reconnect-storm")
    scenario = run_reconnect_storm;
  else if (opt.scenario == "idle")
    scenario = run_idle;
  if (scenario == nullptr) {
    std::fprintf(stderr, "partyload: unknown scenario %s\n", opt.scenario.c_str());
    usage(stderr);
    return 2;
  }
  if (opt.scenario == "mafia" &&
      (opt.players < 1 || !std::isfinite(mafia_join_within_s) || mafia_join_within_s < 0 ||
       mafia_join_within_s > 600 || mafia_games < 1)) {
    std::fprintf(stderr,
                 "partyload: mafia needs --players >= 1, --join-within-s in [0, 600] and "
                 "--games >= 1\n");
    return 2;
  }
  if (opt.scenario != "mafia" && (mafia_join_within_s != 10 || mafia_games != 500)) {
    std::fprintf(stderr, "partyload: --join-within-s and --games are for --scenario mafia\n");
    return 2;
  }
  if (opt.sessions &&
      (opt.scenario == "brainrot" || opt.scenario == "alias" || opt.scenario == "mafia")) {
    std::fprintf(stderr, "partyload: --sessions is for the relay scenarios\n");
    return 2;
  }
  const bool relay_scenario = opt.scenario == "relay-fanout" || opt.scenario == "idle" ||
                              opt.scenario == "join-storm" || opt.scenario == "reconnect-storm";
  if (opt.transport == transport_kind::socketio && (!relay_scenario || opt.sessions)) {
    // Sessions over Socket.IO resume through the CONNECT's pid and offset, which this client
    // does not implement.
    std::fprintf(stderr,
                 "partyload: --transport socketio is for the relay scenarios, without "
                 "--sessions\n");
    return 2;
  }
  if (!opt.socketio_game.empty() &&
      (opt.transport != transport_kind::socketio ||
       opt.socketio_game.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") !=
           std::string::npos)) {
    // It goes into the request target as written.
    std::fprintf(stderr,
                 "partyload: --socketio-game needs --transport socketio and a name of "
                 "[a-z0-9_-]\n");
    return 2;
  }
  if (!opt.before_storm.empty() && (!opt.sessions || opt.scenario != "reconnect-storm")) {
    std::fprintf(stderr, "partyload: --before-storm needs --scenario reconnect-storm --sessions\n");
    return 2;
  }
  if (opt.scenario == "quiz" &&
      (opt.players < 1 || opt.question_s < 5 || opt.question_s > 120 || opt.game_rounds > 50)) {
    std::fprintf(stderr,
                 "partyload: quiz needs --players >= 1, --question-s in [5, 120] and "
                 "--game-rounds <= 50\n");
    return 2;
  }
  if (opt.scenario == "alias" &&
      (opt.players < 4 || opt.players > 64 || alias.round_sec < 10 || alias.round_sec > 300 ||
       !std::isfinite(alias.drop_every_s) || alias.drop_every_s < 0)) {
    std::fprintf(stderr,
                 "partyload: alias needs --players in [4, 64] (two teams of at least 2), "
                 "--round-sec in [10, 300] and --drop-every-s >= 0\n");
    return 2;
  }
  if (opt.scenario != "alias" && (alias.round_sec != 60 || alias.drop_every_s != 0)) {
    std::fprintf(stderr, "partyload: --round-sec and --drop-every-s are for --scenario alias\n");
    return 2;
  }
  if (opt.scenario == "brainrot" && opt.players < 2) {
    std::fprintf(stderr, "partyload: brainrot needs --players >= 2\n");
    return 2;
  }

  json::object result{{"scenario", opt.scenario}};
  if (opt.transport == transport_kind::socketio) result["transport"] = "socketio";
  std::uint64_t errors = 0;
  try {
    runner r(opt);
    scenario(r, result);
    errors = r.run.errors.load();
    result["errors"] = errors;
    result["errors_by_code"] = r.run.errors_json();
    if (errors > 0) {
      std::fprintf(stderr, "errors by code:\n");
      for (const auto& [code, count] : result["errors_by_code"].as_object()) {
        std::fprintf(stderr, "  %-40s %llu\n", std::string(code).c_str(),
                     static_cast<unsigned long long>(count.to_number<std::uint64_t>()));
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "partyload: %s\n", e.what());
    return 2;
  }
  std::printf("%s\n", json::serialize(result).c_str());
  return errors == 0 ? 0 : 1;
}
