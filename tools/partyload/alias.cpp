// partyload: the alias scenario. R rooms, each on one io thread, play Alias games in a loop on the
// session layer (docs/protocol/sessions.md): the host connects and sends CREATE_ROOM; M players
// join by the code; the host starts a setup of 2 teams, every player joins team_1 (odd players)
// or team_2 (even ones) and the host confirms; in each round the host waits for WORD_REVEALED,
// thinks (uniform in [0.5, 1.5] x --think-ms) and swipes the word (1 in 5 skipped); at
// NEXT_ROUND_READY it confirms the next round after ~1 s; after FINAL_RESULTS it restarts the
// game and sets the teams up again. Every client ACKs reliable frames and sends a HEARTBEAT every
// heartbeatIntervalMs with the checksum of alias_game::checksum_of (games/alias/game.cpp),
// computed from the frames it saw, as a real client would: a mismatch costs the server a
// STATE_SNAPSHOT (counted as a resync; the client then takes the snapshot's state).
// --drop-every-s S: every S seconds a random seated player somewhere drops its socket without a
// close and, 1 to 4 s later, resumes with RECONNECT on a new one; the missedEvents of a backfill
// are applied in order as if they had come live (they must continue the numbering without a
// gap); after either kind of resume the view is the server's gameState.
// Measured after a warm-up (the ramp and 5 s: the start's connection storm is not a game's steady
// state), over the rest of --duration: delivery per frame type (arrival minus the frame's
// "timestamp") and the host's swipe round trip (WORD_SWIPED to its WORD_RESULT). Connection and
// reconnect figures and the counts cover the whole run: most connections are made in the ramp.
#include <algorithm>
#include <array>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>

#include "room_loop.hpp"
#include "ws_conn.hpp"

namespace partyload {
namespace {

// Frame types with a latency histogram of their own; any other type gets one in
// alias_stats::other.
constexpr std::array<std::string_view, 31> known_types = {  // the server's
    "ROOM_CREATED", "ROOM_JOINED", "PLAYER_JOINED", "PLAYER_LEFT", "PLAYER_STATUS", "HOST_CHANGED",
    "TEAM_SETUP_STARTED", "PLAYER_ASSIGNED_TEAM", "TEAMS_BALANCED", "TEAM_SETUP_CANCELLED",
    "COUNTDOWN", "ROUND_STARTED", "WORD_REVEALED", "WORD_RESULT", "TIMER_TICK", "GAME_PAUSED",
    "GAME_RESUMED", "ROUND_ENDED", "SCORE_SUMMARY", "NEXT_ROUND_READY", "GAME_ENDED",
    "FINAL_RESULTS", "GAME_RESTARTED", "ROOM_CLOSED", "ERROR",
    // the session layer's
    "CONNECTED", "RECONNECTED", "RECONNECT_FAILED", "HEARTBEAT_ACK", "STATE_SNAPSHOT",
    "COMMAND_DUPLICATE"};
// Reported even when no frame of theirs was measured.
constexpr std::array<std::string_view, 7> reported_types = {
    "TIMER_TICK",  "WORD_RESULT", "WORD_REVEALED", "ROUND_STARTED",
    "ROUND_ENDED", "COUNTDOWN",   "SCORE_SUMMARY"};

constexpr int type_slot(std::string_view type) {
  for (std::size_t i = 0; i < known_types.size(); ++i) {
    if (known_types[i] == type) return static_cast<int>(i);
  }
  return -1;
}
constexpr int word_result_slot = type_slot("WORD_RESULT");

// What the alias scenario measures on one io thread, besides the shard's counters. Only that
// thread writes; `other` is read after the threads have been joined, the rest at any time.
struct alias_stats {
  std::array<histogram, known_types.size()> delivery;  // by frame type
  std::map<std::string, std::unique_ptr<histogram>, std::less<>> other;
  histogram swipe;      // WORD_SWIPED -> the host's WORD_RESULT of that word
  histogram connect;    // TCP connect start -> CONNECTED (a new seat) or RECONNECTED (a resume)
  histogram reconnect;  // RECONNECT sent -> RECONNECTED
  std::atomic<std::uint64_t> heartbeat_acks{0};
  std::atomic<std::uint64_t> resyncs_moved{0};  // the room's stateVersion moved since the beat
  std::atomic<std::uint64_t> drops{0};
  std::atomic<std::uint64_t> drops_skipped{0};    // the chosen room had no seated player
  std::atomic<std::uint64_t> replayed{0};         // missedEvents applied
  std::atomic<std::uint64_t> view_mismatches{0};  // a backfill's result differed from gameState
  std::atomic<std::uint64_t> swipes{0};
  std::atomic<std::uint64_t> swipes_withheld{0};  // the think time would end after the round
  std::atomic<std::uint64_t> rounds{0};
};

// A participant as the checksum sees it.
struct member {
  std::string id;
  std::string team;  // "" when on no team
  bool connected = true;
};

// What a client knows of its room, from its frames: the fields of the alias checksum.
struct alias_view {
  std::string phase;
  std::int64_t version = 0;
  std::int64_t round = 0;
  std::string active_team;
  std::vector<std::pair<std::string, std::int64_t>> teams;  // id order
  std::vector<member> people;  // the host first, then players in join order

  member* find(std::string_view id) {
    for (member& m : people) {
      if (m.id == id) return &m;
    }
    return nullptr;
  }
  int players() const { return people.empty() ? 0 : static_cast<int>(people.size()) - 1; }

  static std::string text_of(const json::value& v) {
    return v.is_string() ? std::string(v.get_string()) : std::string();
  }
  // The teams and, from their player lists, everyone's team.
  void set_teams(const json::array& list) {
    teams.clear();
    for (member& m : people) m.team.clear();
    for (const json::value& entry : list) {
      const json::object& t = entry.as_object();
      const std::string id = text_of(t.at("id"));
      teams.emplace_back(id, t.at("score").to_number<std::int64_t>());
      for (const json::value& player : t.at("players").as_array()) {
        if (member* m = find(player.as_string())) m->team = id;
      }
    }
  }
  void set_people(const json::array& list) {
    people.clear();
    for (const json::value& entry : list) {
      const json::object& p = entry.as_object();
      people.push_back({text_of(p.at("id")), text_of(p.at("teamId")), p.at("connected").as_bool()});
    }
  }
  // A viewer's state (ROOM_CREATED's and ROOM_JOINED's room, gameState); not its phase.
  void set_room(const json::object& room) {
    set_people(room.at("players").as_array());
    set_teams(room.at("teams").as_array());
    round = room.at("roundNumber").to_number<std::int64_t>();
    active_team = text_of(room.at("activeTeamId"));
  }
  void set_score(std::string_view team, std::int64_t score) {
    for (auto& [id, points] : teams) {
      if (id == team) points = score;
    }
  }

  // The checksum's text, in alias_game::checksum_of's order.
  std::string text() const {
    std::string out = phase + "|" + std::to_string(round) + "|" + active_team + "|";
    for (const auto& [id, score] : teams) out += id + "=" + std::to_string(score) + ";";
    out += "|";
    for (const member& m : people) out += m.id + ":" + m.team + (m.connected ? ":1;" : ":0;");
    return out;
  }
  // FNV-1a 32 of text(), as 8 lower-case hex digits.
  std::string checksum() const {
    std::uint32_t hash = 2166136261u;
    for (unsigned char c : text()) hash = (hash ^ c) * 16777619u;
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", hash);
    return hex;
  }
};

class alias_room;

class alias_client final : public ws_conn {
 public:
  alias_client(alias_room& room, int index);

  // A new seat: CREATE_ROOM (the host) or JOIN_ROOM on a fresh connection.
  void open();
  // Drops the socket and forgets the seat (the room starts over).
  void reset();
  void halt() {
    reset();
    stop();
  }
  bool droppable() const { return index_ > 0 && seated_ && is_open(); }
  // Drops the socket without a close and resumes the session after `pause`.
  void drop_for(std::chrono::nanoseconds pause);

 private:
  void on_open() override;
  void on_frame(std::string_view frame) override;
  void on_closed(bool expected) override;
  void on_unnumbered(std::string_view type, std::string_view frame, std::int64_t now);
  // A numbered frame, live or from a backfill (then not measured, and nothing is done on it
  // until the backfill is applied); `gap` is the error a missing number counts as.
  void on_numbered(std::string_view frame, const numbering& n, bool live, std::string_view gap);
  void on_game_frame(std::string_view type, std::string_view frame, bool live);
  // The frame's change to view_.
  void apply(std::string_view type, std::string_view frame);
  void on_connected(std::string_view frame, std::int64_t now);
  void on_resumed(std::string_view frame, std::int64_t now);
  void on_snapshot(std::string_view frame);
  void on_error(std::string_view frame);
  // What this client does in its view's phase (once per phase for the host).
  void act();
  void command(std::string_view type, std::string_view payload);
  void command_later(std::chrono::nanoseconds delay, std::string type, std::string payload);
  void swipe_later(std::string_view word_id);
  void arm_heartbeat(bool next);
  void record_delivery(std::string_view type, std::string_view frame);
  bool measuring() const { return run_.measuring.load(std::memory_order_relaxed); }

  alias_room& room_;
  alias_stats& stats_;
  int index_;  // 0 = host
  std::string name_;
  net::steady_timer action_timer_;  // the host's next command
  net::steady_timer heartbeat_timer_;
  net::steady_timer resume_timer_;
  std::int64_t heartbeat_ms_ = 10000;
  std::uint64_t last_seq_ = 0;
  alias_view view_;
  std::int64_t beat_version_ = -1;  // the stateVersion of the last HEARTBEAT
  std::string session_id_;
  std::string resume_token_;
  std::string epoch_;
  std::string player_id_;
  bool seated_ = false;    // in the room on an open connection
  bool resuming_ = false;  // the connection being opened sends RECONNECT
  bool join_sent_ = false;
  std::string acted_phase_;  // the host: the phase whose command is sent or scheduled
  std::string word_id_;      // the host: the word shown, and the one swiped
  std::int64_t swipe_sent_ns_ = 0;
  std::int64_t reconnect_sent_ns_ = 0;
  std::string scratch_;
};

// An alias room: the host (client 0) and its players; room_base restarts it after a failure.
class alias_room : public room_base<alias_room, alias_client> {
 public:
  alias_room(runner& r, alias_stats& stats, const alias_options& alias, int thread, int number)
      : room_base(r, thread, number * 7919 + 31), stats_(stats), alias_(alias) {
    for (int i = 0; i <= r.opt.players; ++i) {
      clients_.push_back(std::make_unique<alias_client>(*this, i));
    }
  }

  alias_stats& stats() { return stats_; }
  int round_sec() const { return alias_.round_sec; }

  // The host's pause before a confirm or a restart: ~1 s, not in step with the other rooms.
  std::chrono::nanoseconds host_pause() {
    std::uniform_int_distribution<std::int64_t> ms(800, 1200);
    return std::chrono::milliseconds(ms(rng()));
  }

  void open_room() {
    last_progress_ns = mono_ns();
    code.clear();
    round_ends_at_ms = 0;
    clients_[0]->open();
  }
  // --drop-every-s: a seated player of this room (a random one) drops and resumes 1 to 4 s later.
  void drop_one() {
    if (r().run.stopping.load()) return;
    std::uniform_int_distribution<int> pick(1, players());
    const int first = pick(rng());
    for (int k = 0; k < players(); ++k) {
      alias_client& c = *clients_[1 + (first - 1 + k) % players()];
      if (!c.droppable()) continue;
      std::uniform_int_distribution<std::int64_t> pause_ms(1000, 4000);
      c.drop_for(std::chrono::milliseconds(pause_ms(rng())));
      return;
    }
    histogram::bump(stats_.drops_skipped);
  }

  std::int64_t round_ends_at_ms = 0;  // the running round's roundEndsAt (server wall clock)

 private:
  alias_stats& stats_;
  const alias_options& alias_;
};

alias_client::alias_client(alias_room& room, int index)
    : ws_conn(room.context(), room.counters(), room.r().run),
      room_(room),
      stats_(room.stats()),
      index_(index),
      action_timer_(room.context()),
      heartbeat_timer_(room.context()),
      resume_timer_(room.context()) {
  name_ = index == 0 ? "H" : "P";
  name_ += std::to_string(index);
}

void alias_client::open() {
  reset();
  connect(room_.r().endpoints, room_.r().opt.host, "/ws/alias");
}

void alias_client::reset() {
  action_timer_.cancel();
  heartbeat_timer_.cancel();
  resume_timer_.cancel();
  drop();
  last_seq_ = 0;
  view_ = alias_view{};
  beat_version_ = -1;
  session_id_.clear();
  resume_token_.clear();
  player_id_.clear();
  seated_ = false;
  resuming_ = false;
  join_sent_ = false;
  acted_phase_.clear();
  word_id_.clear();
  swipe_sent_ns_ = 0;
}

void alias_client::drop_for(std::chrono::nanoseconds pause) {
  seated_ = false;
  heartbeat_timer_.cancel();
  drop();
  histogram::bump(stats_.drops);
  resume_timer_.expires_after(pause);
  resume_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped() || run_.stopping.load(std::memory_order_relaxed)) return;
    resuming_ = true;
    connect(room_.r().endpoints, room_.r().opt.host, "/ws/alias");
  });
}

void alias_client::on_open() {
  if (resuming_) {
    reconnect_sent_ns_ = mono_ns();
    send_reconnect(room_.code, session_id_, resume_token_, last_seq_);
    histogram::bump(shard_.actions);
    return;
  }
  std::string& text = next_frame();
  if (index_ == 0) {
    text = "{\"type\":\"CREATE_ROOM\",\"version\":\"1.0\",\"payload\":{\"hostName\":\"";
    text += name_;
    text += "\",\"roundDurationSec\":";
    text += std::to_string(room_.round_sec());
    text += ",\"roundsPerTeam\":2,\"scoreReviewSec\":5}}";
  } else {
    text = "{\"type\":\"JOIN_ROOM\",\"roomId\":\"";
    text += room_.code;
    text += "\",\"version\":\"1.0\",\"payload\":{\"playerName\":\"";
    text += name_;
    text += "\"}}";
  }
  histogram::bump(shard_.actions);
  commit();
}

void alias_client::record_delivery(std::string_view type, std::string_view frame) {
  // Both clocks are this machine's wall clock; "timestamp" is in whole ms (cut, not rounded),
  // so a delivery is overstated by up to 1 ms.
  const auto sent_ms = int_field(frame, "timestamp");
  if (!sent_ms) return error("frame_without_timestamp");
  const std::int64_t latency = wall_ns() - *sent_ms * 1'000'000;
  const int slot = type_slot(type);
  if (slot >= 0) return stats_.delivery[slot].record(latency);
  auto it = stats_.other.find(type);
  if (it == stats_.other.end()) {
    it = stats_.other.emplace(std::string(type), std::make_unique<histogram>()).first;
  }
  it->second->record(latency);
}

void alias_client::on_frame(std::string_view frame) {
  const std::int64_t now = mono_ns();
  room_.last_progress_ns = now;
  const numbering n = read_numbering(frame);
  if (!n.error.empty()) return error(n.error);
  if (n.seq != 0) return on_numbered(frame, n, true, "sequence_gap");
  const std::string_view type = frame_type(frame);
  if (measuring()) record_delivery(type, frame);
  on_unnumbered(type, frame, now);
}

void alias_client::on_unnumbered(std::string_view type, std::string_view frame, std::int64_t now) {
  if (type == "HEARTBEAT_ACK") {
    histogram::bump(stats_.heartbeat_acks);
  } else if (type == "STATE_SNAPSHOT") {
    on_snapshot(frame);
  } else if (type == "CONNECTED") {
    on_connected(frame, now);
  } else if (type == "RECONNECTED") {
    on_resumed(frame, now);
  } else if (type == "RECONNECT_FAILED") {
    if (run_.log_frame()) {
      std::fprintf(stderr, "alias: resume failed: %.*s\n",
                   static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
    }
    scratch_ = "RECONNECT_FAILED:";
    scratch_ += string_field(frame, "reason");
    error(scratch_);
    room_.abort_room();
  } else if (type == "ERROR") {
    on_error(frame);  // refused before it reached the room
  } else if (type != "COMMAND_DUPLICATE") {
    scratch_ = "unnumbered_frame:";
    scratch_ += type;
    error(scratch_);
  }
}

void alias_client::on_numbered(std::string_view frame, const numbering& n, bool live,
                               std::string_view gap) {
  if (!take_numbered(n, last_seq_, gap)) return;
  const std::string_view type = frame_type(frame);
  if (!live) {
    histogram::bump(stats_.replayed);
  } else if (measuring()) {
    record_delivery(type, frame);
  }
  on_game_frame(type, frame, live);
}

void alias_client::on_game_frame(std::string_view type, std::string_view frame, bool live) {
  try {
    apply(type, frame);
  } catch (const std::exception&) {
    if (run_.log_frame()) {
      std::fprintf(stderr, "alias: unreadable frame: %.*s\n",
                   static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
    }
    return error("bad_frame");
  }
  if (type == "ERROR") return on_error(frame);
  if (type == "ROOM_CLOSED") {
    error("room_closed");
    return room_.abort_room();
  }
  if (index_ == 0) {
    if (type == "ROOM_CREATED") {
      room_.code.assign(string_field(frame, "roomId"));
      if (room_.code.empty()) return error("bad_room_created");
      for (int i = 1; i <= room_.players(); ++i) room_.client(i).open();
    } else if (type == "ROUND_STARTED") {
      room_.round_ends_at_ms = int_field(frame, "roundEndsAt").value_or(0);
    } else if (type == "WORD_REVEALED") {
      swipe_later(string_field(frame, "wordId"));
    } else if (type == "WORD_RESULT") {
      if (swipe_sent_ns_ != 0 && string_field(frame, "wordId") == word_id_) {
        if (measuring()) stats_.swipe.record(mono_ns() - swipe_sent_ns_);
        swipe_sent_ns_ = 0;
      }
    } else if (type == "ROUND_ENDED") {
      action_timer_.cancel();  // the word shown is not swiped any more
      swipe_sent_ns_ = 0;
      histogram::bump(stats_.rounds);
    } else if (type == "FINAL_RESULTS") {
      histogram::bump(shard_.games);
    }
  } else if (type == "ROOM_JOINED") {
    player_id_.assign(string_field(frame, "playerId"));
    if (player_id_.empty()) return error("bad_room_joined");
  } else if (type == "TEAM_SETUP_STARTED") {
    join_sent_ = false;
  }
  if (live) act();
}

void alias_client::apply(std::string_view type, std::string_view frame) {
  const std::string_view phase = string_field(frame, "currentState");
  if (!phase.empty()) view_.phase.assign(phase);
  if (const auto version = int_field(frame, "stateVersion")) view_.version = *version;
  if (type == "WORD_RESULT") {
    const auto score = int_field(frame, "newScore");
    if (!score) throw std::runtime_error("WORD_RESULT without newScore");
    view_.set_score(string_field(frame, "teamId"), *score);
    return;
  }
  if (type == "COUNTDOWN" || type == "ROUND_STARTED" || type == "SCORE_SUMMARY") {
    // Not NEXT_ROUND_READY's: it names the next round, which begins with its countdown.
    if (const auto round = int_field(frame, "roundNumber")) view_.round = *round;
    const std::string_view team = string_field(frame, "activeTeamId");
    if (!team.empty()) view_.active_team.assign(team);
    if (type == "COUNTDOWN" && view_.round == 1) {
      for (auto& team_score : view_.teams) team_score.second = 0;  // a game starts from 0
    }
    return;
  }
  if (type == "PLAYER_JOINED") {
    const std::string_view id = string_field(frame, "playerId");
    if (view_.find(id) == nullptr) view_.people.push_back({std::string(id), {}, true});
    return;
  }
  if (type == "PLAYER_LEFT") {
    const std::string_view id = string_field(frame, "playerId");
    std::erase_if(view_.people, [id](const member& m) { return m.id == id; });
    return;
  }
  if (type == "PLAYER_STATUS") {
    const std::string_view status = string_field(frame, "status");
    if (member* m = view_.find(string_field(frame, "playerId"))) {
      if (status == "away") m->connected = false;
      if (status == "back") m->connected = true;
    }
    return;
  }
  if (type == "TEAM_SETUP_CANCELLED") {
    view_.teams.clear();
    for (member& m : view_.people) m.team.clear();
    return;
  }
  const bool structural = type == "ROOM_CREATED" || type == "ROOM_JOINED" ||
                          type == "TEAM_SETUP_STARTED" || type == "PLAYER_ASSIGNED_TEAM" ||
                          type == "TEAMS_BALANCED" || type == "HOST_CHANGED" ||
                          type == "GAME_RESTARTED";
  if (!structural) return;
  const json::value parsed = json::parse(frame);
  const json::object& payload = parsed.as_object().at("payload").as_object();
  if (type == "ROOM_CREATED" || type == "ROOM_JOINED") {
    view_.set_room(payload.at("room").as_object());
  } else if (type == "GAME_RESTARTED") {
    view_.set_people(payload.at("players").as_array());
    view_.teams.clear();
    view_.round = 0;
    view_.active_team.clear();
  } else {
    if (type == "HOST_CHANGED") {
      // The promoted player moves to the front (and leaves its team: the teams say so).
      const std::string_view host = payload.at("hostId").as_string();
      auto it = std::find_if(view_.people.begin(), view_.people.end(),
                             [host](const member& m) { return m.id == host; });
      if (it != view_.people.end()) std::rotate(view_.people.begin(), it, it + 1);
    }
    view_.set_teams(payload.at("teams").as_array());
  }
}

void alias_client::act() {
  if (!is_open()) return;
  if (index_ == 0) {
    if (view_.phase != acted_phase_) acted_phase_.clear();
    if (!acted_phase_.empty()) return;
    if (view_.phase == "LOBBY" && view_.players() >= room_.players()) {
      acted_phase_ = view_.phase;
      command("START_TEAM_SETUP", "{\"numTeams\":2}");
    } else if (view_.phase == "READY_TO_START" || view_.phase == "READY_FOR_NEXT") {
      acted_phase_ = view_.phase;
      command_later(room_.host_pause(), "CONFIRM_START", "{}");
    } else if (view_.phase == "FINAL_RESULTS") {
      acted_phase_ = view_.phase;
      command_later(room_.host_pause(), "RESTART_GAME", "{}");
    }
    return;
  }
  const member* me = view_.find(player_id_);
  if (me == nullptr) return;
  if (!me->team.empty()) {
    join_sent_ = false;
    return;
  }
  if (view_.phase == "TEAM_SETUP" && !join_sent_) {
    join_sent_ = true;
    command("JOIN_TEAM", index_ % 2 ? "{\"teamId\":\"team_1\"}" : "{\"teamId\":\"team_2\"}");
  }
}

void alias_client::command(std::string_view type, std::string_view payload) {
  std::string& text = next_frame();
  text = "{\"type\":\"";
  text += type;
  text += "\",\"roomId\":\"";
  text += room_.code;
  text += "\",\"version\":\"1.0\",\"payload\":";
  text += payload;
  text += '}';
  histogram::bump(shard_.actions);
  commit();
}

void alias_client::command_later(std::chrono::nanoseconds delay, std::string type,
                                 std::string payload) {
  action_timer_.expires_after(delay);
  action_timer_.async_wait(
      [this, type = std::move(type), payload = std::move(payload)](boost::system::error_code ec) {
        if (ec || stopped() || !is_open()) return;
        command(type, payload);
      });
}

void alias_client::swipe_later(std::string_view word_id) {
  word_id_.assign(word_id);
  swipe_sent_ns_ = 0;
  const std::int64_t delay = room_.think_ns();
  // A swipe that would reach the room after the round's deadline is refused (the round ended
  // before it arrived): a player watching the clock lets that word go.
  if (wall_ns() + delay + 500'000'000 >= room_.round_ends_at_ms * 1'000'000) {
    histogram::bump(stats_.swipes_withheld);
    return;
  }
  action_timer_.expires_after(std::chrono::nanoseconds(delay));
  action_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped() || !is_open()) return;
    std::uniform_int_distribution<int> skip(0, 4);
    std::string payload = "{\"wordId\":\"";
    payload += word_id_;
    payload += skip(room_.rng()) == 0 ? "\",\"action\":\"skipped\"}" : "\",\"action\":\"guessed\"}";
    swipe_sent_ns_ = mono_ns();
    histogram::bump(stats_.swipes);
    command("WORD_SWIPED", payload);
  });
}

void alias_client::on_connected(std::string_view frame, std::int64_t now) {
  if (resuming_ || seated_) return error("unexpected_connected");
  session_id_.assign(string_field(frame, "sessionId"));
  resume_token_.assign(string_field(frame, "resumeToken"));
  epoch_.assign(string_field(frame, "epoch"));
  heartbeat_ms_ = int_field(frame, "heartbeatIntervalMs").value_or(10000);
  if (session_id_.empty() || resume_token_.empty() || heartbeat_ms_ <= 0) {
    return error("bad_connected");
  }
  stats_.connect.record(now - connect_started_ns_);
  seated_ = true;
  arm_heartbeat(false);
}

void alias_client::on_resumed(std::string_view frame, std::int64_t now) {
  if (!resuming_) return error("unexpected_reconnected");
  resuming_ = false;
  stats_.reconnect.record(now - reconnect_sent_ns_);
  stats_.connect.record(now - connect_started_ns_);
  alias_view fresh;
  bool recovered = false;
  std::uint64_t last = 0;
  try {
    const json::value parsed = json::parse(frame);
    const json::object& payload = parsed.as_object().at("payload").as_object();
    recovered = payload.at("recovered").as_bool();
    last = payload.at("lastSeqId").to_number<std::uint64_t>();
    if (last < last_seq_) error("bad_last_seq_id");
    if (recovered) {
      histogram::bump(shard_.recovered);
      // Applied in order, as if they had come live: they must continue our numbering.
      for (const json::value& missed : payload.at("missedEvents").as_array()) {
        const std::string text = json::serialize(missed);
        const numbering n = read_numbering(text);
        if (!n.error.empty() || n.seq == 0) {
          error("bad_missed_event");
          return room_.abort_room();
        }
        on_numbered(text, n, false, "backfill_gap");
        if (!is_open()) return;  // the room started over
      }
      if (last_seq_ != last) error("backfill_gap");
    } else {
      histogram::bump(shard_.snapshot_resumes);
    }
    last_seq_ = std::max(last_seq_, last);
    fresh.set_room(payload.at("gameState").as_object());
    fresh.phase = alias_view::text_of(payload.at("currentState"));
    fresh.version = payload.at("stateVersion").to_number<std::int64_t>();
    const std::string epoch = alias_view::text_of(payload.at("epoch"));
    if (epoch != epoch_) {
      histogram::bump(shard_.epoch_changed);
      epoch_ = epoch;
    }
  } catch (const std::exception&) {
    error("bad_reconnected");
    return room_.abort_room();
  }
  if (recovered && fresh.text() != view_.text()) {
    // What the backfill made of the view is not the room's state: a tracking bug (ours or the
    // frames'). Counted; the server's view is taken either way.
    histogram::bump(stats_.view_mismatches);
    if (run_.log_frame()) {
      std::fprintf(stderr, "alias: after the backfill ours %s, the room's %s\n",
                   view_.text().c_str(), fresh.text().c_str());
    }
  }
  view_ = std::move(fresh);
  seated_ = true;
  join_sent_ = false;  // a JOIN_TEAM sent just before the drop may not have arrived
  histogram::bump(shard_.joined);
  arm_heartbeat(false);
  act();
}

void alias_client::on_snapshot(std::string_view frame) {
  histogram::bump(shard_.resyncs);
  alias_view fresh;
  std::string checksum;
  try {
    const json::value parsed = json::parse(frame);
    const json::object& payload = parsed.as_object().at("payload").as_object();
    fresh.set_room(payload.at("gameState").as_object());
    fresh.phase = alias_view::text_of(payload.at("currentState"));
    fresh.version = payload.at("stateVersion").to_number<std::int64_t>();
    checksum = alias_view::text_of(payload.at("stateChecksum"));
  } catch (const std::exception&) {
    return error("bad_state_snapshot");
  }
  if (fresh.version != beat_version_) {
    histogram::bump(stats_.resyncs_moved);  // a change crossed the heartbeat in flight
  } else if (run_.log_frame()) {
    // The room had not moved (or only presence, which keeps stateVersion): likely ours is wrong.
    std::fprintf(stderr, "alias: resync at stateVersion %lld: ours %s, the room's %s\n",
                 static_cast<long long>(fresh.version), view_.text().c_str(), fresh.text().c_str());
  }
  if (fresh.checksum() != checksum) {
    // gameState and stateChecksum disagree (or our reading of gameState is wrong).
    if (run_.log_frame()) {
      std::fprintf(stderr, "alias: snapshot checksum %s, its gameState gives %s (%s)\n",
                   checksum.c_str(), fresh.checksum().c_str(), fresh.text().c_str());
    }
    error("snapshot_checksum_mismatch");
  }
  view_ = std::move(fresh);
  act();
}

void alias_client::on_error(std::string_view frame) {
  if (run_.log_frame()) {
    std::fprintf(stderr, "alias: %.*s\n",
                 static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
  }
  scratch_ = "alias_error:";
  scratch_ += string_field(frame, "code");
  error(scratch_);
}

void alias_client::arm_heartbeat(bool next) {
  if (stopped()) return;
  heartbeat_timer_.expires_after(heartbeat_delay(next, heartbeat_ms_));
  heartbeat_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped() || !is_open() || !seated_) return;
    beat_version_ = view_.version;
    send_heartbeat(view_.version, view_.checksum());
    arm_heartbeat(true);
  });
}

void alias_client::on_closed(bool expected) {
  action_timer_.cancel();
  heartbeat_timer_.cancel();
  seated_ = false;
  if (run_.stopping.load(std::memory_order_relaxed)) return;
  if (!expected) error("unexpected_close");
  room_.abort_room();
}

}  // namespace

void run_alias(runner& r, const alias_options& alias, json::object& result) {
  const options& opt = r.opt;
  std::vector<std::unique_ptr<alias_stats>> stats;
  for (int t = 0; t < r.threads(); ++t) stats.push_back(std::make_unique<alias_stats>());
  // A room without any frame for 20 s is stuck (rounds tick every second, a review lasts 5 s):
  // counted, started over.
  const std::int64_t stall_ns = 20'000'000'000;
  std::vector<alias_room*> all_rooms;  // in room number order
  room_set<alias_room> rooms(r, stall_ns, [&](int t, int i) {
    auto room = std::make_unique<alias_room>(r, *stats[t], alias, t, i);
    all_rooms.push_back(room.get());
    return room;
  });
  // --drop-every-s: one timer (on thread 0) picks the room; the room's thread picks the player.
  net::steady_timer drop_timer(r.context(0));
  std::minstd_rand drop_rng(4099);
  std::function<void()> drop_next = [&] {
    drop_timer.expires_after(
        std::chrono::nanoseconds(static_cast<std::int64_t>(alias.drop_every_s * 1e9)));
    drop_timer.async_wait([&](boost::system::error_code ec) {
      if (ec || r.run.stopping.load()) return;
      std::uniform_int_distribution<std::size_t> pick(0, all_rooms.size() - 1);
      alias_room* room = all_rooms[pick(drop_rng)];
      net::post(room->context(), [room] { room->drop_one(); });
      drop_next();
    });
  };
  const long rss_before = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  r.start();
  rooms.start();
  if (alias.drop_every_s > 0) net::post(r.context(0), [&drop_next] { drop_next(); });
  const auto merged = [&](auto pick) {
    std::vector<const histogram*> parts;
    for (const auto& s : stats) parts.push_back(&pick(*s));
    return summarize(parts);
  };
  const auto total = [&](std::atomic<std::uint64_t> alias_stats::*field) {
    std::uint64_t sum = 0;
    for (const auto& s : stats) sum += ((*s).*field).load(std::memory_order_relaxed);
    return sum;
  };
  const auto progress_line = [&] {
    const summary results =
        merged([](alias_stats& s) -> histogram& { return s.delivery[word_result_slot]; });
    char line[224];
    std::snprintf(line, sizeof line,
                  "games=%llu rounds=%llu swipes=%llu word_result_p99=%.2fms drops=%llu "
                  "resumed=%llu resyncs=%llu",
                  static_cast<unsigned long long>(r.sum(&shard::games)),
                  static_cast<unsigned long long>(total(&alias_stats::rounds)),
                  static_cast<unsigned long long>(total(&alias_stats::swipes)), results.p99_ms,
                  static_cast<unsigned long long>(total(&alias_stats::drops)),
                  static_cast<unsigned long long>(
                      merged([](alias_stats& s) -> histogram& { return s.reconnect; }).count),
                  static_cast<unsigned long long>(r.sum(&shard::resyncs)));
    return std::string(line);
  };
  const double warmup = std::min(opt.ramp_s + 5, opt.duration_s / 2);
  const double elapsed = measure_after_warmup(r, warmup, rss_before, progress_line, result);
  r.finish([&rooms, &drop_timer](int t) {
    if (t == 0) drop_timer.cancel();
    rooms.halt(t);
  });

  // Delivery by frame type: the seven of every round always, any other type that was measured.
  print_latency_header();
  json::object delivery;
  for (std::size_t i = 0; i < known_types.size(); ++i) {
    const summary s = merged([i](alias_stats& st) -> histogram& { return st.delivery[i]; });
    const bool always = std::find(reported_types.begin(), reported_types.end(), known_types[i]) !=
                        reported_types.end();
    if (s.count == 0 && !always) continue;
    print_latency_row(std::string(known_types[i]) + " delivery", s);
    delivery[known_types[i]] = to_json(s);
  }
  std::map<std::string, std::vector<const histogram*>, std::less<>> others;
  for (const auto& s : stats) {
    for (const auto& [type, h] : s->other) others[type].push_back(h.get());
  }
  for (const auto& [type, parts] : others) {
    const summary s = summarize(parts);
    print_latency_row(type + " delivery", s);
    delivery[type] = to_json(s);
  }
  const summary swipe = merged([](alias_stats& s) -> histogram& { return s.swipe; });
  const summary connect = merged([](alias_stats& s) -> histogram& { return s.connect; });
  const summary reconnect = merged([](alias_stats& s) -> histogram& { return s.reconnect; });
  print_latency_row("swipe -> WORD_RESULT", swipe);
  print_latency_row("connect -> (RE)CONNECTED", connect);
  print_latency_row("RECONNECT -> RECONNECTED", reconnect);
  const auto games = r.sum(&shard::games);
  const auto heartbeats = r.sum(&shard::heartbeats);
  const auto resyncs = r.sum(&shard::resyncs);
  std::fprintf(stderr,
               "games completed %llu, rounds %llu, frames received/s %.0f, heartbeats %llu "
               "(acked %llu, resynced %llu), drops %llu, resumed %llu (recovered %llu, from "
               "snapshot %llu)\n",
               static_cast<unsigned long long>(games),
               static_cast<unsigned long long>(total(&alias_stats::rounds)),
               static_cast<double>(r.sum(&shard::frames_in)) / elapsed,
               static_cast<unsigned long long>(heartbeats),
               static_cast<unsigned long long>(total(&alias_stats::heartbeat_acks)),
               static_cast<unsigned long long>(resyncs),
               static_cast<unsigned long long>(total(&alias_stats::drops)),
               static_cast<unsigned long long>(reconnect.count),
               static_cast<unsigned long long>(r.sum(&shard::recovered)),
               static_cast<unsigned long long>(r.sum(&shard::snapshot_resumes)));
  result["rooms"] = opt.rooms;
  result["players"] = opt.players;
  result["connections"] = opt.rooms * (opt.players + 1);
  result["think_ms"] = opt.think_ms;
  result["round_sec"] = alias.round_sec;
  result["ramp_s"] = opt.ramp_s;
  result["drop_every_s"] = alias.drop_every_s;
  result["warmup_s"] = warmup;
  result["duration_s"] = elapsed;
  result["games_completed"] = games;
  result["rounds_completed"] = total(&alias_stats::rounds);
  result["words_swiped"] = total(&alias_stats::swipes);
  result["swipes_withheld"] = total(&alias_stats::swipes_withheld);
  result["actions_per_s"] = static_cast<double>(r.sum(&shard::actions)) / elapsed;
  result["delivered_per_s"] = static_cast<double>(r.sum(&shard::frames_in)) / elapsed;
  result["delivery"] = std::move(delivery);
  put_percentiles(result, "swipe_round_trip", swipe);
  put_percentiles(result, "connect", connect);  // the whole run: new seats and resumes
  result["connections_made"] = connect.count;
  put_percentiles(result, "reconnect", reconnect);
  result["drops"] = total(&alias_stats::drops);
  result["drops_skipped"] = total(&alias_stats::drops_skipped);
  result["reconnects"] = reconnect.count;
  result["resumed_recovered"] = r.sum(&shard::recovered);
  result["resumed_from_snapshot"] = r.sum(&shard::snapshot_resumes);
  result["resumed_new_epoch"] = r.sum(&shard::epoch_changed);
  result["missed_events_applied"] = total(&alias_stats::replayed);
  result["resume_view_mismatches"] = total(&alias_stats::view_mismatches);
  result["acks"] = r.sum(&shard::acks);
  result["heartbeats"] = heartbeats;
  result["heartbeat_acks"] = total(&alias_stats::heartbeat_acks);
  result["heartbeat_resyncs"] = resyncs;
  result["heartbeat_resyncs_state_moved"] = total(&alias_stats::resyncs_moved);
  result["heartbeat_resync_percent"] =
      heartbeats ? 100.0 * static_cast<double>(resyncs) / static_cast<double>(heartbeats) : 0.0;
}

}  // namespace partyload
