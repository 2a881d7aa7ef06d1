#include "games/mafia/game.hpp"

#include <algorithm>
#include <utility>

#include <boost/json/serialize.hpp>

#include "games/common/checksum.hpp"

namespace partyd {

namespace json = boost::json;
using mafia::death_cause;
using mafia::in_type;
using mafia::phase;
using mafia::role;

namespace {

constexpr role_mask players_mask = role_bit(mafia::player_role);
constexpr std::size_t departed_kept = 64;   // room_players rows kept for the history per room
constexpr std::size_t unwritten_kept = 16;  // finished games waiting for the history

std::string_view type_name(in_type t) { return mafia::in_type_names[mafia::index_of(t)]; }

// The seed's counts by number of players (docs/protocol/mafia.md, "Roles").
struct role_counts {
  std::size_t mafia = 1;
  std::size_t detective = 1;
  std::size_t doctor = 0;
};

role_counts counts_for(std::size_t players) {
  role_counts c;
  c.mafia = std::max<std::size_t>(1, players / 4);
  c.doctor = players >= 5 ? 1 : 0;
  return c;
}

}  // namespace

mafia_game::mafia_game(const mafia_config& config, mafia::room_state state)
    : config_(config), state_(std::move(state)) {}

// ---- helpers ----

mafia::player* mafia_game::player_by_conn(connection_id conn) {
  for (auto& p : state_.players) {
    if (p.conn == conn && conn != 0) return &p;
  }
  return nullptr;
}

const mafia::player* mafia_game::player_by_conn(connection_id conn) const {
  for (const auto& p : state_.players) {
    if (p.conn == conn && conn != 0) return &p;
  }
  return nullptr;
}

mafia::player* mafia_game::player_by_user(std::string_view user_id) {
  for (auto& p : state_.players) {
    if (p.user_id == user_id) return &p;
  }
  return nullptr;
}

bool mafia_game::in_game() const noexcept {
  return state_.current == phase::night || state_.current == phase::day ||
         state_.current == phase::voting;
}

std::size_t mafia_game::alive_count(bool mafia_side) const {
  std::size_t n = 0;
  for (const auto& p : state_.players) {
    if (p.in_game && p.alive && (p.assigned == role::mafia) == mafia_side) ++n;
  }
  return n;
}

void mafia_game::send(connection_id conn, out_type type, const json::object& payload,
                      effects& out) const {
  out.send(conn, mafia::index_of(type), make_frame(mafia::encode_frame(type, payload)));
}

void mafia_game::broadcast(out_type type, const json::object& payload, effects& out) const {
  out.send_roles(players_mask, mafia::index_of(type),
                 make_frame(mafia::encode_frame(type, payload)));
}

void mafia_game::refuse(connection_id conn, std::string_view reason, std::string_view message,
                        std::string_view request_type, effects& out) const {
  out.send_error(conn, mafia::index_of(out_type::room_error), std::string(reason),
                 make_frame(mafia::encode_error(reason, message, request_type)));
  out.unchanged();
}

void mafia_game::turn_away(connection_id conn, std::string_view reason, std::string_view message,
                           std::string_view request_type, effects& out) const {
  refuse(conn, reason, message, request_type, out);
  out.release(conn);
}

json::object mafia_game::room_payload() const {
  json::array players;
  for (const auto& p : state_.players) {
    json::object o{
        {"userId", p.user_id},
        {"username", p.username},
        {"isHost", p.user_id == state_.host_id},
        {"ready", p.ready},
        {"connected", p.connected && !p.gone},
        {"alive", in_game() || state_.current == phase::ended ? (p.in_game && p.alive) : true},
        {"inGame", p.in_game},
        {"muted", p.muted}};
    players.push_back(std::move(o));
  }
  json::object settings{{"discussionTime", state_.config.discussion_s},
                        {"voteTime", state_.config.vote_s},
                        {"nightTime", state_.config.night_s}};
  json::object payload{{"roomCode", state_.code},
                       {"status", mafia::status_name(state_.current)},
                       {"phase", mafia::phase_name(state_.current)},
                       {"hostId", state_.host_id},
                       {"isPublic", state_.is_public},
                       {"matched", state_.matched},
                       {"maxPlayers", state_.max_players},
                       {"minPlayers", config_.min_players},
                       {"settings", std::move(settings)},
                       {"players", std::move(players)}};
  if (state_.matched && state_.current == phase::lobby && state_.countdown_ends_at != 0) {
    payload["startsAt"] = state_.countdown_ends_at;
  }
  return payload;
}

void mafia_game::broadcast_room(effects& out) const {
  broadcast(out_type::room_update, room_payload(), out);
}

json::object mafia_game::vote_counts() const {
  json::object counts;
  std::size_t skip = 0;
  for (const auto& [voter, target] : state_.votes) {
    if (target.empty()) {
      ++skip;
      continue;
    }
    json::value& slot = counts[target];
    slot = slot.is_int64() ? slot.get_int64() + 1 : 1;
  }
  return json::object{{"counts", std::move(counts)},
                      {"skip", skip},
                      {"voted", state_.votes.size()},
                      {"alive", alive_count(true) + alive_count(false)}};
}

json::object mafia_game::mafia_votes() const {
  json::object votes;
  for (const auto& [voter, choice] : state_.night.mafia) votes[voter] = choice.target;
  return json::object{{"votes", std::move(votes)}};
}

// ---- step ----

void mafia_game::step(const input& in, time_ms now, room_rng& rng, effects& out) {
  switch (in.kind) {
    case input_kind::created:
      if (state_.room_id.empty()) {
        // A new room: its history id from the room's rng, and a matched room's countdown.
        state_.room_id = mafia::uuid_from(rng.next(), rng.next());
        state_.created_at = now;
        if (state_.matched) {
          state_.countdown_ends_at = now + config_.match_countdown_ms;
          out.set_timer(countdown_timer, state_.countdown_ends_at);
        }
      } else if (!state_.unwritten.empty()) {
        offer_records(out);  // a record the history may not have got before the restart
      } else {
        out.unchanged();  // restored: the engine re-armed the kept timers
      }
      return;
    case input_kind::command: {
      const auto* req = dynamic_cast<const request*>(in.cmd.get());
      if (!req) {
        out.unchanged();
        return;
      }
      on_command(in, *req, now, rng, out);
      return;
    }
    case input_kind::disconnect:
      on_gone(in.conn, now, rng, out);
      return;
    case input_kind::presence:
      on_presence(in.conn, in.stage, out);
      return;
    case input_kind::timer:
      if (in.timer_key == phase_timer) {
        on_phase_timer(now, rng, out);
      } else if (in.timer_key == countdown_timer) {
        on_countdown(now, rng, out);
      } else if (in.timer_key == history_timer) {
        offer_records(out);
      } else {
        out.unchanged();
      }
      return;
    case input_kind::inactive:
      close_all("inactive", out);
      return;
    case input_kind::admin_close:
      close_all("closed_by_admin", out);
      return;
    case input_kind::room_created:
      out.unchanged();
      return;
    case input_kind::record_written:
      on_record_written(in, now, out);
      return;
  }
}

void mafia_game::close_all(std::string_view reason, effects& out) {
  // Everyone keeps their socket: the room lets them go and they can join another.
  for (const auto& p : state_.players) {
    if (p.conn != 0 && !p.gone) {
      send(p.conn, out_type::room_left, json::object{{"reason", reason}}, out);
      out.release(p.conn);
    }
  }
  close_when_written(reason, out);
}

void mafia_game::close_when_written(std::string_view reason, effects& out) {
  if (state_.unwritten.empty()) {
    out.close_room(std::string(reason));
    return;
  }
  state_.closing = std::string(reason);  // closed by on_record_written
  out.persist();
}

void mafia_game::offer_records(effects& out) const {
  for (const auto& e : state_.unwritten) out.record(e.game_id, record_of(e));
}

void mafia_game::on_record_written(const input& in, time_ms now, effects& out) {
  const auto* reply = dynamic_cast<const record_written_reply*>(in.cmd.get());
  if (!reply) {
    out.unchanged();
    return;
  }
  if (!reply->written) {
    // The history's queue is full: offer everything again in a while.
    out.set_timer(history_timer, now + 5000);
    return;
  }
  const auto it = std::find_if(state_.unwritten.begin(), state_.unwritten.end(),
                               [&](const auto& e) { return e.game_id == reply->key; });
  if (it == state_.unwritten.end()) {
    out.unchanged();  // an answer to a second offer
    return;
  }
  state_.unwritten.erase(it);
  out.persist();
  if (state_.unwritten.empty() && !state_.closing.empty()) out.close_room(state_.closing);
}

json::object mafia_game::record_of(const mafia::history_entry& e) const {
  // The seed's tables (section 2); storage/history.cpp reads this into its rows.
  json::array users;
  json::array players;
  json::array roles;
  for (const auto& seat : e.seats) {
    users.push_back(json::object{{"id", seat.user_id},
                                 {"username", seat.username},
                                 {"isGuest", seat.guest},
                                 {"seenAt", seat.left_at != 0 ? seat.left_at : e.ended_at}});
    players.push_back(json::object{{"id", seat.row_id},
                                   {"userId", seat.user_id},
                                   {"joinedAt", seat.joined_at},
                                   {"leftAt", seat.left_at},
                                   {"wasKicked", seat.kicked}});
    if (!seat.role.empty()) {
      roles.push_back(
          json::object{{"id", seat.role_row_id}, {"userId", seat.user_id}, {"role", seat.role}});
    }
  }
  return json::object{{"gameId", e.game_id},
                      {"winner", e.winner},
                      {"totalRounds", e.rounds},
                      {"startedAt", e.started_at},
                      {"endedAt", e.ended_at},
                      {"room", json::object{{"id", state_.room_id},
                                            {"code", state_.code},
                                            {"isPublic", state_.is_public},
                                            {"status", "ended"},
                                            {"maxPlayers", state_.max_players},
                                            {"hostId", e.room_host_id},
                                            {"createdAt", state_.created_at},
                                            {"endedAt", 0}}},
                      {"users", std::move(users)},
                      {"players", std::move(players)},
                      {"roles", std::move(roles)}};
}

void mafia_game::on_command(const input& in, const request& req, time_ms now, room_rng& rng,
                            effects& out) {
  const in_type type = mafia::type_of(req);
  const connection_id conn = in.conn;
  if (type == in_type::room_create || type == in_type::room_join) {
    on_enter(in, req, now, out);
    return;
  }
  if (type == in_type::matchmaking_join || type == in_type::matchmaking_leave ||
      type == in_type::auth_identify) {
    refuse(conn, "not_in_queue", "this connection is in room " + state_.code + ", not the queue",
           type_name(type), out);
    return;
  }
  if (type == in_type::room_leave) {
    on_leave(conn, now, rng, out);
    return;
  }
  if (!player_by_conn(conn)) {
    refuse(conn, "not_in_room", "this connection has no seat in room " + state_.code,
           type_name(type), out);
    return;
  }
  switch (type) {
    case in_type::room_ready:
    case in_type::room_unready:
      on_ready(conn, type == in_type::room_ready, type_name(type), out);
      return;
    case in_type::room_kick:
      on_kick(conn, req, now, out);
      return;
    case in_type::room_start:
      on_start(conn, now, rng, out);
      return;
    case in_type::action_mafia_kill:
    case in_type::action_doctor_save:
    case in_type::action_detective_inspect:
      on_action(conn, req, out);
      return;
    case in_type::chat_send:
      on_chat(conn, req, now, out);
      return;
    case in_type::chat_mute:
    case in_type::chat_unmute:
      on_mute(conn, req, type == in_type::chat_mute, out);
      return;
    case in_type::vote_cast:
      on_vote(conn, req, now, rng, out);
      return;
    default:
      out.unchanged();
      return;
  }
}

// ---- lobby ----

void mafia_game::on_enter(const input& in, const request& req, time_ms now, effects& out) {
  const connection_id conn = in.conn;
  const std::string_view type = type_name(mafia::type_of(req));
  if (!in.identity) {
    turn_away(conn, "not_identified", "send auth:identify first", type, out);
    if (state_.players.empty()) out.close_room("no_host");
    return;
  }
  if (mafia::player* seat = player_by_user(in.identity->user_id)) {
    // The same user on a new connection (a new tab, a reconnect without its session): the seat
    // moves here with its role, and the older connection is let go.
    const connection_id old = seat->conn;
    if (old != 0 && old != conn) {
      send(old, out_type::room_left, json::object{{"reason", "replaced"}}, out);
      out.release(old);
    }
    seat->conn = conn;
    seat->connected = true;
    out.bind(conn, mafia::player_role, true);
    send(conn, out_type::auth_reconnect,
         json::object{{"roomId", state_.code}, {"gameState", view_object(conn, now)}}, out);
    broadcast_room(out);
    out.important();
    return;
  }
  if (in_game()) {
    turn_away(conn, "game_in_progress", "a game is running in this room; join when it is over",
              type, out);
    return;
  }
  const bool reserved = std::find(state_.reserved.begin(), state_.reserved.end(),
                                  in.identity->user_id) != state_.reserved.end();
  std::size_t seated = 0;
  for (const auto& p : state_.players) seated += p.gone ? 0 : 1;
  if (seated >= state_.max_players) {
    turn_away(conn, "room_full",
              "the room has " + std::to_string(state_.max_players) + " players already", type, out);
    return;
  }
  mafia::player joined;
  joined.user_id = in.identity->user_id;
  joined.username = in.identity->display_name;
  joined.guest = in.identity->guest;
  joined.conn = conn;
  joined.joined_at = now;
  joined.join_order = state_.next_join_order++;
  joined.ready = reserved;  // a matched room starts itself
  if (state_.host_id.empty()) state_.host_id = joined.user_id;
  state_.players.push_back(std::move(joined));
  state_.closing.clear();  // a room that waited for the history to close is in use again
  out.bind(conn, mafia::player_role, true);
  broadcast_room(out);
  out.important();
}

void mafia_game::on_leave(connection_id conn, time_ms now, room_rng& rng, effects& out) {
  // io has let go of the room already (decode_result::leaves_room): the answer is the last frame.
  send(conn, out_type::room_left, json::object{{"reason", "left"}}, out);
  mafia::player* p = player_by_conn(conn);
  if (!p) {
    out.unchanged();
    return;
  }
  p->conn = 0;
  vacate(*p, now, rng, out);
}

void mafia_game::on_gone(connection_id conn, time_ms now, room_rng& rng, effects& out) {
  mafia::player* p = player_by_conn(conn);
  if (!p) {
    out.unchanged();
    return;
  }
  p->conn = 0;
  vacate(*p, now, rng, out);
}

void mafia_game::vacate(mafia::player& p, time_ms now, room_rng& rng, effects& out) {
  p.connected = false;
  out.important();
  if (in_game() && p.in_game) {
    // Mid-game a seat stays in the roster (its role is revealed at the end): a living player is
    // eliminated (abandoned), a dead one is only marked gone.
    p.gone = true;
    if (p.alive) {
      kill(p, death_cause::abandoned);
      if (check_winner(now, rng, out)) return;
    }
    if (p.user_id == state_.host_id) pass_host();
    bool anyone = false;
    for (const auto& other : state_.players) anyone = anyone || !other.gone;
    if (!anyone) {
      close_when_written("empty", out);
      return;
    }
    broadcast_room(out);
    return;
  }
  const auto it = std::find_if(state_.players.begin(), state_.players.end(),
                               [&](const mafia::player& q) { return &q == &p; });
  remove_player(static_cast<std::size_t>(it - state_.players.begin()), now, false);
  // A matched room waits for its players until its countdown ends; any other empty room closes.
  const bool awaiting_match =
      state_.matched && state_.current == phase::lobby && state_.countdown_ends_at != 0;
  if (state_.players.empty() && !awaiting_match) {
    close_when_written("empty", out);
    return;
  }
  broadcast_room(out);
}

void mafia_game::remove_player(std::size_t index, time_ms now, bool kicked) {
  mafia::history_entry::seat left;
  left.user_id = state_.players[index].user_id;
  left.username = state_.players[index].username;
  left.joined_at = state_.players[index].joined_at;
  left.left_at = now;
  left.kicked = kicked;
  state_.departed.push_back(std::move(left));
  if (state_.departed.size() > departed_kept) state_.departed.erase(state_.departed.begin());
  const bool was_host = state_.players[index].user_id == state_.host_id;
  state_.players.erase(state_.players.begin() + static_cast<std::ptrdiff_t>(index));
  if (was_host) pass_host();
}

void mafia_game::pass_host() {
  // The host role passes to the earliest-joined seat still connected, else the earliest one.
  const mafia::player* next = nullptr;
  for (const auto& p : state_.players) {
    if (p.gone || p.user_id == state_.host_id) continue;
    if (!next || (p.connected && !next->connected)) next = &p;
  }
  state_.host_id = next ? next->user_id : std::string();
}

void mafia_game::on_presence(connection_id conn, presence_stage stage, effects& out) {
  mafia::player* p = player_by_conn(conn);
  if (!p || (stage != presence_stage::away && stage != presence_stage::back)) {
    out.unchanged();
    return;
  }
  const bool connected = stage == presence_stage::back;
  if (p->connected == connected) {
    out.unchanged();
    return;
  }
  p->connected = connected;
  broadcast_room(out);
  out.persist();
}

void mafia_game::on_ready(connection_id conn, bool ready, std::string_view type, effects& out) {
  mafia::player* p = player_by_conn(conn);
  if (in_game()) {
    refuse(conn, "game_in_progress", "ready flags are for the lobby", type, out);
    return;
  }
  if (p->ready == ready) {
    out.unchanged();  // already so: nothing changes, nobody is told again
    return;
  }
  p->ready = ready;
  broadcast_room(out);
  out.persist();
}

bool mafia_game::host_in_lobby(const mafia::player& actor, std::string_view what,
                               std::string_view type, effects& out) const {
  if (actor.user_id != state_.host_id) {
    refuse(actor.conn, "not_host", "only the host may " + std::string(what), type, out);
    return false;
  }
  if (in_game()) {
    refuse(actor.conn, "game_in_progress",
           "a game is running: " + std::string(what) + " in the lobby or after the game", type,
           out);
    return false;
  }
  return true;
}

void mafia_game::on_kick(connection_id conn, const request& req, time_ms now, effects& out) {
  const std::string_view type = type_name(in_type::room_kick);
  const mafia::player* actor = player_by_conn(conn);
  if (!host_in_lobby(*actor, "kick", type, out)) return;
  if (req.user_id == actor->user_id) {
    refuse(conn, "invalid_target", "the host cannot kick itself; room:leave instead", type, out);
    return;
  }
  const auto it = std::find_if(state_.players.begin(), state_.players.end(),
                               [&](const mafia::player& p) { return p.user_id == req.user_id; });
  if (it == state_.players.end()) {
    refuse(conn, "unknown_player", "no player with this userId in the room", type, out);
    return;
  }
  if (it->conn != 0) {
    send(it->conn, out_type::room_left, json::object{{"reason", "kicked"}}, out);
    out.release(it->conn);
  }
  remove_player(static_cast<std::size_t>(it - state_.players.begin()), now, true);
  broadcast_room(out);
  out.important();
}

void mafia_game::on_start(connection_id conn, time_ms now, room_rng& rng, effects& out) {
  const std::string_view type = type_name(in_type::room_start);
  if (!host_in_lobby(*player_by_conn(conn), "start a game", type, out)) return;
  if (state_.players.size() < config_.min_players) {
    refuse(conn, "not_enough_players",
           "a game needs at least " + std::to_string(config_.min_players) + " players", type, out);
    return;
  }
  for (const auto& p : state_.players) {
    if (!p.ready && p.user_id != state_.host_id) {
      refuse(conn, "not_ready", p.username + " is not ready", type, out);
      return;
    }
  }
  start_game(now, rng, out);
}

// ---- the game ----

void mafia_game::start_game(time_ms now, room_rng& rng, effects& out) {
  // Roles dealt by a shuffle of the seats with the room's rng: replay gives the same deal.
  std::vector<std::size_t> order(state_.players.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  for (std::size_t i = order.size(); i > 1; --i) {
    std::swap(order[i - 1], order[rng.below(i)]);
  }
  const role_counts counts = counts_for(order.size());
  for (std::size_t k = 0; k < order.size(); ++k) {
    mafia::player& p = state_.players[order[k]];
    p.assigned = k < counts.mafia                                      ? role::mafia
                 : k < counts.mafia + counts.detective                 ? role::detective
                 : k < counts.mafia + counts.detective + counts.doctor ? role::doctor
                                                                       : role::villager;
    p.in_game = true;
    p.alive = true;
    p.gone = false;
    p.died_round = 0;
  }
  state_.game_id = mafia::uuid_from(rng.next(), rng.next());
  state_.round = 1;
  state_.started_at = now;
  state_.deaths.clear();
  state_.votes.clear();
  state_.night = {};
  state_.winner.clear();
  state_.reserved.clear();
  out.cancel_timer(countdown_timer);
  json::array mafia_ids;
  for (const auto& p : state_.players) {
    if (p.assigned == role::mafia) mafia_ids.push_back(json::string(p.user_id));
  }
  for (const auto& p : state_.players) {
    if (p.conn == 0) continue;
    json::object payload{{"role", mafia::role_name(p.assigned)}};
    if (p.assigned == role::mafia) payload["mafia"] = mafia_ids;  // the mafia know each other
    send(p.conn, out_type::game_role, payload, out);
  }
  begin_phase(phase::night, now, out);
  broadcast_room(out);
  out.important();
}

void mafia_game::begin_phase(phase next, time_ms now, effects& out, json::object extra) {
  state_.current = next;
  const std::uint32_t seconds = next == phase::night ? state_.config.night_s
                                : next == phase::day ? state_.config.discussion_s
                                                     : state_.config.vote_s;
  state_.phase_ends_at = now + time_ms{seconds} * 1000;
  out.set_timer(phase_timer, state_.phase_ends_at);
  json::object payload{{"phase", mafia::phase_name(next)},
                       {"duration", seconds},
                       {"endsAt", state_.phase_ends_at},
                       {"round", state_.round}};
  for (auto& member : extra) payload[member.key()] = std::move(member.value());
  broadcast(out_type::game_phase, payload, out);
}

void mafia_game::on_phase_timer(time_ms now, room_rng& rng, effects& out) {
  if (!in_game() || now < state_.phase_ends_at) {
    out.unchanged();  // a timer of a phase that already ended
    return;
  }
  switch (state_.current) {
    case phase::night:
      end_night(now, rng, out);
      break;
    case phase::day:
      state_.votes.clear();
      begin_phase(phase::voting, now, out);
      out.persist();
      break;
    case phase::voting:
      end_voting(now, rng, out);
      break;
    default:
      out.unchanged();
      break;
  }
}

void mafia_game::kill(mafia::player& p, death_cause cause) {
  p.alive = false;
  p.died_round = state_.round;
  p.cause = cause;
  state_.deaths.push_back({p.user_id, state_.round, cause});
  state_.votes.erase(p.user_id);
  state_.night.mafia.erase(p.user_id);
}

void mafia_game::end_night(time_ms now, room_rng& rng, effects& out) {
  // The mafia's choice: the target most of them chose; a tie goes to the target chosen first.
  std::map<std::string, std::pair<std::size_t, std::uint64_t>> tally;
  for (const auto& [voter, choice] : state_.night.mafia) {
    auto& [count, first] = tally[choice.target];
    ++count;
    first = first == 0 ? choice.order : std::min(first, choice.order);
  }
  std::string victim;
  std::size_t best = 0;
  std::uint64_t best_order = 0;
  for (const auto& [target, counted] : tally) {
    if (counted.first > best || (counted.first == best && counted.second < best_order)) {
      victim = target;
      best = counted.first;
      best_order = counted.second;
    }
  }
  // The detective learns the truth about their choice whether or not they survive the night.
  if (!state_.night.detective_inspect.empty()) {
    for (const auto& p : state_.players) {
      if (p.in_game && p.assigned == role::detective && p.conn != 0) {
        const mafia::player* target = nullptr;
        for (const auto& q : state_.players) {
          if (q.user_id == state_.night.detective_inspect) target = &q;
        }
        if (target) {
          send(p.conn, out_type::action_result,
               json::object{
                   {"inspectResult", json::object{{"targetId", target->user_id},
                                                  {"isMafia", target->assigned == role::mafia}}}},
               out);
        }
      }
    }
  }
  const bool saved = !victim.empty() && victim == state_.night.doctor_save;
  json::value killed = nullptr;
  if (!victim.empty() && !saved) {
    if (mafia::player* p = player_by_user(victim); p && p->alive) {
      kill(*p, death_cause::night_kill);
      killed = json::string(victim);
    }
  }
  state_.night = {};
  out.persist();
  if (!killed.is_null() && check_winner(now, rng, out)) return;
  begin_phase(phase::day, now, out, json::object{{"killedUserId", killed}, {"saved", saved}});
  broadcast_room(out);
}

void mafia_game::end_voting(time_ms now, room_rng& rng, effects& out) {
  // The player with strictly the most votes goes, if they also have more than "skip"; a tie or
  // a skip majority eliminates no one. Players who did not vote abstain.
  std::map<std::string, std::size_t> counts;
  std::size_t skip = 0;
  for (const auto& [voter, target] : state_.votes) {
    if (target.empty()) {
      ++skip;
    } else {
      ++counts[target];
    }
  }
  std::string top;
  std::size_t best = 0;
  bool tie = false;
  for (const auto& [target, n] : counts) {
    if (n > best) {
      top = target;
      best = n;
      tie = false;
    } else if (n == best) {
      tie = true;
    }
  }
  json::value eliminated = nullptr;
  if (!top.empty() && !tie && best > skip) {
    if (mafia::player* p = player_by_user(top); p && p->alive) {
      kill(*p, death_cause::vote);
      eliminated = json::string(top);
    }
  }
  json::object result = vote_counts();
  result["eliminatedUserId"] = eliminated;
  broadcast(out_type::vote_result, result, out);
  state_.votes.clear();
  out.persist();
  if (!eliminated.is_null() && check_winner(now, rng, out)) return;
  ++state_.round;
  begin_phase(phase::night, now, out);
  broadcast_room(out);
}

bool mafia_game::check_winner(time_ms now, room_rng& rng, effects& out) {
  const std::size_t mafia_alive = alive_count(true);
  const std::size_t others_alive = alive_count(false);
  if (mafia_alive == 0) {
    end_game("villagers", now, rng, out);
    return true;
  }
  if (mafia_alive >= others_alive) {
    end_game("mafia", now, rng, out);
    return true;
  }
  return false;
}

void mafia_game::end_game(std::string winner, time_ms now, room_rng& rng, effects& out) {
  state_.current = phase::ended;
  state_.winner = std::move(winner);
  state_.phase_ends_at = 0;
  state_.votes.clear();
  state_.night = {};
  out.cancel_timer(phase_timer);
  json::object roles;
  mafia::history_entry record;
  record.game_id = state_.game_id;
  record.room_host_id = state_.host_id;
  record.winner = state_.winner;
  record.rounds = state_.round;
  record.started_at = state_.started_at;
  record.ended_at = now;
  for (const auto& p : state_.players) {
    if (!p.in_game) continue;
    roles[p.user_id] = mafia::role_name(p.assigned);
    mafia::history_entry::seat seat;
    seat.user_id = p.user_id;
    seat.username = p.username;
    seat.guest = p.guest;
    seat.role = std::string(mafia::role_name(p.assigned));
    seat.joined_at = p.joined_at;
    seat.left_at = p.gone ? now : 0;
    record.seats.push_back(std::move(seat));
  }
  for (const auto& left : state_.departed) {
    record.seats.push_back(left);  // no role: they left before the game ended
  }
  // Row ids from the room's rng: offering the record again writes the same rows.
  for (auto& seat : record.seats) {
    seat.row_id = mafia::uuid_from(rng.next(), rng.next());
    if (!seat.role.empty()) seat.role_row_id = mafia::uuid_from(rng.next(), rng.next());
  }
  state_.departed.clear();
  json::array deaths;
  for (const auto& d : state_.deaths) {
    deaths.push_back(json::object{
        {"userId", d.user_id}, {"round", d.round}, {"cause", mafia::cause_name(d.cause)}});
  }
  json::object stats{{"rounds", state_.round},
                     {"durationMs", now - state_.started_at},
                     {"deaths", std::move(deaths)},
                     {"mafiaAlive", alive_count(true)},
                     {"villagersAlive", alive_count(false)}};
  broadcast(out_type::game_end,
            json::object{{"winner", state_.winner},
                         {"gameId", state_.game_id},
                         {"roles", std::move(roles)},
                         {"stats", std::move(stats)}},
            out);
  out.record(record.game_id, record_of(record));
  state_.unwritten.push_back(std::move(record));
  if (state_.unwritten.size() > unwritten_kept) {
    state_.unwritten.erase(state_.unwritten.begin());
    out.count("history_dropped");
  }
  // The seats of players who left during the game go now; the others stay for another game.
  std::vector<mafia::player> kept;
  for (auto& p : state_.players) {
    p.ready = false;
    if (!p.gone) kept.push_back(std::move(p));
  }
  state_.players = std::move(kept);
  if (state_.host_id.empty() || !player_by_user(state_.host_id)) pass_host();
  out.count("games_finished");
  out.important();
  if (state_.players.empty()) {
    close_when_written("empty", out);
    return;
  }
  broadcast_room(out);
}

// ---- night, chat, votes ----

void mafia_game::on_action(connection_id conn, const request& req, effects& out) {
  const in_type type = mafia::type_of(req);
  const std::string_view name = type_name(type);
  mafia::player* actor = player_by_conn(conn);
  if (state_.current != phase::night) {
    refuse(conn, "wrong_phase", "night actions are taken at night", name, out);
    return;
  }
  if (!actor->in_game || !actor->alive) {
    refuse(conn, "not_alive", "only living players act at night", name, out);
    return;
  }
  const role needed = type == in_type::action_mafia_kill    ? role::mafia
                      : type == in_type::action_doctor_save ? role::doctor
                                                            : role::detective;
  if (actor->assigned != needed) {
    // The same answer whatever the actor's real role: it tells nobody anything.
    refuse(conn, "wrong_role", "your role does not take this action", name, out);
    return;
  }
  const mafia::player* target = player_by_user(*req.target_id);
  if (!target || !target->in_game || !target->alive ||
      (needed == role::mafia && target->assigned == role::mafia) ||
      (needed == role::detective && target == actor)) {
    refuse(conn, "invalid_target",
           needed == role::mafia       ? "the target must be a living player outside the mafia"
           : needed == role::detective ? "the target must be another living player"
                                       : "the target must be a living player",
           name, out);
    return;
  }
  if (needed == role::mafia) {
    auto& vote = state_.night.mafia[actor->user_id];
    if (vote.target == target->user_id) {
      out.unchanged();
      return;
    }
    vote.target = target->user_id;
    vote.order = state_.night.next_order++;
    const frame_ptr frame =
        make_frame(mafia::encode_frame(out_type::action_mafia_votes, mafia_votes()));
    for (const auto& p : state_.players) {
      if (p.in_game && p.alive && p.assigned == role::mafia && p.conn != 0) {
        out.send(p.conn, mafia::index_of(out_type::action_mafia_votes), frame);
      }
    }
  } else if (needed == role::doctor) {
    state_.night.doctor_save = target->user_id;
  } else {
    state_.night.detective_inspect = target->user_id;
  }
  send(conn, out_type::action_accepted,
       json::object{{"action", name}, {"targetId", target->user_id}}, out);
  out.persist();
}

void mafia_game::on_chat(connection_id conn, const request& req, time_ms now, effects& out) {
  const std::string_view name = type_name(in_type::chat_send);
  mafia::player* actor = player_by_conn(conn);
  if (actor->muted) {
    refuse(conn, "muted", "the host muted you", name, out);
    return;
  }
  // Channels: everyone in the lobby and after the game; the living by day (the dead listen);
  // the dead among themselves; the living mafia among themselves at night.
  std::string_view channel;
  const bool dead = in_game() && actor->in_game && !actor->alive;
  if (!in_game()) {
    channel = "all";
  } else if (dead || !actor->in_game) {
    channel = "dead";
  } else if (state_.current == phase::night) {
    if (actor->assigned != role::mafia) {
      refuse(conn, "chat_closed", "the town sleeps: no chat at night", name, out);
      return;
    }
    channel = "mafia";
  } else {
    channel = "all";
  }
  if (now - actor->chat_window_start >= config_.chat_window_ms) {
    actor->chat_window_start = now;
    actor->chat_in_window = 0;
  }
  if (actor->chat_in_window >= config_.chat_burst) {
    refuse(conn, "chat_rate_limited",
           "at most " + std::to_string(config_.chat_burst) + " messages per " +
               std::to_string(config_.chat_window_ms / 1000) + " s",
           name, out);
    return;
  }
  ++actor->chat_in_window;
  const frame_ptr frame = make_frame(mafia::encode_frame(
      out_type::chat_message,
      json::object{{"userId", actor->user_id}, {"message", req.message}, {"channel", channel}}));
  const std::uint16_t type = mafia::index_of(out_type::chat_message);
  if (channel == "all") {
    out.send_roles(players_mask, type, frame);
  } else {
    for (const auto& p : state_.players) {
      if (p.conn == 0) continue;
      const bool listens = channel == "mafia" ? (p.in_game && p.alive && p.assigned == role::mafia)
                                              : !(p.in_game && p.alive);
      if (listens) out.send(p.conn, type, frame);
    }
  }
  out.unchanged();  // chat is not state: a restart does not replay it (the window is forgotten)
}

void mafia_game::on_mute(connection_id conn, const request& req, bool mute, effects& out) {
  const std::string_view name = type_name(mute ? in_type::chat_mute : in_type::chat_unmute);
  const mafia::player* actor = player_by_conn(conn);
  if (actor->user_id != state_.host_id) {
    refuse(conn, "not_host", "only the host may mute", name, out);
    return;
  }
  mafia::player* target = player_by_user(req.user_id);
  if (!target) {
    refuse(conn, "unknown_player", "no player with this userId in the room", name, out);
    return;
  }
  if (target == actor) {
    refuse(conn, "invalid_target", "the host cannot mute itself", name, out);
    return;
  }
  if (target->muted == mute) {
    out.unchanged();
    return;
  }
  target->muted = mute;
  broadcast(out_type::chat_mute, json::object{{"userId", target->user_id}, {"muted", mute}}, out);
  out.persist();
}

void mafia_game::on_vote(connection_id conn, const request& req, time_ms now, room_rng& rng,
                         effects& out) {
  const std::string_view name = type_name(in_type::vote_cast);
  mafia::player* actor = player_by_conn(conn);
  if (state_.current != phase::voting) {
    refuse(conn, "wrong_phase", "votes are cast in the voting phase", name, out);
    return;
  }
  if (!actor->in_game || !actor->alive) {
    refuse(conn, "not_alive", "only living players vote", name, out);
    return;
  }
  std::string target;
  if (req.target_id) {
    const mafia::player* t = player_by_user(*req.target_id);
    if (!t || !t->in_game || !t->alive || t == actor) {
      refuse(conn, "invalid_target", "vote for another living player, or null to skip", name, out);
      return;
    }
    target = t->user_id;
  }
  auto [it, fresh] = state_.votes.try_emplace(actor->user_id, target);
  if (!fresh && it->second == target) {
    out.unchanged();
    return;
  }
  it->second = target;
  broadcast(out_type::vote_update, vote_counts(), out);
  out.persist();
  if (state_.votes.size() >= alive_count(true) + alive_count(false)) {
    end_voting(now, rng, out);  // everyone voted: no need to wait for the clock
  }
}

void mafia_game::on_countdown(time_ms now, room_rng& rng, effects& out) {
  if (!state_.matched || state_.current != phase::lobby) {
    out.unchanged();
    return;
  }
  state_.countdown_ends_at = 0;
  if (state_.players.size() >= config_.min_players) {
    start_game(now, rng, out);
    return;
  }
  // Too few came: everyone goes back to the queue, keeping their socket.
  for (const auto& p : state_.players) {
    if (p.conn == 0) continue;
    send(p.conn, out_type::room_left, json::object{{"reason", "match_failed"}}, out);
    out.release(p.conn, R"({"type":"matchmaking:join"})");
  }
  out.close_room("match_failed");
}

// ---- views ----

json::object mafia_game::view_object(connection_id conn, time_ms now) const {
  json::object view = room_payload();
  view["round"] = state_.round;
  view["serverTime"] = now;
  if (in_game()) view["endsAt"] = state_.phase_ends_at;
  const mafia::player* me = player_by_conn(conn);
  if (me) {
    json::object you{{"userId", me->user_id}, {"alive", me->in_game && me->alive}};
    if (me->in_game && state_.current != phase::lobby) {
      you["role"] = mafia::role_name(me->assigned);
      if (me->assigned == role::mafia) {
        json::array mafia_ids;
        for (const auto& p : state_.players) {
          if (p.assigned == role::mafia && p.in_game) mafia_ids.push_back(json::string(p.user_id));
        }
        you["mafia"] = std::move(mafia_ids);
        if (state_.current == phase::night) you["mafiaVotes"] = mafia_votes()["votes"];
      }
      if (state_.current == phase::night) {
        if (me->assigned == role::doctor && !state_.night.doctor_save.empty()) {
          you["action"] = state_.night.doctor_save;
        } else if (me->assigned == role::detective && !state_.night.detective_inspect.empty()) {
          you["action"] = state_.night.detective_inspect;
        }
      }
      if (state_.current == phase::voting) {
        auto vote = state_.votes.find(me->user_id);
        if (vote != state_.votes.end()) {
          you["vote"] = vote->second.empty() ? json::value(nullptr) : json::value(vote->second);
        }
      }
    }
    view["you"] = std::move(you);
  }
  if (state_.current == phase::voting) view["votes"] = vote_counts();
  if (state_.current == phase::ended && !state_.unwritten.empty()) {
    // The last game's roles are public once it ended.
    json::object roles;
    for (const auto& seat : state_.unwritten.back().seats) {
      if (!seat.role.empty()) roles[seat.user_id] = seat.role;
    }
    view["winner"] = state_.winner;
    view["roles"] = std::move(roles);
  }
  return view;
}

session_view mafia_game::view_of(connection_id conn, time_ms now) const {
  session_view view;
  view.phase = std::string(mafia::phase_name(state_.current));
  view.state_json = json::serialize(view_object(conn, now));
  view.checksum = checksum_of(conn);
  return view;
}

std::string mafia_game::checksum_of(connection_id conn) const {
  // phase|round|host|id:alive:connected;...|me:role (docs/protocol/mafia.md)
  fnv1a hash;
  hash.add(mafia::phase_name(state_.current));
  hash.add("|");
  hash.add(static_cast<std::int64_t>(state_.round));
  hash.add("|");
  hash.add(state_.host_id);
  hash.add("|");
  for (const auto& p : state_.players) {
    hash.add(p.user_id);
    hash.add(p.in_game && p.alive ? ":1" : ":0");
    hash.add(p.connected && !p.gone ? ":1;" : ":0;");
  }
  hash.add("|");
  if (const mafia::player* me = player_by_conn(conn)) {
    hash.add(me->user_id);
    hash.add(":");
    hash.add(me->in_game && state_.current != phase::lobby ? mafia::role_name(me->assigned)
                                                           : "none");
  }
  return hash.hex();
}

bool mafia_game::holds_session(connection_id conn) const {
  const mafia::player* p = player_by_conn(conn);
  return p && !p->gone;
}

room_summary mafia_game::summary() const noexcept {
  room_summary s;
  for (const auto& p : state_.players) {
    if (p.gone) continue;
    ++s.seats;
    if (p.connected && p.conn != 0) ++s.connected_by_role[mafia::player_role];
  }
  return s;
}

}  // namespace partyd
