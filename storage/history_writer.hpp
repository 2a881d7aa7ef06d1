// The history writer: the only thread that writes game history. Rooms hand it finished games
// (submit) through a bounded queue; it writes them in batches, one transaction each, and calls
// each record's on_written once its transaction committed. On a failure it keeps every record
// and retries the same batch with capped exponential backoff: a record it accepted is written
// (each insert is idempotent, so a batch retried after a lost COMMIT answer adds nothing) unless
// stop() runs out of time with the database still down.
// Reads (recent_games) use a second connection of their own: a backend is used by one thread at a
// time, and SQLite's WAL lets that connection read while the writer writes.
// Why a queue and a thread: a game worker must never wait on a database. Finished games are
// rare, so the queue is a mutex and a deque; its bound keeps memory flat through a long outage.
// Threads: submit(), status(), recent_games() from any thread; start() and stop() from the owner;
// on_written on the writer thread.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/metrics.hpp"
#include "storage/history.hpp"

namespace partyd {

struct history_writer_options {
  std::size_t queue_max = 4096;  // records accepted and not yet written, the batch included
  std::size_t batch_max = 64;    // records per transaction
  std::chrono::milliseconds backoff_min{100};
  std::chrono::milliseconds backoff_max{5000};
  std::chrono::milliseconds stop_deadline{5000};  // how long stop() keeps retrying
};

// What /ready shows of the history.
struct history_status {
  enum class state { starting, ok, degraded };  // starting: nothing attempted or succeeded yet
  std::string backend;                          // "sqlite", "postgresql"
  std::string target;                           // the database, without credentials
  state health = state::starting;
  std::size_t queue_depth = 0;        // accepted, not yet written
  std::string last_error;             // the latest failure, kept after a recovery; empty: none yet
  std::int64_t last_error_at_ms = 0;  // wall clock, 0: none
};
std::string_view to_string(history_status::state s) noexcept;

// Opens a backend; called on the writer thread (again after it failed) and for the reads.
using history_backend_opener = std::function<std::unique_ptr<history_backend>()>;

class history_writer {
 public:
  // `url` as open_history_backend takes it, opened here: throws history_error for a malformed URL
  // or a SQLite file that cannot be opened (settings to fix, not outages to wait out). A
  // PostgreSQL server is first reached on the writer thread.
  history_writer(std::string_view url, metrics_registry& metrics,
                 history_writer_options options = {});
  // `target`: what status() shows (no credentials); the backend name comes from the first
  // backend opened.
  history_writer(history_backend_opener open, std::string target, metrics_registry& metrics,
                 history_writer_options options = {});
  ~history_writer();
  history_writer(const history_writer&) = delete;
  history_writer& operator=(const history_writer&) = delete;

  // Starts the writer thread, which creates the schema at once (retried until it works), then
  // writes what is queued.
  void start();
  // Writes what it can within options.stop_deadline (plus the attempt under way, bounded by the
  // backend's connect and command timeouts), then joins the thread. Returns how many accepted
  // records were not written (logged as history_flush_incomplete). Idempotent.
  std::size_t stop();

  // Takes the record when the queue has room (before start() too): true, and `record` and
  // `on_written` are moved from. False when the queue is full or the writer stopped: both are left
  // untouched, for the caller to keep and offer again later. Throws history_error when the record
  // is invalid (validate_history_record), since the database would refuse it on every retry.
  // `on_written` (may be empty) runs on the writer thread after the record's transaction
  // committed, once; it must not block or throw.
  bool submit(history_record&& record, std::function<void()>&& on_written = {});

  history_status status() const;
  // Any thread: the games that ended last, newest first, on the read connection (opened at the
  // first call; calls take turns). Throws history_error when the database cannot be read.
  std::vector<history_game_summary> recent_games(std::size_t limit);

 private:
  struct entry {
    history_record record;
    std::function<void()> on_written;
  };

  void run();
  // One attempt: opens the backend and creates the schema when needed, then writes batch_.
  bool attempt();
  void finish();  // the thread's last act: counts and logs what was left
  void note_failure(const std::string& error);

  history_backend_opener open_;
  const std::string target_;
  const history_writer_options options_;

  mutable std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<entry> queue_;   // guarded by mutex_
  std::size_t in_batch_ = 0;  // guarded by mutex_: records taken into batch_
  bool stopping_ = false;     // guarded by mutex_
  bool stopped_ = false;      // guarded by mutex_: no thread will write any more
  std::string backend_name_;  // guarded by mutex_
  history_status::state health_ = history_status::state::starting;  // guarded by mutex_
  std::string last_error_;                                          // guarded by mutex_
  std::int64_t last_error_at_ms_ = 0;                               // guarded by mutex_
  std::thread thread_;
  std::size_t left_unwritten_ = 0;

  // Writer thread only (the URL constructor opens backend_ before the thread starts).
  std::unique_ptr<history_backend> backend_;
  bool schema_ready_ = false;
  // The batch being written: taken from the front of queue_, kept until it committed.
  std::vector<history_record> batch_;
  std::vector<std::function<void()>> batch_callbacks_;

  std::mutex read_mutex_;
  std::unique_ptr<history_backend> reader_;  // guarded by read_mutex_

  gauge& queue_depth_;
  counter& written_;
  counter& batches_;
  counter& failures_;
  counter& refused_;
  gauge& up_;
  histogram& batch_latency_;
};

}  // namespace partyd
