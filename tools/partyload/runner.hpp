// partyload: the io threads of a run, the once-a-second progress loop and the measured window.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "common.hpp"

namespace partyload {

class runner {
 public:
  explicit runner(const options& opt);
  ~runner();

  const options& opt;
  run_state run;
  tcp::resolver::results_type endpoints;

  int threads() const { return static_cast<int>(contexts_.size()); }
  net::io_context& context(int i) { return *contexts_[i]; }
  shard& shard_of(int i) { return *shards_[i]; }

  // Starts one io thread per context.
  void start();
  // Runs `stop_thread(i)` on each io thread (to stop its connections), waits a moment for the
  // closes to go out, then stops and joins the threads. Idempotent.
  void finish(const std::function<void(int)>& stop_thread);

  std::uint64_t sum(std::atomic<std::uint64_t> shard::*field) const;
  std::int64_t last_join_ns() const;
  summary merged(histogram shard::*h) const;
  summary merged(std::array<histogram, command_count> shard::*h, command c) const;

  // Calls `line(second)` once a second (printed on stderr with the loadgen CPU and errors) until
  // `done()` holds or `seconds` have passed; returns the elapsed seconds. Warns when an io thread
  // is above 90% CPU.
  double progress(double seconds, const std::function<bool()>& done,
                  const std::function<std::string()>& line);

  // Measured window: server and loadgen CPU, frames received. end() adds server_cpu_percent,
  // loadgen_cpu_percent, loadgen_frames_in_per_s, loadgen_cpu_us_per_frame and returns the
  // window's length in seconds.
  void begin_window();
  double end_window(json::object& result);
  double window_server_cpu() const { return server_cpu_; }

 private:
  std::vector<double> thread_cpu() const;

  std::vector<std::unique_ptr<net::io_context>> contexts_;
  std::vector<std::unique_ptr<shard>> shards_;
  std::vector<std::thread> threads_;
  std::vector<double> last_thread_cpu_;
  bool finished_ = false;

  std::int64_t window_start_ns_ = 0;
  double server_cpu_start_ = 0;
  double self_cpu_start_ = 0;
  std::uint64_t frames_start_ = 0;
  double server_cpu_ = 0;
};

// Scenarios: each fills `result` (the JSON line) and prints its table on stderr.
void run_relay_fanout(runner& r, json::object& result);
void run_idle(runner& r, json::object& result);
void run_join_storm(runner& r, json::object& result);
void run_reconnect_storm(runner& r, json::object& result);
void run_brainrot(runner& r, json::object& result);
void run_quiz(runner& r, json::object& result);

// The alias scenario's own options (options holds those several scenarios share).
struct alias_options {
  int round_sec = 60;       // CREATE_ROOM's roundDurationSec
  double drop_every_s = 0;  // a random player drops and resumes this often; 0: never
};
void run_alias(runner& r, const alias_options& alias, json::object& result);

// One table row on stderr: name, then a latency summary.
void print_latency_row(const std::string& name, const summary& s);
void print_latency_header();

}  // namespace partyload
