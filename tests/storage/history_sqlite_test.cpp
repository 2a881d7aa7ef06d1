// The SQLite history backend on a file in a temporary directory, checked through a connection of
// the test's own; and what every backend shares: URLs, their redaction, record validation.
#include <gtest/gtest.h>
#include <sqlite3.h>
#include <stdlib.h>

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "storage/history.hpp"
#include "storage/history_test_support.hpp"

namespace partyd {
namespace {

using testing::test_epoch_ms;
using testing::test_record;
using testing::test_uuid;

class HistorySqlite : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string templ =
        (std::filesystem::temp_directory_path() / "partyd-history-test-XXXXXX").string();
    ASSERT_NE(::mkdtemp(templ.data()), nullptr);
    dir_ = templ;
    path_ = dir_ + "/history.db";
    url_ = "sqlite:" + path_;
  }
  void TearDown() override {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }

  std::unique_ptr<history_backend> open() {
    auto backend = open_history_backend(url_);
    EXPECT_EQ(backend->name(), "sqlite");
    return backend;
  }

  // Every row `sql` gives, as psql -At prints them: columns split by '|', rows by '\n', NULL
  // empty. On a connection of the test's own, behind the backend's back.
  std::string query(const std::string& sql) {
    sqlite3* raw = nullptr;
    EXPECT_EQ(sqlite3_open_v2(path_.c_str(), &raw, SQLITE_OPEN_READONLY, nullptr), SQLITE_OK);
    const std::unique_ptr<sqlite3, decltype(&sqlite3_close_v2)> db(raw, &sqlite3_close_v2);
    sqlite3_stmt* stmt = nullptr;
    EXPECT_EQ(sqlite3_prepare_v2(db.get(), sql.c_str(), -1, &stmt, nullptr), SQLITE_OK)
        << sqlite3_errmsg(db.get()) << " in " << sql;
    const std::unique_ptr<sqlite3_stmt, decltype(&sqlite3_finalize)> owned(stmt, &sqlite3_finalize);
    std::string out;
    while (stmt != nullptr && sqlite3_step(stmt) == SQLITE_ROW) {
      if (!out.empty()) out += '\n';
      for (int i = 0; i < sqlite3_column_count(stmt); ++i) {
        if (i > 0) out += '|';
        const unsigned char* text = sqlite3_column_text(stmt, i);
        if (text != nullptr) out += reinterpret_cast<const char*>(text);
      }
    }
    return out;
  }

  // All five tables, sorted, to compare before and after.
  std::string dump() {
    std::string out;
    for (const char* table : {"users", "rooms", "room_players", "games", "game_roles"}) {
      out += std::string(table) + ":\n" +
             query(std::string("SELECT * FROM ") + table + " ORDER BY id") + "\n";
    }
    return out;
  }

  std::string dir_, path_, url_;
};

TEST_F(HistorySqlite, SchemaIsCreatedOnFirstOpenAndReopenIsFine) {
  {
    auto backend = open();
    backend->ensure_schema();
    backend->write(std::vector{test_record(1)});
  }
  EXPECT_EQ(query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name"),
            "game_roles\ngames\nroom_players\nrooms\nusers");
  EXPECT_EQ(query("SELECT name FROM sqlite_master WHERE type = 'index' AND name LIKE '%_idx' "
                  "ORDER BY name"),
            "game_roles_game_id_idx\ngames_ended_at_idx\nroom_players_room_id_idx\n"
            "room_players_user_id_idx\nrooms_room_code_idx");
  EXPECT_EQ(query("PRAGMA journal_mode"), "wal");

  // Opened again (a restart): the schema is there, ensure_schema changes nothing, rows stay.
  auto again = open();
  again->ensure_schema();
  again->ensure_schema();
  EXPECT_EQ(query("SELECT count(*) FROM games"), "1");
  EXPECT_EQ(again->recent_games(10).size(), 1u);
}

TEST_F(HistorySqlite, ARecordGivesItsRowsInAllFiveTables) {
  auto backend = open();
  backend->ensure_schema();
  history_record r = test_record(1);
  r.players[3].left_at_ms = test_epoch_ms + 5;
  r.players[3].was_kicked = true;
  r.users[0].is_guest = false;
  backend->write(std::span(&r, 1));

  const std::string seen = std::to_string(test_epoch_ms + 60'000);
  EXPECT_EQ(query("SELECT * FROM users ORDER BY id"),
            test_uuid(1, 11) + "|player11|0|" + seen + "|" + seen + "\n" +  //
                test_uuid(1, 12) + "|player12|1|" + seen + "|" + seen + "\n" + test_uuid(1, 13) +
                "|player13|1|" + seen + "|" + seen + "\n" + test_uuid(1, 14) + "|player14|1|" +
                seen + "|" + seen);
  EXPECT_EQ(query("SELECT * FROM rooms"), test_uuid(2, 1) + "|ROOM1|1|lobby|8|" + test_uuid(1, 11) +
                                              "|" + std::to_string(test_epoch_ms - 1000) + "|");
  const std::string joined = std::to_string(test_epoch_ms - 500);
  EXPECT_EQ(query("SELECT * FROM room_players ORDER BY id"),
            test_uuid(3, 11) + "|" + test_uuid(2, 1) + "|" + test_uuid(1, 11) + "|" + joined +
                "||0\n" + test_uuid(3, 12) + "|" + test_uuid(2, 1) + "|" + test_uuid(1, 12) + "|" +
                joined + "||0\n" + test_uuid(3, 13) + "|" + test_uuid(2, 1) + "|" +
                test_uuid(1, 13) + "|" + joined + "||0\n" + test_uuid(3, 14) + "|" +
                test_uuid(2, 1) + "|" + test_uuid(1, 14) + "|" + joined + "|" +
                std::to_string(test_epoch_ms + 5) + "|1");
  EXPECT_EQ(query("SELECT * FROM games"), test_uuid(4, 1) + "|" + test_uuid(2, 1) +
                                              "|villagers|3|" +
                                              std::to_string(test_epoch_ms + 30'000) + "|" + seen);
  EXPECT_EQ(query("SELECT * FROM game_roles ORDER BY id"),
            test_uuid(5, 11) + "|" + test_uuid(4, 1) + "|" + test_uuid(1, 11) + "|mafia\n" +
                test_uuid(5, 12) + "|" + test_uuid(4, 1) + "|" + test_uuid(1, 12) + "|detective\n" +
                test_uuid(5, 13) + "|" + test_uuid(4, 1) + "|" + test_uuid(1, 13) + "|doctor\n" +
                test_uuid(5, 14) + "|" + test_uuid(4, 1) + "|" + test_uuid(1, 14) + "|villager");
}

TEST_F(HistorySqlite, TheSameRecordTwiceAddsNothing) {
  auto backend = open();
  backend->ensure_schema();
  const std::vector batch{test_record(1), test_record(2)};
  backend->write(batch);
  const std::string once = dump();
  backend->write(batch);                                        // a retried batch
  backend->write(std::vector{test_record(2), test_record(2)});  // twice in one transaction
  EXPECT_EQ(dump(), once);
  EXPECT_EQ(query("SELECT count(*) FROM games"), "2");
  EXPECT_EQ(query("SELECT count(*) FROM game_roles"), "8");
  EXPECT_EQ(query("SELECT count(*) FROM users"), "4");
}

TEST_F(HistorySqlite, LaterRecordsUpdateUsersRoomsAndPlayersAndOlderOnesDoNot) {
  auto backend = open();
  backend->ensure_schema();
  backend->write(std::vector{test_record(1)});

  history_record later = test_record(2);  // the next game in the same room, a minute later
  later.users[0].username = "renamed";
  later.users[0].is_guest = false;
  later.room_row.status = "ended";
  later.room_row.host_id = test_uuid(1, 12);
  later.room_row.ended_at_ms = test_epoch_ms + 200'000;
  later.players[1].left_at_ms = test_epoch_ms + 150'000;
  later.players[1].was_kicked = true;
  backend->write(std::vector{later});
  // Game 1's record again (a replay): the user keeps the later name; the room and the players
  // take what the record says (records arrive in the order they were submitted).
  backend->write(std::vector{test_record(1)});

  EXPECT_EQ(query("SELECT username, is_guest, last_seen FROM users WHERE id = '" +
                  test_uuid(1, 11) + "'"),
            "renamed|0|" + std::to_string(test_epoch_ms + 120'000));
  backend->write(std::vector{later});
  EXPECT_EQ(query("SELECT status, host_id, ended_at FROM rooms"),
            "ended|" + test_uuid(1, 12) + "|" + std::to_string(test_epoch_ms + 200'000));
  EXPECT_EQ(
      query("SELECT left_at, was_kicked FROM room_players WHERE id = '" + test_uuid(3, 12) + "'"),
      std::to_string(test_epoch_ms + 150'000) + "|1");
  // created_at is when the user was first seen.
  EXPECT_EQ(query("SELECT created_at FROM users WHERE id = '" + test_uuid(1, 11) + "'"),
            std::to_string(test_epoch_ms + 60'000));
  EXPECT_EQ(query("SELECT count(*) FROM games"), "2");
}

TEST_F(HistorySqlite, RecentGamesAreNewestFirstWithRolesAndWinner) {
  auto backend = open();
  testing::expect_recent_games_newest_first(*backend);
}

TEST_F(HistorySqlite, ValuesAreBoundNeverSpliced) {
  auto backend = open();
  backend->ensure_schema();
  history_record r = test_record(1);
  r.users[0].username = "x'); DROP TABLE u;--";
  r.room_row.code = "'--\"";
  std::string error;
  ASSERT_TRUE(validate_history_record(r, error)) << error;
  backend->write(std::vector{r});
  EXPECT_EQ(query("SELECT username FROM users WHERE id = '" + test_uuid(1, 11) + "'"),
            "x'); DROP TABLE u;--");
  EXPECT_EQ(backend->recent_games(1).at(0).room_code, "'--\"");
}

TEST_F(HistorySqlite, CheckConstraintsRefuseABatchAndNothingOfItIsKept) {
  auto backend = open();
  backend->ensure_schema();
  history_record bad = test_record(2);
  bad.winner = "nobody";  // not validated here: the CHECK must hold on its own
  EXPECT_THROW(backend->write(std::vector{test_record(1), bad}), history_error);
  EXPECT_EQ(query("SELECT count(*) FROM games"), "0");
  EXPECT_EQ(query("SELECT count(*) FROM users"), "0");
  bad = test_record(2);
  bad.roles[0].role = "werewolf";
  EXPECT_THROW(backend->write(std::vector{bad}), history_error);
  // The connection is still usable.
  backend->write(std::vector{test_record(1)});
  EXPECT_EQ(query("SELECT count(*) FROM games"), "1");
}

TEST_F(HistorySqlite, AFileThatCannotBeCreatedIsAClearError) {
  try {
    open_history_backend("sqlite:" + dir_ + "/missing/dir/history.db");
    FAIL() << "opened";
  } catch (const history_error& e) {
    EXPECT_NE(std::string(e.what()).find("open"), std::string::npos) << e.what();
  }
}

TEST(HistoryUrl, UnsupportedUrlsAreRefusedWithoutRepeatingThem) {
  for (const char* url : {"mysql://root:hunter2@db/x", "hunter2", "", "sqlite:", "sqlite://"}) {
    try {
      open_history_backend(url);
      ADD_FAILURE() << "accepted " << url;
    } catch (const history_error& e) {
      const std::string message = e.what();
      EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
      EXPECT_NE(message.find("sqlite:"), std::string::npos) << message;
    }
  }
  try {
    open_history_backend("postgresql://u:hunter2@host/db?hunter2=1");
    ADD_FAILURE() << "accepted an unknown parameter";
  } catch (const history_error& e) {
    EXPECT_EQ(std::string(e.what()).find("hunter2"), std::string::npos) << e.what();
  }
}

TEST(HistoryUrl, PostgresqlConnectsOnlyWhenFirstUsed) {
  // Port 1 on loopback refuses: opening works, the first call fails, naming no password.
  auto backend = open_history_backend("postgres://partyd:hunter2@127.0.0.1:1/history");
  EXPECT_EQ(backend->name(), "postgresql");
  EXPECT_EQ(backend->describe(), "postgresql://partyd@127.0.0.1:1/history");
  try {
    backend->ensure_schema();
    FAIL() << "connected to port 1";
  } catch (const history_error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find("hunter2"), std::string::npos) << message;
    EXPECT_NE(message.find("postgresql://partyd@127.0.0.1:1/history"), std::string::npos)
        << message;
  }
}

TEST(HistoryUrl, RedactionDropsPasswords) {
  EXPECT_EQ(redact_history_url("postgresql://partyd:s3cret@db.example:5433/games"),
            "postgresql://partyd@db.example:5433/games");
  EXPECT_EQ(redact_history_url("postgres://db/games?user=partyd&password=s3cret&sslmode=require"),
            "postgresql://partyd@db/games");
  EXPECT_EQ(redact_history_url("sqlite:/var/lib/partyd/history.db"),
            "sqlite:/var/lib/partyd/history.db");
  EXPECT_EQ(redact_history_url("redis://:s3cret@h"), "(unsupported history URL)");
}

TEST(HistoryRecord, ValidationRefusesWhatTheDatabaseWouldRefuseForever) {
  std::string error;
  EXPECT_TRUE(validate_history_record(test_record(1), error)) << error;
  const auto refused = [](auto change) {
    history_record r = test_record(1);
    change(r);
    std::string why;
    const bool ok = validate_history_record(r, why);
    EXPECT_FALSE(why.empty() && !ok);
    return !ok;
  };
  EXPECT_TRUE(refused([](history_record& r) { r.game_id = "not-a-uuid"; }));
  EXPECT_TRUE(refused([](history_record& r) { r.game_id = test_uuid(4, 1) + "0"; }));
  EXPECT_TRUE(refused([](history_record& r) {
    r.room_row.id = "0000000A-0000-4000-8000-000000000001";  // uppercase
  }));
  EXPECT_TRUE(refused([](history_record& r) { r.users[0].username = std::string(21, 'a'); }));
  EXPECT_FALSE(refused([](history_record& r) {
    r.users[0].username =
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9"
        "\xc3\xa9\xc3\xa9";  // 20 characters, 40 bytes
  }));
  EXPECT_TRUE(refused([](history_record& r) { r.users[0].username = "bad\xff"; }));
  EXPECT_TRUE(refused([](history_record& r) { r.users[0].username = std::string("a\0b", 3); }));
  EXPECT_TRUE(refused([](history_record& r) { r.room_row.code = "TOOLONG"; }));
  EXPECT_TRUE(refused([](history_record& r) { r.room_row.code.clear(); }));
  EXPECT_TRUE(refused([](history_record& r) { r.room_row.status = "playing"; }));
  EXPECT_TRUE(refused([](history_record& r) { r.winner = "draw"; }));
  EXPECT_TRUE(refused([](history_record& r) { r.roles[0].role = "werewolf"; }));
  EXPECT_TRUE(refused([](history_record& r) { r.ended_at_ms = 0; }));
  EXPECT_TRUE(refused([](history_record& r) { r.players[0].joined_at_ms = -1; }));
  EXPECT_TRUE(refused([](history_record& r) { r.users.erase(r.users.begin()); }));  // FK
  EXPECT_FALSE(refused([](history_record& r) { r.room_row.host_id.clear(); }));
}

}  // namespace
}  // namespace partyd
