#include "storage/history.hpp"

#include <set>

#include "storage/history_backends.hpp"

namespace partyd {

namespace {

constexpr std::string_view sqlite_scheme = "sqlite:";

bool is_uuid(std::string_view s) {
  if (s.size() != 36) {
    return false;
  }
  for (std::size_t i = 0; i < s.size(); ++i) {
    const char ch = s[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (ch != '-') return false;
    } else if (!((ch >= '0' && ch <= '9') || (ch >= 'a' && ch <= 'f'))) {
      return false;
    }
  }
  return true;
}

// Characters in `s` when it is valid UTF-8 without NUL (PostgreSQL refuses both), else -1.
long utf8_length(std::string_view s) {
  long count = 0;
  for (std::size_t i = 0; i < s.size();) {
    const auto lead = static_cast<unsigned char>(s[i]);
    std::size_t extra = 0;
    std::uint32_t code = 0;
    if (lead == 0) {
      return -1;
    } else if (lead < 0x80) {
      code = lead;
    } else if ((lead & 0xE0) == 0xC0) {
      extra = 1;
      code = lead & 0x1F;
    } else if ((lead & 0xF0) == 0xE0) {
      extra = 2;
      code = lead & 0x0F;
    } else if ((lead & 0xF8) == 0xF0) {
      extra = 3;
      code = lead & 0x07;
    } else {
      return -1;
    }
    if (i + extra >= s.size()) {
      return -1;  // truncated sequence
    }
    for (std::size_t k = 1; k <= extra; ++k) {
      const auto next = static_cast<unsigned char>(s[i + k]);
      if ((next & 0xC0) != 0x80) return -1;
      code = (code << 6) | (next & 0x3F);
    }
    static constexpr std::uint32_t smallest[] = {0, 0x80, 0x800, 0x10000};
    if (code < smallest[extra] || code > 0x10FFFF || (code >= 0xD800 && code <= 0xDFFF)) {
      return -1;  // overlong, out of range, or a surrogate
    }
    i += extra + 1;
    ++count;
  }
  return count;
}

bool one_of(std::string_view value, std::initializer_list<std::string_view> allowed) {
  for (const std::string_view a : allowed) {
    if (value == a) return true;
  }
  return false;
}

}  // namespace

bool validate_history_record(const history_record& r, std::string& error) {
  const auto fail = [&](std::string what) {
    error = std::move(what);
    return false;
  };
  const auto uuid = [&](std::string_view field, std::string_view value) {
    if (is_uuid(value)) return true;
    error = std::string(field) + " is not a lowercase UUID";
    return false;
  };
  const auto time = [&](std::string_view field, std::int64_t ms) {
    if (ms >= 0) return true;
    error = std::string(field) + " is negative";
    return false;
  };
  if (!uuid("game_id", r.game_id) || !uuid("room id", r.room_row.id)) return false;
  std::set<std::string_view> user_ids;
  for (const auto& u : r.users) {
    if (!uuid("user id", u.id) || !time("user seen_at_ms", u.seen_at_ms)) return false;
    const long length = utf8_length(u.username);
    if (length < 0) return fail("username of user " + u.id + " is not UTF-8 text");
    if (length > 20) return fail("username of user " + u.id + " is longer than 20 characters");
    user_ids.insert(u.id);
  }
  const auto& room = r.room_row;
  const long code_length = utf8_length(room.code);
  if (code_length <= 0 || code_length > 6) return fail("room code must be 1 to 6 characters");
  if (!one_of(room.status, {"lobby", "in_game", "ended"})) {
    return fail("room status must be lobby, in_game or ended");
  }
  if (room.max_players < 0) return fail("room max_players is negative");
  if (!room.host_id.empty() && !uuid("room host_id", room.host_id)) return false;
  if (!time("room created_at_ms", room.created_at_ms) ||
      !time("room ended_at_ms", room.ended_at_ms)) {
    return false;
  }
  for (const auto& p : r.players) {
    if (!uuid("player id", p.id) || !uuid("player user_id", p.user_id)) return false;
    // room_players.user_id references users: the user must come with the record.
    if (!user_ids.contains(p.user_id)) return fail("player user " + p.user_id + " is not in users");
    if (!time("player joined_at_ms", p.joined_at_ms) || !time("player left_at_ms", p.left_at_ms)) {
      return false;
    }
  }
  if (!one_of(r.winner, {"mafia", "villagers"})) return fail("winner must be mafia or villagers");
  if (r.total_rounds < 0) return fail("total_rounds is negative");
  if (!time("started_at_ms", r.started_at_ms)) return false;
  if (r.ended_at_ms <= 0) return fail("ended_at_ms is required");
  for (const auto& role : r.roles) {
    if (!uuid("role id", role.id) || !uuid("role user_id", role.user_id)) return false;
    if (!one_of(role.role, {"mafia", "detective", "doctor", "villager"})) {
      return fail("role must be mafia, detective, doctor or villager");
    }
  }
  return true;
}

std::unique_ptr<history_backend> open_history_backend(std::string_view url) {
  if (url.starts_with(sqlite_scheme)) {
    std::string_view path = url.substr(sqlite_scheme.size());
    if (path.starts_with("//")) {
      path.remove_prefix(2);  // sqlite:///abs/file.db
    }
    if (path.empty()) {
      throw history_error("history URL: sqlite: needs a file path (sqlite:/path/file.db)");
    }
    return open_sqlite_history(std::string(path), std::string(url));
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    return open_postgres_history(url);
  }
  // Never echo the setting: it could be a URL with a password in it.
  throw history_error(
      "history URL: unsupported (expected sqlite:/path/file.db or "
      "postgresql://user@host:port/dbname)");
}

std::string redact_history_url(std::string_view url) {
  if (url.starts_with(sqlite_scheme)) {
    return std::string(url);
  }
  if (url.starts_with("postgresql://") || url.starts_with("postgres://")) {
    std::string described = describe_postgres_url(url);
    return described.empty() ? "(unparsable postgresql URL)" : described;
  }
  return "(unsupported history URL)";
}

namespace {

struct json_reader {
  std::string& error;
  bool ok = true;
  const boost::json::value* at(const boost::json::object& o, std::string_view key) {
    const boost::json::value* v = o.if_contains(key);
    if (!v && ok) {
      ok = false;
      error = std::string(key) + ": required";
    }
    return v;
  }
  std::string text(const boost::json::object& o, std::string_view key) {
    const boost::json::value* v = at(o, key);
    if (v && v->is_string()) return std::string(v->get_string());
    if (v && ok) {
      ok = false;
      error = std::string(key) + ": must be a string";
    }
    return {};
  }
  std::int64_t number(const boost::json::object& o, std::string_view key) {
    const boost::json::value* v = at(o, key);
    if (v && v->is_int64()) return v->get_int64();
    if (v && v->is_uint64() && v->get_uint64() <= INT64_MAX) {
      return static_cast<std::int64_t>(v->get_uint64());
    }
    if (v && ok) {
      ok = false;
      error = std::string(key) + ": must be an integer";
    }
    return 0;
  }
  bool flag(const boost::json::object& o, std::string_view key) {
    const boost::json::value* v = at(o, key);
    if (v && v->is_bool()) return v->get_bool();
    if (v && ok) {
      ok = false;
      error = std::string(key) + ": must be true or false";
    }
    return false;
  }
  const boost::json::object* object(const boost::json::object& o, std::string_view key) {
    const boost::json::value* v = at(o, key);
    if (v && v->is_object()) return &v->get_object();
    if (v && ok) {
      ok = false;
      error = std::string(key) + ": must be an object";
    }
    return nullptr;
  }
  template <class F>
  void each(const boost::json::object& o, std::string_view key, F&& f) {
    const boost::json::value* v = at(o, key);
    if (!v) return;
    if (!v->is_array()) {
      if (ok) {
        ok = false;
        error = std::string(key) + ": must be an array";
      }
      return;
    }
    for (const boost::json::value& item : v->get_array()) {
      if (!item.is_object()) {
        if (ok) {
          ok = false;
          error = std::string(key) + ": must hold objects";
        }
        return;
      }
      f(item.get_object());
    }
  }
};

}  // namespace

std::optional<history_record> history_record_from_json(const boost::json::object& record,
                                                       std::string& error) {
  json_reader r{error};
  history_record out;
  out.game_id = r.text(record, "gameId");
  out.winner = r.text(record, "winner");
  out.total_rounds = static_cast<int>(r.number(record, "totalRounds"));
  out.started_at_ms = r.number(record, "startedAt");
  out.ended_at_ms = r.number(record, "endedAt");
  if (const boost::json::object* room = r.object(record, "room")) {
    out.room_row.id = r.text(*room, "id");
    out.room_row.code = r.text(*room, "code");
    out.room_row.is_public = r.flag(*room, "isPublic");
    out.room_row.status = r.text(*room, "status");
    out.room_row.max_players = static_cast<int>(r.number(*room, "maxPlayers"));
    out.room_row.host_id = r.text(*room, "hostId");
    out.room_row.created_at_ms = r.number(*room, "createdAt");
    out.room_row.ended_at_ms = r.number(*room, "endedAt");
  }
  r.each(record, "users", [&](const boost::json::object& u) {
    history_record::user row;
    row.id = r.text(u, "id");
    row.username = r.text(u, "username");
    row.is_guest = r.flag(u, "isGuest");
    row.seen_at_ms = r.number(u, "seenAt");
    out.users.push_back(std::move(row));
  });
  r.each(record, "players", [&](const boost::json::object& p) {
    history_record::player row;
    row.id = r.text(p, "id");
    row.user_id = r.text(p, "userId");
    row.joined_at_ms = r.number(p, "joinedAt");
    row.left_at_ms = r.number(p, "leftAt");
    row.was_kicked = r.flag(p, "wasKicked");
    out.players.push_back(std::move(row));
  });
  r.each(record, "roles", [&](const boost::json::object& g) {
    history_record::role row;
    row.id = r.text(g, "id");
    row.user_id = r.text(g, "userId");
    row.role = r.text(g, "role");
    out.roles.push_back(std::move(row));
  });
  if (!r.ok) return std::nullopt;
  return out;
}

}  // namespace partyd
