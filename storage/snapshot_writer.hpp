// The background snapshot writer: the only thread that talks to the snapshot store. Workers hand
// it finished snapshot bytes through a lock-free queue (offer); it keeps only the newest per room,
// writes whatever accumulated as one pipelined batch, deletes the keys of closed rooms, and on a
// store failure keeps everything pending and retries with capped exponential backoff.
// Every check_interval it also asks the store whether it lost what was written (check_intact:
// Redis flushed or restarted, the file store's directory deleted) and then has the engine
// snapshot every room again (set_on_store_lost).
// Memory: at most one pending snapshot per room. Threads: offer() from workers; degraded(),
// describe() from any thread; everything else on the writer thread. Also: room_loader at boot.
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
#include <unordered_set>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>
#include <concurrentqueue/lightweightsemaphore.h>

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
  // How often the store is checked for a loss (snapshot_store::check_intact); also at once after
  // it came back from a failure.
  std::chrono::milliseconds check_interval{1000};
};

class snapshot_writer final : public snapshot_sink {
 public:
  snapshot_writer(std::unique_ptr<snapshot_store> store, metrics_registry& metrics,
                  writer_options options = {});
  ~snapshot_writer() override;

  // Before start(): called on the writer thread when the store lost its snapshots; the server
  // has the engine snapshot every room again (runtime::request_full_snapshot).
  void set_on_store_lost(std::function<void()> callback) { on_store_lost_ = std::move(callback); }
  // Boot only, before start(): whether the boot load could read the store. Until it could, the
  // writer counts as degraded (/ready: store_unreachable).
  void note_boot_load(bool store_ok);

  void start();
  // Writes everything pending (retrying until options.stop_deadline), then joins the thread.
  void stop();

  void offer(snapshot_job&& job) noexcept override;
  bool healthy() const noexcept override { return !degraded(); }

  bool degraded() const noexcept { return degraded_.load(std::memory_order_relaxed); }
  // Steady-clock ms of the last batch written to the store; 0 before the first.
  std::int64_t last_write_ms() const noexcept {
    return last_write_ms_.load(std::memory_order_relaxed);
  }
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
  void check_store();
  // degraded_ and the up gauge from the last write and check; logs the transitions.
  void update_health();

  std::unique_ptr<snapshot_store> store_;
  const std::string description_;
  writer_options options_;
  moodycamel::ConcurrentQueue<snapshot_job> queue_;
  // Wakes the writer. A routine offer signals only while no batch is open (batch_open_ false):
  // an open batch is written at its due time anyway, so the writer sleeps through the linger
  // instead of waking for every room (measured: ~1000 wake-ups a second at 1000 changing rooms).
  moodycamel::LightweightSemaphore wake_;
  std::atomic<bool> batch_open_{false};
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  std::atomic<bool> degraded_{false};
  std::atomic<std::int64_t> last_write_ms_{0};

  // Writer thread only.
  std::map<std::string, snapshot_job> pending_writes_;
  std::set<std::string> pending_removes_;
  std::set<std::string> pending_quarantines_;  // moved aside after any pending write of theirs
  std::chrono::steady_clock::time_point retry_at_{};
  std::chrono::milliseconds backoff_{0};
  std::chrono::steady_clock::time_point batch_due_{};
  bool urgent_ = false;
  bool write_failed_ = false;  // the last flush failed; retried with backoff
  bool check_failed_ = false;  // the last check_intact() could not reach the store
  std::chrono::steady_clock::time_point check_due_{};
  std::function<void()> on_store_lost_;

  counter& written_;
  counter& removed_;
  counter& quarantined_;
  counter& failures_;
  counter& retries_;
  counter& batches_;
  gauge& pending_;
  gauge& oldest_age_ms_;
  gauge& store_up_;
  counter& lost_;
  histogram& batch_latency_;

  std::mutex listings_mutex_;
  std::vector<quarantine_listing> listings_;  // guarded by listings_mutex_
};

struct restore_report {
  std::size_t loaded = 0;  // entries visited
  std::size_t restored = 0;
  std::size_t skipped = 0;
  bool store_ok = true;
  std::string error;
  std::string lost;  // check_intact() found the store lost what an earlier attempt loaded
};

// Boot: rebuilds every room found in the store. An entry that cannot be read, decoded or
// restored, or whose snapshot is of another room than its key says, is logged
// (snapshot_restore_failed, with the key and why), counted (partyd_snapshot_restore_failures_total)
// and skipped; it never stops the boot. When the store cannot be read, load() says so and may be
// called again: a key an earlier attempt visited is not visited again, so no room is restored
// twice and none that closed meanwhile comes back.
// Thread: the boot thread, before the writer starts (the store is then its alone).
class room_loader {
 public:
  room_loader(snapshot_store& store, runtime& engine, metrics_registry& metrics);
  // One attempt: sets the store's loss marker (check_intact), then loads every entry not seen yet.
  restore_report load();

 private:
  snapshot_store& store_;
  runtime& engine_;
  counter& restored_;
  counter& failed_;
  std::unordered_set<std::string> seen_;  // keys visited or skipped by any attempt
};

}  // namespace partyd
