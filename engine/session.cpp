#include "engine/session.hpp"

#include <algorithm>
#include <charconv>
#include <limits>

#include <boost/json.hpp>

#include "engine/secrets.hpp"

namespace partyd {

namespace json = boost::json;

namespace {

// "MAJOR.MINOR" -> (major, minor); nullopt for anything else.
std::optional<std::pair<int, int>> parse_version(std::string_view text) {
  const std::size_t dot = text.find('.');
  if (dot == std::string_view::npos || dot == 0 || dot + 1 == text.size() || text.size() > 11) {
    return std::nullopt;
  }
  int major = 0;
  int minor = 0;
  const char* end = text.data() + text.size();
  auto [major_end, major_error] = std::from_chars(text.data(), text.data() + dot, major);
  auto [minor_end, minor_error] = std::from_chars(text.data() + dot + 1, end, minor);
  if (major_error != std::errc() || minor_error != std::errc() || major_end != text.data() + dot ||
      minor_end != end || major < 0 || minor < 0) {
    return std::nullopt;
  }
  return std::pair{major, minor};
}

std::string hex_digest(std::string_view text) {
  return sha256_tagged(text).substr(7);  // "sha256:" + 64 hex digits
}

std::uint64_t ack_seq(std::string_view ack_id) {
  constexpr std::string_view prefix = "ack_";
  if (ack_id.substr(0, prefix.size()) != prefix) return 0;
  std::uint64_t seq = 0;
  const char* begin = ack_id.data() + prefix.size();
  const char* end = ack_id.data() + ack_id.size();
  auto [last, error] = std::from_chars(begin, end, seq);
  return error == std::errc() && last == end ? seq : 0;
}

}  // namespace

bool version_compatible(std::string_view client, std::string_view server, int supported_majors) {
  const auto c = parse_version(client);
  const auto s = parse_version(server);
  if (!c || !s) return false;
  // A newer minor of the server's major is fine too: minors only add optional fields and types.
  return c->first <= s->first && c->first > s->first - supported_majors;
}

void append_session_members(std::string& out, std::uint64_t seq, bool reliable) {
  out += "\"sequenceId\":";
  out += std::to_string(seq);
  if (reliable) {
    out += ",\"requiresAck\":true,\"ackId\":\"ack_";
    out += std::to_string(seq);
    out += '"';
  }
}

std::string session_frame_text(const ring_entry& entry) {
  const std::string& frame = *entry.frame;
  std::string text;
  text.reserve(frame.size() + 64);
  text += '{';
  append_session_members(text, entry.seq, entry.reliable);
  if (frame.size() > 2) text += ',';
  text.append(frame, 1, std::string::npos);
  return text;
}

std::string session_envelope(std::string_view type, std::string_view room_code, time_ms now,
                             std::string_view version, std::string_view payload_json) {
  std::string text = json::serialize(json::object{{"type", type},
                                                  {"roomId", room_code},
                                                  {"timestamp", now},
                                                  {"version", version},
                                                  {"broadcast", "actor"}});
  text.pop_back();
  text += ",\"payload\":";
  text += payload_json;
  text += '}';
  return text;
}

frame_ptr reconnect_failed_frame(std::string_view room_code, std::string_view version,
                                 std::string_view reason, std::string_view phase, time_ms now) {
  const bool expired = reason == "SESSION_EXPIRED";
  const bool room_gone = reason == "ROOM_NOT_FOUND";
  const json::object payload{
      {"reason", reason},
      {"message", expired     ? "You've been disconnected too long. Rejoin the room."
                  : room_gone ? "The room is closed."
                              : "No such session in this room. Join the room again."},
      {"canRejoin", !room_gone},
      {"currentState", phase}};
  return make_frame(
      session_envelope("RECONNECT_FAILED", room_code, now, version, json::serialize(payload)));
}

session_table::session_table(const session_policy& policy, std::string room_code, std::string epoch)
    : policy_(policy), room_code_(std::move(room_code)), epoch_(std::move(epoch)) {}

bool session_table::host(const session& s) const noexcept {
  return (policy_.host_roles & role_bit(s.role)) != 0;
}

time_ms session_table::backfill_window(const session& s) const noexcept {
  return host(s) ? policy_.host_backfill_ms : policy_.backfill_ms;
}

time_ms session_table::resume_window(const session& s) const noexcept {
  return host(s) ? policy_.host_resume_ms : policy_.resume_ms;
}

frame_ptr session_table::open(connection_id conn, role_id role, std::string_view secret,
                              std::string_view client_version, time_ms now) {
  deadline_known_ = false;
  const std::string token = hex_digest(std::string("resume-token:").append(secret));
  session s;
  s.id = "sess_" + hex_digest(std::string("session-id:").append(secret)).substr(0, 24);
  s.token_hash = sha256_tagged(token);
  s.logical = conn;
  s.attached = conn;
  s.role = role;
  s.client_version =
      client_version.empty() ? std::string(policy_.protocol_version) : std::string(client_version);
  s.last_heard = now;
  by_id_[s.id] = conn;
  const json::object payload{{"serverVersion", policy_.protocol_version},
                             {"version", s.client_version},
                             {"sessionId", s.id},
                             {"resumeToken", token},
                             {"epoch", epoch_},
                             {"heartbeatIntervalMs", policy_.heartbeat_interval_ms},
                             {"lastSeqId", 0}};
  by_logical_[conn] = std::move(s);
  return make_frame(envelope("CONNECTED", now, json::serialize(payload)));
}

std::vector<connection_id> session_table::logical_ids() const {
  std::vector<connection_id> ids;
  ids.reserve(by_logical_.size());
  for (const auto& [logical, s] : by_logical_) ids.push_back(logical);
  return ids;
}

session* session_table::find_logical(connection_id logical) {
  auto it = by_logical_.find(logical);
  return it == by_logical_.end() ? nullptr : &it->second;
}

connection_id session_table::logical_of(connection_id conn) const {
  auto it = aliases_.find(conn);
  return it == aliases_.end() ? conn : it->second;
}

void session_table::trim_ring(session& s, time_ms now) {
  // Frames older than twice the backfill window cannot serve a resume that still gets a backfill.
  const time_ms oldest = now - 2 * backfill_window(s);
  while (!s.ring.empty() &&
         (s.ring.size() > policy_.ring_frames || s.ring_bytes > policy_.ring_bytes ||
          s.ring.front().sent_at < oldest)) {
    s.ring_bytes -= s.ring.front().frame->size();
    s.ring.pop_front();
  }
}

std::uint64_t session_table::number(session& s, const frame_ptr& frame, bool reliable,
                                    time_ms now) {
  const std::uint64_t seq = s.next_seq++;
  s.ring.push_back(ring_entry{seq, frame, now, reliable});
  s.ring_bytes += frame->size();
  trim_ring(s, now);
  if (reliable && s.attached != 0) {
    s.unacked.push_back(session::pending_ack{seq, now + policy_.ack_timeout_ms, 1});
    deadline_known_ = false;
  }
  return seq;
}

bool session_table::detach(connection_id conn, time_ms now) {
  deadline_known_ = false;
  const connection_id logical = logical_of(conn);
  session* s = find_logical(logical);
  if (!s || s->attached != conn) {
    return false;
  }
  if (conn != logical) aliases_.erase(conn);
  s->attached = 0;
  s->detached_at = now;
  s->presence_told = 0;
  s->unacked.clear();  // a resume sends them again, in its backfill or its snapshot
  return true;
}

session_table::resume_lookup session_table::lookup(const session_request& request) {
  resume_lookup found;
  auto it = by_id_.find(request.session_id);
  if (it == by_id_.end()) return found;
  found.target = find_logical(it->second);
  found.token_ok =
      found.target && secrets_equal(sha256_tagged(request.resume_token), found.target->token_hash);
  return found;
}

session_table::resume_outcome session_table::resume(session& s, connection_id conn,
                                                    const session_request& request,
                                                    const session_view& view,
                                                    std::uint64_t state_version, time_ms now,
                                                    std::vector<session_action>& actions) {
  deadline_known_ = false;
  const time_ms away_for = s.attached != 0 ? 0 : now - s.detached_at;
  if (away_for > resume_window(s)) {
    session_action reply;
    reply.conn = conn;
    reply.frame = reconnect_failed("SESSION_EXPIRED", view.phase, now);
    actions.push_back(std::move(reply));
    session_action removal;
    removal.what = session_action::kind::remove;
    removal.logical = s.logical;
    actions.push_back(std::move(removal));
    end(s.logical);
    return {};
  }
  if (s.attached != 0) {
    // One connection per session (seed 3.5): the newer wins.
    session_action close_older;
    close_older.what = session_action::kind::close;
    close_older.conn = s.attached;
    close_older.logical = s.logical;
    close_older.close_code = 1000;
    close_older.reason = "session_resumed_elsewhere";
    actions.push_back(std::move(close_older));
    if (s.attached != s.logical) aliases_.erase(s.attached);
    s.unacked.clear();
  }
  s.attached = conn;
  if (conn != s.logical) aliases_[conn] = s.logical;
  s.last_heard = now;
  if (!request.version.empty()) s.client_version = request.version;
  // A client never sees a number twice, also after a restore that lost the newest frames.
  const std::uint64_t last_seen =
      std::min(request.last_seq, std::numeric_limits<std::uint64_t>::max() - 1);
  s.next_seq = std::max(s.next_seq, last_seen + 1);

  // A backfill only when the ring still holds every frame after the client's last one.
  const bool covered =
      s.ring_complete && last_seen + 1 <= s.next_seq &&
      (s.ring.empty() ? last_seen + 1 == s.next_seq : s.ring.front().seq <= last_seen + 1);
  const bool backfill = covered && away_for <= backfill_window(s);
  std::string missed = "null";
  if (backfill) {
    missed = "[";
    for (const ring_entry& entry : s.ring) {
      if (entry.seq <= last_seen) continue;
      if (missed.size() > 1) missed += ',';
      missed += session_frame_text(entry);
      if (entry.reliable) {
        s.unacked.push_back(session::pending_ack{entry.seq, now + policy_.ack_timeout_ms, 1});
      }
    }
    missed += ']';
  }
  std::string payload = json::serialize(json::object{
      {"sessionId", s.id},
      {"currentState", view.phase},
      {"stateVersion", state_version},
      {"recovered", backfill},
      {"epoch", epoch_},
      {"lastSeqId", s.next_seq - 1},
  });
  payload.pop_back();
  payload += ",\"gameState\":";
  payload += view.state_json.empty() ? "{}" : view.state_json;
  payload += ",\"missedEvents\":";
  payload += missed;
  if (!backfill) {
    payload += ",\"message\":\"You missed some action! Catching you up...\"";
  }
  payload += '}';
  session_action reply;
  reply.conn = conn;
  reply.frame = make_frame(envelope("RECONNECTED", now, payload));
  actions.push_back(std::move(reply));
  if (s.presence_told != 0) {
    session_action back;
    back.what = session_action::kind::presence;
    back.logical = s.logical;
    back.stage = presence_stage::back;
    actions.push_back(std::move(back));
  }
  s.presence_told = 0;
  return {s.logical, backfill};
}

void session_table::end(connection_id logical) {
  deadline_known_ = false;
  auto it = by_logical_.find(logical);
  if (it == by_logical_.end()) return;
  if (it->second.attached != 0 && it->second.attached != logical) {
    aliases_.erase(it->second.attached);
  }
  by_id_.erase(it->second.id);
  by_logical_.erase(it);
}

void session_table::ack(session& s, std::string_view ack_id) {
  const std::uint64_t seq = ack_seq(ack_id);
  std::erase_if(s.unacked, [seq](const session::pending_ack& p) { return p.seq == seq; });
}

frame_ptr session_table::heartbeat(session& s, const session_request& request,
                                   const session_view& view, std::uint64_t state_version,
                                   time_ms now) {
  if (request.state_checksum == view.checksum) {
    return make_frame(envelope("HEARTBEAT_ACK", now,
                               json::serialize(json::object{{"stateVersion", state_version},
                                                            {"lastSeqId", s.next_seq - 1}})));
  }
  std::string payload = json::serialize(json::object{{"currentState", view.phase},
                                                     {"stateVersion", state_version},
                                                     {"stateChecksum", view.checksum},
                                                     {"lastSeqId", s.next_seq - 1}});
  payload.pop_back();
  payload += ",\"gameState\":";
  payload += view.state_json.empty() ? "{}" : view.state_json;
  payload += '}';
  return make_frame(envelope("STATE_SNAPSHOT", now, payload));
}

const session::answer* session_table::answered(const session& s,
                                               std::string_view client_msg_id) const {
  for (const auto& answer : s.answers) {
    if (answer.client_msg_id == client_msg_id) return &answer;
  }
  return nullptr;
}

void session_table::remember(session& s, std::string client_msg_id,
                             std::vector<std::string> frames) {
  session::answer answer;
  answer.client_msg_id = std::move(client_msg_id);
  std::size_t bytes = 0;
  for (const auto& frame : frames) bytes += frame.size();
  if (bytes > policy_.answer_max_bytes) {
    answer.complete = false;
  } else {
    answer.frames = std::move(frames);
  }
  s.answers.push_back(std::move(answer));
  while (s.answers.size() > policy_.answer_window) s.answers.pop_front();
}

frame_ptr session_table::duplicate_frame(std::string_view client_msg_id, time_ms now) const {
  return make_frame(envelope("COMMAND_DUPLICATE", now,
                             json::serialize(json::object{{"clientMsgId", client_msg_id}})));
}

void session_table::upkeep(time_ms now, std::vector<session_action>& actions) {
  deadline_known_ = false;
  std::vector<connection_id> removed;
  for (auto& [logical, s] : by_logical_) {
    trim_ring(s, now);
    if (s.attached != 0) {
      for (auto it = s.unacked.begin(); it != s.unacked.end();) {
        if (it->due > now) {
          ++it;
          continue;
        }
        if (it->attempts > policy_.ack_retries) {
          it = s.unacked.erase(it);
          if (!s.degraded) {
            s.degraded = true;
            ++degraded_total_;
            session_action told;
            told.what = session_action::kind::presence;
            told.logical = logical;
            told.stage = presence_stage::degraded;
            actions.push_back(std::move(told));
          }
          continue;
        }
        const auto entry =
            std::find_if(s.ring.begin(), s.ring.end(),
                         [seq = it->seq](const ring_entry& e) { return e.seq == seq; });
        if (entry == s.ring.end()) {
          it = s.unacked.erase(it);  // trimmed: too old to matter
          continue;
        }
        session_action resend;
        resend.conn = s.attached;
        resend.frame = entry->frame;
        resend.seq = entry->seq;
        resend.reliable = true;
        actions.push_back(std::move(resend));
        ++it->attempts;
        it->due = now + policy_.ack_timeout_ms;
        ++it;
      }
      if (now - s.last_heard >= policy_.dead_after_ms) {
        session_action close_dead;
        close_dead.what = session_action::kind::close;
        close_dead.conn = s.attached;
        close_dead.logical = logical;
        close_dead.close_code = 1001;
        close_dead.reason = "heartbeat_timeout";
        actions.push_back(std::move(close_dead));
        detach(s.attached, now);
      }
      continue;
    }
    const time_ms away_for = now - s.detached_at;
    if (away_for >= policy_.removal_ms) {
      session_action removal;
      removal.what = session_action::kind::remove;
      removal.logical = logical;
      actions.push_back(std::move(removal));
      removed.push_back(logical);
      continue;
    }
    if (s.presence_told == 0 && away_for >= policy_.away_ms) {
      s.presence_told = 1;
      session_action told;
      told.what = session_action::kind::presence;
      told.logical = logical;
      told.stage = presence_stage::away;
      actions.push_back(std::move(told));
    }
    if (s.presence_told == 1 && away_for >= policy_.warning_ms) {
      s.presence_told = 2;
      session_action told;
      told.what = session_action::kind::presence;
      told.logical = logical;
      told.stage = presence_stage::warned;
      actions.push_back(std::move(told));
    }
  }
  for (const connection_id logical : removed) end(logical);
}

std::optional<time_ms> session_table::next_deadline() const {
  if (deadline_known_) return next_deadline_;
  std::optional<time_ms> next;
  auto consider = [&next](time_ms at) {
    if (!next || at < *next) next = at;
  };
  for (const auto& [logical, s] : by_logical_) {
    if (s.attached != 0) {
      for (const auto& pending : s.unacked) consider(pending.due);
      consider(s.last_heard + policy_.dead_after_ms);
      continue;
    }
    if (s.presence_told == 0) consider(s.detached_at + policy_.away_ms);
    if (s.presence_told <= 1) consider(s.detached_at + policy_.warning_ms);
    consider(s.detached_at + policy_.removal_ms);
  }
  next_deadline_ = next;
  deadline_known_ = true;
  return next;
}

std::string session_table::encode() const {
  json::array out;
  for (const auto& [logical, s] : by_logical_) {
    json::array answers;
    for (const auto& answer : s.answers) {
      json::array frames;
      for (const auto& frame : answer.frames) frames.emplace_back(frame);
      answers.push_back(json::object{{"clientMsgId", answer.client_msg_id},
                                     {"complete", answer.complete},
                                     {"frames", std::move(frames)}});
    }
    out.push_back(json::object{{"id", s.id},
                               {"tokenHash", s.token_hash},
                               {"conn", std::to_string(logical)},
                               {"role", s.role},
                               {"version", s.client_version},
                               {"nextSeq", std::to_string(s.next_seq)},
                               {"degraded", s.degraded},
                               {"answers", std::move(answers)}});
  }
  return json::serialize(out);
}

bool session_table::restore(std::string_view text, time_ms now) {
  deadline_known_ = false;
  boost::system::error_code ec;
  const json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_array()) return false;
  std::map<connection_id, session> restored;
  std::unordered_map<std::string, connection_id> ids;
  auto u64_of = [](const json::value* v, std::uint64_t& out) {
    if (!v || !v->is_string()) return false;
    const std::string_view digits = v->get_string();
    auto [last, error] = std::from_chars(digits.data(), digits.data() + digits.size(), out);
    return error == std::errc() && last == digits.data() + digits.size();
  };
  for (const json::value& item : parsed.get_array()) {
    const json::object* o = item.if_object();
    if (!o) return false;
    session s;
    const json::value* id = o->if_contains("id");
    const json::value* token_hash = o->if_contains("tokenHash");
    const json::value* role = o->if_contains("role");
    const json::value* version = o->if_contains("version");
    const json::value* degraded = o->if_contains("degraded");
    const json::value* answers = o->if_contains("answers");
    if (!id || !id->is_string() || !token_hash || !token_hash->is_string() || !role ||
        !role->is_int64() || role->get_int64() < 0 ||
        role->get_int64() >= static_cast<std::int64_t>(max_roles) || !version ||
        !version->is_string() || !degraded || !degraded->is_bool() || !answers ||
        !answers->is_array() || !u64_of(o->if_contains("conn"), s.logical) || s.logical == 0 ||
        !u64_of(o->if_contains("nextSeq"), s.next_seq) || s.next_seq == 0) {
      return false;
    }
    s.id = std::string(id->get_string());
    s.token_hash = std::string(token_hash->get_string());
    s.role = static_cast<role_id>(role->get_int64());
    s.client_version = std::string(version->get_string());
    s.degraded = degraded->get_bool();
    for (const json::value& a : answers->get_array()) {
      const json::object* ao = a.if_object();
      const json::value* msg_id = ao ? ao->if_contains("clientMsgId") : nullptr;
      const json::value* complete = ao ? ao->if_contains("complete") : nullptr;
      const json::value* frames = ao ? ao->if_contains("frames") : nullptr;
      if (!msg_id || !msg_id->is_string() || !complete || !complete->is_bool() || !frames ||
          !frames->is_array()) {
        return false;
      }
      session::answer answer;
      answer.client_msg_id = std::string(msg_id->get_string());
      answer.complete = complete->get_bool();
      for (const json::value& f : frames->get_array()) {
        if (!f.is_string()) return false;
        answer.frames.emplace_back(f.get_string());
      }
      s.answers.push_back(std::move(answer));
    }
    // Every connection is gone after a restart; the presence clock starts at the restore, and the
    // game (which kept no connection) hears `back` when the session resumes.
    s.attached = 0;
    s.detached_at = now;
    s.presence_told = 1;
    s.last_heard = now;
    s.ring_complete = false;
    if (!ids.emplace(s.id, s.logical).second) return false;
    const connection_id logical = s.logical;
    if (!restored.emplace(logical, std::move(s)).second) return false;
  }
  by_logical_ = std::move(restored);
  by_id_ = std::move(ids);
  aliases_.clear();
  return true;
}

}  // namespace partyd
