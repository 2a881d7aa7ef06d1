#include "games/brainrot/game.hpp"

#include <algorithm>
#include <array>
#include <set>
#include <utility>
#include <vector>

#include "engine/secrets.hpp"
#include "games/brainrot/reply_size.hpp"
#include "games/common/json_io.hpp"
#include "games/common/text.hpp"

namespace partyd {

namespace json = boost::json;
using brainrot::in_type;
using brainrot::master_role;
using brainrot::out_type;
using brainrot::phase;
using brainrot::play_role;
using brainrot::status;

namespace {

constexpr role_mask everyone = role_bit(master_role) | role_bit(play_role);
constexpr role_mask masters = role_bit(master_role);
constexpr role_mask plays = role_bit(play_role);

// The seed's RoomClosedBroadcastRes allows only this reason.
constexpr std::string_view closed_reason = "closed_by_master";

bool needs_master_key(in_type type) {
  switch (type) {
    case in_type::toggle_player:
    case in_type::start_game:
    case in_type::reel_opened:
    case in_type::end_item:
    case in_type::start_next_round:
    case in_type::room_closed:
      return true;
    default:
      return false;
  }
}

bool is_play_action(in_type type) {
  switch (type) {
    case in_type::take_player:
    case in_type::rename_player:
    case in_type::update_avatar:
    case in_type::submit_vote:
      return true;
    default:
      return false;
  }
}

bool contains(const std::vector<std::string>& list, std::string_view value) {
  return std::find(list.begin(), list.end(), value) != list.end();
}

}  // namespace

brainrot_game::brainrot_game(brainrot_config config, brainrot::room_state state)
    : config_(config), state_(std::move(state)) {}

room_summary brainrot_game::summary() const noexcept {
  room_summary result;
  for (const auto& [conn, info] : state_.connections) {
    if (info.role < max_roles) {
      ++result.connected_by_role[info.role];
    }
  }
  result.seats = static_cast<std::uint32_t>(state_.claims.size());
  return result;
}

void brainrot_game::step(const input& in, time_ms now, room_rng&, effects& out) {
  on_input(in, now, out);
}

void brainrot_game::on_input(const input& in, time_ms now, effects& out) {
  if (state_.closed) {
    return;
  }
  switch (in.kind) {
    case input_kind::created:
      start_clock(now, out);
      return;
    case input_kind::command:
      start_clock(now, out);
      on_command(in, now, out);
      return;
    case input_kind::disconnect:
      // Claims, votes and scores stay: the device comes back by its device_id.
      state_.connections.erase(in.conn);
      return;
    case input_kind::timer:
      if (in.timer_key == expiry_timer_key && now >= state_.expires_at) {
        state_.closed = true;
        out.close_room("expired");
      }
      return;
    case input_kind::inactive:
      return;                       // a room lives its 12 hours whether or not anyone talks
    case input_kind::room_created:  // asks the engine for no rooms and keeps no records
    case input_kind::record_written:
      out.unchanged();
      return;
    case input_kind::presence:
      return;  // brainrot has no sessions
    case input_kind::admin_close:
      close_all("closed_by_admin", out);
      return;
  }
}

// The room's clock starts on its first step (the engine's `created`, or the CREATE_ROOM input
// when driven without the engine): games never read a clock, and create() has no `now`.
void brainrot_game::start_clock(time_ms now, effects& out) {
  if (state_.created_at != 0) {
    return;
  }
  state_.created_at = now;
  state_.expires_at = now + config_.room_lifetime_ms;
  out.set_timer(expiry_timer_key, state_.expires_at + config_.expired_grace_ms);
  out.important();
}

void brainrot_game::close_all(std::string reason, effects& out) {
  json::object payload = base_payload();
  payload["reason"] = closed_reason;
  send_to(everyone, out_type::room_closed_broadcast, std::move(payload), out);
  out.important();
  out.close_room(std::move(reason));
  state_.closed = true;
}

void brainrot_game::on_command(const input& in, time_ms now, effects& out) {
  const auto* req = dynamic_cast<const brainrot::request*>(in.cmd.get());
  if (req == nullptr || req->type >= brainrot::in_type_names.size()) {
    return;
  }
  const connection_id conn = in.conn;
  const in_type type = brainrot::type_of(*req);
  if (type == in_type::create_room) {
    on_create_room(in, out);
    return;
  }
  // One socket serves one room: its first message chose it.
  if (req->code != state_.code) {
    send_error(conn, "bad_request", "code_mismatch",
               json::object{{"field", "code"}, {"reason", "other_room"}}, out);
    return;
  }
  if (now >= state_.expires_at) {
    send_error(conn, "room_expired", {}, json::object{{"expires_at", state_.expires_at}}, out);
    return;
  }
  if (needs_master_key(type)) {
    if (!master_key_valid(req->master_key)) {
      send_error(conn, "forbidden", "invalid_master_key", {}, out);
      return;
    }
    register_master(conn, out);
  } else if (is_play_action(type) && !state_.connections.contains(conn)) {
    register_play(conn, req->device_id, out);
  }

  switch (type) {
    case in_type::create_room:
      break;
    case in_type::join_room:
      on_join_room(conn, *req, out);
      break;
    case in_type::take_player:
      on_take_player(conn, *req, out);
      break;
    case in_type::rename_player:
      on_rename_player(conn, *req, out);
      break;
    case in_type::update_avatar:
      on_update_avatar(conn, *req, out);
      break;
    case in_type::toggle_player:
      on_toggle_player(conn, *req, out);
      break;
    case in_type::start_game:
      on_start_game(conn, out);
      break;
    case in_type::reel_opened:
      on_reel_opened(conn, *req, out);
      break;
    case in_type::submit_vote:
      on_submit_vote(conn, *req, out);
      break;
    case in_type::end_item:
      on_end_item(conn, *req, out);
      break;
    case in_type::start_next_round:
      on_start_next_round(conn, out);
      break;
    case in_type::state_sync:
      on_state_sync(conn, *req, out);
      break;
    case in_type::room_closed:
      close_all(std::string(closed_reason), out);
      break;
  }
}

// --- connections ---

bool brainrot_game::master_key_valid(const std::optional<std::string>& key) const {
  return key && !state_.master_key_hash.empty() &&
         secrets_equal(sha256_tagged(*key), state_.master_key_hash);
}

void brainrot_game::register_play(connection_id conn, const std::string& device_id, effects& out) {
  auto [it, fresh] = state_.connections.try_emplace(conn);
  if (fresh) {
    it->second.role = play_role;
    out.bind(conn, play_role, true);
  }
  // A master socket stays master; it may still name the device it runs on.
  it->second.device_id = device_id;
}

void brainrot_game::register_master(connection_id conn, effects& out) {
  auto [it, fresh] = state_.connections.try_emplace(conn);
  if (fresh || it->second.role != master_role) {
    it->second.role = master_role;
    out.bind(conn, master_role, false);
  }
}

// --- lobby ---

void brainrot_game::on_create_room(const input& in, effects& out) {
  if (in.secret.empty() || state_.master_claimed) {
    // Only a connection's first message creates a room; this socket already serves one.
    send_error(in.conn, "bad_request", "already_in_room", {}, out);
    return;
  }
  state_.master_key_hash = sha256_tagged(in.secret);
  if (state_.master_key_hash.empty()) {
    close_all("internal_error", out);
    return;
  }
  state_.master_claimed = true;
  register_master(in.conn, out);
  json::object payload = base_payload();
  payload["master_key"] = in.secret;
  payload["phase"] = brainrot::phase_name(state_.phase);
  payload["players_visible"] = players_visible();
  payload["senders_visible"] = senders_visible();
  payload["expires_at"] = state_.expires_at;
  send(in.conn, out_type::room_created, std::move(payload), out);
  out.important();
}

void brainrot_game::on_join_room(connection_id conn, const brainrot::request& req, effects& out) {
  register_play(conn, req.device_id, out);
  json::object payload = base_payload();
  payload["phase"] = brainrot::phase_name(state_.phase);
  payload["players_visible"] = players_visible();
  send(conn, out_type::join_ok, std::move(payload), out);
}

bool brainrot_game::check_phase(connection_id conn, phase expected, effects& out) const {
  if (state_.phase == expected) {
    return true;
  }
  send_error(conn, "not_in_phase", {},
             json::object{{"phase", brainrot::phase_name(state_.phase)},
                          {"expected", brainrot::phase_name(expected)}},
             out);
  return false;
}

void brainrot_game::on_take_player(connection_id conn, const brainrot::request& req, effects& out) {
  if (!check_phase(conn, phase::lobby, out)) {
    return;
  }
  brainrot::player* p = find_player(req.player_id);
  if (p == nullptr) {
    send_error(conn, "bad_request", "unknown_player", json::object{{"field", "player_id"}}, out);
    return;
  }
  auto fail = [&](std::string_view reason) {
    json::object payload = base_payload();
    payload["player_id"] = req.player_id;
    payload["reason"] = reason;
    send(conn, out_type::take_player_fail, std::move(payload), out);
  };
  auto ok = [&] {
    json::object payload = base_payload();
    payload["player_id"] = req.player_id;
    send(conn, out_type::take_player_ok, std::move(payload), out);
  };
  if (!p->active) {
    fail("inactive");
    return;
  }
  // The worker runs one input at a time, so the check and the claim below are atomic.
  if (auto held = state_.claims.find(p->player_id); held != state_.claims.end()) {
    if (held->second == req.device_id) {
      ok();  // idempotent: this device already holds it
    } else {
      fail("taken_now");
    }
    return;
  }
  if (!claimed_by(req.device_id).empty()) {
    fail("device_already_has_player");
    return;
  }
  state_.claims[p->player_id] = req.device_id;
  ok();
  json::object update = base_payload();
  update["player"] = player_visible(*p);
  send_to(everyone, out_type::player_update, std::move(update), out);
  out.important();
}

void brainrot_game::on_rename_player(connection_id conn, const brainrot::request& req,
                                     effects& out) {
  if (!check_phase(conn, phase::lobby, out)) {
    return;
  }
  brainrot::player* p = find_player(req.player_id);
  if (p == nullptr) {
    send_error(conn, "bad_request", "unknown_player", json::object{{"field", "player_id"}}, out);
    return;
  }
  auto held = state_.claims.find(p->player_id);
  if (held == state_.claims.end() || held->second != req.device_id) {
    send_error(conn, "not_claimed", {}, json::object{{"player_id", p->player_id}}, out);
    return;
  }
  std::string name = brainrot::normalize_name(req.new_name);
  const std::size_t length = utf8_length(name);
  if (length == 0 || length > config_.name_max_chars) {
    send_error(conn, "bad_request", "invalid_name",
               json::object{{"field", "new_name"},
                            {"reason", length == 0 ? "empty" : "too_long"},
                            {"max_chars", static_cast<std::uint64_t>(config_.name_max_chars)}},
               out);
    return;
  }
  p->name = name;
  json::object update = base_payload();
  update["player"] = player_visible(*p);
  if (p->is_sender_bound) {
    if (brainrot::sender* s = find_sender(p->sender_id)) {
      s->name = std::move(name);
      update["sender_updated"] = sender_json(*s, true);
    }
  }
  send_to(everyone, out_type::player_update, std::move(update), out);
}

void brainrot_game::on_update_avatar(connection_id conn, const brainrot::request& req,
                                     effects& out) {
  if (!check_phase(conn, phase::lobby, out)) {
    return;
  }
  brainrot::player* p = find_player(req.player_id);
  if (p == nullptr) {
    send_error(conn, "bad_request", "unknown_player", json::object{{"field", "player_id"}}, out);
    return;
  }
  auto held = state_.claims.find(p->player_id);
  if (held == state_.claims.end() || held->second != req.device_id) {
    send_error(conn, "not_claimed", {}, json::object{{"player_id", p->player_id}}, out);
    return;
  }
  std::string_view reason;
  if (!req.image) {
    reason = "not_string";
  } else if (!req.image->starts_with("data:image/")) {
    reason = "bad_prefix";
  } else if (utf16_length(*req.image) > config_.avatar_max_chars) {
    reason = "too_large";
  }
  if (!reason.empty()) {
    send_error(conn, "bad_request", "invalid_avatar", json::object{{"reason", reason}}, out);
    return;
  }
  // The room's avatars share one budget: its largest frame (a master's STATE_SYNC_RESPONSE, which
  // lists each avatar twice) must stay within reply_max_bytes.
  const std::size_t others =
      brainrot::largest_reply_bound(config_, state_) - 2 * brainrot::avatar_bytes(p->avatar_url);
  if (others + 2 * json_string_bytes(*req.image) > config_.reply_max_bytes) {
    // What this player could still send: the budget left, halved, without the quotes.
    const std::size_t spare =
        others < config_.reply_max_bytes ? (config_.reply_max_bytes - others) / 2 : 0;
    send_error(conn, "bad_request", "invalid_avatar",
               json::object{{"reason", "too_large"},
                            {"max_chars", static_cast<std::uint64_t>(spare > 2 ? spare - 2 : 0)}},
               out);
    return;
  }
  p->avatar_url = *req.image;
  json::object update = base_payload();
  update["player"] = player_visible(*p);
  send_to(everyone, out_type::player_update, std::move(update), out);
}

void brainrot_game::on_toggle_player(connection_id conn, const brainrot::request& req,
                                     effects& out) {
  if (!check_phase(conn, phase::lobby, out)) {
    return;
  }
  brainrot::player* p = find_player(req.player_id);
  if (p == nullptr) {
    send_error(conn, "bad_request", "unknown_player", json::object{{"field", "player_id"}}, out);
    return;
  }
  if (req.active) {
    p->active = true;
    json::object update = base_payload();
    update["player"] = player_visible(*p);
    send_to(everyone, out_type::player_update, std::move(update), out);
    out.important();
    return;
  }
  if (!p->active) {
    return;  // already inactive: nothing changes, nobody hears
  }
  p->active = false;
  if (auto held = state_.claims.find(p->player_id); held != state_.claims.end()) {
    const std::string device = held->second;
    state_.claims.erase(held);
    json::object payload = base_payload();
    payload["player_id"] = p->player_id;
    payload["reason"] = "disabled_or_deleted";
    const frame_ptr frame =
        make_frame(brainrot::encode(out_type::slot_invalidated, std::move(payload)));
    for (const auto& [id, info] : state_.connections) {
      if (info.device_id == device) {
        out.send(id, brainrot::index_of(out_type::slot_invalidated), frame);
      }
    }
  }
  out.important();
}

void brainrot_game::on_start_game(connection_id conn, effects& out) {
  if (!check_phase(conn, phase::lobby, out)) {
    return;
  }
  std::size_t active = 0;
  json::array unclaimed;
  for (const brainrot::player& p : state_.players) {
    if (p.active) {
      ++active;
      if (!state_.claims.contains(p.player_id)) {
        unclaimed.emplace_back(p.player_id);
      }
    }
  }
  if (active < 2) {
    send_error(
        conn, "forbidden", "not_enough_active_players",
        json::object{{"active_players", static_cast<std::uint64_t>(active)}, {"required", 2}}, out);
    return;
  }
  if (!unclaimed.empty()) {
    send_error(conn, "forbidden", "active_players_not_claimed",
               json::object{{"player_ids", std::move(unclaimed)}}, out);
    return;
  }
  state_.phase = phase::game;
  state_.round_index = 0;
  state_.item_index = 0;
  state_.status = status::idle;
  send_to(everyone, out_type::game_start, base_payload(), out);
  send_new_item(out);
  out.important();
}

// --- game ---

void brainrot_game::send_new_item(effects& out) {
  const brainrot::item& it = current_item();
  json::object payload = base_payload();
  payload["round_id"] = current_round().round_id;
  payload["item_index"] = static_cast<std::uint64_t>(state_.item_index);
  payload["item_id"] = it.item_id;
  payload["reel"] = json::object{{"reel_id", it.reel_id}, {"url", it.url}};
  payload["k"] = static_cast<std::uint64_t>(it.true_sender_ids.size());
  payload["senders_selectable"] = senders_selectable();
  payload["slots_total"] = static_cast<std::uint64_t>(it.true_sender_ids.size());
  send_to(everyone, out_type::new_item, std::move(payload), out);
}

// Checks that the master's ids name the current item; answers bad_request otherwise.
namespace {
bool ids_match(const brainrot::request& req, std::string_view round_id, std::string_view item_id,
               json::object& details) {
  if (req.round_id != round_id || req.item_id != item_id) {
    details = json::object{{"field", req.round_id != round_id ? "round_id" : "item_id"},
                           {"current_round_id", round_id},
                           {"current_item_id", item_id}};
    return false;
  }
  return true;
}
}  // namespace

void brainrot_game::on_reel_opened(connection_id conn, const brainrot::request& req, effects& out) {
  if (!check_phase(conn, phase::game, out)) {
    return;
  }
  if (state_.status != status::idle) {
    send_error(conn, "conflict", "wrong_status",
               json::object{{"status", brainrot::status_name(state_.status)}, {"expected", "idle"}},
               out);
    return;
  }
  const brainrot::item& it = current_item();
  json::object details;
  if (!ids_match(req, current_round().round_id, it.item_id, details)) {
    send_error(conn, "bad_request", "not_current_item", details, out);
    return;
  }
  state_.status = status::vote;
  state_.expected_voters.clear();
  state_.votes_received.clear();
  state_.votes.clear();
  state_.results.reset();
  for (const brainrot::player& p : state_.players) {
    if (p.active && state_.claims.contains(p.player_id)) {
      state_.expected_voters.push_back(p.player_id);
    }
  }
  json::object payload = base_payload();
  payload["round_id"] = current_round().round_id;
  payload["item_id"] = it.item_id;
  payload["k"] = static_cast<std::uint64_t>(it.true_sender_ids.size());
  payload["senders_selectable"] = senders_selectable();
  send_to(everyone, out_type::start_vote, std::move(payload), out);
  out.important();
  if (state_.expected_voters.empty()) {
    close_vote(out);
  }
}

void brainrot_game::on_submit_vote(connection_id conn, const brainrot::request& req, effects& out) {
  auto ack = [&](std::string_view reason) {
    json::object payload = base_payload();
    payload["round_id"] = req.round_id;
    payload["item_id"] = req.item_id;
    payload["accepted"] = reason.empty();
    if (!reason.empty()) {
      payload["reason"] = reason;
    }
    send(conn, out_type::vote_ack, std::move(payload), out);
  };
  if (state_.phase != phase::game || state_.status != status::vote) {
    ack("not_in_vote");
    return;
  }
  auto held = state_.claims.find(req.player_id);
  if (held == state_.claims.end() || held->second != req.device_id) {
    ack("not_claimed");
    return;
  }
  const brainrot::item& it = current_item();
  if (req.round_id != current_round().round_id || req.item_id != it.item_id) {
    ack("late");
    return;
  }
  if (!contains(state_.expected_voters, req.player_id)) {
    ack("not_expected_voter");
    return;
  }
  if (req.selections_total > it.true_sender_ids.size()) {
    ack("too_many");
    return;
  }
  bool valid = !req.selections.empty() && req.selections_are_strings;
  std::set<std::string_view> seen;
  for (const std::string& chosen : req.selections) {
    const brainrot::sender* s = find_sender(chosen);
    valid = valid && s != nullptr && s->active && seen.insert(chosen).second;
  }
  if (!valid) {
    ack("invalid_selection");
    return;
  }
  if (!state_.votes.contains(req.player_id)) {
    state_.votes_received.push_back(req.player_id);
  }
  state_.votes[req.player_id] = req.selections;  // a second vote overwrites the first
  ack({});
  json::object voted = base_payload();
  voted["round_id"] = req.round_id;
  voted["item_id"] = req.item_id;
  voted["player_id"] = req.player_id;
  send_to(masters, out_type::player_voted, std::move(voted), out);
  // Accepted votes are persisted at once: VOTE_ACK promised it survives a restart.
  out.important();
  if (state_.votes.size() >= state_.expected_voters.size()) {
    close_vote(out);
  }
}

void brainrot_game::close_vote(effects& out) {
  const brainrot::item& it = current_item();
  const std::string& round_id = current_round().round_id;
  brainrot::vote_results results;
  results.round_id = round_id;
  results.item_id = it.item_id;
  results.true_senders = it.true_sender_ids;
  std::map<std::string, std::int64_t>& tally = state_.round_points[round_id];
  for (const std::string& player_id : state_.expected_voters) {
    brainrot::player_result r;
    r.player_id = player_id;
    if (auto found = state_.votes.find(player_id); found != state_.votes.end()) {
      r.selections = found->second;
    }
    for (const std::string& chosen : r.selections) {
      (contains(it.true_sender_ids, chosen) ? r.correct : r.incorrect).push_back(chosen);
    }
    r.points_gained = static_cast<std::int64_t>(r.correct.size());  // no penalty
    std::int64_t& score = state_.scores[player_id];
    score += r.points_gained;
    tally[player_id] += r.points_gained;
    r.score_total = score;
    results.players.push_back(std::move(r));
  }
  state_.status = status::reveal_wait;
  state_.expected_voters.clear();
  state_.votes_received.clear();
  state_.votes.clear();
  state_.results = std::move(results);
  json::object payload = base_payload();
  for (auto& field : brainrot::results_json(*state_.results)) {
    payload[field.key()] = field.value();
  }
  send_to(masters, out_type::vote_results, std::move(payload), out);
  out.important();
}

void brainrot_game::on_end_item(connection_id conn, const brainrot::request& req, effects& out) {
  if (!check_phase(conn, phase::game, out)) {
    return;
  }
  if (state_.status != status::vote && state_.status != status::reveal_wait) {
    send_error(
        conn, "conflict", "wrong_status",
        json::object{{"status", brainrot::status_name(state_.status)}, {"expected", "reveal_wait"}},
        out);
    return;
  }
  json::object details;
  if (!ids_match(req, current_round().round_id, current_item().item_id, details)) {
    send_error(conn, "bad_request", "not_current_item", details, out);
    return;
  }
  if (state_.status == status::vote) {
    // Beyond the seed: the master closes a vote that someone who left would block forever.
    close_vote(out);
    return;
  }
  state_.results.reset();
  const brainrot::round& rd = current_round();
  if (state_.item_index + 1 < rd.items.size()) {
    ++state_.item_index;
    state_.status = status::idle;
    send_new_item(out);
    out.important();
    return;
  }
  state_.status = status::round_recap;
  const std::map<std::string, std::int64_t>& tally = state_.round_points[rd.round_id];
  json::array players;
  for (const brainrot::player& p : state_.players) {
    if (!p.active) {
      continue;
    }
    auto points = tally.find(p.player_id);
    players.emplace_back(json::object{{"player_id", p.player_id},
                                      {"points_round", points == tally.end() ? 0 : points->second},
                                      {"score_total", state_.scores[p.player_id]}});
  }
  json::object recap = base_payload();
  recap["round_id"] = rd.round_id;
  recap["players"] = std::move(players);
  send_to(masters, out_type::round_recap, std::move(recap), out);
  json::object finished = base_payload();
  finished["round_id"] = rd.round_id;
  send_to(plays, out_type::round_finished, std::move(finished), out);
  out.important();
}

void brainrot_game::on_start_next_round(connection_id conn, effects& out) {
  if (!check_phase(conn, phase::game, out)) {
    return;
  }
  if (state_.status != status::round_recap) {
    send_error(
        conn, "conflict", "wrong_status",
        json::object{{"status", brainrot::status_name(state_.status)}, {"expected", "round_recap"}},
        out);
    return;
  }
  if (state_.round_index + 1 < state_.round_order.size()) {
    ++state_.round_index;
    state_.item_index = 0;
    state_.status = status::idle;
    send_new_item(out);
  } else {
    game_over(out);
  }
  out.important();
}

void brainrot_game::game_over(effects& out) {
  state_.phase = phase::over;
  state_.status = status::idle;
  state_.round_index = 0;
  state_.item_index = 0;
  std::vector<std::pair<std::int64_t, std::string>> order;  // (score, player_id)
  for (const brainrot::player& p : state_.players) {
    if (p.active) {
      order.emplace_back(state_.scores[p.player_id], p.player_id);
    }
  }
  std::sort(order.begin(), order.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  json::array ranking;
  json::object scores;
  std::size_t rank = 1;
  for (std::size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && order[i].first != order[i - 1].first) {
      rank = i + 1;  // ties share a rank: 1, 2, 2, 4
    }
    ranking.emplace_back(json::object{{"player_id", order[i].second},
                                      {"score_total", order[i].first},
                                      {"rank", static_cast<std::uint64_t>(rank)}});
  }
  for (const brainrot::player& p : state_.players) {
    if (p.active) {
      scores[p.player_id] = state_.scores[p.player_id];
    }
  }
  json::object payload = base_payload();
  payload["ranking"] = std::move(ranking);
  payload["scores"] = std::move(scores);
  send_to(everyone, out_type::game_over, std::move(payload), out);
}

// --- sync ---

void brainrot_game::on_state_sync(connection_id conn, const brainrot::request& req, effects& out) {
  // A wrong master key makes this a play sync, silently.
  const bool master = master_key_valid(req.master_key);
  if (master) {
    register_master(conn, out);
    state_.connections[conn].device_id = req.device_id;
  } else {
    register_play(conn, req.device_id, out);
  }
  json::object payload = base_payload();
  payload["phase"] = brainrot::phase_name(state_.phase);
  payload["players_visible"] = players_visible();
  payload["senders_visible"] = senders_visible();
  if (master) {
    json::array players;
    for (const brainrot::player& p : state_.players) {
      players.emplace_back(player_all(p));
    }
    json::array senders;
    for (const brainrot::sender& s : state_.senders) {
      senders.emplace_back(sender_json(s, false));
    }
    payload["players_all"] = std::move(players);
    payload["senders_all"] = std::move(senders);
  }
  const std::string mine = claimed_by(req.device_id);
  payload["my_player_id"] = mine.empty() ? json::value(nullptr) : json::value(mine);

  json::object sync;
  if (state_.phase == phase::game) {
    const brainrot::item& it = current_item();
    sync["current_round_id"] = current_round().round_id;
    sync["current_item_index"] = static_cast<std::uint64_t>(state_.item_index);
    sync["status"] = brainrot::status_name(state_.status);
    sync["item"] = json::object{{"round_id", current_round().round_id},
                                {"item_id", it.item_id},
                                {"reel", json::object{{"reel_id", it.reel_id}, {"url", it.url}}},
                                {"k", static_cast<std::uint64_t>(it.true_sender_ids.size())},
                                {"senders_selectable", senders_selectable()}};
    if (master && state_.status == status::vote) {
      sync["votes_received_player_ids"] = strings_to_json(state_.votes_received);
    }
    if (master && state_.status == status::reveal_wait && state_.results) {
      sync["current_vote_results"] = brainrot::results_json(*state_.results);
    }
  } else {
    sync["current_round_id"] = nullptr;
    sync["current_item_index"] = nullptr;
    sync["status"] = brainrot::status_name(state_.status);
    sync["item"] = nullptr;
  }
  payload["game"] = std::move(sync);
  json::object scores;
  for (const auto& [player_id, score] : state_.scores) {
    scores[player_id] = score;
  }
  payload["scores"] = std::move(scores);
  send(conn, out_type::state_sync_response, std::move(payload), out);
}

// --- lookups ---

brainrot::player* brainrot_game::find_player(std::string_view player_id) noexcept {
  for (brainrot::player& p : state_.players) {
    if (p.player_id == player_id) {
      return &p;
    }
  }
  return nullptr;
}

brainrot::sender* brainrot_game::find_sender(std::string_view sender_id) noexcept {
  for (brainrot::sender& s : state_.senders) {
    if (s.sender_id == sender_id) {
      return &s;
    }
  }
  return nullptr;
}

const brainrot::round& brainrot_game::current_round() const {
  const std::string& id = state_.round_order.at(state_.round_index);
  for (const brainrot::round& rd : state_.rounds) {
    if (rd.round_id == id) {
      return rd;
    }
  }
  throw std::out_of_range("round_order names no round");  // restore and create prevent it
}

const brainrot::item& brainrot_game::current_item() const {
  return current_round().items.at(state_.item_index);
}

std::string brainrot_game::claimed_by(std::string_view device_id) const {
  for (const auto& [player_id, device] : state_.claims) {
    if (device == device_id) {
      return player_id;
    }
  }
  return {};
}

// --- payload pieces ---

json::object brainrot_game::base_payload() const { return json::object{{"code", state_.code}}; }

json::object brainrot_game::player_visible(const brainrot::player& p) const {
  return json::object{
      {"player_id", p.player_id},
      {"sender_id", p.sender_id},
      {"is_sender_bound", p.is_sender_bound},
      {"active", true},
      {"status", state_.claims.contains(p.player_id) ? "taken" : "free"},
      {"name", p.name},
      {"avatar_url", p.avatar_url ? json::value(*p.avatar_url) : json::value(nullptr)}};
}

json::object brainrot_game::player_all(const brainrot::player& p) const {
  return json::object{
      {"player_id", p.player_id},
      {"sender_id", p.sender_id},
      {"is_sender_bound", p.is_sender_bound},
      {"active", p.active},
      {"name", p.name},
      {"avatar_url", p.avatar_url ? json::value(*p.avatar_url) : json::value(nullptr)}};
}

json::object brainrot_game::sender_json(const brainrot::sender& s, bool visible) {
  return json::object{{"sender_id", s.sender_id},
                      {"name", s.name},
                      {"active", visible ? true : s.active},
                      {"reels_count", s.reels_count}};
}

json::array brainrot_game::players_visible() const {
  json::array list;
  for (const brainrot::player& p : state_.players) {
    if (p.active) {
      list.emplace_back(player_visible(p));
    }
  }
  return list;
}

json::array brainrot_game::senders_visible() const {
  json::array list;
  for (const brainrot::sender& s : state_.senders) {
    if (s.active) {
      list.emplace_back(sender_json(s, true));
    }
  }
  return list;
}

json::array brainrot_game::senders_selectable() const {
  json::array list;
  for (const brainrot::sender& s : state_.senders) {
    if (s.active) {
      list.emplace_back(json::object{{"sender_id", s.sender_id}, {"name", s.name}});
    }
  }
  return list;
}

// --- output ---

void brainrot_game::send(connection_id conn, out_type type, json::object payload,
                         effects& out) const {
  out.send(conn, brainrot::index_of(type), make_frame(brainrot::encode(type, std::move(payload))));
}

void brainrot_game::send_to(role_mask roles, out_type type, json::object payload,
                            effects& out) const {
  out.send_roles(roles, brainrot::index_of(type),
                 make_frame(brainrot::encode(type, std::move(payload))));
}

void brainrot_game::send_error(connection_id conn, std::string_view error, std::string_view message,
                               const json::object& details, effects& out) const {
  out.send_error(
      conn, brainrot::index_of(out_type::error), std::string(error),
      make_frame(brainrot::encode(out_type::error,
                                  brainrot::error_payload(state_.code, error, message, details))));
  // A refusal changes nothing (rules validate before they mutate; the test driver compares the
  // snapshot bytes of every step marked so): the room is not written again for it.
  out.unchanged();
}

}  // namespace partyd
