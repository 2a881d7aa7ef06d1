// partyload: what the game scenarios (brainrot, quiz, alias) share around their rooms. room_base:
// one room on its io thread (its clients, a delayed start, the restart after a failure, the stall
// check). room_set: the rooms of a run, started over --ramp-s, with a stall watchdog per io
// thread. measure_after_warmup: a warm-up, then the measured window over the rest of --duration.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "runner.hpp"

namespace partyload {

// A room on one io thread, and its clients (the host first). Room (CRTP) has open_room(): a new
// room, from the host's connection on; it may replace abort_room() (check_stalled calls Room's).
// Client has halt() (stop for good) and, for this abort_room(), reset() (drop the socket and
// forget the room).
template <class Room, class Client>
class room_base {
 public:
  runner& r() { return r_; }
  net::io_context& context() { return r_.context(thread_); }
  shard& counters() { return r_.shard_of(thread_); }
  int players() const { return r_.opt.players; }
  Client& client(int i) { return *clients_[i]; }
  std::minstd_rand& rng() { return rng_; }

  // A client's pause before an action, as a person's: uniform in [0.5, 1.5] x --think-ms.
  std::int64_t think_ns() {
    std::uniform_real_distribution<double> spread(0.5, 1.5);
    return static_cast<std::int64_t>(r_.opt.think_ms * 1e6 * spread(rng_));
  }

  // Opens the room `delay` from now; the stall check waits for it.
  void start_after(std::chrono::nanoseconds delay) {
    last_progress_ns = mono_ns() + delay.count();
    start_timer_.expires_after(delay);
    start_timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && !r_.run.stopping.load()) static_cast<Room*>(this)->open_room();
    });
  }
  // Something went wrong (counted already): drop every socket and start a new room a second
  // later, so that a server refusing connections is not answered with a storm of new ones.
  void abort_room() {
    for (auto& c : clients_) c->reset();
    start_after(std::chrono::seconds(1));
  }
  void halt() {
    start_timer_.cancel();
    for (auto& c : clients_) c->halt();
  }
  // No frame for `limit_ns`: the game is stuck (a lost reply, a server that stopped answering).
  void check_stalled(std::int64_t now, std::int64_t limit_ns) {
    if (now - last_progress_ns < limit_ns) return;
    r_.run.error("game_stalled");
    static_cast<Room*>(this)->abort_room();
  }

  std::int64_t last_progress_ns = 0;  // mono_ns() of the room's latest frame
  std::string code;                   // the room's code, once the server has sent it

 protected:
  room_base(runner& r, int thread, std::minstd_rand::result_type seed)
      : r_(r), thread_(thread), rng_(seed), start_timer_(r.context(thread)) {}

  std::vector<std::unique_ptr<Client>> clients_;  // filled by Room's constructor

 private:
  runner& r_;
  int thread_;
  std::minstd_rand rng_;
  net::steady_timer start_timer_;
};

// The rooms of a run: room i on io thread i % threads, made by make(thread, i). Once a second, a
// watchdog per io thread calls check_stalled(now, stall_ns) on each room of its thread.
template <class Room>
class room_set {
 public:
  template <class Make>
  room_set(runner& r, std::int64_t stall_ns, Make make)
      : r_(r), stall_ns_(stall_ns), rooms_(r.threads()) {
    for (int i = 0; i < r.opt.rooms; ++i) {
      const int t = i % r.threads();
      rooms_[t].push_back(make(t, i));
    }
    for (int t = 0; t < r.threads(); ++t) {
      watchdogs_.push_back(std::make_unique<net::steady_timer>(r.context(t)));
    }
  }

  // After runner::start: on every io thread, its rooms open at their share of --ramp-s (room
  // k * threads + t of R at that fraction of it) and its watchdog starts.
  void start() {
    for (int t = 0; t < r_.threads(); ++t) {
      net::post(r_.context(t), [this, t] {
        for (std::size_t k = 0; k < rooms_[t].size(); ++k) {
          const double at =
              static_cast<double>(k * rooms_.size() + t) / static_cast<double>(r_.opt.rooms);
          rooms_[t][k]->start_after(
              std::chrono::nanoseconds(static_cast<std::int64_t>(at * r_.opt.ramp_s * 1e9)));
        }
        watch(t);
      });
    }
  }

  // On io thread t (from runner::finish): its watchdog and its rooms stop.
  void halt(int t) {
    watchdogs_[t]->cancel();
    for (auto& room : rooms_[t]) room->halt();
  }

 private:
  void watch(int t) {
    watchdogs_[t]->expires_after(std::chrono::seconds(1));
    watchdogs_[t]->async_wait([this, t](boost::system::error_code ec) {
      if (ec || r_.run.stopping.load()) return;
      const std::int64_t now = mono_ns();
      for (auto& room : rooms_[t]) room->check_stalled(now, stall_ns_);
      watch(t);
    });
  }

  runner& r_;
  std::int64_t stall_ns_;
  std::vector<std::vector<std::unique_ptr<Room>>> rooms_;  // by io thread
  std::vector<std::unique_ptr<net::steady_timer>> watchdogs_;
};

// --duration of a game scenario: `warmup` seconds of progress lines (a start's connection storm
// is not a game's steady state), then the measured window, with run.measuring set, over the rest.
// `result` gets the window's figures (runner::end_window) and, with --server-pid, the server's RSS
// before (`rss_before`, read before runner::start) and after. Returns the window's seconds.
inline double measure_after_warmup(runner& r, double warmup, long rss_before,
                                   const std::function<std::string()>& line, json::object& result) {
  r.progress(
      warmup, [] { return false; }, line);
  r.begin_window();
  r.run.measuring.store(true);
  r.progress(
      r.opt.duration_s - warmup, [] { return false; }, line);
  r.run.measuring.store(false);
  const double elapsed = r.end_window(result);
  if (r.opt.server_pid) {
    result["server_rss_kib_before"] = rss_before;
    result["server_rss_kib_after"] = rss_kib(r.opt.server_pid);
  }
  return elapsed;
}

}  // namespace partyload
