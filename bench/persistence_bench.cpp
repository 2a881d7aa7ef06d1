// persistence_bench: how fast the snapshot writer empties a burst of dirty rooms into a store.
// Creates N relay rooms in an in-process engine while the writer is paused (every new room is
// dirty and important), then starts the writer and times until every snapshot is in the store.
// The keys stay in the store, so tools/bench-persistence.sh can time a partyd restart over them.
//
//   persistence_bench --store redis://127.0.0.1:6390 --rooms 100000 [--players 8]
//   persistence_bench --store file:/tmp/x --steady-seconds 10 [--rooms 1000] [--batch 50]
//     the store alone in a steady state: `rooms` rooms of 1.5 kB each rewritten once a second in
//     batches of `batch` (the writer's 50 ms linger at 1000 snapshots/s), for that long; prints
//     the writer thread's CPU per snapshot and the batch latency percentiles.
// Besides every --store setting of partyd, two candidates the embedded store was measured
// against: per-room-files:<dir> (the store before the log) and lmdb:<dir> (when built with LMDB).
#include <time.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>

#include <boost/json.hpp>

#include "engine/log.hpp"
#include "engine/metrics.hpp"
#include "engine/runtime.hpp"
#include "games/registry.hpp"
#include "storage/file_store.hpp"
#include "storage/snapshot_store.hpp"
#include "storage/snapshot_writer.hpp"
#ifdef PARTYD_BENCH_LMDB
#include "lmdb_candidate.hpp"
#endif

namespace {

std::uint64_t counter_value(const std::string& metrics, const std::string& name) {
  const auto at = metrics.find("\n" + name + " ");
  if (at == std::string::npos) return 0;
  return std::stoull(metrics.substr(at + name.size() + 2));
}

double thread_cpu_seconds() {
  timespec t{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) / 1e9;
}

// The store alone: what one snapshot costs the writer thread when 1000 rooms change every second.
int steady_state(partyd::snapshot_store& store, std::size_t rooms, std::size_t batch,
                 double seconds) {
  std::vector<partyd::snapshot_record> records;
  for (std::size_t i = 0; i < rooms; ++i) {
    records.push_back({"ROOM" + std::to_string(100000 + i), std::string(1500, 'x'), 300});
  }
  std::string lost;
  store.check_intact(lost);
  std::vector<double> latencies_us;
  const auto started = std::chrono::steady_clock::now();
  const double cpu_started = thread_cpu_seconds();
  std::size_t written = 0;
  std::vector<partyd::snapshot_record> slice;
  std::uint64_t round = 0;
  // Paced: one batch every batch/rooms seconds, as the writer sees them at `rooms` changes/s.
  const auto period =
      std::chrono::duration<double>(static_cast<double>(batch) / static_cast<double>(rooms));
  auto next = started;
  while (std::chrono::steady_clock::now() - started < std::chrono::duration<double>(seconds)) {
    slice.clear();
    for (std::size_t k = 0; k < batch; ++k) {
      partyd::snapshot_record r = records[(written + k) % rooms];
      r.value[0] = static_cast<char>('a' + round % 26);
      slice.push_back(std::move(r));
    }
    const auto t0 = std::chrono::steady_clock::now();
    if (!store.write(slice).ok) {
      std::fprintf(stderr, "write failed\n");
      return 1;
    }
    latencies_us.push_back(
        std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count());
    written += batch;
    ++round;
    next += std::chrono::duration_cast<std::chrono::steady_clock::duration>(period);
    std::this_thread::sleep_until(next);
  }
  const double cpu = thread_cpu_seconds() - cpu_started;
  std::sort(latencies_us.begin(), latencies_us.end());
  const auto pct = [&](double p) {
    return latencies_us[std::min(
        latencies_us.size() - 1,
        static_cast<std::size_t>(p * static_cast<double>(latencies_us.size())))];
  };
  std::printf(
      "{\"bench\":\"store_steady\",\"store\":\"%s\",\"rooms\":%zu,\"batch\":%zu,"
      "\"snapshots\":%zu,\"cpu_us_per_snapshot\":%.2f,\"batch_p50_us\":%.0f,"
      "\"batch_p99_us\":%.0f,\"batch_max_us\":%.0f}\n",
      store.describe().c_str(), rooms, batch, written, cpu * 1e6 / static_cast<double>(written),
      pct(0.50), pct(0.99), latencies_us.back());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string setting = "redis://127.0.0.1:6379";
  std::string prefix = "partyd:room:";
  std::size_t rooms = 0;  // default: 100,000 for a flush, 1000 for a steady state
  std::size_t batch = 50;
  double steady_seconds = 0;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--store"))
      setting = argv[i + 1];
    else if (!std::strcmp(argv[i], "--rooms"))
      rooms = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--prefix"))
      prefix = argv[i + 1];
    else if (!std::strcmp(argv[i], "--batch"))
      batch = std::stoul(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--steady-seconds"))
      steady_seconds = std::stod(argv[i + 1]);
  }
  partyd::log::set_level(partyd::log::level::warn);  // no line per created room
  std::string error;
  std::unique_ptr<partyd::snapshot_store> store;
  if (setting.starts_with("per-room-files:")) {
    store = std::make_unique<partyd::file_store>(setting.substr(15));
#ifdef PARTYD_BENCH_LMDB
  } else if (setting.starts_with("lmdb:")) {
    store = std::make_unique<partyd::bench::lmdb_candidate>(setting.substr(5));
#endif
  } else {
    store = partyd::make_snapshot_store(setting, prefix, error);
  }
  if (!store) {
    std::fprintf(stderr, "persistence_bench: %s\n", error.empty() ? "no store" : error.c_str());
    return 2;
  }
  if (steady_seconds > 0) {
    return steady_state(*store, rooms == 0 ? 1000 : rooms, batch, steady_seconds);
  }
  if (rooms == 0) {
    rooms = 100000;
  }
  partyd::metrics_registry metrics;
  partyd::runtime_options options;
  options.max_rooms = rooms + 1;
  options.room_code_length = 8;
  partyd::runtime engine(options, metrics);
  for (const auto& game : partyd::game_factories()) {
    engine.add_module(game->make());
  }
  partyd::snapshot_writer writer(std::move(store), metrics);
  engine.set_snapshot_sink(&writer);
  engine.start();

  const auto* relay = engine.module_by_name("relay");
  const boost::json::object room_options{{"password", "pw"}, {"maxPlayers", 8}};
  for (std::size_t i = 0; i < rooms; ++i) {
    auto outcome = engine.create_room(*relay, room_options);
    if (outcome.error) {
      std::fprintf(stderr, "create failed: %s\n", outcome.error.message.c_str());
      return 1;
    }
  }
  // Wait until every room's first snapshot has been handed to the (not yet running) writer.
  while (metrics.get_gauge("partyd_inbox_depth", "", "").value() > 0) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(50));

  const auto started = std::chrono::steady_clock::now();
  writer.start();
  for (;;) {
    const std::string text = metrics.render();
    if (counter_value(text, "partyd_snapshots_written_total") >= rooms) break;
    if (std::chrono::steady_clock::now() - started > std::chrono::seconds(120)) {
      std::fprintf(stderr, "timed out; store failures: %llu\n",
                   static_cast<unsigned long long>(
                       counter_value(text, "partyd_snapshot_store_failures_total")));
      return 1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  const std::string text = metrics.render();
  std::printf(
      "{\"bench\":\"snapshot_flush\",\"store\":\"%s\",\"rooms\":%zu,\"seconds\":%.3f,"
      "\"snapshots_per_s\":%.0f,\"batches\":%llu,\"failures\":%llu}\n",
      writer.describe().c_str(), rooms, seconds, static_cast<double>(rooms) / seconds,
      static_cast<unsigned long long>(counter_value(text, "partyd_snapshot_batches_total")),
      static_cast<unsigned long long>(counter_value(text, "partyd_snapshot_store_failures_total")));
  engine.stop();
  writer.stop();
  return 0;
}
