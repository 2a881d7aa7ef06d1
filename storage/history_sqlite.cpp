// The SQLite history backend: one sqlite3 connection in WAL mode, so a second connection (the
// writer's reader, an operator's sqlite3 shell) reads while this one writes. Every value goes
// through a bound parameter of a statement prepared once per connection.
#include <sqlite3.h>

#include <algorithm>
#include <array>
#include <limits>
#include <utility>

#include "storage/history_backends.hpp"

namespace partyd {

namespace {

// Times are INTEGER milliseconds since the epoch; the enums are TEXT held to their values by
// CHECK constraints (SQLite has no enum type).
constexpr const char* schema_sql = R"sql(
CREATE TABLE IF NOT EXISTS users (
  id TEXT PRIMARY KEY,
  username TEXT CHECK (length(username) <= 20),
  is_guest INTEGER NOT NULL DEFAULT 1 CHECK (is_guest IN (0, 1)),
  created_at INTEGER,
  last_seen INTEGER
);
CREATE TABLE IF NOT EXISTS rooms (
  id TEXT PRIMARY KEY,
  room_code TEXT CHECK (length(room_code) <= 6),
  is_public INTEGER CHECK (is_public IN (0, 1)),
  status TEXT CHECK (status IN ('lobby', 'in_game', 'ended')),
  max_players INTEGER,
  host_id TEXT,
  created_at INTEGER,
  ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS rooms_room_code_idx ON rooms (room_code);
CREATE TABLE IF NOT EXISTS room_players (
  id TEXT PRIMARY KEY,
  room_id TEXT REFERENCES rooms (id),
  user_id TEXT REFERENCES users (id),
  joined_at INTEGER,
  left_at INTEGER,
  was_kicked INTEGER NOT NULL DEFAULT 0 CHECK (was_kicked IN (0, 1))
);
CREATE INDEX IF NOT EXISTS room_players_room_id_idx ON room_players (room_id);
CREATE INDEX IF NOT EXISTS room_players_user_id_idx ON room_players (user_id);
CREATE TABLE IF NOT EXISTS games (
  id TEXT PRIMARY KEY,
  room_id TEXT,
  winner TEXT CHECK (winner IN ('mafia', 'villagers')),
  total_rounds INTEGER,
  started_at INTEGER,
  ended_at INTEGER
);
CREATE INDEX IF NOT EXISTS games_ended_at_idx ON games (ended_at, id);
CREATE TABLE IF NOT EXISTS game_roles (
  id TEXT PRIMARY KEY,
  game_id TEXT REFERENCES games (id),
  user_id TEXT,
  role TEXT CHECK (role IN ('mafia', 'detective', 'doctor', 'villager'))
);
CREATE INDEX IF NOT EXISTS game_roles_game_id_idx ON game_roles (game_id);
)sql";

enum statement_id : std::size_t {
  insert_user,
  insert_room,
  insert_player,
  insert_game,
  insert_role,
  select_games,
  select_roles,
  statement_count
};

constexpr std::array<const char*, statement_count> statement_sql = {
    // A replayed older record never takes back a newer username.
    "INSERT INTO users (id, username, is_guest, created_at, last_seen) VALUES (?1, ?2, ?3, ?4, ?4) "
    "ON CONFLICT (id) DO UPDATE SET username = excluded.username, is_guest = excluded.is_guest, "
    "last_seen = excluded.last_seen "
    "WHERE users.last_seen IS NULL OR excluded.last_seen >= users.last_seen",
    "INSERT INTO rooms (id, room_code, is_public, status, max_players, host_id, created_at, "
    "ended_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
    "ON CONFLICT (id) DO UPDATE SET status = excluded.status, host_id = excluded.host_id, "
    "ended_at = excluded.ended_at",
    "INSERT INTO room_players (id, room_id, user_id, joined_at, left_at, was_kicked) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
    "ON CONFLICT (id) DO UPDATE SET left_at = excluded.left_at, was_kicked = excluded.was_kicked",
    // ON CONFLICT (id), not INSERT OR IGNORE: that would also swallow CHECK failures.
    "INSERT INTO games (id, room_id, winner, total_rounds, started_at, ended_at) "
    "VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (id) DO NOTHING",
    "INSERT INTO game_roles (id, game_id, user_id, role) VALUES (?1, ?2, ?3, ?4) "
    "ON CONFLICT (id) DO NOTHING",
    "SELECT g.id, COALESCE(r.room_code, ''), g.winner, g.total_rounds, g.started_at, g.ended_at "
    "FROM games g LEFT JOIN rooms r ON r.id = g.room_id "
    "ORDER BY g.ended_at DESC, g.id DESC LIMIT ?1",
    "SELECT gr.user_id, COALESCE(u.username, ''), gr.role "
    "FROM game_roles gr LEFT JOIN users u ON u.id = gr.user_id "
    "WHERE gr.game_id = ?1 ORDER BY COALESCE(u.username, ''), gr.user_id",
};

struct db_closer {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct statement_finalizer {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using statement_ptr = std::unique_ptr<sqlite3_stmt, statement_finalizer>;

// Leaves a statement ready for its next use, however its use ended.
class statement_use {
 public:
  explicit statement_use(sqlite3_stmt* s) : s_(s) {}
  ~statement_use() {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  statement_use(const statement_use&) = delete;
  statement_use& operator=(const statement_use&) = delete;
  sqlite3_stmt* get() const noexcept { return s_; }

 private:
  sqlite3_stmt* s_;
};

std::string column_text(sqlite3_stmt* s, int column) {
  const unsigned char* text = sqlite3_column_text(s, column);
  if (text == nullptr) {
    return {};
  }
  return std::string(reinterpret_cast<const char*>(text),
                     static_cast<std::size_t>(sqlite3_column_bytes(s, column)));
}

class sqlite_history final : public history_backend {
 public:
  sqlite_history(const std::string& path, std::string description)
      : description_(std::move(description)) {
    sqlite3* raw = nullptr;
    const int rc = sqlite3_open_v2(
        path.c_str(), &raw,
        SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX,  // one thread at a time
        nullptr);
    db_.reset(raw);  // also on failure: the handle holds the error and must be closed
    if (rc != SQLITE_OK) {
      fail("open");
    }
    sqlite3_extended_result_codes(db_.get(), 1);
    // The writer and its reader are two connections on one file: a writer's commit may wait
    // for a checkpoint, a reader for nothing (WAL), neither forever.
    sqlite3_busy_timeout(db_.get(), 5000);
    exec("PRAGMA journal_mode = WAL");
    // FULL: a commit is on disk before on_written runs, even across a power loss (one sync per
    // batch of games is cheap).
    exec("PRAGMA synchronous = FULL");
    exec("PRAGMA foreign_keys = ON");
  }

  void ensure_schema() override {
    transaction txn(*this, "BEGIN IMMEDIATE");
    exec(schema_sql);
    txn.commit();
  }

  void write(std::span<const history_record> batch) override {
    // IMMEDIATE: take the write lock now (waiting up to the busy timeout) rather than failing
    // halfway through the batch when another connection writes.
    transaction txn(*this, "BEGIN IMMEDIATE");
    for (const history_record& record : batch) {
      write_one(record);
    }
    txn.commit();
  }

  std::vector<history_game_summary> recent_games(std::size_t limit) override {
    std::vector<history_game_summary> games;
    transaction txn(*this, "BEGIN");  // both queries read the same snapshot
    {
      statement_use q(statement(select_games));
      const auto bounded = static_cast<sqlite3_int64>(
          std::min<std::size_t>(limit, std::numeric_limits<sqlite3_int64>::max()));
      check(sqlite3_bind_int64(q.get(), 1, bounded), "bind");
      for (int rc; (rc = sqlite3_step(q.get())) != SQLITE_DONE;) {
        if (rc != SQLITE_ROW) fail("read games");
        history_game_summary game;
        game.game_id = column_text(q.get(), 0);
        game.room_code = column_text(q.get(), 1);
        game.winner = column_text(q.get(), 2);
        game.total_rounds = sqlite3_column_int(q.get(), 3);
        game.started_at_ms = sqlite3_column_int64(q.get(), 4);
        game.ended_at_ms = sqlite3_column_int64(q.get(), 5);
        games.push_back(std::move(game));
      }
    }
    for (history_game_summary& game : games) {
      statement_use q(statement(select_roles));
      bind_text(q.get(), 1, game.game_id);
      for (int rc; (rc = sqlite3_step(q.get())) != SQLITE_DONE;) {
        if (rc != SQLITE_ROW) fail("read game roles");
        game.roles.push_back(
            {column_text(q.get(), 0), column_text(q.get(), 1), column_text(q.get(), 2)});
      }
    }
    txn.commit();
    return games;
  }

  std::string_view name() const noexcept override { return "sqlite"; }
  std::string describe() const override { return description_; }

 private:
  // Rolls back unless committed, so a failed call leaves the connection usable.
  class transaction {
   public:
    transaction(sqlite_history& owner, const char* begin) : owner_(owner) { owner_.exec(begin); }
    ~transaction() {
      if (!sqlite3_get_autocommit(owner_.db_.get())) {
        sqlite3_exec(owner_.db_.get(), "ROLLBACK", nullptr, nullptr, nullptr);
      }
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    void commit() { owner_.exec("COMMIT"); }

   private:
    sqlite_history& owner_;
  };

  [[noreturn]] void fail(std::string_view what) const {
    std::string message = description_ + ": " + std::string(what) + ": ";
    message += db_ ? sqlite3_errmsg(db_.get()) : "out of memory";
    throw history_error(message);
  }

  void check(int rc, std::string_view what) const {
    if (rc != SQLITE_OK) fail(what);
  }

  // Statements without values only (pragmas, schema, transaction control).
  void exec(const char* sql) {
    char* message = nullptr;
    const int rc = sqlite3_exec(db_.get(), sql, nullptr, nullptr, &message);
    sqlite3_free(message);  // sqlite3_errmsg still has it
    check(rc, "exec");
  }

  sqlite3_stmt* statement(statement_id id) {
    statement_ptr& slot = statements_[id];
    if (!slot) {
      sqlite3_stmt* raw = nullptr;
      const int rc = sqlite3_prepare_v3(db_.get(), statement_sql[id], -1, SQLITE_PREPARE_PERSISTENT,
                                        &raw, nullptr);
      slot.reset(raw);
      check(rc, "prepare");
    }
    return slot.get();
  }

  void bind_text(sqlite3_stmt* s, int index, std::string_view value) {
    // SQLITE_STATIC: the record outlives the statement's use.
    check(sqlite3_bind_text(s, index, value.data(), static_cast<int>(value.size()), SQLITE_STATIC),
          "bind");
  }
  void bind_text_or_null(sqlite3_stmt* s, int index, std::string_view value) {
    if (value.empty()) {
      check(sqlite3_bind_null(s, index), "bind");
    } else {
      bind_text(s, index, value);
    }
  }
  void bind_int(sqlite3_stmt* s, int index, std::int64_t value) {
    check(sqlite3_bind_int64(s, index, value), "bind");
  }
  void bind_time(sqlite3_stmt* s, int index, std::int64_t ms) {
    check(ms == 0 ? sqlite3_bind_null(s, index) : sqlite3_bind_int64(s, index, ms), "bind");
  }

  void run(sqlite3_stmt* s, std::string_view what) {
    if (sqlite3_step(s) != SQLITE_DONE) fail(what);
  }

  void write_one(const history_record& r) {
    for (const auto& u : r.users) {
      statement_use q(statement(insert_user));
      bind_text(q.get(), 1, u.id);
      bind_text(q.get(), 2, u.username);
      bind_int(q.get(), 3, u.is_guest ? 1 : 0);
      bind_time(q.get(), 4, u.seen_at_ms);
      run(q.get(), "write users");
    }
    {
      const auto& room = r.room_row;
      statement_use q(statement(insert_room));
      bind_text(q.get(), 1, room.id);
      bind_text(q.get(), 2, room.code);
      bind_int(q.get(), 3, room.is_public ? 1 : 0);
      bind_text(q.get(), 4, room.status);
      bind_int(q.get(), 5, room.max_players);
      bind_text_or_null(q.get(), 6, room.host_id);
      bind_time(q.get(), 7, room.created_at_ms);
      bind_time(q.get(), 8, room.ended_at_ms);
      run(q.get(), "write rooms");
    }
    for (const auto& p : r.players) {
      statement_use q(statement(insert_player));
      bind_text(q.get(), 1, p.id);
      bind_text(q.get(), 2, r.room_row.id);
      bind_text(q.get(), 3, p.user_id);
      bind_time(q.get(), 4, p.joined_at_ms);
      bind_time(q.get(), 5, p.left_at_ms);
      bind_int(q.get(), 6, p.was_kicked ? 1 : 0);
      run(q.get(), "write room_players");
    }
    {
      statement_use q(statement(insert_game));
      bind_text(q.get(), 1, r.game_id);
      bind_text(q.get(), 2, r.room_row.id);
      bind_text(q.get(), 3, r.winner);
      bind_int(q.get(), 4, r.total_rounds);
      bind_time(q.get(), 5, r.started_at_ms);
      bind_time(q.get(), 6, r.ended_at_ms);
      run(q.get(), "write games");
    }
    for (const auto& role : r.roles) {
      statement_use q(statement(insert_role));
      bind_text(q.get(), 1, role.id);
      bind_text(q.get(), 2, r.game_id);
      bind_text(q.get(), 3, role.user_id);
      bind_text(q.get(), 4, role.role);
      run(q.get(), "write game_roles");
    }
  }

  std::string description_;
  std::unique_ptr<sqlite3, db_closer> db_;
  // Declared after db_, so they are finalized before the connection closes.
  std::array<statement_ptr, statement_count> statements_;
};

}  // namespace

std::unique_ptr<history_backend> open_sqlite_history(const std::string& path,
                                                     std::string description) {
  return std::make_unique<sqlite_history>(path, std::move(description));
}

}  // namespace partyd
