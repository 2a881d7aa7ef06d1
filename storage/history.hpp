// Game history: finished games as rows of a real database (SQLite or PostgreSQL), the five tables
// of the Mafia design (users, rooms, room_players, games, game_roles). A room hands a finished
// game to storage/history_writer as one history_record; the writer's thread writes it through a
// history_backend. Nothing here is ever called on a game worker.
//
// Schema: SQLite keeps ids as TEXT, booleans as INTEGER 0/1, times as INTEGER milliseconds since
// the epoch, and the enums as TEXT with CHECK constraints. PostgreSQL uses UUID, BOOLEAN,
// TIMESTAMPTZ (from the same milliseconds) and enum types (room_status, game_winner, game_role).
// rooms.room_code is indexed but not UNIQUE: partyd hands a closed room's code out again, and a
// unique code would refuse the later room's games forever.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

namespace partyd {

// Every failure of a backend: unreachable, refused, a malformed URL. The message never holds a
// password.
class history_error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One finished game, as the tables hold it. Every id is a UUID in its canonical lowercase text
// form (8-4-4-4-12 hex digits), chosen by the room from its seeded rng, so writing the same
// record twice adds nothing: every insert is idempotent. Times are milliseconds since the epoch;
// 0 stores NULL.
struct history_record {
  struct user {
    std::string id, username;  // username: at most 20 characters (UTF-8)
    bool is_guest = true;
    std::int64_t seen_at_ms = 0;  // users.last_seen (and created_at on the first insert)
  };
  struct room {
    std::string id, code;  // code: at most 6 characters
    bool is_public = false;
    std::string status;  // lobby | in_game | ended
    int max_players = 0;
    std::string host_id;  // a user id, or empty (NULL)
    std::int64_t created_at_ms = 0, ended_at_ms = 0;
  };
  struct player {
    std::string id, user_id;  // user_id: one of `users`
    std::int64_t joined_at_ms = 0, left_at_ms = 0;
    bool was_kicked = false;
  };
  struct role {
    std::string id, user_id, role;  // role: mafia | detective | doctor | villager
  };

  std::string game_id;  // games.id; also the record's key
  std::vector<user> users;
  room room_row;
  std::vector<player> players;
  std::string winner;  // mafia | villagers
  int total_rounds = 0;
  std::int64_t started_at_ms = 0, ended_at_ms = 0;  // ended_at_ms is required (recent_games)
  std::vector<role> roles;
};

// The record a room hands over (effects::record; the JSON of mafia_game::record_of, documented in
// docs/operations.md "History"): nullopt with `error` when a member is missing or of the wrong
// kind. The rows' rules are validate_history_record's.
std::optional<history_record> history_record_from_json(const boost::json::object& record,
                                                       std::string& error);

// Whether the database would take `record` (ids, enums, lengths, UTF-8, every player's user in
// `users`). A record that fails here would be refused on every retry, so the writer takes only
// records that pass. Sets `error` to the first problem found.
bool validate_history_record(const history_record& record, std::string& error);

// One game as recent_games() lists it.
struct history_game_summary {
  struct role {
    std::string user_id, username, role;  // username empty when the user has no row
  };
  std::string game_id, room_code, winner;
  int total_rounds = 0;
  std::int64_t started_at_ms = 0, ended_at_ms = 0;
  std::vector<role> roles;  // by username, then user id
};

// One database connection. Thread: used by one thread at a time; implementations are not
// thread-safe. Every call throws history_error on failure and may be called again afterwards (a
// lost PostgreSQL connection is opened again by the next call).
class history_backend {
 public:
  virtual ~history_backend() = default;

  // Creates the tables, types and indexes that are missing (CREATE ... IF NOT EXISTS); running it
  // again, or from two processes at once, is fine.
  virtual void ensure_schema() = 0;
  // Writes the records in one transaction, in order; nothing of the batch is kept when it throws.
  // users: inserted, or username, is_guest and last_seen updated when the record's seen_at is not
  // older than the stored one. rooms: inserted, or status, host_id and ended_at updated.
  // room_players: inserted, or left_at and was_kicked updated. games, game_roles: inserted once.
  virtual void write(std::span<const history_record> batch) = 0;
  // The `limit` games that ended last, newest first, each with its roles.
  virtual std::vector<history_game_summary> recent_games(std::size_t limit) = 0;
  // "sqlite" or "postgresql".
  virtual std::string_view name() const noexcept = 0;
  // The database for logs and /ready, without credentials: "sqlite:/var/lib/partyd/history.db",
  // "postgresql://partyd@db:5432/partyd".
  virtual std::string describe() const = 0;
};

// "sqlite:/path/file.db" (also "sqlite:relative.db", "sqlite:///abs/file.db") or
// "postgresql://[user[:password]@]host[:port]/dbname[?param=value...]" ("postgres://" too; libpq
// parameters such as sslmode or connect_timeout pass through). SQLite opens (and creates) the file
// at once; PostgreSQL connects at the first call. Throws history_error for anything else, or when
// the SQLite file cannot be opened; the message never repeats the URL's password.
std::unique_ptr<history_backend> open_history_backend(std::string_view url);

// `url` fit to print: a PostgreSQL URL without its password (in the userinfo or a password=
// parameter); a SQLite URL as it is; anything else as "(unsupported history URL)".
std::string redact_history_url(std::string_view url);

}  // namespace partyd
