#include "games/alias/game.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <numeric>
#include <utility>

#include <boost/json/array.hpp>
#include <boost/json/serialize.hpp>

#include "engine/check.hpp"
#include "games/common/checksum.hpp"

namespace partyd {

namespace json = boost::json;
using alias::event;
using alias::in_type;
using alias::out_type;
using alias::phase;

namespace {

constexpr role_mask everyone = role_bit(alias::host_role) | role_bit(alias::player_role);
constexpr std::uint16_t close_policy = 1008;
constexpr std::uint16_t close_normal = 1000;

// Avatar colours handed out in join order; team names and colours by team number.
constexpr std::array<std::string_view, 10> avatar_colors = {
    "#FF5733", "#33A1FF", "#2ECC71", "#F1C40F", "#9B59B6",
    "#E67E22", "#1ABC9C", "#E84393", "#34495E", "#95A5A6"};
constexpr std::array<std::string_view, 4> team_names = {"Team Red", "Team Blue", "Team Green",
                                                        "Team Yellow"};
constexpr std::array<std::string_view, 4> team_colors = {"#FF0000", "#0000FF", "#00A000",
                                                         "#FFC000"};

std::string player_id_of(std::uint32_t n) {
  char text[24];
  std::snprintf(text, sizeof text, "player_%03u", n);
  return text;
}

// Seconds with one decimal, as the design's averageTimePerWord (2.9).
double tenths(std::int64_t ms, std::uint32_t count) {
  if (count == 0) return 0.0;
  return std::round(static_cast<double>(ms) / count / 100.0) / 10.0;
}

}  // namespace

alias_game::alias_game(alias_config config, alias::room_state state)
    : config_(std::move(config)), state_(std::move(state)) {}

room_summary alias_game::summary() const noexcept {
  room_summary result;
  for (const person& p : state_.people) {
    if (p.connected && p.conn != 0) {
      ++result.connected_by_role[p.is_host ? alias::host_role : alias::player_role];
    }
  }
  result.seats = static_cast<std::uint32_t>(state_.people.size());
  return result;
}

void alias_game::step(const input& in, time_ms now, room_rng& rng, effects& out) {
  if (state_.current == phase::room_closed) {
    out.unchanged();
    return;
  }
  switch (in.kind) {
    case input_kind::created:
      on_restored(now, out);
      break;
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
      close_all("inactive", now, out);
      return;
    case input_kind::admin_close:
      close_all("closed_by_admin", now, out);
      return;
  }
  // At most one host, and it is the first participant; every team member is a player.
  if (state_.current != phase::room_closed) {
    std::size_t hosts = 0;
    for (const person& p : state_.people) hosts += p.is_host ? 1 : 0;
    if (hosts > 1 || (hosts == 1 && !state_.people.front().is_host)) {
      throw game_rule_violation("alias room has more than one host");
    }
    for (const alias::team& t : state_.teams) {
      for (const std::string& id : t.players) {
        const person* p = by_id(id);
        if (p == nullptr || p->is_host || p->team_id != t.id) {
          throw game_rule_violation("alias team lists someone who is not its player");
        }
      }
    }
  }
}

// --- the transition table ---

bool alias_game::allowed(event what) const noexcept {
  return alias::transition_of(state_.current, what).result == alias::outcome::applies;
}

bool alias_game::fire(event what, connection_id actor, std::string_view request_type, time_ms now,
                      effects& out) {
  const alias::transition t = alias::transition_of(state_.current, what);
  if (t.result == alias::outcome::applies) {
    state_.current = t.next;
    if (!alias::keeps_version(what)) ++state_.state_version;
    return true;
  }
  if (actor != 0) {
    if (t.result == alias::outcome::refused) {
      reject(actor, "INVALID_TRANSITION",
             std::string(alias::event_name(what)) + " is not possible in " +
                 std::string(alias::phase_name(state_.current)),
             request_type, now, out);
    } else {
      out.unchanged();  // already there: a no-op (seed 004, 1.3)
    }
  }
  return false;
}

// --- commands ---

void alias_game::on_command(const input& in, time_ms now, room_rng& rng, effects& out) {
  if (!in.cmd) {
    out.unchanged();
    return;
  }
  const auto& req = static_cast<const alias::request&>(*in.cmd);
  const in_type type = alias::type_of(req);
  const std::string_view type_name = alias::in_type_names[req.type];
  if (type == in_type::create_room) {
    if (by_conn(in.conn) != nullptr || host() != nullptr) {
      reject(in.conn, "ALREADY_IN_ROOM", "this connection is in room " + state_.code, type_name,
             now, out);
      return;
    }
    on_create(in, req, now, out);
    return;
  }
  if (type == in_type::join_room) {
    on_join(in, req, now, out);
    return;
  }
  person* who = by_conn(in.conn);
  if (who == nullptr) {
    reject(in.conn, "NOT_IN_ROOM", "join the room first (JOIN_ROOM)", type_name, now, out);
    return;
  }
  if (!req.actor_id.empty() && req.actor_id != who->id) {
    reject(in.conn, "UNAUTHORIZED", "actorId " + req.actor_id + " is not this connection's seat",
           type_name, now, out);
    return;
  }
  static constexpr std::array<std::pair<in_type, event>, 9> host_commands = {{
      {in_type::start_team_setup, event::host_start_setup},
      {in_type::cancel_team_setup, event::host_cancel_setup},
      {in_type::confirm_start, event::host_confirm_start},
      {in_type::word_swiped, event::word_swiped},
      {in_type::pause_game, event::host_pause},
      {in_type::resume_game, event::host_resume},
      {in_type::restart_game, event::host_restart},
      {in_type::close_room, event::room_close},
      {in_type::leave_room, event::player_left},
  }};
  for (const auto& [command, what] : host_commands) {
    if (command == type && alias::host_only(what) && !who->is_host) {
      reject(in.conn, "UNAUTHORIZED", "only the host may send " + std::string(type_name), type_name,
             now, out);
      return;
    }
  }
  switch (type) {
    case in_type::leave_room:
      on_leave(*who, true, now, out);
      return;
    case in_type::start_team_setup:
      on_start_setup(*who, req, now, out);
      return;
    case in_type::join_team:
      on_join_team(*who, req, now, out);
      return;
    case in_type::cancel_team_setup:
      on_cancel_setup(*who, now, out);
      return;
    case in_type::confirm_start:
      on_confirm_start(*who, now, rng, out);
      return;
    case in_type::word_swiped:
      on_swipe(*who, req, now, out);
      return;
    case in_type::pause_game:
      on_pause(*who, now, out);
      return;
    case in_type::resume_game:
      on_resume(*who, now, out);
      return;
    case in_type::restart_game:
      on_restart(*who, now, out);
      return;
    case in_type::close_room:
      on_close(*who, now, out);
      return;
    case in_type::create_room:
    case in_type::join_room:
      return;
  }
}

// --- lobby ---

void alias_game::on_create(const input& in, const alias::request& req, time_ms now, effects& out) {
  person h;
  h.id = "host_1";
  h.name = req.name;
  h.avatar_color = std::string(avatar_colors[state_.next_color++ % avatar_colors.size()]);
  h.conn = in.conn;
  h.is_host = true;
  state_.people.insert(state_.people.begin(), std::move(h));
  state_.state_version = std::max<std::uint64_t>(state_.state_version, 1);
  out.bind(in.conn, alias::host_role, false);  // the host swipes fast: exempt, as every host
  const person& created = state_.people.front();
  json::object payload;
  payload["qrCodeUrl"] = config_.public_base_url + "/" + state_.code;
  payload["hostId"] = created.id;
  payload["hostName"] = created.name;
  payload["maxPlayers"] = state_.config.max_players;
  payload["room"] = room_view(created, now);
  send(in.conn, out_type::room_created, std::move(payload), now, out);
  out.important();
}

void alias_game::on_join(const input& in, const alias::request& req, time_ms now, effects& out) {
  const connection_id conn = in.conn;
  if (const person* already = by_conn(conn)) {
    // A double join: nothing changes; the sender gets the room as the first join did.
    json::object payload;
    payload["playerId"] = already->id;
    payload["room"] = room_view(*already, now);
    send(conn, out_type::room_joined, std::move(payload), now, out);
    out.unchanged();
    return;
  }
  if (host() == nullptr && state_.people.empty()) {
    // A room made through the admin API: its first participant is the host.
    on_create(in, req, now, out);
    return;
  }
  if (player_count() >= state_.config.max_players) {
    reject(conn, "ROOM_FULL",
           "the room has " + std::to_string(state_.config.max_players) + " players already",
           "JOIN_ROOM", now, out);
    out.close_connection(conn, close_policy, "ROOM_FULL");
    return;
  }
  const bool was_ready = state_.current == phase::ready_to_start;
  if (!fire(event::player_joined, conn, "JOIN_ROOM", now, out)) {
    out.close_connection(conn, close_policy, "INVALID_TRANSITION");
    return;
  }
  person p;
  p.id = player_id_of(state_.next_player_number++);
  p.name = req.name;
  p.avatar_color = std::string(avatar_colors[state_.next_color++ % avatar_colors.size()]);
  p.conn = conn;
  state_.people.push_back(std::move(p));
  const person& joined = state_.people.back();
  out.bind(conn, alias::player_role, true);
  json::object mine;
  mine["playerId"] = joined.id;
  mine["room"] = room_view(joined, now);
  send(conn, out_type::room_joined, std::move(mine), now, out);
  json::object payload;
  payload["playerId"] = joined.id;
  payload["playerName"] = joined.name;
  payload["playerCount"] = player_count();
  payload["avatarColor"] = joined.avatar_color;
  broadcast(out_type::player_joined, std::move(payload), now, out);
  if (state_.current == phase::team_setup) settle_balance(was_ready, now, out);
  out.important();
}

void alias_game::on_leave(person& who, bool voluntary, time_ms now, effects& out) {
  const std::string id = who.id;
  const std::string name = who.name;
  const connection_id conn = who.conn;
  const bool was_host = who.is_host;
  const bool was_ready = state_.current == phase::ready_to_start;
  if (voluntary && was_host && player_count() == 0) {
    // The host leaving an empty room ends it.
    out.close_connection(conn, close_normal, "left");
    close_all("host_left", now, out);
    return;
  }
  fire(event::player_left, 0, {}, now, out);
  if (voluntary && conn != 0) out.close_connection(conn, close_normal, "left");
  if (alias::team* t = team_by_id(who.team_id)) {
    t->players.erase(std::remove(t->players.begin(), t->players.end(), id), t->players.end());
  }
  state_.people.erase(std::find_if(state_.people.begin(), state_.people.end(),
                                   [&](const person& p) { return p.id == id; }));
  json::object payload;
  payload["playerId"] = id;
  payload["playerName"] = name;
  payload["playerCount"] = player_count();
  payload["reason"] = voluntary ? "voluntary" : "disconnected";
  broadcast(out_type::player_left, std::move(payload), now, out);
  if (was_host) {
    state_.host_gone_at = 0;
    out.cancel_timer(host_gone_timer_key);
    promote_host(id, voluntary ? "host_left" : "host_timeout", now, out);
  }
  if (state_.current == phase::team_setup) settle_balance(was_ready, now, out);
  out.important();
}

void alias_game::on_start_setup(const person& who, const alias::request& req, time_ms now,
                                effects& out) {
  if (!fire(event::host_start_setup, who.conn, "START_TEAM_SETUP", now, out)) return;
  state_.teams.clear();
  for (std::uint32_t i = 0; i < req.num_teams; ++i) {
    alias::team t;
    t.id = "team_" + std::to_string(i + 1);
    t.name = std::string(team_names[i]);
    t.color = std::string(team_colors[i]);
    state_.teams.push_back(std::move(t));
  }
  for (person& p : state_.people) p.team_id.clear();
  json::object payload;
  payload["numTeams"] = req.num_teams;
  payload["teams"] = teams_json();
  broadcast(out_type::team_setup_started, std::move(payload), now, out);
  out.persist();  // a lost setup is only set up again: its frames need not wait for the disk
}

void alias_game::on_join_team(const person& who, const alias::request& req, time_ms now,
                              effects& out) {
  if (!allowed(event::player_assigned)) {
    fire(event::player_assigned, who.conn, "JOIN_TEAM", now, out);
    return;
  }
  person* target = nullptr;
  if (!req.player_id.empty() && req.player_id != who.id) {
    if (!who.is_host) {
      reject(who.conn, "UNAUTHORIZED", "only the host places other players", "JOIN_TEAM", now, out);
      return;
    }
    target = by_id(req.player_id);
    if (target == nullptr || target->is_host) {
      reject(who.conn, "VALIDATION_FAILED", "payload.playerId: no such player", "JOIN_TEAM", now,
             out);
      return;
    }
  } else {
    target = by_conn(who.conn);
    if (target == nullptr || target->is_host) {
      reject(who.conn, "UNAUTHORIZED", "the host is on no team", "JOIN_TEAM", now, out);
      return;
    }
  }
  alias::team* to = team_by_id(req.team_id);
  if (to == nullptr) {
    reject(
        who.conn, "VALIDATION_FAILED",
        "payload.teamId: no such team (team_1 to team_" + std::to_string(state_.teams.size()) + ")",
        "JOIN_TEAM", now, out);
    return;
  }
  if (target->team_id == to->id) {
    out.unchanged();  // on that team already: a no-op
    return;
  }
  const bool was_ready = state_.current == phase::ready_to_start;
  fire(event::player_assigned, 0, {}, now, out);
  if (alias::team* from = team_by_id(target->team_id)) {
    from->players.erase(std::remove(from->players.begin(), from->players.end(), target->id),
                        from->players.end());
  }
  target->team_id = to->id;
  to->players.push_back(target->id);
  json::object payload;
  payload["playerId"] = target->id;
  payload["teamId"] = to->id;
  payload["teams"] = teams_json();
  broadcast(out_type::player_assigned_team, std::move(payload), now, out);
  settle_balance(was_ready, now, out);
  out.persist();
}

void alias_game::on_cancel_setup(const person& who, time_ms now, effects& out) {
  if (!fire(event::host_cancel_setup, who.conn, "CANCEL_TEAM_SETUP", now, out)) return;
  state_.teams.clear();
  for (person& p : state_.people) p.team_id.clear();
  broadcast(out_type::team_setup_cancelled, json::object{}, now, out);
  out.persist();
}

void alias_game::on_confirm_start(const person& who, time_ms now, room_rng& rng, effects& out) {
  const bool first = state_.current == phase::ready_to_start;
  if (!fire(event::host_confirm_start, who.conn, "CONFIRM_START", now, out)) return;
  if (first) start_game(now);
  begin_countdown(now, rng, out);
  // Written at once but not held: a start lost in a crash leaves the room ready to start again
  // (the clients resume into that state), and a held countdown would hold every frame of the
  // room behind the disk's sync (ARCHITECTURE.md, "Decisions": important against persist).
  out.persist();
}

void alias_game::on_swipe(const person& who, const alias::request& req, time_ms now, effects& out) {
  if (!allowed(event::word_swiped)) {
    fire(event::word_swiped, who.conn, "WORD_SWIPED", now, out);
    return;
  }
  if (now >= state_.round_deadline) {
    // The room's clock decides: the round is over before this swipe counts.
    fire(event::round_timeout, 0, {}, now, out);
    end_round(alias::end_reason::timer_expired, now, out);
    send_error(who.conn, "INVALID_TRANSITION", "the round ended before this swipe arrived",
               "WORD_SWIPED", now, out);
    return;
  }
  if (!state_.current_word || req.word_id != current_word_id()) {
    // Two swipes of one word: the first moved on, this one is stale (seed 004, 6.3 case 4).
    reject(who.conn, "INVALID_TRANSITION", req.word_id + " is not the current word", "WORD_SWIPED",
           now, out);
    return;
  }
  fire(event::word_swiped, 0, {}, now, out);
  alias::team* t = team_by_id(state_.active_team_id);
  if (t == nullptr) throw game_rule_violation("alias round without its team");
  const std::int64_t points = req.guessed ? 1 : (state_.config.skip_penalty ? -1 : 0);
  t->score += points;
  alias::round_figures& r = state_.last_round;
  (req.guessed ? r.guessed : r.skipped) += 1;
  r.points += points;
  ++state_.words_played;
  if (req.guessed) {
    if (person* explainer = by_id(state_.explainer_id)) ++explainer->explained_guessed;
  }
  const alias::word& w = alias::selected_pack(state_.config)->words.at(*state_.current_word);
  json::object payload;
  payload["wordId"] = current_word_id();
  payload["wordText"] = w.text;  // revealed to everyone once swiped
  payload["action"] = req.guessed ? "guessed" : "skipped";
  payload["teamId"] = t->id;
  payload["pointsAwarded"] = points;
  payload["newScore"] = t->score;
  state_.current_word.reset();
  broadcast(out_type::word_result, std::move(payload), now, out);
  reveal_next_word(now, out);
  if (!state_.current_word) {
    fire(event::pack_exhausted, 0, {}, now, out);
    end_round(alias::end_reason::pack_exhausted, now, out);
  }
  out.persist();  // written at once; WORD_RESULT does not wait for the disk
}

void alias_game::on_pause(const person& who, time_ms now, effects& out) {
  if (!fire(event::host_pause, who.conn, "PAUSE_GAME", now, out)) return;
  pause_round(false, now, out);
}

void alias_game::on_resume(const person& who, time_ms now, effects& out) {
  if (!fire(event::host_resume, who.conn, "RESUME_GAME", now, out)) return;
  state_.round_deadline = now + state_.remaining_ms;
  state_.remaining_ms = 0;
  state_.paused_by_system = false;
  arm_clock(now, out);
  json::object payload;
  payload["remainingMs"] = state_.round_deadline - now;
  payload["roundEndsAt"] = state_.round_deadline;
  broadcast(out_type::game_resumed, std::move(payload), now, out);
  out.persist();
}

void alias_game::on_restart(const person& who, time_ms now, effects& out) {
  if (!fire(event::host_restart, who.conn, "RESTART_GAME", now, out)) return;
  reset_to_lobby();
  out.cancel_timer(countdown_timer_key);
  out.cancel_timer(clock_timer_key);
  out.cancel_timer(review_timer_key);
  json::object payload;
  payload["players"] = players_json();
  broadcast(out_type::game_restarted, std::move(payload), now, out);
  out.important();
}

void alias_game::on_close(const person& who, time_ms now, effects& out) {
  (void)who;
  close_all("closed_by_host", now, out);
}

// --- connections ---

void alias_game::on_disconnect(connection_id conn, time_ms now, effects& out) {
  // With sessions always on, a disconnect is the end of a session (60 s away, or expired).
  person* who = by_conn(conn);
  if (who == nullptr) {
    out.unchanged();
    return;
  }
  on_leave(*who, false, now, out);
}

void alias_game::on_presence(connection_id conn, presence_stage stage, time_ms now, effects& out) {
  person* who = by_conn(conn);
  if (who == nullptr) {
    out.unchanged();
    return;
  }
  std::string_view status;
  switch (stage) {
    case presence_stage::away:
      if (!who->connected) {
        out.unchanged();
        return;
      }
      who->connected = false;
      status = "away";
      if (who->is_host) {
        // The design's 10 s count from the drop; `away` comes after the session's grace.
        state_.host_gone_at = std::max<time_ms>(0, now - config_.sessions.away_ms);
        out.set_timer(host_gone_timer_key,
                      std::max(now, state_.host_gone_at + config_.host_pause_after_ms));
      }
      break;
    case presence_stage::warned:
      status = "lost";
      break;
    case presence_stage::back:
      who->connected = true;
      status = "back";
      if (who->is_host) {
        state_.host_gone_at = 0;
        out.cancel_timer(host_gone_timer_key);
      }
      break;
    case presence_stage::degraded:
      status = "degraded";
      break;
  }
  json::object payload;
  payload["playerId"] = who->id;
  payload["status"] = status;
  payload["isHost"] = who->is_host;
  broadcast(out_type::player_status, std::move(payload), now, out);
  // Presence is not stored (a restored room has everyone away until they resume), nor is the
  // host's absence, which a restore starts counting again.
  out.unchanged();
}

void alias_game::on_restored(time_ms now, effects& out) {
  // A fresh room has nobody yet. A restored one has every session away: a host that does not
  // come back pauses a running round as if it had just dropped.
  person* h = host();
  if (h == nullptr || h->connected) {
    out.unchanged();
    return;
  }
  state_.host_gone_at = now;
  out.set_timer(host_gone_timer_key, now + config_.host_pause_after_ms);
}

void alias_game::on_timer(std::uint64_t key, time_ms now, effects& out) {
  switch (key) {
    case countdown_timer_key:
      if (state_.current != phase::round_starting) break;
      if (now < state_.round_starts_at) {
        fire(event::countdown_tick, 0, {}, now, out);
        const time_ms seconds = (state_.round_starts_at - now + 999) / 1000;
        json::object payload;
        payload["roundNumber"] = state_.round;
        payload["secondsLeft"] = seconds;
        broadcast(out_type::countdown, std::move(payload), now, out);
        out.set_timer(countdown_timer_key, state_.round_starts_at - (seconds - 1) * 1000);
        out.unchanged();  // derived from the clock: a restore counts on from the stored end
        return;
      }
      start_round(now, out);
      return;
    case clock_timer_key:
      if (state_.current != phase::round_active) break;
      if (now >= state_.round_deadline) {
        fire(event::round_timeout, 0, {}, now, out);
        end_round(alias::end_reason::timer_expired, now, out);
        out.persist();
        return;
      }
      {
        fire(event::timer_tick, 0, {}, now, out);
        json::object payload;
        payload["remainingSeconds"] = (state_.round_deadline - now + 999) / 1000;
        payload["roundEndsAt"] = state_.round_deadline;
        broadcast(out_type::timer_tick, std::move(payload), now, out);
        arm_clock(now, out);
        out.unchanged();  // a tick changes nothing stored
      }
      return;
    case review_timer_key:
      if (state_.current != phase::score_review) break;
      after_review(now, out);
      out.persist();
      return;
    case host_gone_timer_key:
      if (!pause_if_host_gone(now, out)) out.unchanged();
      return;
    default:
      break;
  }
  out.unchanged();
}

// --- the game ---

void alias_game::start_game(time_ms now) {
  const alias::word_pack* pack = alias::selected_pack(state_.config);
  if (pack == nullptr || pack->words.empty()) {
    throw game_rule_violation("alias settings name no playable pack");  // parse_settings checks
  }
  state_.round = 0;
  state_.total_rounds =
      static_cast<std::uint32_t>(state_.teams.size()) * state_.config.rounds_per_team;
  state_.game_started_at = now;
  state_.words_played = 0;
  state_.history.clear();
  state_.order.clear();
  state_.cursor = 0;
  state_.word_serial = 0;
  for (alias::team& t : state_.teams) {
    t.score = 0;
    t.turns = 0;
  }
  for (person& p : state_.people) {
    p.explained_guessed = 0;
    p.explained_ms = 0;
  }
  // The word order is drawn by the first countdown (begin_countdown).
}

void alias_game::begin_countdown(time_ms now, room_rng& rng, effects& out) {
  const alias::word_pack* pack = alias::selected_pack(state_.config);
  if (state_.cursor >= state_.order.size()) {
    // A new pass over the pack in the room rng's order: no word comes twice before every word
    // has come once (Fisher-Yates).
    state_.order.resize(pack->words.size());
    std::iota(state_.order.begin(), state_.order.end(), 0u);
    for (std::size_t k = state_.order.size(); k > 1; --k) {
      std::swap(state_.order[k - 1], state_.order[rng.below(k)]);
    }
    state_.cursor = 0;
  }
  ++state_.round;
  alias::team& t = state_.teams.at((state_.round - 1) % state_.teams.size());
  state_.active_team_id = t.id;
  state_.explainer_id = next_explainer(t);
  ++t.turns;
  state_.round_starts_at = now + static_cast<time_ms>(config_.countdown_sec) * 1000;
  state_.last_round = alias::round_figures{};
  state_.last_round.number = state_.round;
  state_.last_round.team_id = t.id;
  state_.last_round.explainer_id = state_.explainer_id;
  out.cancel_timer(review_timer_key);
  if (config_.countdown_sec == 0) {
    start_round(now, out);
    return;
  }
  json::object payload;
  payload["roundNumber"] = state_.round;
  payload["totalRounds"] = state_.total_rounds;
  payload["activeTeamId"] = state_.active_team_id;
  payload["explainerPlayerId"] =
      state_.explainer_id.empty() ? json::value(nullptr) : json::value(state_.explainer_id);
  payload["secondsLeft"] = config_.countdown_sec;
  payload["roundStartsAt"] = state_.round_starts_at;
  broadcast(out_type::countdown, std::move(payload), now, out);
  out.set_timer(countdown_timer_key, now + 1000);
}

void alias_game::start_round(time_ms now, effects& out) {
  if (!fire(event::round_started, 0, {}, now, out)) return;
  state_.round_starts_at = 0;
  state_.round_deadline = now + static_cast<time_ms>(state_.config.round_duration_sec) * 1000;
  state_.remaining_ms = 0;
  state_.paused_by_system = false;
  json::object payload;
  payload["roundNumber"] = state_.round;
  payload["totalRounds"] = state_.total_rounds;
  payload["activeTeamId"] = state_.active_team_id;
  payload["explainerPlayerId"] =
      state_.explainer_id.empty() ? json::value(nullptr) : json::value(state_.explainer_id);
  payload["roundDurationSec"] = state_.config.round_duration_sec;
  payload["roundEndsAt"] = state_.round_deadline;
  payload["wordPackId"] = state_.config.word_pack_id;
  broadcast(out_type::round_started, std::move(payload), now, out, true);
  arm_clock(now, out);
  reveal_next_word(now, out);
  if (!state_.current_word) {
    fire(event::pack_exhausted, 0, {}, now, out);
    end_round(alias::end_reason::pack_exhausted, now, out);
  } else {
    pause_if_host_gone(now, out);
  }
  out.persist();
}

void alias_game::end_round(alias::end_reason why, time_ms now, effects& out) {
  const time_ms duration_ms = static_cast<time_ms>(state_.config.round_duration_sec) * 1000;
  alias::round_figures& r = state_.last_round;
  r.active_ms = duration_ms - std::max<time_ms>(0, state_.round_deadline - now);
  r.ended_by = why;
  if (person* explainer = by_id(state_.explainer_id)) explainer->explained_ms += r.active_ms;
  state_.current_word.reset();  // an unswiped word is not shown to the players
  state_.history.push_back(r);
  out.cancel_timer(clock_timer_key);
  out.cancel_timer(host_gone_timer_key);
  broadcast(out_type::round_ended, round_json(r), now, out, true);
  fire(event::scores_calculated, 0, {}, now, out);
  state_.review_ends_at = now + static_cast<time_ms>(state_.config.score_review_sec) * 1000;
  json::object payload;
  payload["roundNumber"] = state_.round;
  payload["totalRounds"] = state_.total_rounds;
  payload["leaderboard"] = leaderboard_json();
  payload["nextRoundIn"] = state_.config.score_review_sec;
  payload["isFinalRound"] = state_.round >= state_.total_rounds;
  broadcast(out_type::score_summary, std::move(payload), now, out);
  out.set_timer(review_timer_key, state_.review_ends_at);
}

void alias_game::after_review(time_ms now, effects& out) {
  if (state_.round < state_.total_rounds) {
    fire(event::next_round_ready, 0, {}, now, out);
    const alias::team& t = state_.teams.at(state_.round % state_.teams.size());
    json::object payload;
    payload["roundNumber"] = state_.round + 1;
    payload["totalRounds"] = state_.total_rounds;
    payload["activeTeamId"] = t.id;
    const std::string explainer = next_explainer(t);
    payload["explainerPlayerId"] =
        explainer.empty() ? json::value(nullptr) : json::value(explainer);
    broadcast(out_type::next_round_ready, std::move(payload), now, out);
    return;
  }
  fire(event::game_complete, 0, {}, now, out);
  broadcast(out_type::game_ended, final_json(now), now, out, true);
  fire(event::scores_calculated, 0, {}, now, out);
  json::object results;
  results["leaderboard"] = leaderboard_json();
  results["players"] = players_json();
  json::array rounds;
  for (const alias::round_figures& r : state_.history) rounds.push_back(round_json(r));
  results["rounds"] = std::move(rounds);
  broadcast(out_type::final_results, std::move(results), now, out);
}

void alias_game::reveal_next_word(time_ms now, effects& out) {
  state_.current_word.reset();
  if (state_.cursor >= state_.order.size()) return;  // the pack is exhausted
  state_.current_word = state_.order[state_.cursor++];
  ++state_.word_serial;
  state_.word_shown_at = now;
  if (const person* h = host()) send_current_word(h->conn, now, out);
}

void alias_game::send_current_word(connection_id conn, time_ms now, effects& out) const {
  if (conn == 0 || !state_.current_word) return;
  const alias::word& w = alias::selected_pack(state_.config)->words.at(*state_.current_word);
  json::object payload;
  payload["wordId"] = current_word_id();
  payload["wordText"] = w.text;
  payload["difficulty"] = w.difficulty;
  payload["remainingInPack"] = state_.order.size() - state_.cursor;
  send(conn, out_type::word_revealed, std::move(payload), now, out);  // the host's alone
}

void alias_game::arm_clock(time_ms now, effects& out) {
  // The next whole second before the deadline, counted from the deadline: ticks say 59, 58...
  const time_ms left = state_.round_deadline - now;
  const time_ms seconds = (left + 999) / 1000;
  out.set_timer(clock_timer_key, state_.round_deadline - (seconds - 1) * 1000);
}

void alias_game::pause_round(bool by_system, time_ms now, effects& out) {
  state_.remaining_ms = std::max<time_ms>(0, state_.round_deadline - now);
  state_.paused_by_system = by_system;
  out.cancel_timer(clock_timer_key);
  json::object payload;
  payload["reason"] = by_system ? "host_disconnected" : "host";
  payload["message"] = by_system ? "Host disconnected" : "Paused by the host";
  if (by_system) payload["detail"] = "Waiting for host to reconnect...";
  payload["remainingMs"] = state_.remaining_ms;
  broadcast(out_type::game_paused, std::move(payload), now, out);
  out.persist();
}

bool alias_game::pause_if_host_gone(time_ms now, effects& out) {
  const person* h = host();
  const bool gone = h != nullptr && !h->connected && state_.host_gone_at != 0 &&
                    now >= state_.host_gone_at + config_.host_pause_after_ms;
  if (!gone || !fire(event::host_pause, 0, {}, now, out)) return false;
  pause_round(true, now, out);
  return true;
}

void alias_game::reset_to_lobby() {
  state_.teams.clear();
  for (person& p : state_.people) {
    p.team_id.clear();
    p.explained_guessed = 0;
    p.explained_ms = 0;
  }
  state_.round = 0;
  state_.total_rounds = 0;
  state_.round_starts_at = 0;
  state_.active_team_id.clear();
  state_.explainer_id.clear();
  state_.round_deadline = 0;
  state_.remaining_ms = 0;
  state_.paused_by_system = false;
  state_.review_ends_at = 0;
  state_.current_word.reset();
  state_.order.clear();
  state_.cursor = 0;
  state_.last_round = alias::round_figures{};
  state_.history.clear();
}

bool alias_game::teams_balanced() const {
  if (state_.teams.empty()) return false;
  std::size_t smallest = SIZE_MAX;
  std::size_t largest = 0;
  std::size_t assigned = 0;
  for (const alias::team& t : state_.teams) {
    smallest = std::min(smallest, t.players.size());
    largest = std::max(largest, t.players.size());
    assigned += t.players.size();
  }
  return smallest >= 2 && largest - smallest <= 1 && assigned == player_count();
}

void alias_game::settle_balance(bool was_ready, time_ms now, effects& out) {
  const bool balanced = teams_balanced();
  if (balanced) fire(event::teams_balanced, 0, {}, now, out);
  if (balanced || was_ready) {
    json::object payload;
    payload["balanced"] = balanced;
    payload["teams"] = teams_json();
    broadcast(out_type::teams_balanced, std::move(payload), now, out);
  }
}

void alias_game::promote_host(std::string_view previous_id, std::string_view reason, time_ms now,
                              effects& out) {
  // The earliest-joined connected player; when nobody is connected, the earliest-joined one.
  person* chosen = nullptr;
  for (person& p : state_.people) {
    if (!p.is_host && p.connected && p.conn != 0) {
      chosen = &p;
      break;
    }
  }
  if (chosen == nullptr) {
    for (person& p : state_.people) {
      if (!p.is_host) {
        chosen = &p;
        break;
      }
    }
  }
  if (chosen == nullptr) return;  // nobody left: the room waits for a player to join
  if (alias::team* t = team_by_id(chosen->team_id)) {
    t->players.erase(std::remove(t->players.begin(), t->players.end(), chosen->id),
                     t->players.end());
  }
  chosen->team_id.clear();
  chosen->is_host = true;
  std::rotate(state_.people.begin(), state_.people.begin() + (chosen - state_.people.data()),
              state_.people.begin() + (chosen - state_.people.data()) + 1);
  person& h = state_.people.front();
  if (h.conn != 0) out.bind(h.conn, alias::host_role, false);
  if (!h.connected) {
    state_.host_gone_at = now;
    out.set_timer(host_gone_timer_key, now + config_.host_pause_after_ms);
  }
  json::object payload;
  payload["hostId"] = h.id;
  payload["hostName"] = h.name;
  payload["previousHostId"] = previous_id;
  payload["reason"] = reason;
  payload["teams"] = teams_json();
  broadcast(out_type::host_changed, std::move(payload), now, out);
  if (state_.current == phase::round_active || state_.current == phase::round_paused) {
    send_current_word(h.conn, now, out);
  }
}

void alias_game::close_all(std::string_view reason, time_ms now, effects& out) {
  fire(event::room_close, 0, {}, now, out);
  json::object payload;
  payload["reason"] = reason;
  broadcast(out_type::room_closed, std::move(payload), now, out);
  out.important();
  out.close_room(std::string(reason));
}

// --- sessions ---

bool alias_game::holds_session(connection_id conn) const { return by_conn(conn) != nullptr; }

std::string alias_game::checksum_of(connection_id conn) const {
  if (by_conn(conn) == nullptr) return {};
  // alias.md, "Checksum": fields every viewer shares and hears of live, in this order.
  fnv1a h;
  h.add(alias::phase_name(state_.current));
  h.add("|");
  h.add(static_cast<std::int64_t>(state_.round));
  h.add("|");
  h.add(state_.active_team_id);
  h.add("|");
  for (const alias::team& t : state_.teams) {
    h.add(t.id);
    h.add("=");
    h.add(t.score);
    h.add(";");
  }
  h.add("|");
  for (const person& p : state_.people) {
    h.add(p.id);
    h.add(":");
    h.add(p.team_id);
    h.add(p.connected ? ":1;" : ":0;");
  }
  return h.hex();
}

session_view alias_game::view_of(connection_id conn, time_ms now) const {
  const person* who = by_conn(conn);
  if (who == nullptr) return {};
  return {std::string(alias::phase_name(state_.current)), json::serialize(room_view(*who, now)),
          checksum_of(conn)};
}

// --- lookups ---

alias::participant* alias_game::by_conn(connection_id conn) noexcept {
  if (conn == 0) return nullptr;
  for (person& p : state_.people) {
    if (p.conn == conn) return &p;
  }
  return nullptr;
}
const alias::participant* alias_game::by_conn(connection_id conn) const noexcept {
  return const_cast<alias_game*>(this)->by_conn(conn);
}
alias::participant* alias_game::by_id(std::string_view id) noexcept {
  if (id.empty()) return nullptr;
  for (person& p : state_.people) {
    if (p.id == id) return &p;
  }
  return nullptr;
}
const alias::participant* alias_game::by_id(std::string_view id) const noexcept {
  return const_cast<alias_game*>(this)->by_id(id);
}
alias::participant* alias_game::host() noexcept {
  return !state_.people.empty() && state_.people.front().is_host ? &state_.people.front() : nullptr;
}
const alias::participant* alias_game::host() const noexcept {
  return const_cast<alias_game*>(this)->host();
}
alias::team* alias_game::team_by_id(std::string_view id) noexcept {
  if (id.empty()) return nullptr;
  for (alias::team& t : state_.teams) {
    if (t.id == id) return &t;
  }
  return nullptr;
}
const alias::team* alias_game::team_by_id(std::string_view id) const noexcept {
  return const_cast<alias_game*>(this)->team_by_id(id);
}

std::uint32_t alias_game::player_count() const noexcept {
  std::uint32_t n = 0;
  for (const person& p : state_.people) n += p.is_host ? 0 : 1;
  return n;
}

std::string alias_game::next_explainer(const alias::team& t) const {
  if (t.players.empty()) return {};
  return t.players[t.turns % t.players.size()];
}

std::string alias_game::current_word_id() const {
  return state_.current_word ? "word_" + std::to_string(state_.word_serial) : std::string();
}

// --- payloads ---

json::array alias_game::teams_json() const {
  json::array teams;
  for (const alias::team& t : state_.teams) {
    json::array players;
    for (const std::string& id : t.players) players.emplace_back(id);
    teams.push_back(json::object{{"id", t.id},
                                 {"name", t.name},
                                 {"color", t.color},
                                 {"players", std::move(players)},
                                 {"score", t.score}});
  }
  return teams;
}

json::array alias_game::players_json() const {
  json::array players;
  for (const person& p : state_.people) {
    players.push_back(
        json::object{{"id", p.id},
                     {"name", p.name},
                     {"avatarColor", p.avatar_color},
                     {"isHost", p.is_host},
                     {"teamId", p.team_id.empty() ? json::value(nullptr) : json::value(p.team_id)},
                     {"connected", p.connected},
                     {"wordsExplained", p.explained_guessed}});
  }
  return players;
}

json::object alias_game::settings_json() const {
  const alias::settings& s = state_.config;
  json::object settings;
  settings["maxPlayers"] = s.max_players;
  settings["roundDurationSec"] = s.round_duration_sec;
  settings["roundsPerTeam"] = s.rounds_per_team;
  settings["scoreReviewSec"] = s.score_review_sec;
  settings["skipPenalty"] = s.skip_penalty;
  settings["wordPackId"] = s.word_pack_id;
  if (s.custom) {
    // Its name and size only: the words stay with the server (and the host's screen).
    settings["customPack"] = {{"name", s.custom->name}, {"wordCount", s.custom->words.size()}};
  } else {
    settings["customPack"] = nullptr;
  }
  return settings;
}

json::object alias_game::scores_json() const {
  json::object scores;
  for (const alias::team& t : state_.teams) scores[t.id] = t.score;
  return scores;
}

json::array alias_game::leaderboard_json() const {
  std::vector<const alias::team*> order;
  for (const alias::team& t : state_.teams) order.push_back(&t);
  std::stable_sort(order.begin(), order.end(),
                   [](const alias::team* a, const alias::team* b) { return a->score > b->score; });
  json::array board;
  std::size_t rank = 0;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i == 0 || order[i]->score != order[i - 1]->score) rank = i + 1;  // equal scores share
    board.push_back(json::object{{"teamId", order[i]->id},
                                 {"teamName", order[i]->name},
                                 {"score", order[i]->score},
                                 {"rank", rank}});
  }
  return board;
}

json::object alias_game::round_json(const alias::round_figures& r) const {
  json::object round;
  round["reason"] =
      r.ended_by == alias::end_reason::timer_expired ? "timer_expired" : "pack_exhausted";
  round["roundNumber"] = r.number;
  round["teamId"] = r.team_id;
  round["explainerPlayerId"] =
      r.explainer_id.empty() ? json::value(nullptr) : json::value(r.explainer_id);
  round["wordsGuessed"] = r.guessed;
  round["wordsSkipped"] = r.skipped;
  round["pointsEarned"] = r.points;
  round["averageTimePerWord"] = tenths(r.active_ms, r.guessed + r.skipped);
  return round;
}

json::object alias_game::final_json(time_ms now) const {
  json::object result;
  // The winner is the team alone at the top; a shared first place has none (tiedTeamIds).
  std::int64_t best = INT64_MIN;
  for (const alias::team& t : state_.teams) best = std::max(best, t.score);
  json::array tied;
  for (const alias::team& t : state_.teams) {
    if (t.score == best) tied.emplace_back(t.id);
  }
  result["winnerTeamId"] = tied.size() == 1 ? tied.front() : json::value(nullptr);
  result["tiedTeamIds"] = tied.size() > 1 ? json::value(tied) : json::value(json::array{});
  json::array final_scores;
  for (const alias::team& t : state_.teams) {
    final_scores.push_back(json::object{{"teamId", t.id}, {"score", t.score}});
  }
  result["finalScores"] = std::move(final_scores);
  const time_ms played = now - state_.game_started_at;
  result["gameDurationMin"] = (played + 30'000) / 60'000;
  result["gameDurationSec"] = played / 1000;
  result["totalWordsPlayed"] = state_.words_played;
  // MVP: the explainer with the most words guessed; then the least time per guessed word; then
  // the earlier join. None when no word was guessed.
  const person* mvp = nullptr;
  for (const person& p : state_.people) {
    if (p.explained_guessed == 0) continue;
    if (mvp == nullptr || p.explained_guessed > mvp->explained_guessed) {
      mvp = &p;
      continue;
    }
    if (p.explained_guessed < mvp->explained_guessed) continue;
    const std::int64_t mine = p.explained_ms * mvp->explained_guessed;
    const std::int64_t theirs = mvp->explained_ms * p.explained_guessed;
    if (mine < theirs) mvp = &p;  // equal: the one met first, who joined earlier
  }
  result["mvpPlayerId"] = mvp ? json::value(mvp->id) : json::value(nullptr);
  return result;
}

json::object alias_game::room_view(const person& viewer, time_ms now) const {
  json::object view;
  view["you"] = json::object{
      {"id", viewer.id},
      {"role", viewer.is_host ? "host" : "player"},
      {"teamId", viewer.team_id.empty() ? json::value(nullptr) : json::value(viewer.team_id)}};
  view["roomId"] = state_.code;
  const person* h = host();
  view["hostId"] = h ? json::value(h->id) : json::value(nullptr);
  view["settings"] = settings_json();
  view["players"] = players_json();
  view["teams"] = teams_json();
  json::array packs;
  for (const alias::word_pack& p : alias::shipped_packs()) {
    packs.push_back(json::object{{"id", p.id}, {"name", p.name}, {"wordCount", p.words.size()}});
  }
  view["wordPacks"] = std::move(packs);
  const bool in_game = state_.round > 0;
  view["roundNumber"] = state_.round;
  view["totalRounds"] = state_.total_rounds;
  view["activeTeamId"] = in_game ? json::value(state_.active_team_id) : json::value(nullptr);
  view["explainerPlayerId"] = in_game && !state_.explainer_id.empty()
                                  ? json::value(state_.explainer_id)
                                  : json::value(nullptr);
  view["currentScore"] = scores_json();
  json::value remaining_ms = nullptr;
  json::value ends_at = nullptr;
  if (state_.current == phase::round_active) {
    remaining_ms = std::max<time_ms>(0, state_.round_deadline - now);
    ends_at = state_.round_deadline;
  } else if (state_.current == phase::round_paused) {
    remaining_ms = state_.remaining_ms;
  }
  view["remainingMs"] = remaining_ms;
  view["remainingSeconds"] = remaining_ms.is_null()
                                 ? json::value(nullptr)
                                 : json::value((remaining_ms.as_int64() + 999) / 1000);
  view["roundEndsAt"] = ends_at;
  view["paused"] = state_.current == phase::round_paused
                       ? json::value(json::object{
                             {"reason", state_.paused_by_system ? "host_disconnected" : "host"}})
                       : json::value(nullptr);
  view["roundStartsAt"] = state_.current == phase::round_starting
                              ? json::value(state_.round_starts_at)
                              : json::value(nullptr);
  const std::string word_id = current_word_id();
  view["currentWordId"] = word_id.empty() ? json::value(nullptr) : json::value(word_id);
  if (viewer.is_host && state_.current_word) {
    // The word itself only ever goes to the host (seed 004, 2.3).
    const alias::word& w = alias::selected_pack(state_.config)->words.at(*state_.current_word);
    view["currentWord"] = json::object{{"wordId", word_id},
                                       {"wordText", w.text},
                                       {"difficulty", w.difficulty},
                                       {"remainingInPack", state_.order.size() - state_.cursor}};
  }
  view["lastRound"] = state_.history.empty() ? json::value(nullptr)
                                             : json::value(round_json(state_.history.back()));
  view["reviewEndsAt"] = state_.current == phase::score_review ? json::value(state_.review_ends_at)
                                                               : json::value(nullptr);
  view["leaderboard"] = leaderboard_json();
  view["final"] = state_.current == phase::game_ended || state_.current == phase::final_results
                      ? json::value(final_json(now))
                      : json::value(nullptr);
  return view;
}

// --- output ---

void alias_game::send(connection_id conn, out_type type, json::object payload, time_ms now,
                      effects& out, bool reliable) const {
  payload["currentState"] = alias::phase_name(state_.current);
  payload["stateVersion"] = state_.state_version;
  frame_ptr text =
      make_frame(alias::encode_frame(type, state_.code, now, "actor", json::serialize(payload)));
  if (reliable) {
    out.send_reliable(conn, alias::index_of(type), std::move(text));
  } else {
    out.send(conn, alias::index_of(type), std::move(text));
  }
}

void alias_game::broadcast(out_type type, json::object payload, time_ms now, effects& out,
                           bool reliable) const {
  payload["currentState"] = alias::phase_name(state_.current);
  payload["stateVersion"] = state_.state_version;
  frame_ptr text =
      make_frame(alias::encode_frame(type, state_.code, now, "all", json::serialize(payload)));
  if (reliable) {
    out.send_roles_reliable(everyone, alias::index_of(type), std::move(text));
  } else {
    out.send_roles(everyone, alias::index_of(type), std::move(text));
  }
}

void alias_game::reject(connection_id conn, std::string_view code, std::string_view message,
                        std::string_view request_type, time_ms now, effects& out) const {
  send_error(conn, code, message, request_type, now, out);
  out.unchanged();
}

void alias_game::send_error(connection_id conn, std::string_view code, std::string_view message,
                            std::string_view request_type, time_ms now, effects& out) const {
  out.send_error(
      conn, alias::index_of(out_type::error), std::string(code),
      make_frame(alias::encode_error(state_.code, now, code, message, request_type,
                                     alias::phase_name(state_.current), state_.state_version)));
}

}  // namespace partyd
