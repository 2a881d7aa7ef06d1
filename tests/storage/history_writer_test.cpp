// The history writer: against a fake backend that can be made to fail (batches, backoff, the
// queue bound, stop), and against real SQLite files (on_written after the commit, reads from
// another thread while the writer writes).
#include "storage/history_writer.hpp"

#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <atomic>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/metrics.hpp"
#include "storage/history_test_support.hpp"

namespace partyd {
namespace {

using namespace std::chrono_literals;
using testing::test_record;
using testing::test_uuid;
using testing::wait_for;
using steady = std::chrono::steady_clock;

// What a fake database holds and how it behaves; shared by every connection to it.
struct fake_database {
  std::mutex mutex;
  bool failing = false;
  int opens = 0;
  int schema_calls = 0;
  std::map<std::string, int> stored;  // game id -> times a committed batch held it
  std::vector<std::size_t> batch_sizes;
  std::vector<steady::time_point> failed_at;

  template <typename F>
  auto locked(F&& f) {
    std::lock_guard lock(mutex);
    return f();
  }
};

class fake_backend final : public history_backend {
 public:
  explicit fake_backend(std::shared_ptr<fake_database> db) : db_(std::move(db)) {}
  void ensure_schema() override {
    std::lock_guard lock(db_->mutex);
    ++db_->schema_calls;
    fail_if_down();
  }
  void write(std::span<const history_record> batch) override {
    std::lock_guard lock(db_->mutex);
    fail_if_down();
    db_->batch_sizes.push_back(batch.size());
    for (const auto& r : batch) ++db_->stored[r.game_id];
  }
  std::vector<history_game_summary> recent_games(std::size_t limit) override {
    std::lock_guard lock(db_->mutex);
    fail_if_down();
    std::vector<history_game_summary> out;
    for (auto it = db_->stored.rbegin(); it != db_->stored.rend() && out.size() < limit; ++it) {
      out.push_back({it->first, "ROOM1", "villagers", 3, 0, 0, {}});
    }
    return out;
  }
  std::string_view name() const noexcept override { return "fake"; }
  std::string describe() const override { return "fake:"; }

 private:
  void fail_if_down() {
    if (db_->failing) {
      db_->failed_at.push_back(steady::now());
      throw history_error("fake: database unreachable");
    }
  }
  std::shared_ptr<fake_database> db_;
};

class HistoryWriter : public ::testing::Test {
 protected:
  std::unique_ptr<history_writer> make_writer(history_writer_options options = {}) {
    return std::make_unique<history_writer>(
        [db = db_] {
          db->locked([&] { return ++db->opens; });
          return std::make_unique<fake_backend>(db);
        },
        "fake:", metrics_, options);
  }
  std::int64_t gauge_value(const char* name) { return metrics_.get_gauge(name, "", "").value(); }
  std::uint64_t counter_value(const char* name) {
    return metrics_.get_counter(name, "", "").value();
  }
  std::function<void()> count_call(std::uint64_t n) {
    return [this, n] {
      std::lock_guard lock(calls_mutex_);
      ++calls_[n];
    };
  }
  std::map<std::uint64_t, int> calls() {
    std::lock_guard lock(calls_mutex_);
    return calls_;
  }
  std::size_t called() { return calls().size(); }

  std::shared_ptr<fake_database> db_ = std::make_shared<fake_database>();
  metrics_registry metrics_;
  std::mutex calls_mutex_;
  std::map<std::uint64_t, int> calls_;  // record number -> on_written calls
};

TEST_F(HistoryWriter, WritesInBatchesAndCallsEachOnWrittenOnce) {
  history_writer_options options;
  options.batch_max = 4;
  auto writer = make_writer(options);
  for (std::uint64_t n = 1; n <= 10; ++n) {
    ASSERT_TRUE(writer->submit(test_record(n), count_call(n)));
  }
  EXPECT_EQ(writer->status().queue_depth, 10u);
  EXPECT_EQ(writer->status().health, history_status::state::starting);
  writer->start();
  ASSERT_TRUE(wait_for([&] { return called() == 10; }));
  for (const auto& [n, times] : calls()) EXPECT_EQ(times, 1) << "record " << n;
  EXPECT_EQ(db_->locked([&] { return db_->batch_sizes; }), (std::vector<std::size_t>{4, 4, 2}));
  EXPECT_EQ(counter_value("partyd_history_records_written_total"), 10u);
  EXPECT_EQ(counter_value("partyd_history_batches_total"), 3u);
  EXPECT_EQ(counter_value("partyd_history_failures_total"), 0u);
  EXPECT_EQ(gauge_value("partyd_history_queue_depth"), 0);
  EXPECT_EQ(gauge_value("partyd_history_db_up"), 1);
  const history_status status = writer->status();
  EXPECT_EQ(status.backend, "fake");
  EXPECT_EQ(status.health, history_status::state::ok);
  EXPECT_EQ(to_string(status.health), "ok");
  EXPECT_EQ(status.queue_depth, 0u);
  EXPECT_EQ(writer->stop(), 0u);
  EXPECT_EQ(db_->locked([&] { return db_->schema_calls; }), 1);
}

TEST_F(HistoryWriter, AFullQueueRefusesAndLeavesTheRecordWithTheCaller) {
  history_writer_options options;
  options.queue_max = 3;
  auto writer = make_writer(options);
  for (std::uint64_t n = 1; n <= 3; ++n) {
    ASSERT_TRUE(writer->submit(test_record(n), count_call(n)));
  }
  history_record fourth = test_record(4);
  std::function<void()> on_fourth = count_call(4);
  EXPECT_FALSE(writer->submit(std::move(fourth), std::move(on_fourth)));
  EXPECT_EQ(fourth.game_id, test_uuid(4, 4));  // not moved from
  EXPECT_EQ(fourth.users.size(), 4u);
  EXPECT_TRUE(on_fourth);
  EXPECT_EQ(counter_value("partyd_history_refused_total"), 1u);
  EXPECT_EQ(writer->status().queue_depth, 3u);

  writer->start();
  ASSERT_TRUE(wait_for([&] { return writer->status().queue_depth == 0; }));
  EXPECT_TRUE(writer->submit(std::move(fourth), std::move(on_fourth)));  // the caller tries later
  ASSERT_TRUE(wait_for([&] { return called() == 4; }));
}

TEST_F(HistoryWriter, AnOutageKeepsEveryRecordAndRetriesWithBackoff) {
  history_writer_options options;
  options.backoff_min = 20ms;
  options.backoff_max = 80ms;
  options.queue_max = 5;
  auto writer = make_writer(options);
  writer->start();
  ASSERT_TRUE(wait_for([&] { return writer->status().health == history_status::state::ok; }));
  db_->locked([&] { return db_->failing = true; });
  for (std::uint64_t n = 1; n <= 5; ++n) {
    ASSERT_TRUE(writer->submit(test_record(n), count_call(n)));
  }
  // A batch being retried counts against the bound: nothing more is taken.
  EXPECT_FALSE(writer->submit(test_record(6), count_call(6)));
  ASSERT_TRUE(wait_for([&] { return db_->locked([&] { return db_->failed_at.size() >= 6; }); }));

  EXPECT_EQ(called(), 0u);
  EXPECT_EQ(gauge_value("partyd_history_db_up"), 0);
  EXPECT_EQ(gauge_value("partyd_history_queue_depth"), 5);
  EXPECT_GE(counter_value("partyd_history_failures_total"), 6u);
  history_status status = writer->status();
  EXPECT_EQ(status.health, history_status::state::degraded);
  EXPECT_EQ(status.queue_depth, 5u);
  EXPECT_EQ(status.last_error, "fake: database unreachable");
  EXPECT_GT(status.last_error_at_ms, 0);
  // Backoff: 20 ms doubling to 80 ms between attempts, never a busy loop.
  const auto failed_at = db_->locked([&] { return db_->failed_at; });
  for (std::size_t i = 1; i < failed_at.size(); ++i) {
    EXPECT_GE(failed_at[i] - failed_at[i - 1], 19ms) << "attempt " << i;
  }
  EXPECT_GE(failed_at[5] - failed_at[4], 79ms);

  db_->locked([&] { return db_->failing = false; });
  ASSERT_TRUE(wait_for([&] { return called() == 5; }));
  for (const auto& [n, times] : calls()) EXPECT_EQ(times, 1) << "record " << n;
  for (const auto& [id, times] : db_->locked([&] { return db_->stored; })) {
    EXPECT_EQ(times, 1) << id;
  }
  EXPECT_EQ(gauge_value("partyd_history_db_up"), 1);
  EXPECT_EQ(gauge_value("partyd_history_queue_depth"), 0);
  status = writer->status();
  EXPECT_EQ(status.health, history_status::state::ok);
  EXPECT_EQ(status.last_error, "fake: database unreachable");  // kept for the operator
}

TEST_F(HistoryWriter, TheSchemaIsCreatedAtStartAndRetriedUntilItWorks) {
  db_->failing = true;
  history_writer_options options;
  options.backoff_min = 5ms;
  options.backoff_max = 10ms;
  auto writer = make_writer(options);
  writer->start();
  ASSERT_TRUE(wait_for([&] { return db_->locked([&] { return db_->schema_calls >= 3; }); }));
  EXPECT_EQ(writer->status().health, history_status::state::degraded);
  db_->locked([&] { return db_->failing = false; });
  ASSERT_TRUE(wait_for([&] { return writer->status().health == history_status::state::ok; }));
  EXPECT_EQ(gauge_value("partyd_history_db_up"), 1);
  EXPECT_EQ(db_->locked([&] { return db_->opens; }), 1);  // one connection, kept
}

TEST_F(HistoryWriter, StopWritesWhatIsQueued) {
  history_writer_options options;
  options.batch_max = 8;
  auto writer = make_writer(options);
  for (std::uint64_t n = 1; n <= 50; ++n) {
    ASSERT_TRUE(writer->submit(test_record(n), count_call(n)));
  }
  writer->start();
  EXPECT_EQ(writer->stop(), 0u);
  EXPECT_EQ(called(), 50u);
  EXPECT_EQ(db_->locked([&] { return db_->stored.size(); }), 50u);
  EXPECT_FALSE(writer->submit(test_record(51), {}));  // stopped: nothing would write it
  EXPECT_EQ(writer->stop(), 0u);
}

TEST_F(HistoryWriter, StopGivesUpOnADeadDatabaseWithinItsDeadline) {
  db_->failing = true;
  history_writer_options options;
  options.stop_deadline = 300ms;
  auto writer = make_writer(options);
  for (std::uint64_t n = 1; n <= 3; ++n) {
    ASSERT_TRUE(writer->submit(test_record(n), count_call(n)));
  }
  writer->start();
  const auto started = steady::now();
  EXPECT_EQ(writer->stop(), 3u);
  EXPECT_LT(steady::now() - started, 2s);
  EXPECT_EQ(called(), 0u);
}

TEST_F(HistoryWriter, AnInvalidRecordIsRefusedAtSubmit) {
  auto writer = make_writer();
  history_record bad = test_record(1);
  bad.winner = "nobody";
  EXPECT_THROW(writer->submit(std::move(bad)), history_error);
  EXPECT_EQ(writer->status().queue_depth, 0u);
}

TEST_F(HistoryWriter, ReadsUseAConnectionOfTheirOwn) {
  auto writer = make_writer();
  writer->start();
  ASSERT_TRUE(writer->submit(test_record(1), count_call(1)));
  ASSERT_TRUE(wait_for([&] { return called() == 1; }));
  std::vector<history_game_summary> games;
  std::thread reader([&] { games = writer->recent_games(10); });
  reader.join();
  ASSERT_EQ(games.size(), 1u);
  EXPECT_EQ(games[0].game_id, test_uuid(4, 1));
  EXPECT_EQ(db_->locked([&] { return db_->opens; }), 2);
  writer->recent_games(10);
  EXPECT_EQ(db_->locked([&] { return db_->opens; }), 2);  // the read connection is kept
}

TEST(HistoryWriterUrl, StatusAndErrorsNeverShowThePassword) {
  metrics_registry metrics;
  EXPECT_THROW(history_writer("mysql://root:hunter2@db/x", metrics), history_error);
  history_writer_options options;
  options.stop_deadline = 100ms;
  // Port 1 on loopback refuses at once: the writer comes up degraded, it does not fail.
  history_writer writer("postgresql://partyd:hunter2@127.0.0.1:1/history", metrics, options);
  writer.start();
  ASSERT_TRUE(wait_for([&] { return writer.status().health == history_status::state::degraded; }));
  const history_status status = writer.status();
  EXPECT_EQ(status.backend, "postgresql");
  EXPECT_EQ(status.target, "postgresql://partyd@127.0.0.1:1/history");
  EXPECT_FALSE(status.last_error.empty());
  EXPECT_EQ(status.last_error.find("hunter2"), std::string::npos) << status.last_error;
  EXPECT_EQ(metrics.render().find("hunter2"), std::string::npos);
  EXPECT_EQ(metrics.get_gauge("partyd_history_db_up", "", "").value(), 0);
}

class HistoryWriterSqlite : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ =
        (std::filesystem::temp_directory_path() / "partyd-history-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = dir_ + "/history.db";
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  // Whether game `n` is in the database, as another connection sees it.
  bool committed(std::uint64_t n) {
    sqlite3* raw = nullptr;
    if (sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr) != SQLITE_OK) {
      sqlite3_close_v2(raw);
      return false;
    }
    const std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db.get(), "SELECT count(*) FROM games WHERE id = ?1", -1, &stmt,
                           nullptr) != SQLITE_OK) {
      return false;
    }
    const std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> owned(stmt, &sqlite3_finalize);
    const std::string id = test_uuid(4, n);
    sqlite3_bind_text(stmt, 1, id.c_str(), -1, SQLITE_TRANSIENT);
    return sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_int(stmt, 0) == 1;
  }

  std::string dir_, path_;
  metrics_registry metrics_;
};

TEST_F(HistoryWriterSqlite, OnWrittenRunsAfterTheCommit) {
  history_writer writer("sqlite:" + path_, metrics_);
  EXPECT_EQ(writer.status().backend, "sqlite");
  EXPECT_EQ(writer.status().target, "sqlite:" + path_);
  writer.start();
  std::mutex mutex;
  std::map<std::uint64_t, bool> seen;  // record -> committed when its callback ran
  for (std::uint64_t n = 1; n <= 20; ++n) {
    ASSERT_TRUE(writer.submit(test_record(n, n % 3 + 1), [&, n] {
      const bool in_db = committed(n);
      std::lock_guard lock(mutex);
      EXPECT_TRUE(seen.emplace(n, in_db).second) << "called twice: " << n;
    }));
  }
  ASSERT_TRUE(wait_for([&] {
    std::lock_guard lock(mutex);
    return seen.size() == 20;
  }));
  for (const auto& [n, in_db] : seen) EXPECT_TRUE(in_db) << "record " << n;
  EXPECT_EQ(metrics_.get_counter("partyd_history_records_written_total", "", "").value(), 20u);
  EXPECT_EQ(metrics_.get_gauge("partyd_history_db_up", "", "").value(), 1);
  EXPECT_EQ(writer.status().health, history_status::state::ok);
  EXPECT_EQ(writer.stop(), 0u);
}

TEST_F(HistoryWriterSqlite, RecentGamesFromAnotherThreadWhileTheWriterWrites) {
  history_writer_options options;
  options.batch_max = 7;
  options.queue_max = 16;  // small: the producer meets a full queue and tries again
  history_writer writer("sqlite:" + path_, metrics_, options);
  writer.start();
  std::atomic<int> written{0};
  std::atomic<int> refusals{0};
  std::thread producer([&] {
    for (std::uint64_t n = 1; n <= 200; ++n) {
      history_record record = test_record(n, n % 5 + 1);
      while (!writer.submit(std::move(record), [&] { ++written; })) {
        ++refusals;
        std::this_thread::sleep_for(1ms);
      }
    }
  });
  std::size_t reads = 0;
  std::string read_error;
  while (written.load() < 200 && read_error.empty()) {
    try {
      const auto games = writer.recent_games(5);
      for (std::size_t i = 1; i < games.size(); ++i) {
        EXPECT_GE(games[i - 1].ended_at_ms, games[i].ended_at_ms);
      }
      ++reads;
    } catch (const history_error& e) {
      // Before the writer created the schema there is nothing to read.
      if (std::string(e.what()).find("no such table") == std::string::npos) read_error = e.what();
    }
  }
  producer.join();
  EXPECT_EQ(read_error, "");
  EXPECT_GT(reads, 0u);
  ASSERT_TRUE(wait_for([&] { return written.load() == 200; }));
  const auto games = writer.recent_games(500);
  ASSERT_EQ(games.size(), 200u);
  EXPECT_EQ(games.front().game_id, test_uuid(4, 200));
  EXPECT_EQ(games.back().game_id, test_uuid(4, 1));
  EXPECT_EQ(games.front().roles.size(), 4u);
  EXPECT_EQ(metrics_.get_counter("partyd_history_refused_total", "", "").value(),
            static_cast<std::uint64_t>(refusals.load()));
}

}  // namespace
}  // namespace partyd
