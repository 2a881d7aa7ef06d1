#include "games/quiz/game.hpp"

#include <algorithm>
#include <numeric>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "engine/check.hpp"
#include "games/common/checksum.hpp"

namespace partyd {

namespace json = boost::json;
using quiz::close_reason;
using quiz::in_type;
using quiz::out_type;
using quiz::status;

namespace {

constexpr role_mask everyone = role_bit(quiz::player_role);
constexpr std::uint16_t close_policy = 1008;
constexpr std::uint16_t close_normal = 1000;
constexpr std::uint16_t close_replaced = 4001;

// The first `max_chars` code points of `text` (valid UTF-8).
std::string cut_to_chars(std::string_view text, std::size_t max_chars) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if ((static_cast<unsigned char>(text[i]) & 0xC0) != 0x80 && chars++ == max_chars) {
      return std::string(text.substr(0, i));
    }
  }
  return std::string(text);
}

}  // namespace

quiz_game::quiz_game(quiz_config config, quiz::room_state state)
    : config_(std::move(config)), state_(std::move(state)) {}

room_summary quiz_game::summary() const noexcept {
  room_summary result;
  std::uint32_t connected = 0;
  for (const quiz::member& m : state_.members) {
    connected += m.connected ? 1 : 0;
  }
  result.connected_by_role[quiz::player_role] = connected;
  result.seats = static_cast<std::uint32_t>(state_.members.size());
  return result;
}

void quiz_game::step(const input& in, time_ms now, room_rng& rng, effects& out) {
  if (state_.closed) {
    out.unchanged();
    return;
  }
  switch (in.kind) {
    case input_kind::created:
      out.unchanged();  // the engine keeps the armed timers across a restore
      return;
    case input_kind::command:
      on_command(in, now, rng, out);
      break;
    case input_kind::disconnect:
      on_disconnect(in.conn, now, out);
      break;
    case input_kind::timer:
      on_timer(in.timer_key, now, out);
      break;
    case input_kind::room_created:  // asks the engine for no rooms and keeps no records
    case input_kind::record_written:
      out.unchanged();
      return;
    case input_kind::presence:
      on_presence(in.conn, in.stage, now, out);
      break;
    case input_kind::inactive:
      close_all("inactive", out);
      return;
    case input_kind::admin_close:
      close_all("closed_by_admin", out);
      return;
  }
  // Every member a host, at most one member per user, and a host only when there are members.
  if (!state_.closed && (state_.members.empty() != state_.host_user_id.empty() ||
                         (!state_.members.empty() && !member_by_user(state_.host_user_id)))) {
    throw game_rule_violation("quiz host is not a member");
  }
}

void quiz_game::on_command(const input& in, time_ms now, room_rng& rng, effects& out) {
  if (!in.cmd) {
    out.unchanged();
    return;
  }
  const auto& req = static_cast<const quiz::request&>(*in.cmd);
  const in_type type = quiz::type_of(req);
  const std::string_view type_name = quiz::in_type_names[req.type];
  if (type == in_type::lobby_create) {
    if (member_by_conn(in.conn) != nullptr || !state_.members.empty()) {
      reject(in.conn, "already_in_lobby",
             "this connection is in lobby " + state_.code + "; lobby:leave it first", type_name,
             out);
      return;
    }
    on_create(in, out);
    return;
  }
  if (type == in_type::lobby_join) {
    on_join(in, req, out);
    return;
  }
  quiz::member* who = member_by_conn(in.conn);
  if (who == nullptr) {
    reject(in.conn, "not_in_lobby", "join a lobby first (lobby:join)", type_name, out);
    return;
  }
  switch (type) {
    case in_type::lobby_leave:
      on_leave(*who, now, out);
      return;
    case in_type::lobby_settings:
      on_settings(*who, req, out);
      return;
    case in_type::lobby_start:
      on_start(*who, now, rng, out);
      return;
    case in_type::game_answer:
      on_answer(*who, req, now, out);
      return;
    case in_type::lobby_create:
    case in_type::lobby_join:
      return;
  }
}

// --- lobby ---

void quiz_game::on_create(const input& in, effects& out) {
  if (!in.identity) {
    refuse(in.conn, "unauthenticated", "the connection carries no identity", "lobby:create", out);
    return;
  }
  quiz::member creator;
  creator.user_id = in.identity->user_id;
  creator.display_name = cut_to_chars(in.identity->display_name, config_.display_name_max_chars);
  creator.conn = in.conn;
  state_.host_user_id = creator.user_id;
  state_.members.push_back(std::move(creator));
  out.bind(in.conn, quiz::player_role, true);
  broadcast(out_type::lobby_state, lobby_fields(), out);
  out.important();
}

void quiz_game::on_join(const input& in, const quiz::request& req, effects& out) {
  const connection_id conn = in.conn;
  if (quiz::member* already = member_by_conn(conn)) {
    if (req.code != state_.code) {
      reject(conn, "already_in_lobby",
             "this connection is in lobby " + state_.code + "; lobby:leave it first", "lobby:join",
             out);
      return;
    }
    // The seed's double join: nothing changes, the sender gets the lobby as the first join did.
    (void)already;
    send(conn, out_type::lobby_state, lobby_fields(), out);
    out.unchanged();
    return;
  }
  if (!in.identity) {
    refuse(conn, "unauthenticated", "the connection carries no identity", "lobby:join", out);
    return;
  }
  if (quiz::member* seat = member_by_user(in.identity->user_id)) {
    // The same user on a new connection (a new tab, a reconnect without its session): the seat
    // moves here and the old connection is closed.
    const connection_id old = seat->conn;
    seat->conn = conn;
    seat->connected = true;
    out.bind(conn, quiz::player_role, true);
    if (old != 0 && old != conn) {
      out.close_connection(old, close_replaced, "replaced");
    }
    broadcast(out_type::lobby_state, lobby_fields(), out);
    catch_up(conn, *seat, out);
    out.important();
    return;
  }
  if (in_game()) {
    refuse(conn, "game_in_progress", "a game is running in this lobby; join when it is over",
           "lobby:join", out);
    return;
  }
  if (state_.members.size() >= config_.max_players) {
    refuse(conn, "lobby_full",
           "the lobby has " + std::to_string(config_.max_players) + " players already",
           "lobby:join", out);
    return;
  }
  quiz::member joined;
  joined.user_id = in.identity->user_id;
  joined.display_name = cut_to_chars(in.identity->display_name, config_.display_name_max_chars);
  joined.conn = conn;
  if (state_.host_user_id.empty()) state_.host_user_id = joined.user_id;  // an admin-made lobby
  state_.members.push_back(std::move(joined));
  out.bind(conn, quiz::player_role, true);
  broadcast(out_type::lobby_state, lobby_fields(), out);
  out.important();
}

void quiz_game::on_leave(quiz::member& who, time_ms now, effects& out) {
  const connection_id conn = who.conn;
  const std::string user_id = who.user_id;
  if (in_game()) {
    if (quiz::player* p = player_by_user(user_id)) p->left = true;
  }
  out.close_connection(conn, close_normal, "left");
  out.important();
  if (!remove_member(user_id, out)) return;
  broadcast(out_type::lobby_state, lobby_fields(), out);
  if (state_.phase == status::question) close_if_all_answered(now, out);
}

void quiz_game::on_settings(const quiz::member& who, const quiz::request& req, effects& out) {
  if (who.user_id != state_.host_user_id) {
    reject(who.conn, "not_host", "only the host changes the settings", "lobby:settings", out);
    return;
  }
  if (in_game()) {
    reject(who.conn, "game_in_progress", "settings change between games", "lobby:settings", out);
    return;
  }
  std::string field;
  std::string reason;
  if (!req.settings || !quiz::apply_settings(*req.settings, state_.config, field, reason)) {
    reject(who.conn, "invalid_settings", "settings." + field + ": " + reason, "lobby:settings",
           out);
    return;
  }
  broadcast(out_type::lobby_state, lobby_fields(), out);
  out.important();
}

void quiz_game::on_start(const quiz::member& who, time_ms now, room_rng& rng, effects& out) {
  if (who.user_id != state_.host_user_id) {
    reject(who.conn, "not_host", "only the host starts the game", "lobby:start", out);
    return;
  }
  if (in_game()) {
    // The seed's rapid double start: the game is running already; nothing to answer.
    out.count("start_ignored");
    out.unchanged();
    return;
  }
  const quiz::pack* chosen = quiz::selected_pack(state_.config);
  if (chosen == nullptr || chosen->questions.size() < state_.config.rounds) {
    throw game_rule_violation("quiz settings name no playable pack");  // apply_settings checks
  }
  quiz::game_progress next;
  next.number = state_.game.number + 1;
  // Question order and option order from the room's seeded generator: a partial Fisher-Yates
  // draws `rounds` distinct questions, a full one shuffles each question's options.
  std::vector<std::uint32_t> order(chosen->questions.size());
  std::iota(order.begin(), order.end(), 0u);
  for (std::uint32_t i = 0; i < state_.config.rounds; ++i) {
    const auto pick = i + static_cast<std::uint32_t>(rng.below(order.size() - i));
    std::swap(order[i], order[pick]);
    quiz::question q = chosen->questions[order[i]];
    std::vector<std::uint32_t> slots(q.options.size());
    std::iota(slots.begin(), slots.end(), 0u);
    for (std::size_t k = slots.size(); k > 1; --k) {
      std::swap(slots[k - 1], slots[rng.below(k)]);
    }
    quiz::question shuffled = q;
    for (std::size_t k = 0; k < slots.size(); ++k) {
      shuffled.options[k] = q.options[slots[k]];
      if (slots[k] == q.correct_index) shuffled.correct_index = static_cast<std::uint32_t>(k);
    }
    next.questions.push_back(std::move(shuffled));
  }
  for (const quiz::member& m : state_.members) {
    quiz::player p;
    p.user_id = m.user_id;
    p.display_name = m.display_name;
    next.players.push_back(std::move(p));
  }
  state_.game = std::move(next);
  state_.phase = status::question;  // lobby:state says the game started, then the question
  state_.game.round = 0;
  ask_question(now, out);
}

void quiz_game::on_disconnect(connection_id conn, time_ms now, effects& out) {
  quiz::member* who = member_by_conn(conn);
  if (who == nullptr) {
    out.unchanged();
    return;
  }
  out.important();
  if (!in_game()) {
    // The seed: a disconnect outside a game removes the player from the lobby.
    if (!remove_member(who->user_id, out)) return;
    broadcast(out_type::lobby_state, lobby_fields(), out);
    return;
  }
  // In a game the seat stays (its open question counts as no answer) until the game is over.
  who->conn = 0;
  who->connected = false;
  broadcast(out_type::lobby_state, lobby_fields(), out);
  if (state_.phase == status::question) close_if_all_answered(now, out);
}

void quiz_game::on_presence(connection_id conn, presence_stage stage, time_ms now, effects& out) {
  quiz::member* who = member_by_conn(conn);
  if (who == nullptr || (stage != presence_stage::away && stage != presence_stage::back)) {
    out.unchanged();
    return;
  }
  const bool connected = stage == presence_stage::back;
  if (who->connected == connected) {
    out.unchanged();
    return;
  }
  who->connected = connected;
  broadcast(out_type::lobby_state, lobby_fields(), out);
  if (!connected && state_.phase == status::question) close_if_all_answered(now, out);
}

void quiz_game::on_timer(std::uint64_t key, time_ms now, effects& out) {
  if (key == close_timer_key && state_.phase == status::question) {
    close_question(now, close_reason::timer, out);
  } else if (key == next_timer_key && state_.phase == status::result) {
    ask_question(now, out);
  } else {
    out.unchanged();
  }
}

// --- the game ---

void quiz_game::on_answer(const quiz::member& who, const quiz::request& req, time_ms now,
                          effects& out) {
  const std::string current = question_id();
  if (state_.phase != status::question) {
    const bool just_closed = state_.game.round > 0 && req.question_id == current;
    reject(who.conn, just_closed ? "late" : "no_question",
           just_closed ? "the question closed before this answer arrived" : "no question is open",
           "game:answer", out);
    return;
  }
  if (req.question_id != current) {
    reject(who.conn, "wrong_question", "the open question is " + current, "game:answer", out);
    return;
  }
  if (now >= state_.game.deadline) {
    // The room's clock decides (the seed's 15.1 s): the timer is due, so the question closes
    // first and this answer is late.
    close_question(now, close_reason::timer, out);
    send_late_error(who.conn, out);
    return;
  }
  quiz::player* p = player_by_user(who.user_id);
  if (p == nullptr || p->left) {
    reject(who.conn, "not_in_game", "you joined after this game started", "game:answer", out);
    return;
  }
  if (state_.game.answers.count(who.user_id) != 0) {
    reject(who.conn, "already_answered", "the first answer counts", "game:answer", out);
    return;
  }
  const quiz::question& q = state_.game.questions.at(state_.game.round - 1);
  if (req.option_index >= q.options.size()) {
    reject(who.conn, "invalid_option", "optionIndex: 0 to " + std::to_string(q.options.size() - 1),
           "game:answer", out);
    return;
  }
  state_.game.answers[who.user_id] = quiz::answer{req.option_index, now};
  json::object answered;
  answered["questionId"] = current;
  answered["userId"] = who.user_id;
  answered["answered"] = state_.game.answers.size();
  answered["expected"] = expected_answers();
  broadcast(out_type::game_answered, answered, out);
  out.persist();  // written at once; game:answered does not wait for the disk (quiz.md, Restarts)
  close_if_all_answered(now, out);
}

void quiz_game::ask_question(time_ms now, effects& out) {
  quiz::game_progress& g = state_.game;
  if (g.round >= g.questions.size()) {
    throw game_rule_violation("quiz question past the last round");
  }
  const bool first = g.round == 0;
  ++g.round;
  g.started_at = now;
  g.deadline = now + static_cast<time_ms>(state_.config.seconds_per_question) * 1000;
  g.answers.clear();
  g.results.clear();
  g.closed_at = 0;
  g.next_at = 0;
  state_.phase = status::question;
  out.set_timer(close_timer_key, g.deadline);
  if (first) broadcast(out_type::lobby_state, lobby_fields(), out);
  broadcast(out_type::game_question, question_fields(), out, true);
  // The start (who plays, the drawn questions) is held until stored; a later question comes
  // from the stored game by its timer, so a crash before its write only asks it again.
  if (first) {
    out.important();
  } else {
    out.persist();
  }
}

void quiz_game::close_question(time_ms now, close_reason by, effects& out) {
  quiz::game_progress& g = state_.game;
  const quiz::question& q = g.questions.at(g.round - 1);
  out.cancel_timer(close_timer_key);
  g.closed_at = now;
  g.closed_by = by;
  g.results.clear();
  for (quiz::player& p : g.players) {
    quiz::result_line line;
    line.user_id = p.user_id;
    auto it = g.answers.find(p.user_id);
    const quiz::member* m = member_by_user(p.user_id);
    if (it != g.answers.end()) {
      line.status = "answered";
      line.option_index = it->second.option_index;
      line.correct = it->second.option_index == q.correct_index;
      line.answer_ms = it->second.answered_at - g.started_at;
      if (line.correct) {
        line.points = 1;
        p.score += 1;
        p.correct_ms += *line.answer_ms;
      }
    } else if (p.left) {
      line.status = "left";
    } else if (m == nullptr || !m->connected) {
      line.status = "disconnected";  // the seed: a disconnected player's slot is no answer
    } else {
      line.status = "no_answer";
    }
    g.results.push_back(std::move(line));
  }
  const bool last = g.round == g.questions.size();
  g.next_at = last ? 0 : now + config_.result_pause_ms;
  state_.phase = status::result;
  broadcast(out_type::game_answer_result, result_fields(), out, true);
  // Derived from the stored answers and deadline: a crash before its write closes it again with
  // the same answers, so the result does not wait for the disk.
  out.persist();
  if (last) {
    finish(out);
  } else {
    out.set_timer(next_timer_key, g.next_at);
  }
}

void quiz_game::finish(effects& out) {
  state_.phase = status::finished;
  json::object finished;
  finished["gameNumber"] = state_.game.number;
  finished["ranking"] = ranking();
  broadcast(out_type::game_finished, finished, out, true);
  // Seats whose session ended during the game leave the lobby now.
  std::vector<std::string> gone;
  for (const quiz::member& m : state_.members) {
    if (m.conn == 0) gone.push_back(m.user_id);
  }
  for (const std::string& user_id : gone) {
    if (!remove_member(user_id, out)) return;
  }
  broadcast(out_type::lobby_state, lobby_fields(), out);
}

void quiz_game::close_if_all_answered(time_ms now, effects& out) {
  const std::uint32_t expected = expected_answers();
  if (expected == 0) return;  // nobody connected: the timer decides
  for (const quiz::player& p : state_.game.players) {
    const quiz::member* m = member_by_user(p.user_id);
    if (!p.left && m != nullptr && m->connected && state_.game.answers.count(p.user_id) == 0) {
      return;
    }
  }
  close_question(now, close_reason::all_answered, out);
}

bool quiz_game::remove_member(std::string user_id, effects& out) {
  auto it = std::find_if(state_.members.begin(), state_.members.end(),
                         [&](const quiz::member& m) { return m.user_id == user_id; });
  if (it == state_.members.end()) return true;
  const std::size_t at = static_cast<std::size_t>(it - state_.members.begin());
  state_.members.erase(it);
  if (state_.members.empty()) {
    state_.host_user_id.clear();
    close_all("empty", out);
    return false;
  }
  if (state_.host_user_id == user_id) {
    // The host role passes to the member who joined next after the host (or the first one).
    state_.host_user_id = state_.members[at < state_.members.size() ? at : 0].user_id;
  }
  return true;
}

void quiz_game::close_all(std::string_view reason, effects& out) {
  json::object closed;
  closed["code"] = state_.code;
  closed["reason"] = reason;
  broadcast(out_type::lobby_closed, closed, out);
  out.important();
  out.close_room(std::string(reason));
  state_.closed = true;
}

void quiz_game::refuse(connection_id conn, std::string_view code, std::string_view message,
                       std::string_view request_type, effects& out) const {
  reject(conn, code, message, request_type, out);
  out.close_connection(conn, close_policy, std::string(code));
}

// --- sessions ---

bool quiz_game::holds_session(connection_id conn) const { return member_by_conn(conn) != nullptr; }

std::string quiz_game::checksum_of(connection_id conn) const {
  if (member_by_conn(conn) == nullptr) return {};
  fnv1a h;
  const quiz::game_progress& g = state_.game;
  h.add(quiz::status_name(state_.phase));
  h.add("|");
  h.add(static_cast<std::int64_t>(g.round));
  h.add("|");
  h.add(in_game() || state_.phase == status::finished ? question_id() : std::string());
  h.add("|");
  h.add(state_.phase == status::question ? g.deadline : 0);
  h.add("|");
  h.add(static_cast<std::int64_t>(state_.phase == status::question ? g.answers.size() : 0));
  h.add("|");
  for (const quiz::player& p : g.players) {
    h.add(p.user_id);
    h.add("=");
    h.add(p.score);
    h.add(";");
  }
  h.add("|");
  for (const quiz::member& m : state_.members) {
    h.add(m.user_id);
    h.add(m.connected ? ":1;" : ":0;");
  }
  return h.hex();
}

session_view quiz_game::view_of(connection_id conn, time_ms /*now*/) const {
  const quiz::member* who = member_by_conn(conn);
  if (who == nullptr) return {};
  json::object view;
  view["userId"] = who->user_id;
  view["lobby"] = lobby_fields();
  const bool asked = state_.phase == status::question || state_.phase == status::result;
  view["question"] = asked ? json::value(question_fields()) : json::value(nullptr);
  auto mine = state_.game.answers.find(who->user_id);
  view["yourAnswer"] = asked && mine != state_.game.answers.end()
                           ? json::value(mine->second.option_index)
                           : json::value(nullptr);
  const bool closed = state_.phase == status::result ||
                      (state_.phase == status::finished && state_.game.number > 0);
  view["lastResult"] = closed ? json::value(result_fields()) : json::value(nullptr);
  view["ranking"] = state_.phase == status::finished && state_.game.number > 0
                        ? json::value(ranking())
                        : json::value(nullptr);
  return {std::string(quiz::status_name(state_.phase)), json::serialize(view), checksum_of(conn)};
}

void quiz_game::catch_up(connection_id conn, const quiz::member& who, effects& out) const {
  if (state_.phase == status::question || state_.phase == status::result) {
    json::object q = question_fields();
    auto mine = state_.game.answers.find(who.user_id);
    q["yourAnswer"] = mine != state_.game.answers.end() ? json::value(mine->second.option_index)
                                                        : json::value(nullptr);
    send(conn, out_type::game_question, q, out, true);
  }
  if (state_.phase == status::result) {
    send(conn, out_type::game_answer_result, result_fields(), out, true);
  }
}

// --- lookups ---

quiz::member* quiz_game::member_by_conn(connection_id conn) noexcept {
  if (conn == 0) return nullptr;
  for (quiz::member& m : state_.members) {
    if (m.conn == conn) return &m;
  }
  return nullptr;
}
const quiz::member* quiz_game::member_by_conn(connection_id conn) const noexcept {
  return const_cast<quiz_game*>(this)->member_by_conn(conn);
}
quiz::member* quiz_game::member_by_user(std::string_view user_id) noexcept {
  for (quiz::member& m : state_.members) {
    if (m.user_id == user_id) return &m;
  }
  return nullptr;
}
const quiz::member* quiz_game::member_by_user(std::string_view user_id) const noexcept {
  return const_cast<quiz_game*>(this)->member_by_user(user_id);
}
quiz::player* quiz_game::player_by_user(std::string_view user_id) noexcept {
  for (quiz::player& p : state_.game.players) {
    if (p.user_id == user_id) return &p;
  }
  return nullptr;
}

bool quiz_game::in_game() const noexcept {
  return state_.phase == status::question || state_.phase == status::result;
}

std::string quiz_game::question_id() const {
  return "g" + std::to_string(state_.game.number) + "q" + std::to_string(state_.game.round);
}

std::uint32_t quiz_game::expected_answers() const {
  std::uint32_t expected = 0;
  for (const quiz::player& p : state_.game.players) {
    const quiz::member* m = member_by_user(p.user_id);
    expected += !p.left && m != nullptr && m->connected ? 1 : 0;
  }
  return expected;
}

// --- payloads ---

json::object quiz_game::lobby_fields() const {
  json::object fields;
  fields["code"] = state_.code;
  fields["status"] = quiz::status_name(state_.phase);
  fields["hostUserId"] = state_.host_user_id;
  json::array members;
  for (const quiz::member& m : state_.members) {
    json::object entry;
    entry["userId"] = m.user_id;
    entry["displayName"] = m.display_name;
    entry["connected"] = m.connected;
    entry["isHost"] = m.user_id == state_.host_user_id;
    members.emplace_back(std::move(entry));
  }
  fields["members"] = std::move(members);
  const quiz::settings& s = state_.config;
  json::object settings;
  settings["rounds"] = s.rounds;
  settings["secondsPerQuestion"] = s.seconds_per_question;
  settings["pack"] = s.pack_id;
  if (s.custom) {
    // Its name and size only: the questions (and their answers) stay with the server.
    settings["customPack"] = {{"name", s.custom->name},
                              {"questionCount", s.custom->questions.size()}};
  } else {
    settings["customPack"] = nullptr;
  }
  fields["settings"] = std::move(settings);
  json::array packs;
  for (const quiz::pack& p : quiz::shipped_packs()) {
    packs.push_back(
        json::object{{"id", p.id}, {"name", p.name}, {"questionCount", p.questions.size()}});
  }
  fields["packs"] = std::move(packs);
  return fields;
}

json::object quiz_game::question_fields() const {
  const quiz::game_progress& g = state_.game;
  const quiz::question& q = g.questions.at(g.round - 1);
  json::object fields;
  fields["questionId"] = question_id();
  fields["round"] = g.round;
  fields["totalRounds"] = g.questions.size();
  fields["prompt"] = q.prompt;
  json::array options;
  for (const std::string& option : q.options) options.emplace_back(option);
  fields["options"] = std::move(options);
  fields["difficulty"] = q.difficulty.empty() ? json::value(nullptr) : json::value(q.difficulty);
  fields["startedAt"] = g.started_at;
  fields["deadline"] = g.deadline;
  fields["secondsPerQuestion"] = state_.config.seconds_per_question;
  return fields;
}

json::object quiz_game::result_fields() const {
  const quiz::game_progress& g = state_.game;
  const quiz::question& q = g.questions.at(g.round - 1);
  json::object fields;
  fields["questionId"] = question_id();
  fields["round"] = g.round;
  fields["correctOptionIndex"] = q.correct_index;
  fields["closedAt"] = g.closed_at;
  fields["closedBy"] = quiz::close_reason_name(g.closed_by);
  json::array results;
  for (const quiz::result_line& line : g.results) {
    json::object entry;
    entry["userId"] = line.user_id;
    entry["status"] = line.status;
    entry["optionIndex"] = line.option_index ? json::value(*line.option_index) : nullptr;
    entry["correct"] = line.correct;
    entry["points"] = line.points;
    entry["answerMs"] = line.answer_ms ? json::value(*line.answer_ms) : nullptr;
    results.emplace_back(std::move(entry));
  }
  fields["results"] = std::move(results);
  json::array scores;
  for (const quiz::player& p : g.players) {
    scores.push_back(json::object{{"userId", p.user_id}, {"score", p.score}});
  }
  fields["scores"] = std::move(scores);
  fields["nextQuestionAt"] = g.next_at != 0 ? json::value(g.next_at) : json::value(nullptr);
  return fields;
}

json::array quiz_game::ranking() const {
  // Score first, then the lower sum of correct answers' times; equal in both share a rank.
  std::vector<const quiz::player*> order;
  for (const quiz::player& p : state_.game.players) order.push_back(&p);
  std::stable_sort(order.begin(), order.end(), [](const quiz::player* a, const quiz::player* b) {
    if (a->score != b->score) return a->score > b->score;
    return a->correct_ms < b->correct_ms;
  });
  json::array ranking;
  std::size_t rank = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i == 0 || order[i]->score != order[i - 1]->score ||
        order[i]->correct_ms != order[i - 1]->correct_ms) {
      rank = i + 1;
    }
    ranking.push_back(json::object{{"rank", rank},
                                   {"userId", order[i]->user_id},
                                   {"displayName", order[i]->display_name},
                                   {"score", order[i]->score},
                                   {"correctMs", order[i]->correct_ms},
                                   {"left", order[i]->left}});
  }
  return ranking;
}

// --- output ---

void quiz_game::send(connection_id conn, out_type type, const json::object& fields, effects& out,
                     bool reliable) const {
  json::object frame = quiz::frame_of(type);
  for (const auto& member : fields) frame[member.key()] = member.value();
  frame_ptr text = make_frame(json::serialize(frame));
  if (reliable) {
    out.send_reliable(conn, quiz::index_of(type), std::move(text));
  } else {
    out.send(conn, quiz::index_of(type), std::move(text));
  }
}

void quiz_game::broadcast(out_type type, const json::object& fields, effects& out,
                          bool reliable) const {
  json::object frame = quiz::frame_of(type);
  for (const auto& member : fields) frame[member.key()] = member.value();
  frame_ptr text = make_frame(json::serialize(frame));
  if (reliable) {
    out.send_roles_reliable(everyone, quiz::index_of(type), std::move(text));
  } else {
    out.send_roles(everyone, quiz::index_of(type), std::move(text));
  }
}

void quiz_game::reject(connection_id conn, std::string_view code, std::string_view message,
                       std::string_view request_type, effects& out) const {
  out.send_error(conn, quiz::index_of(out_type::error), std::string(code),
                 make_frame(quiz::encode_error(code, message, request_type)));
  out.unchanged();
}

void quiz_game::send_late_error(connection_id conn, effects& out) const {
  out.send_error(conn, quiz::index_of(out_type::error), "late",
                 make_frame(quiz::encode_error(
                     "late", "the question closed before this answer arrived", "game:answer")));
}

}  // namespace partyd
