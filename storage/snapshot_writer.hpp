// The background snapshot writer: the only thread that talks to the snapshot store. Workers hand
// it finished snapshot bytes through a lock-free queue (offer); it keeps only the newest per room,
// writes whatever accumulated as one pipelined batch, deletes the keys of closed rooms, and on a
// store failure keeps everything pending and retries with capped exponential backoff.
// Memory: at most one pending snapshot per room. Threads: offer() from workers; degraded(),
// describe() from any thread; everything else on the writer thread. Also: restore_rooms() at boot.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <concurrentqueue/blockingconcurrentqueue.h>

#include "engine/metrics.hpp"
#include "engine/runtime.hpp"
#include "engine/snapshot_sink.hpp"
#include "storage/snapshot_store.hpp"

namespace partyd {

// A failed room's snapshot kept aside (snapshot_job::kind::quarantine), as the admin API lists it.
struct quarantined_room {
  std::string code;
  std::string game;
  std::uint64_t version = 0;  // state version of the kept snapshot
  time_ms created_at = 0;
  time_ms last_activity = 0;
  std::size_t bytes = 0;
};
using quarantine_listing = std::function<void(store_result, std::vector<quarantined_room>)>;

struct writer_options {
  std::size_t batch_max = 1000;  // records per pipelined batch
  // How long routine snapshots may wait to share a batch; important ones go at once.
  std::chrono::milliseconds linger{50};
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds stop_deadline{10000};  // how long stop() keeps retrying a dead store
};

class snapshot_writer final : public snapshot_sink {
 public:
  snapshot_writer(std::unique_ptr<snapshot_store> store, metrics_registry& metrics,
                  writer_options options = {});
  ~snapshot_writer() override;

  void start();
  // Writes everything pending (retrying until options.stop_deadline), then joins the thread.
  void stop();

  void offer(snapshot_job&& job) noexcept override;
  bool healthy() const noexcept override { return !degraded(); }

  bool degraded() const noexcept { return degraded_.load(std::memory_order_relaxed); }
  // Any thread: reads the quarantined snapshots on the writer thread (the store is its alone) and
  // calls `done` there, sorted by code; with a failure when the store cannot be read or the writer
  // is stopping.
  void list_quarantined(quarantine_listing done);
  // Boot only, before start(): the store, for restore_rooms().
  snapshot_store& store() noexcept { return *store_; }
  const std::string& describe() const noexcept { return description_; }

 private:
  void run();
  void absorb(snapshot_job&& job);
  bool flush();  // false when the store failed
  void serve_listings();

  std::unique_ptr<snapshot_store> store_;
  const std::string description_;
  writer_options options_;
  moodycamel::BlockingConcurrentQueue<snapshot_job> queue_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> degraded_{false};

  // Writer thread only.
  std::map<std::string, snapshot_job> pending_writes_;
  std::set<std::string> pending_removes_;
  std::set<std::string> pending_quarantines_;  // moved aside after any pending write of theirs
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point batch_due_{};
  bool urgent_ = false;

  counter& written_;
  counter& removed_;
  counter& quarantined_;
  counter& failures_;
  counter& retries_;
  counter& batches_;
  gauge& pending_;
  gauge& oldest_age_ms_;
  gauge& store_up_;
  histogram& batch_latency_;

  std::mutex listings_mutex_;
  std::vector<quarantine_listing> listings_;  // guarded by listings_mutex_
};

struct restore_report {
  std::size_t loaded = 0;
  std::size_t restored = 0;
  std::size_t skipped = 0;
  bool store_ok = true;
  std::string error;
};

// Boot: rebuilds every room found in the store. A snapshot that cannot be decoded or restored is
// logged, counted (partyd_snapshot_restore_failures_total) and skipped; it never stops the boot.
restore_report restore_rooms(snapshot_store& store, runtime& engine, metrics_registry& metrics);

}  // namespace partyd
