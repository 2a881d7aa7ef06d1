// Snapshot codecs of the Mafia room ("mafia", schema 1) and of the public queue ("mafia-queue",
// schema 1), JSON. Everything but live connections and the chat rate windows is written (roles,
// night choices, votes, deaths, deadlines, the unwritten history records); equal states give
// equal bytes. Restore validates every field and cross-reference and returns nullptr instead of
// throwing.
#include <set>
#include <utility>

#include "games/common/json_io.hpp"
#include "games/common/json_writer.hpp"
#include "games/mafia/game.hpp"
#include "games/mafia/matchmaker.hpp"

namespace partyd {

namespace json = boost::json;
using namespace snapshot_read;

namespace {

constexpr std::int64_t snapshot_schema = 1;
constexpr std::string_view room_document = "mafia";
constexpr std::string_view queue_document = "mafia-queue";

std::uint32_t as_u32(const json::value& v) {
  const std::uint64_t n = as_uint(v);
  require(n <= UINT32_MAX);
  return static_cast<std::uint32_t>(n);
}

void write_seat(json_writer& w, const mafia::history_entry::seat& s) {
  w.begin_object().member("user_id", s.user_id).member("username", s.username);
  w.member("guest", s.guest).member("role", s.role).member("row_id", s.row_id);
  w.member("role_row_id", s.role_row_id).member("joined_at", s.joined_at);
  w.member("left_at", s.left_at).member("kicked", s.kicked).end_object();
}

mafia::history_entry::seat read_seat(const json::value& v) {
  const json::object& o = as_object(v);
  mafia::history_entry::seat s;
  s.user_id = as_id(field(o, "user_id"));
  s.username = as_string(field(o, "username"));
  s.guest = as_bool(field(o, "guest"));
  s.role = as_string(field(o, "role"));
  require(s.role.empty() || mafia::parse_role(s.role).has_value());
  s.row_id = as_string(field(o, "row_id"));
  s.role_row_id = as_string(field(o, "role_row_id"));
  require(s.row_id.empty() || mafia::is_uuid(s.row_id));
  require(s.role_row_id.empty() || mafia::is_uuid(s.role_row_id));
  s.joined_at = as_int(field(o, "joined_at"));
  s.left_at = as_int(field(o, "left_at"));
  s.kicked = as_bool(field(o, "kicked"));
  return s;
}

void write_queued(json_writer& w, const mafia::queued_player& p) {
  w.begin_object().member("user_id", p.user_id).member("username", p.username);
  w.member("conn", p.conn).member("queued_at", p.queued_at).member("connected", p.connected);
  w.end_object();
}

mafia::queued_player read_queued(const json::value& v) {
  const json::object& o = as_object(v);
  mafia::queued_player p;
  p.user_id = as_id(field(o, "user_id"));
  p.username = as_string(field(o, "username"));
  p.conn = as_uint(field(o, "conn"));
  p.queued_at = as_int(field(o, "queued_at"));
  p.connected = as_bool(field(o, "connected"));
  return p;
}

std::unique_ptr<game> restore_room(const mafia_config& config, std::string_view bytes) {
  const json::value parsed = parse_document(bytes, 16);
  const json::object& root = as_object(parsed);
  require_header(root, snapshot_schema, room_document);
  mafia::room_state s;
  s.code = as_id(field(root, "code"));
  s.room_id = as_string(field(root, "room_id"));
  require(s.room_id.empty() || mafia::is_uuid(s.room_id));
  s.is_public = as_bool(field(root, "is_public"));
  s.matched = as_bool(field(root, "matched"));
  s.max_players = as_u32(field(root, "max_players"));
  require(s.max_players >= config.min_players && s.max_players <= config.max_players);
  const json::object& settings = as_object(field(root, "settings"));
  s.config.discussion_s = as_u32(field(settings, "discussion_s"));
  s.config.vote_s = as_u32(field(settings, "vote_s"));
  s.config.night_s = as_u32(field(settings, "night_s"));
  for (std::uint32_t v : {s.config.discussion_s, s.config.vote_s, s.config.night_s}) {
    require(v >= 1 && v <= 86400);
  }
  const std::optional<mafia::phase> current = mafia::parse_phase(as_string(field(root, "phase")));
  require(current.has_value());
  s.current = *current;
  s.host_id = as_string(field(root, "host_id"));
  s.created_at = as_int(field(root, "created_at"));
  s.next_join_order = as_uint(field(root, "next_join_order"));
  std::set<std::string> users;
  std::set<connection_id> conns;
  for (const json::value& v : as_array(field(root, "players"))) {
    const json::object& o = as_object(v);
    mafia::player p;
    p.user_id = as_id(field(o, "user_id"));
    p.username = as_string(field(o, "username"));
    p.guest = as_bool(field(o, "guest"));
    p.conn = as_uint(field(o, "conn"));
    p.joined_at = as_int(field(o, "joined_at"));
    p.join_order = as_uint(field(o, "join_order"));
    require(p.join_order < s.next_join_order);
    p.ready = as_bool(field(o, "ready"));
    p.connected = as_bool(field(o, "connected"));
    p.muted = as_bool(field(o, "muted"));
    const std::optional<mafia::role> r = mafia::parse_role(as_string(field(o, "role")));
    require(r.has_value());
    p.assigned = *r;
    p.in_game = as_bool(field(o, "in_game"));
    p.alive = as_bool(field(o, "alive"));
    p.died_round = as_u32(field(o, "died_round"));
    const std::optional<mafia::death_cause> c = mafia::parse_cause(as_string(field(o, "cause")));
    require(c.has_value());
    p.cause = *c;
    p.gone = as_bool(field(o, "gone"));
    require(users.insert(p.user_id).second);
    require(p.conn == 0 || conns.insert(p.conn).second);
    require(!p.in_game || p.assigned != mafia::role::none);
    s.players.push_back(std::move(p));
  }
  require(s.players.size() <= s.max_players + 64);
  require(s.host_id.empty() || users.count(s.host_id) || s.matched);
  s.reserved = as_ids(field(root, "reserved"));
  s.countdown_ends_at = as_int(field(root, "countdown_ends_at"));
  s.game_id = as_string(field(root, "game_id"));
  s.round = as_u32(field(root, "round"));
  s.phase_ends_at = as_int(field(root, "phase_ends_at"));
  s.started_at = as_int(field(root, "started_at"));
  const json::object& night = as_object(field(root, "night"));
  for (const auto& member : as_object(field(night, "mafia"))) {
    const json::object& o = as_object(member.value());
    mafia::night_actions::mafia_vote vote;
    vote.target = as_id(field(o, "target"));
    vote.order = as_uint(field(o, "order"));
    require(users.count(std::string(member.key())) && users.count(vote.target));
    s.night.mafia.emplace(std::string(member.key()), std::move(vote));
  }
  s.night.doctor_save = as_string(field(night, "doctor_save"));
  s.night.detective_inspect = as_string(field(night, "detective_inspect"));
  s.night.next_order = as_uint(field(night, "next_order"));
  for (const auto& member : as_object(field(root, "votes"))) {
    const std::string target = as_string(member.value());
    require(users.count(std::string(member.key())) && (target.empty() || users.count(target)));
    s.votes.emplace(std::string(member.key()), target);
  }
  for (const json::value& v : as_array(field(root, "deaths"))) {
    const json::object& o = as_object(v);
    mafia::death d;
    d.user_id = as_id(field(o, "user_id"));
    d.round = as_u32(field(o, "round"));
    const std::optional<mafia::death_cause> c = mafia::parse_cause(as_string(field(o, "cause")));
    require(c.has_value());
    d.cause = *c;
    s.deaths.push_back(std::move(d));
  }
  s.winner = as_string(field(root, "winner"));
  require(s.winner.empty() || s.winner == "mafia" || s.winner == "villagers");
  for (const json::value& v : as_array(field(root, "departed"))) s.departed.push_back(read_seat(v));
  for (const json::value& v : as_array(field(root, "unwritten"))) {
    const json::object& o = as_object(v);
    mafia::history_entry e;
    e.game_id = as_id(field(o, "game_id"));
    require(mafia::is_uuid(e.game_id));
    e.room_host_id = as_string(field(o, "room_host_id"));
    e.winner = as_string(field(o, "winner"));
    require(e.winner == "mafia" || e.winner == "villagers");
    e.rounds = as_u32(field(o, "rounds"));
    e.started_at = as_int(field(o, "started_at"));
    e.ended_at = as_int(field(o, "ended_at"));
    for (const json::value& seat : as_array(field(o, "seats"))) e.seats.push_back(read_seat(seat));
    s.unwritten.push_back(std::move(e));
  }
  s.closing = as_string(field(root, "closing"));
  const bool playing = s.current == mafia::phase::night || s.current == mafia::phase::day ||
                       s.current == mafia::phase::voting;
  require(!playing || (mafia::is_uuid(s.game_id) && s.round >= 1 && s.phase_ends_at > 0));
  return std::make_unique<mafia_game>(config, std::move(s));
}

std::unique_ptr<game> restore_queue(const mafia_config& config, std::string_view bytes) {
  const json::value parsed = parse_document(bytes, 16);
  const json::object& root = as_object(parsed);
  require_header(root, snapshot_schema, queue_document);
  mafia::queue_state s;
  s.code = as_id(field(root, "code"));
  std::set<std::string> users;
  for (const json::value& v : as_array(field(root, "waiting"))) {
    s.waiting.push_back(read_queued(v));
    require(users.insert(s.waiting.back().user_id).second);
  }
  s.next_request = as_uint(field(root, "next_request"));
  for (const json::value& v : as_array(field(root, "forming"))) {
    const json::object& o = as_object(v);
    mafia::match_group g;
    g.request = as_uint(field(o, "request"));
    require(g.request < s.next_request);
    for (const json::value& m : as_array(field(o, "members"))) {
      g.members.push_back(read_queued(m));
      require(users.insert(g.members.back().user_id).second);
    }
    s.forming.push_back(std::move(g));
  }
  s.matches_made = as_uint(field(root, "matches_made"));
  s.retry_at = as_int(field(root, "retry_at"));
  require(s.waiting.size() <= config.queue_max);
  return std::make_unique<mafia_matchmaker>(config, std::move(s));
}

}  // namespace

std::string mafia_game::snapshot() const {
  const mafia::room_state& s = state_;
  json_writer w(1024 + s.players.size() * 256);
  w.begin_object();
  w.member("schema", snapshot_schema).member("game", room_document);
  w.member("code", s.code).member("room_id", s.room_id).member("is_public", s.is_public);
  w.member("matched", s.matched).member("max_players", s.max_players);
  w.key("settings").begin_object();
  w.member("discussion_s", s.config.discussion_s).member("vote_s", s.config.vote_s);
  w.member("night_s", s.config.night_s).end_object();
  w.member("phase", mafia::phase_name(s.current)).member("host_id", s.host_id);
  w.member("created_at", s.created_at).member("next_join_order", s.next_join_order);
  w.key("players").begin_array();
  for (const mafia::player& p : s.players) {
    w.begin_object().member("user_id", p.user_id).member("username", p.username);
    w.member("guest", p.guest).member("conn", p.conn).member("joined_at", p.joined_at);
    w.member("join_order", p.join_order);
    w.member("ready", p.ready).member("connected", p.connected).member("muted", p.muted);
    w.member("role", mafia::role_name(p.assigned)).member("in_game", p.in_game);
    w.member("alive", p.alive).member("died_round", p.died_round);
    w.member("cause", mafia::cause_name(p.cause)).member("gone", p.gone).end_object();
  }
  w.end_array();
  w.key("reserved").begin_array();
  for (const std::string& id : s.reserved) w.string(id);
  w.end_array().member("countdown_ends_at", s.countdown_ends_at);
  w.member("game_id", s.game_id).member("round", s.round);
  w.member("phase_ends_at", s.phase_ends_at).member("started_at", s.started_at);
  w.key("night").begin_object().key("mafia").begin_object();
  for (const auto& [voter, vote] : s.night.mafia) {
    w.key(voter).begin_object().member("target", vote.target).member("order", vote.order);
    w.end_object();
  }
  w.end_object();
  w.member("doctor_save", s.night.doctor_save);
  w.member("detective_inspect", s.night.detective_inspect);
  w.member("next_order", s.night.next_order).end_object();
  w.key("votes").begin_object();
  for (const auto& [voter, target] : s.votes) w.member(voter, target);
  w.end_object();
  w.key("deaths").begin_array();
  for (const mafia::death& d : s.deaths) {
    w.begin_object().member("user_id", d.user_id).member("round", d.round);
    w.member("cause", mafia::cause_name(d.cause)).end_object();
  }
  w.end_array().member("winner", s.winner);
  w.key("departed").begin_array();
  for (const auto& seat : s.departed) write_seat(w, seat);
  w.end_array();
  w.key("unwritten").begin_array();
  for (const mafia::history_entry& e : s.unwritten) {
    w.begin_object().member("game_id", e.game_id).member("room_host_id", e.room_host_id);
    w.member("winner", e.winner);
    w.member("rounds", e.rounds).member("started_at", e.started_at);
    w.member("ended_at", e.ended_at).key("seats").begin_array();
    for (const auto& seat : e.seats) write_seat(w, seat);
    w.end_array().end_object();
  }
  w.end_array().member("closing", s.closing);
  w.end_object();
  return w.take();
}

std::string mafia_matchmaker::snapshot() const {
  const mafia::queue_state& s = state_;
  json_writer w(256 + s.waiting.size() * 128);
  w.begin_object();
  w.member("schema", snapshot_schema).member("game", queue_document).member("code", s.code);
  w.key("waiting").begin_array();
  for (const auto& p : s.waiting) write_queued(w, p);
  w.end_array().member("next_request", s.next_request).key("forming").begin_array();
  for (const auto& g : s.forming) {
    w.begin_object().member("request", g.request).key("members").begin_array();
    for (const auto& m : g.members) write_queued(w, m);
    w.end_array().end_object();
  }
  w.end_array().member("matches_made", s.matches_made).member("retry_at", s.retry_at);
  w.end_object();
  return w.take();
}

std::unique_ptr<game> mafia_restore(const mafia_config& config, std::string_view bytes) {
  return restore_guarded([&] { return restore_room(config, bytes); });
}

std::unique_ptr<game> mafia_queue_restore(const mafia_config& config, std::string_view bytes) {
  return restore_guarded([&] { return restore_queue(config, bytes); });
}

}  // namespace partyd
