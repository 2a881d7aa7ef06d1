#include "storage/history_writer.hpp"

#include <algorithm>
#include <exception>
#include <utility>

#include "engine/log.hpp"
#include "engine/thread_name.hpp"

namespace partyd {

namespace {

using steady = std::chrono::steady_clock;

std::int64_t wall_now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

}  // namespace

std::string_view to_string(history_status::state s) noexcept {
  switch (s) {
    case history_status::state::starting:
      return "starting";
    case history_status::state::ok:
      return "ok";
    case history_status::state::degraded:
      return "degraded";
  }
  return "unknown";
}

history_writer::history_writer(std::string_view url, metrics_registry& metrics,
                               history_writer_options options)
    : history_writer([u = std::string(url)] { return open_history_backend(u); },
                     redact_history_url(url), metrics, options) {
  // Opened here, not on the thread: a malformed URL or a SQLite file that cannot be created is a
  // setting to fix before the server starts, not an outage to wait out.
  backend_ = open_history_backend(url);
  backend_name_ = std::string(backend_->name());
}

history_writer::history_writer(history_backend_opener open, std::string target,
                               metrics_registry& metrics, history_writer_options options)
    : open_(std::move(open)),
      target_(std::move(target)),
      options_(options),
      queue_depth_(
          metrics.get_gauge("partyd_history_queue_depth", "",
                            "Finished games accepted and not yet in the history database")),
      written_(metrics.get_counter("partyd_history_records_written_total", "",
                                   "Finished games written to the history database")),
      batches_(metrics.get_counter("partyd_history_batches_total", "",
                                   "History transactions committed")),
      failures_(metrics.get_counter(
          "partyd_history_failures_total", "",
          "History database attempts that failed (connect, schema or write), each retried")),
      refused_(metrics.get_counter("partyd_history_refused_total", "",
                                   "Finished games refused because the history queue was full")),
      up_(metrics.get_gauge("partyd_history_db_up", "",
                            "1 when the last history database operation succeeded, else 0")),
      batch_latency_(metrics.get_histogram("partyd_history_batch_latency_seconds", "",
                                           "Time to write one history transaction")) {
  up_.set(0);  // unknown until the schema is in place
}

history_writer::~history_writer() { stop(); }

void history_writer::start() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || thread_.joinable()) {
      return;
    }
  }
  thread_ = std::thread([this] {
    name_this_thread("partyd-history");
    run();
  });
}

std::size_t history_writer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopped_) {
      return left_unwritten_;
    }
    stopping_ = true;
  }
  wake_.notify_all();
  if (thread_.joinable()) {
    thread_.join();
  } else {
    finish();  // never started: nothing was written
  }
  return left_unwritten_;
}

bool history_writer::submit(history_record&& record, std::function<void()>&& on_written) {
  std::string error;
  if (!validate_history_record(record, error)) {
    throw history_error("history record refused: " + error);
  }
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() + in_batch_ >= options_.queue_max) {
      refused_.inc();
      return false;
    }
    queue_.push_back(entry{std::move(record), std::move(on_written)});
    queue_depth_.set(static_cast<std::int64_t>(queue_.size() + in_batch_));
  }
  wake_.notify_one();
  return true;
}

history_status history_writer::status() const {
  std::lock_guard lock(mutex_);
  history_status s;
  s.backend = backend_name_;
  s.target = target_;
  s.health = health_;
  s.queue_depth = queue_.size() + in_batch_;
  s.last_error = last_error_;
  s.last_error_at_ms = last_error_at_ms_;
  return s;
}

std::vector<history_game_summary> history_writer::recent_games(std::size_t limit) {
  std::lock_guard lock(read_mutex_);
  if (!reader_) {
    std::unique_ptr<history_backend> opened = open_();
    // A read may come before the writer thread made the tables (a fresh database at start-up):
    // an empty history then, not an error.
    opened->ensure_schema();
    reader_ = std::move(opened);
  }
  return reader_->recent_games(limit);
}

void history_writer::note_failure(const std::string& error) {
  failures_.inc();
  up_.set(0);
  // Records are kept; the schema is checked again first (the database may have been recreated).
  schema_ready_ = false;
  bool was_degraded = false;
  std::size_t pending = 0;
  {
    std::lock_guard lock(mutex_);
    was_degraded = health_ == history_status::state::degraded;
    health_ = history_status::state::degraded;
    last_error_ = error;
    last_error_at_ms_ = wall_now_ms();
    pending = queue_.size() + in_batch_;
  }
  if (!was_degraded) {
    log::error("history_degraded", {{"target", target_}, {"error", error}, {"pending", pending}});
  } else {
    log::warn("history_write_failed",
              {{"target", target_}, {"error", error}, {"pending", pending}});
  }
}

bool history_writer::attempt() {
  try {
    if (!backend_) {
      backend_ = open_();
      std::lock_guard lock(mutex_);
      backend_name_ = std::string(backend_->name());
    }
    if (!schema_ready_) {
      backend_->ensure_schema();
      schema_ready_ = true;
    }
    if (!batch_.empty()) {
      const auto started = steady::now();
      backend_->write(batch_);
      batch_latency_.observe_us(static_cast<std::uint64_t>(
          std::chrono::duration_cast<std::chrono::microseconds>(steady::now() - started).count()));
      batches_.inc();
      written_.inc(batch_.size());
    }
  } catch (const std::exception& e) {
    note_failure(e.what());
    return false;
  }
  up_.set(1);
  bool recovered = false;
  {
    std::lock_guard lock(mutex_);
    recovered = health_ == history_status::state::degraded;
    health_ = history_status::state::ok;
    in_batch_ = 0;
    queue_depth_.set(static_cast<std::int64_t>(queue_.size()));
  }
  if (recovered) {
    log::info("history_recovered", {{"target", target_}});
  }
  for (auto& done : batch_callbacks_) {
    if (!done) continue;
    try {
      done();
    } catch (const std::exception& e) {
      // Already committed: the record stays written whatever its callback does.
      log::error("history_callback_failed", {{"error", e.what()}});
    }
  }
  batch_.clear();
  batch_callbacks_.clear();
  return true;
}

void history_writer::run() {
  steady::time_point retry_at{};
  std::chrono::milliseconds backoff{0};
  steady::time_point deadline = steady::time_point::max();
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      for (;;) {
        const auto now = steady::now();
        if (stopping_ && deadline == steady::time_point::max()) {
          deadline = now + options_.stop_deadline;
        }
        const bool drained = batch_.empty() && queue_.empty();
        if ((stopping_ && drained) || now >= deadline) {
          lock.unlock();
          finish();
          return;
        }
        // The schema is created at start, before any record asks for it.
        const bool work = !schema_ready_ || !drained;
        if (work && now >= retry_at) {
          break;
        }
        const auto until = std::min(work ? retry_at : steady::time_point::max(), deadline);
        if (until == steady::time_point::max()) {
          wake_.wait(lock);
        } else {
          wake_.wait_until(lock, until);
        }
      }
      // A retried batch takes on what arrived meanwhile (up to batch_max): still in order.
      while (batch_.size() < options_.batch_max && !queue_.empty()) {
        batch_.push_back(std::move(queue_.front().record));
        batch_callbacks_.push_back(std::move(queue_.front().on_written));
        queue_.pop_front();
      }
      in_batch_ = batch_.size();
    }
    if (attempt()) {
      backoff = std::chrono::milliseconds(0);
      retry_at = {};
    } else {
      backoff =
          backoff.count() == 0 ? options_.backoff_min : std::min(backoff * 2, options_.backoff_max);
      retry_at = steady::now() + backoff;
    }
  }
}

void history_writer::finish() {
  std::size_t left = 0;
  {
    std::lock_guard lock(mutex_);
    left = batch_.size() + queue_.size();
    left_unwritten_ = left;
    stopped_ = true;
  }
  if (left > 0) {
    log::error("history_flush_incomplete", {{"target", target_}, {"unwritten", left}});
  }
}

}  // namespace partyd
