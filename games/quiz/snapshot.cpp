// Snapshot codec of the quiz room: schema 1, JSON. Everything but live connections is written
// (settings with the custom pack, members with their session ids, the drawn questions, answers,
// results and scores); equal states give equal bytes. Restore validates every field and every
// cross-reference and returns nullptr instead of throwing.
#include <set>
#include <utility>

#include "games/common/json_io.hpp"
#include "games/common/json_writer.hpp"
#include "games/quiz/game.hpp"

namespace partyd {

namespace json = boost::json;
using namespace snapshot_read;

namespace {

constexpr std::int64_t snapshot_schema = 1;

void write_question(json_writer& w, const quiz::question& q) {
  w.begin_object().member("prompt", q.prompt).key("options").begin_array();
  for (const std::string& option : q.options) w.string(option);
  w.end_array();
  w.member("correct_index", q.correct_index).member("difficulty", q.difficulty);
  w.end_object();
}

quiz::question read_question(const json::value& v) {
  const json::object& object = as_object(v);
  quiz::question q;
  q.prompt = as_string(field(object, "prompt"));
  q.options = as_strings(field(object, "options"));
  require(q.options.size() >= 2 && q.options.size() <= 6);
  q.correct_index = static_cast<std::uint32_t>(as_uint(field(object, "correct_index")));
  require(q.correct_index < q.options.size());
  q.difficulty = as_string(field(object, "difficulty"));
  return q;
}

std::unique_ptr<game> restore_unsafe(const quiz_config& config, std::string_view bytes) {
  const json::value parsed = parse_document(bytes, 16);
  const json::object& root = as_object(parsed);
  require_header(root, snapshot_schema, "quiz");
  quiz::room_state state;
  state.code = as_id(field(root, "code"));
  state.host_user_id = as_string(field(root, "host_user_id"));
  const std::optional<quiz::status> phase = quiz::parse_status(as_string(field(root, "status")));
  require(phase.has_value());
  state.phase = *phase;

  const json::object& settings = as_object(field(root, "settings"));
  state.config.rounds = static_cast<std::uint32_t>(as_uint(field(settings, "rounds")));
  state.config.seconds_per_question =
      static_cast<std::uint32_t>(as_uint(field(settings, "seconds_per_question")));
  require(state.config.rounds >= 1 && state.config.seconds_per_question >= 1);
  state.config.pack_id = as_id(field(settings, "pack_id"));
  if (const json::value& custom = field(settings, "custom"); !custom.is_null()) {
    const json::object& object = as_object(custom);
    quiz::pack p;
    p.id = std::string(quiz::custom_pack_id);
    p.name = as_string(field(object, "name"));
    for (const json::value& q : as_array(field(object, "questions"))) {
      p.questions.push_back(read_question(q));
    }
    require(!p.questions.empty() && p.questions.size() <= config.custom_max_questions);
    state.config.custom = std::move(p);
  }
  const quiz::pack* chosen = quiz::selected_pack(state.config);
  require(chosen != nullptr && chosen->questions.size() >= state.config.rounds);

  std::set<std::string> users;
  std::set<connection_id> conns;
  for (const json::value& entry : as_array(field(root, "members"))) {
    const json::object& object = as_object(entry);
    quiz::member m;
    m.user_id = as_id(field(object, "user_id"));
    m.display_name = as_string(field(object, "display_name"));
    m.conn = as_uint(field(object, "conn"));
    m.connected = false;  // every connection is gone; a resumed session says `back`
    require(users.insert(m.user_id).second);
    require(m.conn == 0 || conns.insert(m.conn).second);
    state.members.push_back(std::move(m));
  }
  require(state.members.size() <= config.max_players);
  require(state.members.empty() ? state.host_user_id.empty() : users.count(state.host_user_id));

  const json::object& g = as_object(field(root, "progress"));
  quiz::game_progress& progress = state.game;
  progress.number = as_uint(field(g, "number"));
  for (const json::value& q : as_array(field(g, "questions"))) {
    progress.questions.push_back(read_question(q));
  }
  std::set<std::string> players;
  for (const json::value& entry : as_array(field(g, "players"))) {
    const json::object& object = as_object(entry);
    quiz::player p;
    p.user_id = as_id(field(object, "user_id"));
    p.display_name = as_string(field(object, "display_name"));
    p.score = as_int(field(object, "score"));
    p.correct_ms = as_int(field(object, "correct_ms"));
    p.left = as_bool(field(object, "left"));
    require(players.insert(p.user_id).second);
    progress.players.push_back(std::move(p));
  }
  progress.round = static_cast<std::uint32_t>(as_uint(field(g, "round")));
  require(progress.round <= progress.questions.size());
  const bool asked = state.phase == quiz::status::question || state.phase == quiz::status::result;
  require(!asked || progress.round >= 1);
  progress.started_at = as_int(field(g, "started_at"));
  progress.deadline = as_int(field(g, "deadline"));
  for (const auto& [user_id, value] : as_object(field(g, "answers"))) {
    const json::object& object = as_object(value);
    require(players.count(std::string(user_id)) != 0 && progress.round >= 1);
    quiz::answer a;
    a.option_index = static_cast<std::uint32_t>(as_uint(field(object, "option_index")));
    a.answered_at = as_int(field(object, "answered_at"));
    require(a.option_index < progress.questions[progress.round - 1].options.size());
    progress.answers.emplace(std::string(user_id), a);
  }
  progress.closed_at = as_int(field(g, "closed_at"));
  const std::string closed_by = as_string(field(g, "closed_by"));
  require(closed_by == "timer" || closed_by == "all_answered");
  progress.closed_by =
      closed_by == "timer" ? quiz::close_reason::timer : quiz::close_reason::all_answered;
  for (const json::value& entry : as_array(field(g, "results"))) {
    const json::object& object = as_object(entry);
    quiz::result_line line;
    line.user_id = as_id(field(object, "user_id"));
    line.status = as_id(field(object, "status"));
    require(players.count(line.user_id) != 0);
    if (const json::value& option = field(object, "option_index"); !option.is_null()) {
      line.option_index = static_cast<std::uint32_t>(as_uint(option));
    }
    line.correct = as_bool(field(object, "correct"));
    line.points = as_int(field(object, "points"));
    if (const json::value& ms = field(object, "answer_ms"); !ms.is_null()) {
      line.answer_ms = as_int(ms);
    }
    progress.results.push_back(std::move(line));
  }
  progress.next_at = as_int(field(g, "next_at"));
  return std::make_unique<quiz_game>(config, std::move(state));
}

}  // namespace

std::string quiz_game::snapshot() const {
  json_writer w(2048);
  w.begin_object();
  w.member("schema", snapshot_schema).member("game", "quiz");
  w.member("code", state_.code).member("host_user_id", state_.host_user_id);
  w.member("status", quiz::status_name(state_.phase));
  const quiz::settings& s = state_.config;
  w.key("settings").begin_object();
  w.member("rounds", s.rounds).member("seconds_per_question", s.seconds_per_question);
  w.member("pack_id", s.pack_id).key("custom");
  if (s.custom) {
    w.begin_object().member("name", s.custom->name).key("questions").begin_array();
    for (const quiz::question& q : s.custom->questions) write_question(w, q);
    w.end_array().end_object();
  } else {
    w.null();
  }
  w.end_object();
  w.key("members").begin_array();
  for (const quiz::member& m : state_.members) {
    w.begin_object().member("user_id", m.user_id).member("display_name", m.display_name);
    w.member("conn", m.conn).end_object();
  }
  w.end_array();
  const quiz::game_progress& g = state_.game;
  w.key("progress").begin_object().member("number", g.number).key("questions").begin_array();
  for (const quiz::question& q : g.questions) write_question(w, q);
  w.end_array().key("players").begin_array();
  for (const quiz::player& p : g.players) {
    w.begin_object().member("user_id", p.user_id).member("display_name", p.display_name);
    w.member("score", p.score).member("correct_ms", p.correct_ms).member("left", p.left);
    w.end_object();
  }
  w.end_array();
  w.member("round", g.round).member("started_at", g.started_at).member("deadline", g.deadline);
  w.key("answers").begin_object();
  for (const auto& [user_id, a] : g.answers) {
    w.key(user_id).begin_object();
    w.member("option_index", a.option_index).member("answered_at", a.answered_at);
    w.end_object();
  }
  w.end_object();
  w.member("closed_at", g.closed_at).member("closed_by", quiz::close_reason_name(g.closed_by));
  w.key("results").begin_array();
  for (const quiz::result_line& line : g.results) {
    w.begin_object().member("user_id", line.user_id).member("status", line.status);
    w.key("option_index");
    if (line.option_index) {
      w.number(std::uint64_t{*line.option_index});
    } else {
      w.null();
    }
    w.member("correct", line.correct).member("points", line.points).key("answer_ms");
    if (line.answer_ms) {
      w.number(std::int64_t{*line.answer_ms});
    } else {
      w.null();
    }
    w.end_object();
  }
  w.end_array();
  w.member("next_at", g.next_at).end_object();
  w.end_object();
  return w.take();
}

std::unique_ptr<game> quiz_restore(const quiz_config& config, std::string_view bytes) noexcept {
  return restore_guarded([&] { return restore_unsafe(config, bytes); });
}

}  // namespace partyd
