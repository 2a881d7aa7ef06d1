#include "storage/snapshot_writer.hpp"

#include <chrono>

#include <algorithm>
#include <vector>

#include "engine/log.hpp"
#include "engine/room_snapshot.hpp"
#include "engine/thread_name.hpp"

namespace partyd {

namespace {

time_ms wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

snapshot_writer::snapshot_writer(std::unique_ptr<snapshot_store> store, metrics_registry& metrics,
                                 writer_options options)
    : store_(std::move(store)),
      description_(store_->describe()),
      options_(options),
      written_(metrics.get_counter("partyd_snapshots_written_total", "",
                                   "Room snapshots written to the store")),
      removed_(metrics.get_counter("partyd_snapshots_removed_total", "",
                                   "Snapshot keys deleted for closed rooms")),
      quarantined_(metrics.get_counter("partyd_snapshots_quarantined_total", "",
                                       "Snapshots of failed rooms moved aside (never restored)")),
      failures_(metrics.get_counter("partyd_snapshot_store_failures_total", "",
                                    "Store batches that failed (store down or refusing)")),
      retries_(metrics.get_counter("partyd_snapshot_store_retries_total", "",
                                   "Store batches retried after a failure")),
      batches_(metrics.get_counter("partyd_snapshot_batches_total", "",
                                   "Pipelined store batches written")),
      pending_(metrics.get_gauge("partyd_snapshot_pending", "",
                                 "Rooms whose newest snapshot is not yet in the store")),
      oldest_age_ms_(metrics.get_gauge(
          "partyd_snapshot_oldest_unflushed_ms", "",
          "Age of the oldest change not yet in the store, in milliseconds (0 when none)")),
      store_up_(metrics.get_gauge("partyd_snapshot_store_up", "",
                                  "1 when the last store operation succeeded, else 0")),
      lost_(metrics.get_counter(
          "partyd_snapshot_store_lost_total", "",
          "Times the store was found to have lost its snapshots (every room written again)")),
      batch_latency_(metrics.get_histogram("partyd_snapshot_batch_latency_seconds", "",
                                           "Time to write one pipelined batch")) {
  store_up_.set(1);
}

snapshot_writer::~snapshot_writer() { stop(); }

void snapshot_writer::note_boot_load(bool store_ok) {
  degraded_.store(!store_ok, std::memory_order_relaxed);
  store_up_.set(store_ok ? 1 : 0);
}

void snapshot_writer::update_health() {
  const bool degraded = write_failed_ || check_failed_;
  store_up_.set(degraded ? 0 : 1);
  if (degraded_.exchange(degraded) != degraded) {
    if (degraded) {
      log::error("store_degraded", {{"store", description_}});
    } else {
      log::info("store_recovered", {{"store", description_}});
    }
  }
}

void snapshot_writer::check_store() {
  std::string lost;
  const store_result result = store_->check_intact(lost);
  if (!result.ok) {
    if (!check_failed_) {
      log::warn("store_check_failed", {{"store", description_}, {"error", result.error}});
    }
    check_failed_ = true;
    update_health();
    return;
  }
  check_failed_ = false;
  update_health();
  if (!lost.empty()) {
    // Only the rooms that change from now on would reach the store again: every other room
    // would be missing at the next start. The engine snapshots them all again.
    lost_.inc();
    log::error("store_lost", {{"store", description_}, {"reason", lost}});
    if (on_store_lost_) {
      on_store_lost_();
    }
  }
}

void snapshot_writer::start() {
  thread_ = std::thread([this] {
    name_this_thread("partyd-writer");
    run();
  });
}

void snapshot_writer::stop() {
  if (!thread_.joinable()) {
    return;
  }
  stopping_.store(true, std::memory_order_release);
  wake_.signal();
  thread_.join();
  serve_listings();  // nothing more will be written: answer whoever still waits
}

void snapshot_writer::list_quarantined(quarantine_listing done) {
  {
    std::lock_guard lock(listings_mutex_);
    listings_.push_back(std::move(done));
  }
  wake_.signal();
}

void snapshot_writer::serve_listings() {
  std::vector<quarantine_listing> waiting;
  {
    std::lock_guard lock(listings_mutex_);
    waiting.swap(listings_);
  }
  if (waiting.empty()) {
    return;
  }
  std::vector<quarantined_room> rooms;
  store_result result;
  if (thread_.joinable() && !stopping_.load(std::memory_order_acquire)) {
    result = store_->load_quarantined([&](std::string_view key, std::string_view value) {
      quarantined_room item;
      item.code = std::string(key);
      item.bytes = value.size();
      std::string error;
      if (auto decoded = decode_room_snapshot(value, error)) {
        item.game = std::move(decoded->game);
        item.version = decoded->version;
        item.created_at = decoded->created_at;
        item.last_activity = decoded->last_activity;
      }
      rooms.push_back(std::move(item));
    });
    std::sort(rooms.begin(), rooms.end(),
              [](const quarantined_room& a, const quarantined_room& b) { return a.code < b.code; });
  } else {
    result = store_result{false, "the snapshot writer is stopped"};
  }
  for (auto& done : waiting) {
    done(result, rooms);
  }
}

void snapshot_writer::offer(snapshot_job&& job) noexcept {
  const bool urgent = job.important || job.on_durable || job.what != snapshot_job::kind::write;
  queue_.enqueue(std::move(job));
  // Pairs with the fence in run(): either the writer sees this job when it looks at the queue
  // after closing its batch, or this offer sees the batch closed and wakes it.
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (urgent || !batch_open_.load(std::memory_order_relaxed)) {
    wake_.signal();
  }
}

void snapshot_writer::absorb(snapshot_job&& job) {
  if (job.code.empty()) {
    return;  // never a room
  }
  if (pending_writes_.empty() && pending_removes_.empty() && pending_quarantines_.empty()) {
    batch_due_ = std::chrono::steady_clock::now() + options_.linger;
  }
  if (job.important || job.on_durable || job.what != snapshot_job::kind::write) {
    urgent_ = true;
  }
  if (job.what == snapshot_job::kind::quarantine) {
    // A pending write of the room stays: it is the newest good snapshot, written first.
    pending_removes_.erase(job.code);
    pending_quarantines_.insert(job.code);
    return;
  }
  if (job.what == snapshot_job::kind::remove) {
    // A closed room releases its held replies itself; a waiting write needs no callback now.
    pending_writes_.erase(job.code);
    pending_removes_.insert(job.code);
    return;
  }
  pending_removes_.erase(job.code);
  auto [it, inserted] = pending_writes_.try_emplace(job.code);
  if (!inserted && it->second.version > job.version) {
    return;  // an older snapshot arriving late never replaces a newer one
  }
  const time_ms dirty_since =
      inserted ? job.dirty_since : std::min(it->second.dirty_since, job.dirty_since);
  // A room waiting for an older version is also served by the newer bytes: keep its callback
  // unless the newer job brings its own (which releases everything up to the newer version).
  std::function<void()> waiting;
  if (!inserted && !job.on_durable) {
    waiting = std::move(it->second.on_durable);
  }
  it->second = std::move(job);
  it->second.dirty_since = dirty_since;
  if (waiting) {
    it->second.on_durable = std::move(waiting);
  }
}

bool snapshot_writer::flush() {
  if (!pending_removes_.empty()) {
    std::vector<std::string> keys(pending_removes_.begin(), pending_removes_.end());
    const store_result result = store_->remove(keys);
    if (!result.ok) {
      log::warn("store_remove_failed", {{"store", description_}, {"error", result.error}});
      return false;
    }
    removed_.inc(keys.size());
    pending_removes_.clear();
  }
  std::vector<snapshot_record> batch;
  batch.reserve(std::min(options_.batch_max, pending_writes_.size()));
  while (!pending_writes_.empty()) {
    batch.clear();
    auto it = pending_writes_.begin();
    for (; it != pending_writes_.end() && batch.size() < options_.batch_max; ++it) {
      batch.push_back(snapshot_record{it->first, it->second.value, it->second.ttl_s});
    }
    const auto started = std::chrono::steady_clock::now();
    const store_result result = store_->write(batch);
    batch_latency_.observe_us(
        static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::microseconds>(
                                       std::chrono::steady_clock::now() - started)
                                       .count()));
    if (!result.ok) {
      log::warn(
          "store_write_failed",
          {{"store", description_}, {"error", result.error}, {"pending", pending_writes_.size()}});
      return false;
    }
    // Written: the batch was the first batch.size() entries, untouched since (same thread).
    for (auto done = pending_writes_.begin(); done != it; ++done) {
      if (done->second.on_durable) {
        done->second.on_durable();  // the room releases the replies it held for this state
      }
    }
    pending_writes_.erase(pending_writes_.begin(), it);
    written_.inc(batch.size());
    batches_.inc();
    last_write_ms_.store(std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::steady_clock::now().time_since_epoch())
                             .count(),
                         std::memory_order_relaxed);
  }
  if (!pending_quarantines_.empty()) {
    std::vector<std::string> keys(pending_quarantines_.begin(), pending_quarantines_.end());
    const store_result result = store_->quarantine(keys);
    if (!result.ok) {
      log::warn("store_quarantine_failed", {{"store", description_}, {"error", result.error}});
      return false;
    }
    for (const std::string& key : keys) {
      log::warn("room_quarantined", {{"room", key}, {"store", description_}});
    }
    quarantined_.inc(keys.size());
    pending_quarantines_.clear();
  }
  return true;
}

void snapshot_writer::run() {
  std::vector<snapshot_job> jobs(256);
  std::chrono::steady_clock::time_point stop_deadline{};
  for (;;) {
    const auto now = std::chrono::steady_clock::now();
    std::int64_t timeout_us = 200000;  // wake now and then to publish the age gauge
    if (!pending_writes_.empty() || !pending_removes_.empty() || !pending_quarantines_.empty()) {
      const auto due = std::max(retry_at_, batch_due_);
      timeout_us = std::max<std::int64_t>(
          0, std::chrono::duration_cast<std::chrono::microseconds>(due - now).count());
    }
    const bool open =
        !pending_writes_.empty() || !pending_removes_.empty() || !pending_quarantines_.empty();
    batch_open_.store(open, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (timeout_us > 0 && queue_.size_approx() == 0) {
      wake_.wait(timeout_us);
    }
    // Take everything that accumulated: it all goes out in the same batch.
    for (std::size_t n; (n = queue_.try_dequeue_bulk(jobs.begin(), jobs.size())) > 0;) {
      for (std::size_t i = 0; i < n; ++i) absorb(std::move(jobs[i]));
    }

    const bool stopping = stopping_.load(std::memory_order_acquire);
    if (stopping && stop_deadline == std::chrono::steady_clock::time_point{}) {
      stop_deadline = std::chrono::steady_clock::now() + options_.stop_deadline;
    }
    serve_listings();
    const bool has_work =
        !pending_writes_.empty() || !pending_removes_.empty() || !pending_quarantines_.empty();
    // Let a batch gather for up to options_.linger unless someone waits on it (an important
    // snapshot holds replies; a removal; shutdown) or it is full: one pipelined write (and, on the
    // file store, one sync) then carries many rooms instead of one.
    const bool due = urgent_ || stopping || pending_writes_.size() >= options_.batch_max ||
                     std::chrono::steady_clock::now() >= batch_due_;
    if (has_work && due && std::chrono::steady_clock::now() >= retry_at_) {
      if (backoff_.count() > 0) {
        retries_.inc();
      }
      if (flush()) {
        urgent_ = false;
        if (write_failed_) {
          check_due_ = {};  // back from a failure: check at once whether it lost anything
        }
        write_failed_ = false;
        check_failed_ = false;  // it answered
        update_health();
        backoff_ = std::chrono::milliseconds(0);
      } else {
        failures_.inc();
        write_failed_ = true;
        update_health();
        backoff_ = backoff_.count() == 0 ? options_.backoff_min
                                         : std::min(backoff_ * 2, options_.backoff_max);
        retry_at_ = std::chrono::steady_clock::now() + backoff_;
      }
    }
    // While writes fail their retries probe the store; a check would only wait on it too.
    if (!stopping && !write_failed_ && std::chrono::steady_clock::now() >= check_due_) {
      check_store();
      check_due_ = std::chrono::steady_clock::now() + options_.check_interval;
    }

    pending_.set(static_cast<std::int64_t>(pending_writes_.size()));
    time_ms oldest = 0;
    for (const auto& [code, pending] : pending_writes_) {
      if (oldest == 0 || pending.dirty_since < oldest) oldest = pending.dirty_since;
    }
    oldest_age_ms_.set(oldest == 0 ? 0 : std::max<time_ms>(0, wall_now_ms() - oldest));

    if (stopping && queue_.size_approx() == 0) {
      const bool drained =
          pending_writes_.empty() && pending_removes_.empty() && pending_quarantines_.empty();
      if (drained || std::chrono::steady_clock::now() >= stop_deadline) {
        if (!drained) {
          log::error("store_flush_incomplete",
                     {{"store", description_}, {"pending_rooms", pending_writes_.size()}});
        }
        return;
      }
    }
  }
}

room_loader::room_loader(snapshot_store& store, runtime& engine, metrics_registry& metrics)
    : store_(store),
      engine_(engine),
      restored_(metrics.get_counter("partyd_snapshots_restored_total", "",
                                    "Rooms rebuilt from the store at boot")),
      failed_(metrics.get_counter(
          "partyd_snapshot_restore_failures_total", "",
          "Stored entries skipped at boot: unreadable, undecodable, or of another room")) {}

restore_report room_loader::load() {
  restore_report report;
  // The marker goes first: a loss after it is detected, and what is loaded below written again.
  const store_result marked = store_.check_intact(report.lost);
  const auto skip = [&](std::string_view key, std::string_view why) {
    ++report.skipped;
    failed_.inc();
    log::error("snapshot_restore_failed", {{"key", key}, {"error", why}});
  };
  store_.set_skip_observer([&](std::string_view key, std::string_view why) {
    if (seen_.emplace(key).second) {
      skip(key, why);
    }
  });
  const store_result result = store_.load_all([&](std::string_view key, std::string_view value) {
    if (!seen_.emplace(key).second) {
      return;  // an earlier attempt restored or skipped it
    }
    ++report.loaded;
    if (key.empty()) {
      skip(key, "stored under the bare prefix, not under a room code");
      return;
    }
    // The key must name the room: a copy under another key (or file name) would otherwise bring
    // back a room closed since, and of two copies the one scanned last would win.
    auto outcome = engine_.restore_room(value, key);
    if (outcome.ok) {
      ++report.restored;
      restored_.inc();
      return;
    }
    skip(key, outcome.error);
  });
  store_.set_skip_observer({});
  if (result.ok && !marked.ok) {
    // Not fatal when the load works (a full disk may refuse even an empty file): the writer's
    // checks set the marker later.
    log::warn("store_check_failed", {{"store", store_.describe()}, {"error", marked.error}});
  }
  report.store_ok = result.ok;
  report.error = result.error;
  return report;
}

}  // namespace partyd
