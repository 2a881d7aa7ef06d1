// The PostgreSQL history backend and the writer against a real PostgreSQL 15 that each test makes
// and starts (tests/support/postgres_server.hpp), checked with psql behind their back. Not
// skipped when PostgreSQL is missing: the test fails and says how to install it.
#include <gtest/gtest.h>

#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "engine/metrics.hpp"
#include "storage/history.hpp"
#include "storage/history_test_support.hpp"
#include "storage/history_writer.hpp"
#include "support/postgres_server.hpp"

namespace partyd {
namespace {

using namespace std::chrono_literals;
using testing::test_epoch_ms;
using testing::test_record;
using testing::test_uuid;
using testing::wait_for;

class HistoryPostgres : public ::testing::Test {
 protected:
  void SetUp() override {
    const std::string missing = testing::postgres_missing();
    ASSERT_TRUE(missing.empty()) << missing;
    ASSERT_TRUE(server_.start());
    ASSERT_TRUE(server_.create_database("history"));
    url_ = server_.url("history");
  }

  std::string query(const std::string& sql, const char* database = "history") {
    return server_.psql(database, sql).value_or("(psql failed)");
  }

  // All five tables, times as milliseconds, sorted: to compare before and after.
  std::string dump() {
    return query("SELECT 'u', id, username, is_guest, " + ms("created_at") + ", " +
                 ms("last_seen") + " FROM users ORDER BY id") +
           "\n" +
           query("SELECT 'r', id, room_code, is_public, status, max_players, host_id, " +
                 ms("created_at") + ", " + ms("ended_at") + " FROM rooms ORDER BY id") +
           "\n" +
           query("SELECT 'p', id, room_id, user_id, " + ms("joined_at") + ", " + ms("left_at") +
                 ", was_kicked FROM room_players ORDER BY id") +
           "\n" +
           query("SELECT 'g', id, room_id, winner, total_rounds, " + ms("started_at") + ", " +
                 ms("ended_at") + " FROM games ORDER BY id") +
           "\n" + query("SELECT 'gr', id, game_id, user_id, role FROM game_roles ORDER BY id");
  }
  static std::string ms(const std::string& column) {
    return "(extract(epoch FROM " + column + ") * 1000)::bigint";
  }

  testing::postgres_server server_;
  std::string url_;
};

TEST_F(HistoryPostgres, SchemaIsCreatedOnFirstStartAndAgainIsFine) {
  auto backend = open_history_backend(url_);
  EXPECT_EQ(backend->name(), "postgresql");
  EXPECT_EQ(backend->describe(), url_);
  backend->ensure_schema();
  EXPECT_EQ(query("SELECT table_name FROM information_schema.tables WHERE table_schema = "
                  "'public' ORDER BY table_name"),
            "game_roles\ngames\nroom_players\nrooms\nusers");
  EXPECT_EQ(query("SELECT table_name || '.' || column_name || ' ' || udt_name FROM "
                  "information_schema.columns WHERE table_schema = 'public' ORDER BY "
                  "table_name, ordinal_position"),
            "game_roles.id uuid\ngame_roles.game_id uuid\ngame_roles.user_id uuid\n"
            "game_roles.role game_role\n"
            "games.id uuid\ngames.room_id uuid\ngames.winner game_winner\n"
            "games.total_rounds int4\ngames.started_at timestamptz\ngames.ended_at timestamptz\n"
            "room_players.id uuid\nroom_players.room_id uuid\nroom_players.user_id uuid\n"
            "room_players.joined_at timestamptz\nroom_players.left_at timestamptz\n"
            "room_players.was_kicked bool\n"
            "rooms.id uuid\nrooms.room_code varchar\nrooms.is_public bool\n"
            "rooms.status room_status\nrooms.max_players int4\nrooms.host_id uuid\n"
            "rooms.created_at timestamptz\nrooms.ended_at timestamptz\n"
            "users.id uuid\nusers.username varchar\nusers.is_guest bool\n"
            "users.created_at timestamptz\nusers.last_seen timestamptz");
  EXPECT_EQ(query("SELECT enum_range(NULL::room_status), enum_range(NULL::game_winner), "
                  "enum_range(NULL::game_role)"),
            "{lobby,in_game,ended}|{mafia,villagers}|{mafia,detective,doctor,villager}");
  EXPECT_EQ(query("SELECT indexname FROM pg_indexes WHERE schemaname = 'public' AND indexname "
                  "LIKE '%_idx' ORDER BY indexname"),
            "game_roles_game_id_idx\ngames_ended_at_idx\nroom_players_room_id_idx\n"
            "room_players_user_id_idx\nrooms_room_code_idx");

  // Again, on this connection and on a new one (a restart): nothing changes, nothing fails.
  backend->ensure_schema();
  open_history_backend(url_)->ensure_schema();

  // Two processes starting at once on an empty database take turns.
  ASSERT_TRUE(server_.create_database("concurrent"));
  std::atomic<int> failures{0};
  std::vector<std::thread> starters;
  for (int i = 0; i < 4; ++i) {
    starters.emplace_back([&] {
      try {
        open_history_backend(server_.url("concurrent"))->ensure_schema();
      } catch (const history_error& e) {
        ++failures;
        ADD_FAILURE() << e.what();
      }
    });
  }
  for (auto& t : starters) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST_F(HistoryPostgres, ARecordGivesItsRowsInAllFiveTablesAndTwiceAddsNothing) {
  auto backend = open_history_backend(url_);
  backend->ensure_schema();
  history_record r = test_record(1);
  r.players[3].left_at_ms = test_epoch_ms + 5;
  r.players[3].was_kicked = true;
  r.users[0].is_guest = false;
  backend->write(std::vector{r});

  const std::string seen = std::to_string(test_epoch_ms + 60'000);
  EXPECT_EQ(query("SELECT id, username, is_guest, " + ms("created_at") + ", " + ms("last_seen") +
                  " FROM users ORDER BY id"),
            test_uuid(1, 11) + "|player11|f|" + seen + "|" + seen + "\n" +  //
                test_uuid(1, 12) + "|player12|t|" + seen + "|" + seen + "\n" + test_uuid(1, 13) +
                "|player13|t|" + seen + "|" + seen + "\n" + test_uuid(1, 14) + "|player14|t|" +
                seen + "|" + seen);
  EXPECT_EQ(query("SELECT id, room_code, is_public, status, max_players, host_id, " +
                  ms("created_at") + ", ended_at IS NULL FROM rooms"),
            test_uuid(2, 1) + "|ROOM1|t|lobby|8|" + test_uuid(1, 11) + "|" +
                std::to_string(test_epoch_ms - 1000) + "|t");
  EXPECT_EQ(query("SELECT id, room_id, user_id, " + ms("joined_at") + ", " + ms("left_at") +
                  ", was_kicked FROM room_players WHERE id = '" + test_uuid(3, 14) + "'"),
            test_uuid(3, 14) + "|" + test_uuid(2, 1) + "|" + test_uuid(1, 14) + "|" +
                std::to_string(test_epoch_ms - 500) + "|" + std::to_string(test_epoch_ms + 5) +
                "|t");
  EXPECT_EQ(query("SELECT count(*), count(left_at) FROM room_players"), "4|1");
  EXPECT_EQ(query("SELECT id, room_id, winner, total_rounds, " + ms("started_at") + ", " +
                  ms("ended_at") + " FROM games"),
            test_uuid(4, 1) + "|" + test_uuid(2, 1) + "|villagers|3|" +
                std::to_string(test_epoch_ms + 30'000) + "|" + seen);
  EXPECT_EQ(query("SELECT string_agg(role::text, ',' ORDER BY id) FROM game_roles WHERE game_id "
                  "= '" +
                  test_uuid(4, 1) + "'"),
            "mafia,detective,doctor,villager");

  const std::string once = dump();
  backend->write(std::vector{r});
  backend->write(std::vector{r, r});
  EXPECT_EQ(dump(), once);

  // A later game in the room: the user's new name, the room's new status; a replay of the
  // first record does not take the name back.
  history_record later = test_record(2);
  later.users[0].username = "renamed";
  later.room_row.status = "ended";
  later.room_row.ended_at_ms = test_epoch_ms + 200'000;
  backend->write(std::vector{later, r});
  EXPECT_EQ(query("SELECT username, " + ms("last_seen") + " FROM users WHERE id = '" +
                  test_uuid(1, 11) + "'"),
            "renamed|" + std::to_string(test_epoch_ms + 120'000));
  EXPECT_EQ(query("SELECT count(*) FROM games"), "2");
  EXPECT_EQ(query("SELECT count(*) FROM game_roles"), "8");
}

TEST_F(HistoryPostgres, RecentGamesAreNewestFirstWithRolesAndWinner) {
  auto backend = open_history_backend(url_);
  testing::expect_recent_games_newest_first(*backend);
}

TEST_F(HistoryPostgres, ValuesAreParametersNeverSpliced) {
  auto backend = open_history_backend(url_);
  backend->ensure_schema();
  history_record r = test_record(1);
  r.users[0].username = "x'); DROP TABLE u;--";
  r.users[1].username = "\xc3\xa9t\xc3\xa9 \xe2\x9c\x93";  // "été ✓"
  r.room_row.code = "'--\"";
  backend->write(std::vector{r});
  EXPECT_EQ(query("SELECT username FROM users ORDER BY id LIMIT 2"),
            "x'); DROP TABLE u;--\n\xc3\xa9t\xc3\xa9 \xe2\x9c\x93");
  EXPECT_EQ(backend->recent_games(1).at(0).room_code, "'--\"");
}

TEST_F(HistoryPostgres, AConstraintFailureRollsTheBatchBackAndTheConnectionGoesOn) {
  auto backend = open_history_backend(url_);
  backend->ensure_schema();
  history_record bad = test_record(2);
  bad.roles[0].role = "werewolf";  // not validated here: the enum type must refuse it
  EXPECT_THROW(backend->write(std::vector{test_record(1), bad}), history_error);
  EXPECT_EQ(query("SELECT count(*) FROM users"), "0");
  backend->write(std::vector{test_record(1)});
  EXPECT_EQ(query("SELECT count(*) FROM games"), "1");
}

TEST_F(HistoryPostgres, AConnectionLostWhileIdleIsReopenedByTheNextWrite) {
  auto backend = open_history_backend(url_);
  backend->ensure_schema();
  backend->write(std::vector{test_record(1)});
  server_.stop();  // the server ends this idle connection
  ASSERT_TRUE(server_.start());
  backend->write(std::vector{test_record(2)});  // no error: found stale, reopened, written
  server_.kill();                               // a crash this time
  ASSERT_TRUE(server_.start());
  EXPECT_EQ(backend->recent_games(10).size(), 2u);
  // While the server is down every call fails, and comes back with it.
  server_.stop();
  EXPECT_THROW(backend->write(std::vector{test_record(3)}), history_error);
  EXPECT_THROW(backend->write(std::vector{test_record(3)}), history_error);
  ASSERT_TRUE(server_.start());
  backend->write(std::vector{test_record(3)});
  EXPECT_EQ(query("SELECT count(*) FROM games"), "3");
}

TEST_F(HistoryPostgres, AnOutageKeepsRecordsQueuedAndWritesEachOnceWhenTheServerIsBack) {
  metrics_registry metrics;
  history_writer_options options;
  options.backoff_min = 50ms;
  options.backoff_max = 400ms;
  history_writer writer(url_, metrics, options);
  EXPECT_EQ(writer.status().target, url_);
  writer.start();
  const auto gauge = [&](const char* name) { return metrics.get_gauge(name, "", "").value(); };
  const auto counter = [&](const char* name) { return metrics.get_counter(name, "", "").value(); };

  std::mutex mutex;
  std::map<std::uint64_t, int> calls;
  const auto on_written = [&](std::uint64_t n) {
    return [&, n] {
      std::lock_guard lock(mutex);
      ++calls[n];
    };
  };
  const auto called = [&] {
    std::lock_guard lock(mutex);
    return calls.size();
  };
  ASSERT_TRUE(writer.submit(test_record(1), on_written(1)));
  ASSERT_TRUE(wait_for([&] { return called() == 1; }));
  EXPECT_EQ(gauge("partyd_history_db_up"), 1);
  EXPECT_EQ(query("SELECT count(*) FROM games"), "1");

  server_.stop();
  for (std::uint64_t n = 2; n <= 4; ++n) {
    ASSERT_TRUE(writer.submit(test_record(n), on_written(n)));
  }
  ASSERT_TRUE(wait_for([&] { return counter("partyd_history_failures_total") >= 3; }));
  EXPECT_EQ(called(), 1u);
  EXPECT_EQ(gauge("partyd_history_db_up"), 0);
  EXPECT_EQ(gauge("partyd_history_queue_depth"), 3);
  const history_status down = writer.status();
  EXPECT_EQ(down.health, history_status::state::degraded);
  EXPECT_EQ(down.queue_depth, 3u);
  EXPECT_FALSE(down.last_error.empty());

  ASSERT_TRUE(server_.start());  // same port, same data directory
  ASSERT_TRUE(wait_for([&] { return called() == 4; }, 30s));
  {
    std::lock_guard lock(mutex);
    for (const auto& [n, times] : calls) EXPECT_EQ(times, 1) << "record " << n;
  }
  EXPECT_EQ(gauge("partyd_history_db_up"), 1);
  EXPECT_EQ(gauge("partyd_history_queue_depth"), 0);
  EXPECT_EQ(counter("partyd_history_records_written_total"), 4u);
  EXPECT_EQ(writer.status().health, history_status::state::ok);
  EXPECT_EQ(query("SELECT count(*) FROM games"), "4");
  EXPECT_EQ(query("SELECT count(*) FROM game_roles"), "16");
  EXPECT_EQ(query("SELECT count(*) FROM users"), "4");

  const auto games = writer.recent_games(10);
  ASSERT_EQ(games.size(), 4u);
  EXPECT_EQ(games[0].game_id, test_uuid(4, 4));
  EXPECT_EQ(games[3].game_id, test_uuid(4, 1));
  EXPECT_EQ(writer.stop(), 0u);
}

}  // namespace
}  // namespace partyd
