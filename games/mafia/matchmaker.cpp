#include "games/mafia/matchmaker.hpp"

#include <algorithm>
#include <utility>

#include <boost/json/serialize.hpp>

#include "games/common/checksum.hpp"

namespace partyd {

namespace json = boost::json;
using mafia::in_type;
using mafia::out_type;

namespace {

std::string_view type_name(in_type t) { return mafia::in_type_names[mafia::index_of(t)]; }

}  // namespace

mafia_matchmaker::mafia_matchmaker(const mafia_config& config, mafia::queue_state state)
    : config_(config), state_(std::move(state)) {}

void mafia_matchmaker::send(connection_id conn, out_type type, const json::object& payload,
                            effects& out) const {
  out.send(conn, mafia::index_of(type), make_frame(mafia::encode_frame(type, payload)));
}

void mafia_matchmaker::refuse(connection_id conn, std::string_view reason, std::string_view message,
                              std::string_view request_type, effects& out) const {
  out.send_error(conn, mafia::index_of(out_type::room_error), std::string(reason),
                 make_frame(mafia::encode_error(reason, message, request_type)));
  out.unchanged();
}

json::object mafia_matchmaker::position_of(const mafia::queued_player& p) const {
  std::size_t position = 0;
  for (std::size_t i = 0; i < state_.waiting.size(); ++i) {
    if (state_.waiting[i].user_id == p.user_id) position = i + 1;
  }
  return json::object{{"queuedAt", p.queued_at},
                      {"position", position},
                      {"waiting", state_.waiting.size()},
                      {"minPlayers", config_.match_min_players},
                      {"maxPlayers", config_.match_max_players},
                      {"maxWaitMs", config_.match_max_wait_ms}};
}

void mafia_matchmaker::step(const input& in, time_ms now, room_rng& rng, effects& out) {
  (void)rng;
  switch (in.kind) {
    case input_kind::created:
      // After a restore, the rooms asked for and not yet answered are asked for again: an answer
      // that was lost with the process would otherwise strand its group.
      for (const auto& group : state_.forming) ask_for_room(group, out);
      if (state_.forming.empty()) out.unchanged();
      return;
    case input_kind::command: {
      const auto* req = dynamic_cast<const mafia::request*>(in.cmd.get());
      if (!req) {
        out.unchanged();
        return;
      }
      const in_type type = mafia::type_of(*req);
      if (type == in_type::matchmaking_join) {
        on_join(in, now, out);
      } else if (type == in_type::matchmaking_leave) {
        on_leave(in.conn, "left", true, out);
      } else if (type == in_type::room_leave) {
        on_leave(in.conn, "left", false, out);  // io let go already
      } else {
        refuse(in.conn, "in_queue",
               "this connection waits in the matchmaking queue; "
               "matchmaking:leave first",
               type_name(type), out);
      }
      return;
    }
    case input_kind::disconnect: {
      // The session's grace is over: the player leaves the queue.
      const auto it = std::find_if(state_.waiting.begin(), state_.waiting.end(),
                                   [&](const auto& p) { return p.conn == in.conn; });
      if (it == state_.waiting.end()) {
        out.unchanged();
        return;
      }
      state_.waiting.erase(it);
      out.persist();
      return;
    }
    case input_kind::presence: {
      auto it = std::find_if(state_.waiting.begin(), state_.waiting.end(),
                             [&](const auto& p) { return p.conn == in.conn; });
      const bool connected = in.stage == presence_stage::back;
      if (it == state_.waiting.end() ||
          (in.stage != presence_stage::away && in.stage != presence_stage::back) ||
          it->connected == connected) {
        out.unchanged();
        return;
      }
      it->connected = connected;  // an away player keeps their place but is not matched
      out.persist();
      if (connected) try_match(now, out);
      return;
    }
    case input_kind::timer:
      try_match(now, out);
      return;
    case input_kind::room_created:
      on_created(in, now, out);
      return;
    case input_kind::record_written:  // the queue keeps no records
      out.unchanged();
      return;
    case input_kind::inactive:
      if (!state_.waiting.empty() || !state_.forming.empty()) {
        out.unchanged();  // people wait: the queue stays
        return;
      }
      out.close_room("inactive");  // the next matchmaking:join opens it again
      return;
    case input_kind::admin_close:
      for (const auto& p : state_.waiting) {
        if (p.conn == 0) continue;
        send(p.conn, out_type::matchmaking_left, json::object{{"reason", "closed_by_admin"}}, out);
        out.release(p.conn);
      }
      out.close_room("closed_by_admin");
      return;
  }
}

void mafia_matchmaker::on_join(const input& in, time_ms now, effects& out) {
  const std::string_view name = type_name(in_type::matchmaking_join);
  if (!in.identity) {
    refuse(in.conn, "not_identified", "send auth:identify first", name, out);
    out.release(in.conn);
    return;
  }
  auto it = std::find_if(state_.waiting.begin(), state_.waiting.end(),
                         [&](const auto& p) { return p.user_id == in.identity->user_id; });
  if (it != state_.waiting.end()) {
    // The same user on a new connection: it takes the place, the older one is let go.
    if (it->conn != 0 && it->conn != in.conn) {
      send(it->conn, out_type::matchmaking_left, json::object{{"reason", "replaced"}}, out);
      out.release(it->conn);
    }
    it->conn = in.conn;
    it->connected = true;
    out.bind(in.conn, mafia::queued_role, true);
    send(in.conn, out_type::matchmaking_queued, position_of(*it), out);
    out.persist();
    try_match(now, out);
    return;
  }
  for (const auto& group : state_.forming) {
    for (const auto& member : group.members) {
      if (member.user_id == in.identity->user_id) {
        refuse(in.conn, "already_matched", "a room is being made for this user", name, out);
        out.release(in.conn);
        return;
      }
    }
  }
  if (state_.waiting.size() >= config_.queue_max) {
    refuse(in.conn, "queue_full", "the matchmaking queue is full; retry shortly", name, out);
    out.release(in.conn);
    return;
  }
  mafia::queued_player p;
  p.user_id = in.identity->user_id;
  p.username = in.identity->display_name;
  p.conn = in.conn;
  p.queued_at = now;
  state_.waiting.push_back(p);
  out.bind(in.conn, mafia::queued_role, true);
  send(in.conn, out_type::matchmaking_queued, position_of(p), out);
  out.persist();
  try_match(now, out);
}

void mafia_matchmaker::on_leave(connection_id conn, std::string_view reason, bool release,
                                effects& out) {
  const auto it = std::find_if(state_.waiting.begin(), state_.waiting.end(),
                               [&](const auto& p) { return p.conn == conn; });
  if (it == state_.waiting.end()) {
    if (release) {
      refuse(conn, "not_in_queue", "this connection is not in the queue",
             type_name(in_type::matchmaking_leave), out);
    }
    return;
  }
  state_.waiting.erase(it);
  send(conn, out_type::matchmaking_left, json::object{{"reason", reason}}, out);
  if (release) out.release(conn);
  out.persist();
}

void mafia_matchmaker::try_match(time_ms now, effects& out) {
  if (now < state_.retry_at) {
    out.set_timer(match_timer, state_.retry_at);
    return;
  }
  while (true) {
    std::vector<std::size_t> ready;  // connected players, oldest first
    for (std::size_t i = 0; i < state_.waiting.size(); ++i) {
      if (state_.waiting[i].connected && state_.waiting[i].conn != 0) ready.push_back(i);
    }
    if (ready.empty()) {
      out.cancel_timer(match_timer);
      return;
    }
    const time_ms oldest = state_.waiting[ready.front()].queued_at;
    std::size_t take = 0;
    if (ready.size() >= config_.match_max_players) {
      take = config_.match_max_players;
    } else if (ready.size() >= config_.match_min_players && now >= oldest + config_.match_fill_ms) {
      take = ready.size();
    } else if (ready.size() >= config_.match_fallback_players &&
               now >= oldest + config_.match_max_wait_ms) {
      take = ready.size();
    }
    if (take == 0) {
      // The next moment a group can form without another join.
      if (ready.size() >= config_.match_min_players) {
        out.set_timer(match_timer, oldest + config_.match_fill_ms);
      } else if (ready.size() >= config_.match_fallback_players) {
        out.set_timer(match_timer, oldest + config_.match_max_wait_ms);
      } else {
        out.cancel_timer(match_timer);  // too few: the next join decides
      }
      return;
    }
    mafia::match_group group;
    group.request = state_.next_request++;
    for (std::size_t k = 0; k < take; ++k) group.members.push_back(state_.waiting[ready[k]]);
    for (std::size_t k = take; k-- > 0;) {
      state_.waiting.erase(state_.waiting.begin() + static_cast<std::ptrdiff_t>(ready[k]));
    }
    ask_for_room(group, out);
    state_.forming.push_back(std::move(group));
    out.persist();
  }
}

void mafia_matchmaker::ask_for_room(const mafia::match_group& group, effects& out) const {
  json::array matched;
  for (const auto& m : group.members) {
    matched.push_back(json::object{{"userId", m.user_id}, {"username", m.username}});
  }
  out.create_room(group.request, json::object{{"matched", std::move(matched)}});
}

void mafia_matchmaker::requeue(std::vector<mafia::queued_player> members) {
  for (auto& m : members) state_.waiting.push_back(std::move(m));
  std::stable_sort(state_.waiting.begin(), state_.waiting.end(),
                   [](const auto& a, const auto& b) { return a.queued_at < b.queued_at; });
}

void mafia_matchmaker::on_created(const input& in, time_ms now, effects& out) {
  const auto* reply = dynamic_cast<const room_created_reply*>(in.cmd.get());
  const auto group = std::find_if(state_.forming.begin(), state_.forming.end(),
                                  [&](const auto& g) { return g.request == in.timer_key; });
  if (!reply || group == state_.forming.end()) {
    out.unchanged();  // an answer to a request asked again after a restore, already served
    return;
  }
  std::vector<mafia::queued_player> members = std::move(group->members);
  state_.forming.erase(group);
  out.persist();
  if (reply->code.empty()) {
    // No room now (the server is full): back in line, and the next attempt waits a second.
    out.log("match_room_refused", json::object{{"error", reply->error}}, true);
    requeue(std::move(members));
    state_.retry_at = now + 1000;
    out.set_timer(match_timer, state_.retry_at);
    return;
  }
  ++state_.matches_made;
  out.count("matches_made");
  std::vector<mafia::queued_player> away;
  const std::string join = json::serialize(
      json::object{{"type", "room:join"}, {"payload", json::object{{"roomCode", reply->code}}}});
  for (auto& m : members) {
    if (!m.connected || m.conn == 0) {
      away.push_back(std::move(m));  // cannot be moved now: keeps its place for the next group
      continue;
    }
    send(m.conn, out_type::matchmaking_found, json::object{{"roomId", reply->code}}, out);
    out.release(m.conn, join);
  }
  if (!away.empty()) requeue(std::move(away));
}

session_view mafia_matchmaker::view_of(connection_id conn, time_ms now) const {
  (void)now;
  session_view view;
  view.phase = "queued";
  json::object state{{"queued", false}};
  time_ms queued_at = 0;
  for (const auto& p : state_.waiting) {
    if (p.conn == conn) {
      state = position_of(p);
      state["queued"] = true;
      queued_at = p.queued_at;
    }
  }
  view.state_json = json::serialize(state);
  // queued|queuedAt: the place in line moves with every join, the checksum must not.
  fnv1a hash;
  hash.add(queued_at != 0 ? "1|" : "0|");
  hash.add(queued_at);
  view.checksum = hash.hex();
  return view;
}

bool mafia_matchmaker::holds_session(connection_id conn) const {
  return std::any_of(state_.waiting.begin(), state_.waiting.end(),
                     [&](const auto& p) { return p.conn == conn; });
}

room_summary mafia_matchmaker::summary() const noexcept {
  room_summary s;
  for (const auto& p : state_.waiting) {
    ++s.seats;
    if (p.connected) ++s.connected_by_role[mafia::queued_role];
  }
  return s;
}

}  // namespace partyd
