// Mafia rooms for game_session_fuzz: the public queue, a private lobby, a matched room and the
// rooms the fuzzed input creates, driven as io and the worker would (eight connections that move
// between rooms, identities, binds and releases, timers fired in deadline order, the engine's
// answers to create_room and record effects, restarts from snapshots).
//
// A Mafia line is [selector][op][arg][text]: the selector's bits 1-3 pick the connection, `op`
// what it does (mafia_world::line), `arg` its parameter (a seat for targets, a room, a duration).
// Checks after every step: the snapshot restores to the same bytes; a step marked unchanged left
// the snapshot as it was; every record is one the history takes; and no frame (nor session view)
// before game:end tells a connection another player's role.
// PARTYD_FUZZ_TRACE=1 prints every step's frames (to write seeds).
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <boost/json.hpp>

#include "engine/effects.hpp"
#include "engine/rng.hpp"
#include "games/mafia/codec.hpp"
#include "games/mafia/game.hpp"
#include "games/mafia/matchmaker.hpp"
#include "games/mafia/module.hpp"
#include "io/ws_codec.hpp"
#include "storage/history.hpp"

namespace partyd::mafia_fuzz {

namespace json = boost::json;

// Short phases and a small queue, so that a few hundred lines play whole games and matches.
inline mafia_config harness_config() {
  mafia_config c;
  c.identity_key = "00112233445566778899aabbccddeeff";  // fixed: tokens in the corpus stay valid
  c.match_min_players = 5;
  c.match_max_players = 6;
  c.match_fallback_players = 4;
  c.match_fill_ms = 3'000;
  c.match_max_wait_ms = 8'000;
  c.match_countdown_ms = 6'000;
  c.match_settings_discussion_s = 2;
  c.match_settings_vote_s = 2;
  c.match_settings_night_s = 1;
  return c;
}

inline std::string user_id(std::uint64_t k) { return mafia::uuid_from(0x1000 + k, 0x2000 + k); }

[[noreturn]] inline void fail(std::string_view what, std::string_view detail) {
  std::fprintf(stderr, "game_session_fuzz (mafia): %.*s\n%.*s\n", static_cast<int>(what.size()),
               what.data(), static_cast<int>(detail.size()), detail.data());
  __builtin_trap();
}

// What a recipient may know, read from the room's state after the step.
struct recipient {
  const mafia::player* seat = nullptr;  // the seat this connection holds, if any
  std::string_view role;                // its role in the current or last game; empty: none
  std::set<std::string> mafia_ids;      // every dealt mafia of the room
  bool playing = false;                 // night, day or voting
};

// Walks one frame (or a session view) and fails on anything that names a role the recipient may
// not see. Allowed: its own role (game:role, its view's "you"), the mafia list and the mafia's
// votes to a mafia, an inspection's result to the detective, every role once the game ended
// (game:end, a view in phase "ended").
class privacy_check {
 public:
  privacy_check(const recipient& r, std::string_view text, bool direct, bool view)
      : r_(r), text_(text), direct_(direct), view_(view) {}

  void run() {
    boost::system::error_code ec;
    const json::value parsed = json::parse(text_, ec);
    if (ec || !parsed.is_object()) bad("not a JSON object");
    const json::object& o = parsed.get_object();
    if (view_) {
      walk_object(o, 0);
      return;
    }
    const json::value* type = o.if_contains("type");
    const json::value* payload = o.if_contains("payload");
    if (!type || !type->is_string() || !payload || !payload->is_object()) bad("not {type,payload}");
    type_ = type->get_string();
    if (type_ == "game:end") return;  // the roles are public from here on
    const json::object& p = payload->get_object();
    if (type_ == "game:role" && (!direct_ || !p.if_contains("role"))) bad("game:role broadcast");
    if (type_ == "action:mafiaVotes" && r_.role != "mafia") bad("mafia votes to a non-mafia");
    if (type_ == "action:result" && r_.role != "detective") bad("inspection to a non-detective");
    if (type_ == "action:accepted") {
      const json::value* action = p.if_contains("action");
      std::string_view a;
      if (action && action->is_string()) a = action->get_string();
      const std::string_view needed = a == "action:mafiaKill"          ? "mafia"
                                      : a == "action:doctorSave"       ? "doctor"
                                      : a == "action:detectiveInspect" ? "detective"
                                                                       : "?";
      if (r_.role != needed) bad("an action accepted for a role the recipient does not have");
    }
    walk_object(p, 1);
  }

 private:
  // depth: 0 the view (or a frame's envelope), 1 the payload, 2 auth:reconnect's gameState, ...
  bool at_state(int depth) const {
    return view_ ? depth == 0 : (type_ == "auth:reconnect" && depth == 2 && in_state_);
  }
  bool at_you(int depth) const { return in_you_ && (view_ ? depth == 1 : depth == 3); }
  bool own_role_place(int depth) const {
    return at_you(depth) || (!view_ && type_ == "game:role" && depth == 1);
  }

  void walk_object(const json::object& o, int depth) {
    bool ended = false;
    if (at_state(depth)) {
      const json::value* phase = o.if_contains("phase");
      ended = phase && phase->is_string() && phase->get_string() == "ended";
    }
    for (const auto& member : o) {
      const std::string_view key = member.key();
      const json::value& v = member.value();
      if (key == "username" || key == "message") continue;  // text users chose
      if (key == "role") {
        if (!own_role_place(depth) || !v.is_string() || v.get_string() != r_.role) {
          bad("a role outside the recipient's own place, or not its own");
        }
        continue;
      }
      if (key == "roles" || key == "winner") {
        if (!(at_state(depth) && ended)) bad("roles or the winner before the game ended");
        continue;
      }
      if (key == "mafia") {
        if (!own_role_place(depth) || r_.role != "mafia" || !v.is_array()) {
          bad("the mafia list to a non-mafia");
        }
        for (const json::value& id : v.get_array()) {
          if (!id.is_string() || !r_.mafia_ids.count(std::string(id.get_string()))) {
            bad("a non-mafia in the mafia list");
          }
        }
        continue;
      }
      if (key == "mafiaVotes") {
        if (!at_you(depth) || r_.role != "mafia") bad("mafia votes in a non-mafia view");
        continue;
      }
      if (key == "isMafia" && r_.role != "detective") bad("isMafia to a non-detective");
      if (key == "action" && at_you(depth) && r_.role != "doctor" && r_.role != "detective") {
        bad("a night choice in the view of a role without one");
      }
      if (key == "channel" && !view_ && type_ == "chat:message" && depth == 1 && v.is_string()) {
        const bool living = r_.seat && r_.seat->in_game && r_.seat->alive;
        if (v.get_string() == "mafia" && (r_.role != "mafia" || !living)) {
          bad("mafia chat to a non-mafia");
        }
        if (v.get_string() == "dead" && r_.playing && living) bad("dead chat to the living");
        continue;
      }
      const bool was_state = in_state_;
      const bool was_you = in_you_;
      if (!view_ && depth == 1 && key == "gameState") in_state_ = true;
      if (at_state(depth) && key == "you") in_you_ = true;
      walk_value(v, depth + 1);
      in_state_ = was_state;
      in_you_ = was_you;
    }
  }

  void walk_value(const json::value& v, int depth) {
    if (v.is_object()) {
      walk_object(v.get_object(), depth);
    } else if (v.is_array()) {
      for (const json::value& item : v.get_array()) walk_value(item, depth + 1);
    } else if (v.is_string()) {
      const std::string_view s = v.get_string();
      if (s == "mafia" || s == "detective" || s == "doctor" || s == "villager") {
        bad("a role name as a value");
      }
    }
  }

  [[noreturn]] void bad(std::string_view why) const {
    std::string detail = "recipient role '" + std::string(r_.role) + "'";
    if (r_.seat) detail += " user " + r_.seat->user_id;
    detail += view_ ? " (session view)\n" : direct_ ? " (sent)\n" : " (broadcast)\n";
    detail.append(text_);
    fail("privacy: " + std::string(why), detail);
  }

  const recipient& r_;
  std::string_view text_;
  bool direct_;
  bool view_;
  std::string_view type_;
  bool in_state_ = false;
  bool in_you_ = false;
};

class mafia_world {
 public:
  explicit mafia_world(const mafia_module& module) : module_(module) {
    static const bool config_ok = [] {
      const std::string why = mafia_module::check_config(harness_config());
      if (!why.empty()) fail("harness config", why);
      return true;
    }();
    (void)config_ok;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      slots_[i].conn = 2 + i;
      slots_[i].identity = identity_of(i);
    }
    add_room("matchmaking", json::object{{"queue", true}});
    add_room("PRVT22", json::object{{"isPublic", false},
                                    {"maxPlayers", 8},
                                    {"settings",
                                     {{"nightTime", 1}, {"discussionTime", 1}, {"voteTime", 1}}}});
    // The matchmaker's room for users 0-4 (connections 2-6), as if they had been matched.
    json::array matched;
    for (std::uint64_t k = 0; k < 5; ++k) {
      matched.push_back(json::object{{"userId", user_id(k)}, {"username", name_of(k)}});
    }
    add_room("MATCH2", json::object{{"matched", std::move(matched)}});
  }

  // One line of the input: `slot` from the selector, `body` what follows it.
  void line(std::size_t slot, std::string_view body) {
    const auto op = body.size() > 0 ? static_cast<unsigned char>(body[0]) : 0;
    const auto arg = body.size() > 1 ? static_cast<unsigned char>(body[1]) : 0;
    const std::string_view rest = body.size() > 2 ? body.substr(2) : std::string_view();
    if (trace_) {
      std::fprintf(stderr, "-- t=%lld slot %zu op %d arg %d\n", static_cast<long long>(now_), slot,
                   op % 27, arg);
    }
    switch (op % 27) {
      case 0:  // raw text, as the client wrote it
        deliver(slot, body.size() > 1 ? body.substr(1) : std::string_view());
        break;
      case 1:
        deliver(slot, message("room:join", {{"roomCode", code_for_join(arg)}}));
        break;
      case 2:
        deliver(slot, create_message(arg));
        break;
      case 3:
        deliver(slot, R"({"type":"matchmaking:join"})");
        break;
      case 4:
        deliver(slot, identify_message(arg));
        break;
      case 5:
        deliver(slot, R"({"type":"room:ready"})");
        break;
      case 6:
        deliver(slot, R"({"type":"room:unready"})");
        break;
      case 7:
        deliver(slot, R"({"type":"room:start"})");
        break;
      case 8:
        deliver(slot, message("action:mafiaKill", {{"targetId", target(slot, arg)}}));
        break;
      case 9:
        deliver(slot, message("action:doctorSave", {{"targetId", target(slot, arg)}}));
        break;
      case 10:
        deliver(slot, message("action:detectiveInspect", {{"targetId", target(slot, arg)}}));
        break;
      case 11:
        deliver(slot, message("chat:send", {{"message", rest.empty() ? "hello" : rest}}));
        break;
      case 12:
        deliver(slot,
                message("vote:cast", {{"targetId", arg == 0xFE ? json::value(nullptr)
                                                               : json::value(target(slot, arg))}}));
        break;
      case 13:
        deliver(slot, R"({"type":"room:leave"})");
        break;
      case 14:
        deliver(slot, R"({"type":"matchmaking:leave"})");
        break;
      case 15:
        deliver(slot, message("room:kick", {{"userId", target(slot, arg)}}));
        break;
      case 16:
        deliver(slot, message("chat:mute", {{"userId", target(slot, arg)}}));
        break;
      case 17:
        deliver(slot, message("chat:unmute", {{"userId", target(slot, arg)}}));
        break;
      case 18:
        disconnect(slot);
        break;
      case 19:
        presence(slot, (arg & 1) ? presence_stage::warned : presence_stage::away);
        break;
      case 20:
        presence(slot, (arg & 1) ? presence_stage::degraded : presence_stage::back);
        break;
      case 21:
        now_ += (time_ms{arg} + 1) * 250;
        break;
      case 22:
        answer_create(arg);
        break;
      case 23:
        answer_record(arg);
        break;
      case 24:
        restart(arg);
        break;
      case 25:
        engine_input(arg, input_kind::inactive);
        break;
      case 26:
        engine_input(arg, input_kind::admin_close);
        break;
    }
    settle();
    now_ += 100;
    fire_due();
  }

  void check_all() const {
    for (const auto& r : rooms_) {
      if (!r.closed) check_restores(r);
    }
  }

 private:
  struct slot_state {
    connection_id conn = 0;
    std::shared_ptr<const connection_identity> identity;
    int room = -1;  // index into rooms_, -1: in no room (its next message is a first message)
  };
  struct room_entry {
    std::string code;
    std::unique_ptr<game> instance;
    room_rng rng;
    bool queue = false;
    bool closed = false;
    std::map<std::uint64_t, time_ms> timers;
    std::map<connection_id, role_id> bound;
    std::deque<std::pair<std::uint64_t, json::object>> creates;  // unanswered create_room
    std::deque<std::string> records;                             // unanswered record keys
  };
  struct sent_frame {
    connection_id conn;
    frame_ptr frame;
    bool direct;
  };

  static constexpr std::size_t max_rooms = 12;

  static std::string name_of(std::uint64_t k) { return "Player " + std::to_string(k); }
  static std::shared_ptr<const connection_identity> identity_of(std::uint64_t k) {
    return std::make_shared<const connection_identity>(
        connection_identity{user_id(k), name_of(k), true});
  }

  static std::string message(std::string_view type, json::object payload) {
    return json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}});
  }

  std::string code_for_join(unsigned char arg) const {
    std::vector<const room_entry*> open;
    for (const auto& r : rooms_) {
      if (!r.closed && !r.queue) open.push_back(&r);
    }
    if (open.empty() || arg == 0xFF) return "ZZZZZZ";  // no such room
    return open[arg % open.size()]->code;
  }

  static std::string create_message(unsigned char arg) {
    if (arg == 0xFF) return message("room:create", {{"settings", {{"nightTime", 0}}}});
    return message("room:create", {{"isPublic", (arg & 1) != 0},
                                   {"maxPlayers", 4 + ((arg >> 1) & 7)},
                                   {"settings",
                                    {{"nightTime", 1 + ((arg >> 4) & 1)},
                                     {"discussionTime", 1 + ((arg >> 5) & 1)},
                                     {"voteTime", 1 + ((arg >> 6) & 1)}}}});
  }

  // auth:identify as user arg % 10: 0-7 with their tokens, 8 a new user, 9 a forged token.
  std::string identify_message(unsigned char arg) const {
    const unsigned k = arg % 10;
    json::object payload{{"username", name_of(k)}};
    if (k < 8) payload["token"] = module_.keys().token_for(user_id(k));
    if (k == 9) payload["token"] = user_id(1) + ".00000000000000000000000000000000";
    return message("auth:identify", std::move(payload));
  }

  // A user id of a seat of the connection's room (so that targets hit players), or a stranger.
  std::string target(std::size_t slot, unsigned char arg) const {
    const int r = slots_[slot].room;
    const auto* room = r >= 0 ? dynamic_cast<const mafia_game*>(rooms_[r].instance.get()) : nullptr;
    if (!room || room->state().players.empty() || arg == 0xFF) return user_id(99);
    const auto& players = room->state().players;
    return players[arg % players.size()].user_id;
  }

  int find_room(std::string_view code) const {
    for (std::size_t i = 0; i < rooms_.size(); ++i) {
      if (!rooms_[i].closed && rooms_[i].code == code) return static_cast<int>(i);
    }
    return -1;
  }

  std::string next_code() {
    std::string code = "RM";
    std::size_t n = codes_made_++;
    for (int i = 0; i < 4; ++i, n /= mafia::room_code_alphabet.size()) {
      code.push_back(mafia::room_code_alphabet[n % mafia::room_code_alphabet.size()]);
    }
    return code;
  }

  int add_room(std::string code, const json::object& options) {
    if (rooms_.size() >= max_rooms) return -1;
    create_result made = module_.create(options, code);
    if (made.error || !made.instance) fail("create() refused", json::serialize(options));
    room_entry entry;
    entry.code = std::move(code);
    entry.instance = std::move(made.instance);
    entry.rng = room_rng(rooms_.size() + 1);
    entry.queue = options.contains("queue");
    rooms_.push_back(std::move(entry));
    const int index = static_cast<int>(rooms_.size() - 1);
    simple(index, input_kind::created);
    return index;
  }

  // A fresh connection in the slot: a new id, no room, no identity yet.
  void renew(std::size_t slot) {
    slots_[slot].conn = next_conn_++;
    slots_[slot].identity = nullptr;
    slots_[slot].room = -1;
  }

  std::optional<std::size_t> slot_of(connection_id conn, int room) const {
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].conn == conn && slots_[i].room == room) return i;
    }
    return std::nullopt;
  }

  // A message from the client of `slot`, through io's decode and routing.
  void deliver(std::size_t slot, std::string_view text) {
    if (!ws::valid_utf8(text)) return;  // io closes the socket on a text frame that is not UTF-8
    slot_state& s = slots_[slot];
    const bool first = s.room < 0;
    decode_result decoded = module_.decode(text, first);
    if (static_cast<bool>(decoded.error) == static_cast<bool>(decoded.cmd)) {
      fail("decode gave both or neither of a command and an error", text);
    }
    if (decoded.error) return;
    if (decoded.identity) {
      // Answered at the edge. A new user's id is random: replaced by one of ours, so that runs
      // repeat (a verified token's user is kept).
      const std::string& id = decoded.identity->user_id;
      bool known = false;
      for (std::uint64_t k = 0; k < 8; ++k) known = known || id == user_id(k);
      s.identity = std::make_shared<const connection_identity>(connection_identity{
          known ? id : user_id(100 + new_users_++), decoded.identity->display_name, true});
      return;
    }
    int target = s.room;
    if (first) {
      if (decoded.creates_room) {
        target = add_room(next_code(), decoded.create_options);
      } else {
        target = find_room(decoded.room_code);
        if (target < 0 && decoded.room_code == mafia::queue_code) {
          target = add_room(std::string(mafia::queue_code), json::object{{"queue", true}});
        }
      }
      if (target < 0) return;  // room_not_found (or no room could be made): io answers
      s.room = target;
    }
    input in;
    in.kind = input_kind::command;
    in.conn = s.conn;
    in.cmd = std::move(decoded.cmd);
    if (first) {
      in.secret = "secret-" + std::to_string(s.conn);
      in.identity = s.identity;
    }
    const connection_id conn = s.conn;
    if (decoded.leaves_room) {
      // io lets go of the room at once; the worker drops the connection after the step.
      s.room = -1;
      rooms_[target].bound.erase(conn);
    }
    step(target, std::move(in));
  }

  void disconnect(std::size_t slot) {
    const int r = slots_[slot].room;
    const connection_id conn = slots_[slot].conn;
    renew(slot);
    if (r < 0) return;
    rooms_[r].bound.erase(conn);
    simple(r, input_kind::disconnect, conn);
  }

  void presence(std::size_t slot, presence_stage stage) {
    if (slots_[slot].room < 0) return;
    input in;
    in.kind = input_kind::presence;
    in.conn = slots_[slot].conn;
    in.stage = stage;
    step(slots_[slot].room, std::move(in));
  }

  int room_at(unsigned char arg) const {
    std::vector<int> open;
    for (std::size_t i = 0; i < rooms_.size(); ++i) {
      if (!rooms_[i].closed) open.push_back(static_cast<int>(i));
    }
    return open.empty() ? -1 : open[arg % open.size()];
  }

  void engine_input(unsigned char arg, input_kind kind) {
    if (const int r = room_at(arg); r >= 0) simple(r, kind);
  }

  // The engine's answer to the oldest create_room of any room: made (arg bit 0 clear) or refused.
  void answer_create(unsigned char arg) {
    for (std::size_t i = 0; i < rooms_.size(); ++i) {
      room_entry& asking = rooms_[i];
      if (asking.closed || asking.creates.empty()) continue;
      auto [request, options] = std::move(asking.creates.front());
      asking.creates.pop_front();
      auto reply = std::make_unique<room_created_reply>();
      const int made = (arg & 1) == 0 ? add_room(next_code(), options) : -1;
      if (made >= 0) {
        reply->code = rooms_[made].code;
      } else {
        reply->error = "limit_reached";
      }
      input in;
      in.kind = input_kind::room_created;
      in.timer_key = request;
      in.cmd = std::move(reply);
      step(static_cast<int>(i), std::move(in));
      return;
    }
  }

  // The history's answer to the oldest record of a room: written (arg bit 0 clear) or not now.
  void answer_record(unsigned char arg) {
    for (std::size_t i = 0; i < rooms_.size(); ++i) {
      room_entry& r = rooms_[i];
      if (r.closed || r.records.empty()) continue;
      auto reply = std::make_unique<record_written_reply>();
      reply->key = std::move(r.records.front());
      reply->written = (arg & 1) == 0;
      r.records.pop_front();
      input in;
      in.kind = input_kind::record_written;
      in.cmd = std::move(reply);
      step(static_cast<int>(i), std::move(in));
      return;
    }
  }

  // The room as a restart brings it back: restored from its snapshot, its timers kept, sessions
  // of seats it did not keep ended.
  void restart(unsigned char arg) {
    const int r = room_at(arg);
    if (r < 0) return;
    room_entry& room = rooms_[r];
    const std::string bytes = room.instance->snapshot();
    room.instance = module_.restore(bytes);
    if (!room.instance) fail("a room's snapshot does not restore", bytes);
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      if (slots_[i].room == r && !room.instance->holds_session(slots_[i].conn)) {
        room.bound.erase(slots_[i].conn);
        renew(i);
      }
    }
    simple(r, input_kind::created);
  }

  void simple(int r, input_kind kind, connection_id conn = 0, std::uint64_t timer_key = 0) {
    input in;
    in.kind = kind;
    in.conn = conn;
    in.timer_key = timer_key;
    step(r, std::move(in));
  }

  // Every room's timers, fired once due, earliest deadline first (as the engine's wheel would).
  void fire_due() {
    for (int fired = 0; fired < 64; ++fired) {
      int room = -1;
      std::uint64_t key = 0;
      time_ms deadline = 0;
      for (std::size_t i = 0; i < rooms_.size(); ++i) {
        if (rooms_[i].closed) continue;
        for (const auto& [k, d] : rooms_[i].timers) {
          if (d <= now_ && (room < 0 || d < deadline)) {
            room = static_cast<int>(i);
            key = k;
            deadline = d;
          }
        }
      }
      if (room < 0) return;
      rooms_[room].timers.erase(key);
      simple(room, input_kind::timer, 0, key);
      settle();
    }
  }

  // Messages that releases hand on (a matched player's room:join, a failed match's way back).
  void settle() {
    for (int handled = 0; handled < 64 && !handed_on_.empty(); ++handled) {
      auto [slot, text] = std::move(handed_on_.front());
      handed_on_.pop_front();
      deliver(slot, text);
    }
    handed_on_.clear();
  }

  void step(int r, input in) {
    room_entry& room = rooms_[r];
    if (room.closed) return;
    const std::string before = room.instance->snapshot();
    effects out;
    room.instance->step(in, now_, room.rng, out);
    std::vector<sent_frame> frames;
    for (const effect& e : out.list()) {
      switch (e.kind) {
        case effect_kind::send:
          frames.push_back({e.conn, e.frame, true});
          break;
        case effect_kind::send_roles:
          for (const auto& [conn, role] : room.bound) {
            if ((e.roles & role_bit(role)) != 0 && conn != e.except) {
              frames.push_back({conn, e.frame, false});
            }
          }
          break;
        case effect_kind::bind:
          if (slot_of(e.conn, r)) room.bound[e.conn] = e.role;
          break;
        case effect_kind::release:
          if (const auto slot = slot_of(e.conn, r)) {
            room.bound.erase(e.conn);
            slots_[*slot].room = -1;
            if (!e.text.empty()) handed_on_.emplace_back(*slot, e.text);
          }
          break;
        case effect_kind::close_connection:
          if (const auto slot = slot_of(e.conn, r)) {
            room.bound.erase(e.conn);
            renew(*slot);
          }
          break;
        case effect_kind::set_timer:
          if (e.timer_key >= first_reserved_timer_key) fail("a reserved timer key", room.code);
          room.timers[e.timer_key] = e.deadline;
          break;
        case effect_kind::cancel_timer:
          if (e.timer_key >= first_reserved_timer_key) fail("a reserved timer key", room.code);
          room.timers.erase(e.timer_key);
          break;
        case effect_kind::create_room:
          room.creates.emplace_back(e.timer_key, e.fields);
          break;
        case effect_kind::record:
          check_record(e.text, e.fields);
          room.records.push_back(e.text);
          break;
        case effect_kind::close_room:
          room.closed = true;
          break;
        default:
          break;
      }
      if (room.closed) break;  // nothing after a close applies
    }
    if (room.closed) {
      // The engine closes the connections the room still had.
      for (std::size_t i = 0; i < slots_.size(); ++i) {
        if (slots_[i].room == r) renew(i);
      }
      room.bound.clear();
      room.timers.clear();
    }
    if (trace_) {
      for (const auto& f : frames) {
        std::fprintf(stderr, "%s -> %llu%s %s\n", room.code.c_str(),
                     static_cast<unsigned long long>(f.conn), f.direct ? "" : " (all)",
                     f.frame->c_str());
      }
    }
    const bool unchanged = out.marked_unchanged() && !room.closed;
    if (unchanged && room.instance->snapshot() != before) {
      fail("a step marked unchanged changed the snapshot",
           before + "\n" + room.instance->snapshot());
    }
    // An unchanged state was checked after the step that made it: its views and bytes again.
    check_privacy(room, frames, !unchanged);
    if (!room.closed && !unchanged) check_restores(room);
  }

  void check_restores(const room_entry& room) const {
    const std::string bytes = room.instance->snapshot();
    auto restored = module_.restore(bytes);
    if (!restored || restored->snapshot() != bytes) fail("a snapshot does not restore", bytes);
  }

  static void check_record(const std::string& key, const json::object& fields) {
    std::string error;
    const std::optional<history_record> record = history_record_from_json(fields, error);
    if (!record) fail("a record the history cannot read: " + error, json::serialize(fields));
    if (!validate_history_record(*record, error)) {
      fail("a record the history refuses: " + error, json::serialize(fields));
    }
    if (record->game_id != key) fail("a record keyed by another id", key);
  }

  void check_privacy(const room_entry& room, const std::vector<sent_frame>& frames,
                     bool views) const {
    const auto* game = dynamic_cast<const mafia_game*>(room.instance.get());
    const auto truth = [&](connection_id conn) {
      recipient r;
      if (!game) return r;
      const mafia::room_state& s = game->state();
      r.playing = s.current == mafia::phase::night || s.current == mafia::phase::day ||
                  s.current == mafia::phase::voting;
      for (const auto& p : s.players) {
        if (p.in_game && p.assigned == mafia::role::mafia) r.mafia_ids.insert(p.user_id);
        if (p.conn == conn && conn != 0) r.seat = &p;
      }
      if (r.seat && r.seat->in_game) r.role = mafia::role_name(r.seat->assigned);
      return r;
    };
    for (const auto& f : frames) {
      const recipient r = truth(f.conn);
      privacy_check(r, *f.frame, f.direct, false).run();
    }
    if (room.closed || !views) return;
    // What a resume or a resync would show each bound connection.
    for (const auto& [conn, role] : room.bound) {
      const recipient r = truth(conn);
      const session_view view = room.instance->view_of(conn, now_);
      if (!view.state_json.empty()) privacy_check(r, view.state_json, true, true).run();
    }
  }

  const mafia_module& module_;
  std::deque<room_entry> rooms_;  // a deque: a room made mid-step leaves references valid
  std::array<slot_state, 8> slots_;
  std::deque<std::pair<std::size_t, std::string>> handed_on_;
  time_ms now_ = 1'700'000'000'000;
  connection_id next_conn_ = 100;
  std::size_t codes_made_ = 0;
  std::uint64_t new_users_ = 0;
  bool trace_ = std::getenv("PARTYD_FUZZ_TRACE") != nullptr;
};

}  // namespace partyd::mafia_fuzz
