// The PostgreSQL history backend: one libpq connection, opened at the first call and again after
// it is lost. Every value is a parameter of a statement prepared once per connection; no SQL is
// ever built from a value. Every wait is bounded: libpq's connect_timeout for the connect, and
// command_timeout for each statement (results are awaited with poll(), not in a blocking call).
// No SIGPIPE guard: libpq sends with MSG_NOSIGNAL on Linux.
#include <libpq-fe.h>
#include <poll.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <limits>
#include <utility>

#include "storage/history_backends.hpp"

namespace partyd {

namespace {

// A paused or partitioned server answers nothing; the writer must get its thread back to retry.
constexpr std::chrono::milliseconds command_timeout{10000};
constexpr const char* default_connect_timeout_s = "5";

// Enum types are created idempotently (CREATE TYPE has no IF NOT EXISTS). The advisory lock makes
// two partyd processes starting at once take turns: concurrent CREATE ... IF NOT EXISTS can still
// fail on the catalog's unique index.
constexpr const char* schema_sql = R"sql(
SELECT pg_advisory_xact_lock(7308604901240263);
DO $$ BEGIN
  CREATE TYPE room_status AS ENUM ('lobby', 'in_game', 'ended');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
DO $$ BEGIN
  CREATE TYPE game_winner AS ENUM ('mafia', 'villagers');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
DO $$ BEGIN
  CREATE TYPE game_role AS ENUM ('mafia', 'detective', 'doctor', 'villager');
EXCEPTION WHEN duplicate_object THEN NULL;
END $$;
CREATE TABLE IF NOT EXISTS users (
  id UUID PRIMARY KEY,
  username VARCHAR(20),
  is_guest BOOLEAN NOT NULL DEFAULT true,
  created_at TIMESTAMPTZ,
  last_seen TIMESTAMPTZ
);
CREATE TABLE IF NOT EXISTS rooms (
  id UUID PRIMARY KEY,
  room_code VARCHAR(6),
  is_public BOOLEAN,
  status room_status,
  max_players INT,
  host_id UUID,
  created_at TIMESTAMPTZ,
  ended_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS rooms_room_code_idx ON rooms (room_code);
CREATE TABLE IF NOT EXISTS room_players (
  id UUID PRIMARY KEY,
  room_id UUID REFERENCES rooms (id),
  user_id UUID REFERENCES users (id),
  joined_at TIMESTAMPTZ,
  left_at TIMESTAMPTZ,
  was_kicked BOOLEAN NOT NULL DEFAULT false
);
CREATE INDEX IF NOT EXISTS room_players_room_id_idx ON room_players (room_id);
CREATE INDEX IF NOT EXISTS room_players_user_id_idx ON room_players (user_id);
CREATE TABLE IF NOT EXISTS games (
  id UUID PRIMARY KEY,
  room_id UUID,
  winner game_winner,
  total_rounds INT,
  started_at TIMESTAMPTZ,
  ended_at TIMESTAMPTZ
);
CREATE INDEX IF NOT EXISTS games_ended_at_idx ON games (ended_at, id);
CREATE TABLE IF NOT EXISTS game_roles (
  id UUID PRIMARY KEY,
  game_id UUID REFERENCES games (id),
  user_id UUID,
  role game_role
);
CREATE INDEX IF NOT EXISTS game_roles_game_id_idx ON game_roles (game_id);
)sql";

struct statement {
  const char* name;
  const char* sql;
};

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

// Milliseconds since the epoch become TIMESTAMPTZ as 'epoch' + n * 1 ms and come back through
// extract(epoch), exactly (no float on the way); NULL stays NULL.
constexpr std::array<statement, statement_count> statements = {{
    // A replayed older record never takes back a newer username.
    {"partyd_history_user",
     "INSERT INTO users (id, username, is_guest, created_at, last_seen) "
     "VALUES ($1::uuid, $2::varchar, $3::boolean, "
     "timestamptz 'epoch' + $4::bigint * interval '1 millisecond', "
     "timestamptz 'epoch' + $4::bigint * interval '1 millisecond') "
     "ON CONFLICT (id) DO UPDATE SET username = EXCLUDED.username, is_guest = EXCLUDED.is_guest, "
     "last_seen = EXCLUDED.last_seen "
     "WHERE users.last_seen IS NULL OR EXCLUDED.last_seen >= users.last_seen"},
    {"partyd_history_room",
     "INSERT INTO rooms (id, room_code, is_public, status, max_players, host_id, created_at, "
     "ended_at) VALUES ($1::uuid, $2::varchar, $3::boolean, $4::room_status, $5::int, $6::uuid, "
     "timestamptz 'epoch' + $7::bigint * interval '1 millisecond', "
     "timestamptz 'epoch' + $8::bigint * interval '1 millisecond') "
     "ON CONFLICT (id) DO UPDATE SET status = EXCLUDED.status, host_id = EXCLUDED.host_id, "
     "ended_at = EXCLUDED.ended_at"},
    {"partyd_history_player",
     "INSERT INTO room_players (id, room_id, user_id, joined_at, left_at, was_kicked) "
     "VALUES ($1::uuid, $2::uuid, $3::uuid, "
     "timestamptz 'epoch' + $4::bigint * interval '1 millisecond', "
     "timestamptz 'epoch' + $5::bigint * interval '1 millisecond', $6::boolean) "
     "ON CONFLICT (id) DO UPDATE SET left_at = EXCLUDED.left_at, was_kicked = EXCLUDED.was_kicked"},
    {"partyd_history_game",
     "INSERT INTO games (id, room_id, winner, total_rounds, started_at, ended_at) "
     "VALUES ($1::uuid, $2::uuid, $3::game_winner, $4::int, "
     "timestamptz 'epoch' + $5::bigint * interval '1 millisecond', "
     "timestamptz 'epoch' + $6::bigint * interval '1 millisecond') "
     "ON CONFLICT (id) DO NOTHING"},
    {"partyd_history_role",
     "INSERT INTO game_roles (id, game_id, user_id, role) "
     "VALUES ($1::uuid, $2::uuid, $3::uuid, $4::game_role) ON CONFLICT (id) DO NOTHING"},
    {"partyd_history_games",
     "SELECT g.id::text, COALESCE(r.room_code, ''), g.winner::text, COALESCE(g.total_rounds, 0), "
     "COALESCE((extract(epoch FROM g.started_at) * 1000)::bigint, 0), "
     "COALESCE((extract(epoch FROM g.ended_at) * 1000)::bigint, 0) "
     "FROM games g LEFT JOIN rooms r ON r.id = g.room_id "
     "ORDER BY g.ended_at DESC NULLS LAST, g.id DESC LIMIT $1::bigint"},
    // COLLATE "C": the same order as SQLite's, whatever the database's locale.
    {"partyd_history_roles",
     "SELECT gr.user_id::text, COALESCE(u.username, ''), gr.role::text "
     "FROM game_roles gr LEFT JOIN users u ON u.id = gr.user_id WHERE gr.game_id = $1::uuid "
     "ORDER BY COALESCE(u.username, '') COLLATE \"C\", gr.user_id"},
}};

struct result_deleter {
  void operator()(PGresult* r) const { PQclear(r); }
};
using result_ptr = std::unique_ptr<PGresult, result_deleter>;

struct conninfo_deleter {
  void operator()(PQconninfoOption* o) const { PQconninfoFree(o); }
};

// The parts of a URL worth printing, and the password to scrub from messages.
struct target {
  std::string user, host, port, dbname, password;
};

// libpq's parse errors quote the offending token, which may be a piece of the password: drop
// every quoted part.
std::string without_quoted(std::string_view message) {
  std::string out;
  bool quoted = false;
  for (const char ch : message) {
    if (ch == '"') {
      if (!quoted) out += "\"...\"";
      quoted = !quoted;
    } else if (!quoted && ch != '\n') {
      out.push_back(ch);
    }
  }
  return out;
}

bool parse_target(std::string_view url, target& out, std::string& error) {
  char* parse_error = nullptr;
  const std::string text(url);
  const std::unique_ptr<PQconninfoOption, conninfo_deleter> options(
      PQconninfoParse(text.c_str(), &parse_error));
  if (!options) {
    error = parse_error != nullptr ? without_quoted(parse_error) : "out of memory";
    PQfreemem(parse_error);
    return false;
  }
  for (const PQconninfoOption* o = options.get(); o->keyword != nullptr; ++o) {
    if (o->val == nullptr) continue;
    const std::string_view keyword = o->keyword;
    if (keyword == "user") out.user = o->val;
    if (keyword == "host") out.host = o->val;
    if (keyword == "hostaddr" && out.host.empty()) out.host = o->val;
    if (keyword == "port") out.port = o->val;
    if (keyword == "dbname") out.dbname = o->val;
    if (keyword == "password") out.password = o->val;
  }
  return true;
}

std::string describe_target(const target& t) {
  std::string out = "postgresql://";
  if (!t.user.empty()) out += t.user + "@";
  out += t.host;
  if (!t.port.empty()) out += ":" + t.port;
  out += "/" + t.dbname;
  return out;
}

template <typename Int>
Int parse_number(const char* text) {
  Int value = 0;
  std::from_chars(text, text + std::strlen(text), value);
  return value;
}

// Text-format parameters of one statement; NULL where a value is absent.
class parameters {
 public:
  parameters& text(std::string_view value) {
    values_.emplace_back(value);
    nulls_.push_back(false);
    return *this;
  }
  parameters& text_or_null(std::string_view value) {
    values_.emplace_back(value);
    nulls_.push_back(value.empty());
    return *this;
  }
  parameters& integer(std::int64_t value) { return text(std::to_string(value)); }
  parameters& boolean(bool value) { return text(value ? "true" : "false"); }
  parameters& time(std::int64_t ms) {
    values_.push_back(std::to_string(ms));
    nulls_.push_back(ms == 0);
    return *this;
  }
  // Valid until the next change (the strings may move while values are added).
  const std::vector<const char*>& pointers() {
    pointers_.clear();
    for (std::size_t i = 0; i < values_.size(); ++i) {
      pointers_.push_back(nulls_[i] ? nullptr : values_[i].c_str());
    }
    return pointers_;
  }

 private:
  std::vector<std::string> values_;
  std::vector<bool> nulls_;
  std::vector<const char*> pointers_;
};

class postgres_history final : public history_backend {
 public:
  postgres_history(std::string url, target where)
      : url_(std::move(url)),
        password_(std::move(where.password)),
        description_(describe_target(where)) {}
  ~postgres_history() override { disconnect(); }
  postgres_history(const postgres_history&) = delete;
  postgres_history& operator=(const postgres_history&) = delete;

  void ensure_schema() override {
    with_connection([&] {
      transaction txn(*this);
      command(schema_sql, "create the schema");
      txn.commit();
    });
  }

  void write(std::span<const history_record> batch) override {
    with_connection([&] {
      transaction txn(*this);
      for (const history_record& record : batch) {
        write_one(record);
      }
      txn.commit();
    });
  }

  std::vector<history_game_summary> recent_games(std::size_t limit) override {
    std::vector<history_game_summary> games;
    with_connection([&] {
      games.clear();
      // One snapshot for both queries.
      command("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", "begin");
      try {
        parameters p;
        p.integer(static_cast<std::int64_t>(
            std::min<std::size_t>(limit, std::numeric_limits<std::int64_t>::max())));
        const result_ptr rows = prepared(select_games, p, "read games");
        for (int i = 0, n = PQntuples(rows.get()); i < n; ++i) {
          history_game_summary game;
          game.game_id = PQgetvalue(rows.get(), i, 0);
          game.room_code = PQgetvalue(rows.get(), i, 1);
          game.winner = PQgetvalue(rows.get(), i, 2);
          game.total_rounds = parse_number<int>(PQgetvalue(rows.get(), i, 3));
          game.started_at_ms = parse_number<std::int64_t>(PQgetvalue(rows.get(), i, 4));
          game.ended_at_ms = parse_number<std::int64_t>(PQgetvalue(rows.get(), i, 5));
          games.push_back(std::move(game));
        }
        for (history_game_summary& game : games) {
          parameters q;
          q.text(game.game_id);
          const result_ptr roles = prepared(select_roles, q, "read game roles");
          for (int i = 0, n = PQntuples(roles.get()); i < n; ++i) {
            game.roles.push_back({PQgetvalue(roles.get(), i, 0), PQgetvalue(roles.get(), i, 1),
                                  PQgetvalue(roles.get(), i, 2)});
          }
        }
        command("COMMIT", "commit");
      } catch (const history_error&) {
        rollback_quietly();
        throw;
      }
    });
    return games;
  }

  std::string_view name() const noexcept override { return "postgresql"; }
  std::string describe() const override { return description_; }

 private:
  // Rolls back unless committed, so a failed write leaves the connection usable.
  class transaction {
   public:
    explicit transaction(postgres_history& owner) : owner_(owner) {
      owner_.command("BEGIN", "begin");
    }
    ~transaction() {
      if (!committed_) owner_.rollback_quietly();
    }
    transaction(const transaction&) = delete;
    transaction& operator=(const transaction&) = delete;
    void commit() {
      owner_.command("COMMIT", "commit");
      committed_ = true;
    }

   private:
    postgres_history& owner_;
    bool committed_ = false;
  };

  // Runs `work` on an open connection. A connection that died while idle (the server restarted,
  // an idle timeout) is only found out by its next statement: then `work` runs once more on a
  // new one. Safe because every call is idempotent, even a write whose COMMIT went out but whose
  // answer was lost.
  template <typename Work>
  void with_connection(Work&& work) {
    const bool reused = conn_ != nullptr;
    connect();
    try {
      work();
    } catch (const history_error&) {
      if (!reused || !lost_) throw;
      connect();
      work();
    }
  }

  void connect() {
    if (conn_ != nullptr) {
      return;
    }
    lost_ = false;
    // Later entries win: the URL may change the defaults before it, not client_encoding after
    // it (every text we send is UTF-8).
    const char* const keywords[] = {"connect_timeout", "application_name", "dbname",
                                    "client_encoding", nullptr};
    const char* const values[] = {default_connect_timeout_s, "partyd", url_.c_str(), "UTF8",
                                  nullptr};
    conn_ = PQconnectdbParams(keywords, values, 1);
    if (conn_ == nullptr) {
      throw history_error(description_ + ": connect: out of memory");
    }
    if (PQstatus(conn_) != CONNECTION_OK) {
      fail("connect");
    }
    // Notices ("relation ... already exists, skipping" from ensure_schema) are not errors, and
    // libpq's default prints them on stderr, outside the structured log.
    PQsetNoticeProcessor(
        conn_, [](void*, const char*) {}, nullptr);
    prepared_.fill(false);
  }

  void disconnect() {
    if (conn_ != nullptr) {
      PQfinish(conn_);
      conn_ = nullptr;
    }
  }

  // Throws what the connection says; a connection found dead is closed, for the next call to
  // open again.
  [[noreturn]] void fail(std::string_view what, std::string_view detail = {}) {
    std::string message = description_ + ": " + std::string(what) + ": ";
    if (!detail.empty()) {
      message += detail;
    } else if (conn_ != nullptr) {
      message += PQerrorMessage(conn_);
    }
    if (conn_ != nullptr && PQstatus(conn_) == CONNECTION_BAD) {
      lost_ = true;
      disconnect();
    }
    throw history_error(clean(std::move(message)));
  }

  // One line, and never the password (servers do not echo it today; messages end up in logs).
  std::string clean(std::string message) const {
    std::string line;
    for (const char ch : message) {
      const bool space = ch == '\n' || ch == '\t' || ch == ' ';
      if (!space) {
        line.push_back(ch);
      } else if (!line.empty() && line.back() != ' ') {
        line.push_back(' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    message = std::move(line);
    if (!password_.empty()) {
      for (auto pos = message.find(password_); pos != std::string::npos;
           pos = message.find(password_, pos + 3)) {
        message.replace(pos, password_.size(), "***");
      }
    }
    return message;
  }

  // Waits (bounded) for every result of the statement just sent; returns the last one. A
  // statement that failed throws after its results are drained, so the connection stays usable.
  result_ptr collect(std::string_view what) {
    const auto deadline = std::chrono::steady_clock::now() + command_timeout;
    result_ptr last;
    std::string error;
    for (;;) {
      while (PQisBusy(conn_)) {
        const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
            deadline - std::chrono::steady_clock::now());
        if (left.count() <= 0) {
          // No cancel request: that opens a connection to the same unresponsive server.
          disconnect();
          throw history_error(clean(description_ + ": " + std::string(what) +
                                    ": no answer within " +
                                    std::to_string(command_timeout.count()) + " ms"));
        }
        pollfd p{PQsocket(conn_), POLLIN, 0};
        const int n = ::poll(&p, 1, static_cast<int>(left.count()));
        if (n < 0 && errno != EINTR) {
          fail(what, std::strerror(errno));
        }
        if (n > 0 && !PQconsumeInput(conn_)) {
          fail(what);
        }
      }
      result_ptr r(PQgetResult(conn_));
      if (!r) {
        break;
      }
      const ExecStatusType status = PQresultStatus(r.get());
      if (status == PGRES_FATAL_ERROR || status == PGRES_BAD_RESPONSE) {
        if (error.empty()) error = PQresultErrorMessage(r.get());
      }
      last = std::move(r);
    }
    if (PQstatus(conn_) == CONNECTION_BAD) {
      fail(what);
    }
    if (!error.empty()) {
      fail(what, error);
    }
    if (!last) {
      fail(what, "no result");
    }
    return last;
  }

  // Statements without values only (schema, transaction control).
  void command(const char* sql, std::string_view what) {
    if (!PQsendQuery(conn_, sql)) fail(what);
    collect(what);
  }

  result_ptr prepared(statement_id id, parameters& p, std::string_view what) {
    if (!prepared_[id]) {
      // At the first use on this connection, not at connect: the tables must exist first.
      if (!PQsendPrepare(conn_, statements[id].name, statements[id].sql, 0, nullptr)) {
        fail("prepare");
      }
      collect("prepare");
      prepared_[id] = true;
    }
    const std::vector<const char*>& values = p.pointers();
    if (!PQsendQueryPrepared(conn_, statements[id].name, static_cast<int>(values.size()),
                             values.data(), nullptr, nullptr, 0)) {
      fail(what);
    }
    return collect(what);
  }

  void rollback_quietly() {
    if (conn_ == nullptr || PQtransactionStatus(conn_) == PQTRANS_IDLE) {
      return;
    }
    try {
      command("ROLLBACK", "rollback");
    } catch (const history_error&) {
      // The connection is closed when it is dead; the caller's error is the one to report.
    }
  }

  void write_one(const history_record& r) {
    for (const auto& u : r.users) {
      parameters p;
      p.text(u.id).text(u.username).boolean(u.is_guest).time(u.seen_at_ms);
      prepared(insert_user, p, "write users");
    }
    {
      const auto& room = r.room_row;
      parameters p;
      p.text(room.id)
          .text(room.code)
          .boolean(room.is_public)
          .text(room.status)
          .integer(room.max_players)
          .text_or_null(room.host_id)
          .time(room.created_at_ms)
          .time(room.ended_at_ms);
      prepared(insert_room, p, "write rooms");
    }
    for (const auto& player : r.players) {
      parameters p;
      p.text(player.id)
          .text(r.room_row.id)
          .text(player.user_id)
          .time(player.joined_at_ms)
          .time(player.left_at_ms)
          .boolean(player.was_kicked);
      prepared(insert_player, p, "write room_players");
    }
    {
      parameters p;
      p.text(r.game_id)
          .text(r.room_row.id)
          .text(r.winner)
          .integer(r.total_rounds)
          .time(r.started_at_ms)
          .time(r.ended_at_ms);
      prepared(insert_game, p, "write games");
    }
    for (const auto& role : r.roles) {
      parameters p;
      p.text(role.id).text(r.game_id).text(role.user_id).text(role.role);
      prepared(insert_role, p, "write game_roles");
    }
  }

  const std::string url_;
  const std::string password_;  // scrubbed from every message
  const std::string description_;
  PGconn* conn_ = nullptr;
  std::array<bool, statement_count> prepared_{};  // on conn_
  bool lost_ = false;                             // the last failure found the connection dead
};

}  // namespace

std::unique_ptr<history_backend> open_postgres_history(std::string_view url) {
  target where;
  std::string error;
  if (!parse_target(url, where, error)) {
    throw history_error("history URL: not a valid postgresql URL: " + error);
  }
  return std::make_unique<postgres_history>(std::string(url), std::move(where));
}

std::string describe_postgres_url(std::string_view url) {
  target where;
  std::string error;
  if (!parse_target(url, where, error)) {
    return {};
  }
  return describe_target(where);
}

}  // namespace partyd
