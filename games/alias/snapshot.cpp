// Snapshot codec of the Alias room: schema 1, JSON. Everything but live connections is written
// (settings with the custom pack, participants with their session ids, teams, the word order and
// the current word, the round clock, the rounds played); equal states give equal bytes. Restore
// validates every field and every cross-reference and returns nullptr instead of throwing.
#include <set>
#include <utility>

#include "games/alias/game.hpp"
#include "games/common/json_io.hpp"
#include "games/common/json_writer.hpp"

namespace partyd {

namespace json = boost::json;
using namespace snapshot_read;

namespace {

constexpr std::int64_t snapshot_schema = 1;

std::string_view end_reason_name(alias::end_reason r) {
  return r == alias::end_reason::timer_expired ? "timer_expired" : "pack_exhausted";
}

void write_round(json_writer& w, const alias::round_figures& r) {
  w.begin_object().member("number", r.number).member("team_id", r.team_id);
  w.member("explainer_id", r.explainer_id).member("guessed", r.guessed);
  w.member("skipped", r.skipped).member("points", r.points).member("active_ms", r.active_ms);
  w.member("ended_by", end_reason_name(r.ended_by)).end_object();
}

alias::round_figures read_round(const json::value& v) {
  const json::object& object = as_object(v);
  alias::round_figures r;
  r.number = static_cast<std::uint32_t>(as_uint(field(object, "number")));
  r.team_id = as_string(field(object, "team_id"));
  r.explainer_id = as_string(field(object, "explainer_id"));
  r.guessed = static_cast<std::uint32_t>(as_uint(field(object, "guessed")));
  r.skipped = static_cast<std::uint32_t>(as_uint(field(object, "skipped")));
  r.points = as_int(field(object, "points"));
  r.active_ms = as_int(field(object, "active_ms"));
  const std::string ended_by = as_string(field(object, "ended_by"));
  require(ended_by == "timer_expired" || ended_by == "pack_exhausted");
  r.ended_by = ended_by == "timer_expired" ? alias::end_reason::timer_expired
                                           : alias::end_reason::pack_exhausted;
  return r;
}

std::uint32_t as_u32(const json::value& v) {
  const std::uint64_t n = as_uint(v);
  require(n <= UINT32_MAX);
  return static_cast<std::uint32_t>(n);
}

std::unique_ptr<game> restore_unsafe(const alias_config& config, std::string_view bytes) {
  const json::value parsed = parse_document(bytes, 16);
  const json::object& root = as_object(parsed);
  require_header(root, snapshot_schema, "alias");
  alias::room_state s;
  s.code = as_id(field(root, "code"));
  const std::optional<alias::phase> current = alias::parse_phase(as_string(field(root, "phase")));
  require(current.has_value() && *current != alias::phase::room_closed);
  s.current = *current;
  s.state_version = as_uint(field(root, "state_version"));

  const json::object& settings = as_object(field(root, "settings"));
  s.config.max_players = as_u32(field(settings, "max_players"));
  s.config.round_duration_sec = as_u32(field(settings, "round_duration_sec"));
  s.config.rounds_per_team = as_u32(field(settings, "rounds_per_team"));
  s.config.score_review_sec = as_u32(field(settings, "score_review_sec"));
  s.config.skip_penalty = as_bool(field(settings, "skip_penalty"));
  s.config.word_pack_id = as_id(field(settings, "word_pack_id"));
  require(s.config.max_players >= 2 && s.config.max_players <= config.max_players &&
          s.config.round_duration_sec >= 1 && s.config.rounds_per_team >= 1 &&
          s.config.rounds_per_team <= config.max_rounds_per_team);
  if (const json::value& custom = field(settings, "custom"); !custom.is_null()) {
    const json::object& object = as_object(custom);
    alias::word_pack p;
    p.id = std::string(alias::custom_pack_id);
    p.name = as_string(field(object, "name"));
    for (const json::value& entry : as_array(field(object, "words"))) {
      const json::object& w = as_object(entry);
      p.words.push_back({as_id(field(w, "text")), as_id(field(w, "difficulty"))});
    }
    require(!p.words.empty() && p.words.size() <= config.custom_max_words);
    s.config.custom = std::move(p);
  }
  const alias::word_pack* pack = alias::selected_pack(s.config);
  require(pack != nullptr && !pack->words.empty());

  std::set<std::string> ids;
  std::set<connection_id> conns;
  for (const json::value& entry : as_array(field(root, "people"))) {
    const json::object& object = as_object(entry);
    alias::participant p;
    p.id = as_id(field(object, "id"));
    p.name = as_id(field(object, "name"));
    p.avatar_color = as_string(field(object, "avatar_color"));
    p.conn = as_uint(field(object, "conn"));
    p.connected = false;  // every connection is gone; a resumed session says `back`
    p.is_host = as_bool(field(object, "is_host"));
    p.team_id = as_string(field(object, "team_id"));
    p.explained_guessed = as_u32(field(object, "explained_guessed"));
    p.explained_ms = as_int(field(object, "explained_ms"));
    require(ids.insert(p.id).second && p.conn != 0 && conns.insert(p.conn).second);
    require(!p.is_host || s.people.empty());  // the host is the first participant
    s.people.push_back(std::move(p));
  }
  std::uint32_t players = 0;
  for (const alias::participant& p : s.people) players += p.is_host ? 0 : 1;
  require(players <= s.config.max_players);
  s.next_player_number = as_u32(field(root, "next_player_number"));
  s.next_color = as_u32(field(root, "next_color"));

  std::set<std::string> placed;
  for (const json::value& entry : as_array(field(root, "teams"))) {
    const json::object& object = as_object(entry);
    alias::team t;
    t.id = as_id(field(object, "id"));
    t.name = as_id(field(object, "name"));
    t.color = as_id(field(object, "color"));
    t.players = as_ids(field(object, "players"));
    t.score = as_int(field(object, "score"));
    t.turns = as_u32(field(object, "turns"));
    require(t.id == "team_" + std::to_string(s.teams.size() + 1));
    for (const std::string& id : t.players) {
      const auto it = std::find_if(s.people.begin(), s.people.end(),
                                   [&](const alias::participant& p) { return p.id == id; });
      require(it != s.people.end() && !it->is_host && it->team_id == t.id &&
              placed.insert(id).second);
    }
    s.teams.push_back(std::move(t));
  }
  require(s.teams.size() <= 4);
  for (const alias::participant& p : s.people) {
    require(p.team_id.empty() || placed.count(p.id) == 1);
  }

  s.round = as_u32(field(root, "round"));
  s.total_rounds = as_u32(field(root, "total_rounds"));
  require(s.round <= s.total_rounds || s.total_rounds == 0);
  s.game_started_at = as_int(field(root, "game_started_at"));
  s.words_played = as_u32(field(root, "words_played"));
  s.round_starts_at = as_int(field(root, "round_starts_at"));
  s.active_team_id = as_string(field(root, "active_team_id"));
  s.explainer_id = as_string(field(root, "explainer_id"));
  s.round_deadline = as_int(field(root, "round_deadline"));
  s.remaining_ms = as_int(field(root, "remaining_ms"));
  require(s.remaining_ms >= 0);
  s.paused_by_system = as_bool(field(root, "paused_by_system"));
  s.review_ends_at = as_int(field(root, "review_ends_at"));
  s.host_gone_at = 0;  // the restore itself starts the host's clock again
  for (const json::value& index : as_array(field(root, "order"))) {
    const std::uint32_t i = as_u32(index);
    require(i < pack->words.size());
    s.order.push_back(i);
  }
  require(s.order.size() <= pack->words.size());
  s.cursor = as_u32(field(root, "cursor"));
  require(s.cursor <= s.order.size());
  s.word_serial = as_u32(field(root, "word_serial"));
  if (const json::value& w = field(root, "current_word"); !w.is_null()) {
    const std::uint32_t i = as_u32(w);
    require(i < pack->words.size());
    s.current_word = i;
  }
  s.word_shown_at = as_int(field(root, "word_shown_at"));
  s.last_round = read_round(field(root, "last_round"));
  for (const json::value& r : as_array(field(root, "history"))) {
    s.history.push_back(read_round(r));
  }
  require(s.history.size() <= s.total_rounds);
  const bool in_round = s.current == alias::phase::round_starting ||
                        s.current == alias::phase::round_active ||
                        s.current == alias::phase::round_paused;
  if (in_round || s.current == alias::phase::score_review ||
      s.current == alias::phase::ready_for_next) {
    require(s.round >= 1 && !s.teams.empty());
    require(std::any_of(s.teams.begin(), s.teams.end(),
                        [&](const alias::team& t) { return t.id == s.active_team_id; }));
  }
  require(!s.current_word || s.current == alias::phase::round_active ||
          s.current == alias::phase::round_paused);
  return std::make_unique<alias_game>(config, std::move(s));
}

}  // namespace

std::string alias_game::snapshot() const {
  const alias::room_state& s = state_;
  json_writer w(1024 + s.order.size() * 5);
  w.begin_object();
  w.member("schema", snapshot_schema).member("game", "alias");
  w.member("code", s.code).member("phase", alias::phase_name(s.current));
  w.member("state_version", s.state_version);
  const alias::settings& c = s.config;
  w.key("settings").begin_object();
  w.member("max_players", c.max_players).member("round_duration_sec", c.round_duration_sec);
  w.member("rounds_per_team", c.rounds_per_team).member("score_review_sec", c.score_review_sec);
  w.member("skip_penalty", c.skip_penalty).member("word_pack_id", c.word_pack_id).key("custom");
  if (c.custom) {
    w.begin_object().member("name", c.custom->name).key("words").begin_array();
    for (const alias::word& word : c.custom->words) {
      w.begin_object().member("text", word.text).member("difficulty", word.difficulty);
      w.end_object();
    }
    w.end_array().end_object();
  } else {
    w.null();
  }
  w.end_object();
  w.key("people").begin_array();
  for (const alias::participant& p : s.people) {
    w.begin_object().member("id", p.id).member("name", p.name);
    w.member("avatar_color", p.avatar_color).member("conn", p.conn);
    w.member("is_host", p.is_host).member("team_id", p.team_id);
    w.member("explained_guessed", p.explained_guessed).member("explained_ms", p.explained_ms);
    w.end_object();
  }
  w.end_array();
  w.member("next_player_number", s.next_player_number).member("next_color", s.next_color);
  w.key("teams").begin_array();
  for (const alias::team& t : s.teams) {
    w.begin_object().member("id", t.id).member("name", t.name).member("color", t.color);
    w.key("players").begin_array();
    for (const std::string& id : t.players) w.string(id);
    w.end_array().member("score", t.score).member("turns", t.turns).end_object();
  }
  w.end_array();
  w.member("round", s.round).member("total_rounds", s.total_rounds);
  w.member("game_started_at", s.game_started_at).member("words_played", s.words_played);
  w.member("round_starts_at", s.round_starts_at).member("active_team_id", s.active_team_id);
  w.member("explainer_id", s.explainer_id).member("round_deadline", s.round_deadline);
  w.member("remaining_ms", s.remaining_ms).member("paused_by_system", s.paused_by_system);
  w.member("review_ends_at", s.review_ends_at);
  w.key("order").begin_array();
  for (std::uint32_t i : s.order) w.number(std::uint64_t{i});
  w.end_array();
  w.member("cursor", s.cursor).member("word_serial", s.word_serial).key("current_word");
  if (s.current_word) {
    w.number(std::uint64_t{*s.current_word});
  } else {
    w.null();
  }
  w.member("word_shown_at", s.word_shown_at).key("last_round");
  write_round(w, s.last_round);
  w.key("history").begin_array();
  for (const alias::round_figures& r : s.history) write_round(w, r);
  w.end_array();
  w.end_object();
  return w.take();
}

std::unique_ptr<game> alias_restore(const alias_config& config, std::string_view bytes) noexcept {
  return restore_guarded([&] { return restore_unsafe(config, bytes); });
}

}  // namespace partyd
