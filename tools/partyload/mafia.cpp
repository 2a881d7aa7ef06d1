// partyload: the mafia scenario, the public queue of /ws/mafia under a join storm. --players N
// clients connect and join the queue spread evenly over --join-within-s S seconds; each sends
// auth:identify, then matchmaking:join, and is moved by the server into a matched room (a second
// CONNECTED, numbering from 1 again), plays the game to its game:end (night actions and votes
// after a pause of uniform [0.5, 1.5] x --think-ms), sends room:leave and, until --games G games
// have ended, joins the queue again on the same socket. Every client ACKs reliable frames and
// sends a HEARTBEAT every heartbeatIntervalMs with the checksum it computes from the frames it
// saw, as the server does (the queue: mafia_matchmaker::view_of; a room: mafia_game::checksum_of):
// a mismatch costs a STATE_SNAPSHOT (counted as a resync; the client then takes its state).
// The room's broadcast of our own departure comes after room:left, numbered in the session that
// ended: counted (frames_after_room_left), not checked; the next session starts at CONNECTED.
// Measured: queue-to-game per player-game (matchmaking:join sent -> game:role), waits over 30 s
// (completed, and still open at the end), room sizes (game:role frames per room), games ended
// (distinct room + gameId of game:end), winners, room:error reasons, resyncs, disconnects; at the
// end partyd_history_records_written_total from GET /metrics, once the history caught up.
// A fast pace is the server's business; the figure (5,000 players, 500 games) was measured with:
//   partyd --store memory --history sqlite:/tmp/h.sqlite3 --max-connections-per-ip 0
//     --rate-limit-messages 100000000 --mafia-match-countdown-ms 1000 --mafia-match-night-s 2
//     --mafia-match-discussion-s 1 --mafia-match-vote-s 2 --mafia-match-fill-ms 2000
// Every client comes from 127.0.0.1, so the per-address socket cap (512) must go; the default
// rate limit (100 messages a minute) also holds, as a player sends about 40 a minute here.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "runner.hpp"
#include "ws_conn.hpp"

namespace partyload {
namespace {

constexpr std::int64_t long_wait_ns = 30'000'000'000;   // the figure's bound on a wait
constexpr std::string_view queue_code = "matchmaking";  // the queue room's roomId

// What the scenario measures on one io thread, besides the shard's counters.
struct mafia_stats {
  histogram queue_to_game;  // matchmaking:join sent -> game:role
  histogram connect;        // TCP connect start -> auth:success
  histogram game_length;    // game:end's stats.durationMs, of the games this thread saw end first
  std::atomic<std::uint64_t> connections{0};
  std::atomic<std::uint64_t> joins{0};  // matchmaking:join sent
  std::atomic<std::uint64_t> roles{0};  // game:role received
  std::atomic<std::uint64_t> long_waits{0};
  std::atomic<std::uint64_t> night_actions{0};
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> inspections{0};  // action:result
  std::atomic<std::uint64_t> votes{0};
  std::atomic<std::uint64_t> rounds{0};  // game:end's stats.rounds, summed like game_length
  std::atomic<std::uint64_t> heartbeat_acks{0};
  std::atomic<std::uint64_t> resyncs_queue{0};
  std::atomic<std::uint64_t> resyncs_room{0};
  std::atomic<std::uint64_t> disconnects{0};
  std::atomic<std::uint64_t> restarts{0};       // a stalled or closed client started over
  std::atomic<std::uint64_t> match_failed{0};   // room:left match_failed (back to the queue)
  std::atomic<std::uint64_t> rejoins{0};        // matchmaking:join refused or the move refused
  std::atomic<std::uint64_t> left_missing{0};   // no room:left 3 s after room:leave
  std::atomic<std::uint64_t> after_left{0};     // numbered frames of a room after its room:left
  std::atomic<std::uint64_t> resyncs_moved{0};  // the room's state moved across the heartbeat
};

// What every thread shares: per game and per room, so rare enough for a mutex.
struct mafia_shared {
  explicit mafia_shared(std::uint64_t target) : games_target(target) {}

  const std::uint64_t games_target;
  std::atomic<std::uint64_t> games_ended{0};
  std::mutex mutex;
  std::map<std::string, int, std::less<>> roles_by_room;  // room code -> game:role frames
  std::set<std::string, std::less<>> games;               // "<room>/<gameId>" of each game:end
  std::map<std::string, std::uint64_t, std::less<>> winners;
  std::map<std::string, std::uint64_t, std::less<>> room_errors;  // by reason

  bool enough() const { return games_ended.load(std::memory_order_relaxed) >= games_target; }
  void role_dealt(std::string_view room) {
    std::lock_guard lock(mutex);
    auto it = roles_by_room.find(room);
    if (it == roles_by_room.end()) it = roles_by_room.emplace(std::string(room), 0).first;
    ++it->second;
  }
  // True for the first game:end of a game (each of its players gets one).
  bool game_ended(std::string_view room, std::string_view game, std::string_view winner) {
    std::string key(room);
    key += '/';
    key += game;
    std::lock_guard lock(mutex);
    if (!games.insert(std::move(key)).second) return false;
    ++winners[std::string(winner)];
    games_ended.fetch_add(1, std::memory_order_relaxed);
    return true;
  }
  void room_error(std::string_view reason) {
    std::lock_guard lock(mutex);
    ++room_errors[std::string(reason)];
  }
};

// A seat as the room checksum sees it.
struct seat {
  std::string id;
  bool alive = false;  // inGame && alive
  bool connected = true;
};

// What a client knows of its room: the fields of mafia_game::checksum_of.
struct mafia_view {
  std::string phase = "lobby";
  std::int64_t round = 0;
  std::string host;
  std::vector<seat> seats;  // room:update's order (the server's roster)
  std::string role;         // game:role's; empty before it

  const seat* find(std::string_view id) const {
    for (const seat& s : seats) {
      if (s.id == id) return &s;
    }
    return nullptr;
  }
  void set_players(const json::array& players) {
    seats.clear();
    for (const json::value& entry : players) {
      const json::object& p = entry.as_object();
      seats.push_back({std::string(p.at("userId").as_string()),
                       p.at("inGame").as_bool() && p.at("alive").as_bool(),
                       p.at("connected").as_bool()});
    }
  }
  // room:update's payload, or a snapshot's gameState (the same fields and more).
  void set_room(const json::object& room) {
    phase = room.at("phase").as_string();
    host = room.at("hostId").as_string();
    set_players(room.at("players").as_array());
  }
  // phase|round|host|id:alive:connected;...|me:role
  std::string text(std::string_view me) const {
    std::string out = phase + "|" + std::to_string(round) + "|" + host + "|";
    for (const seat& s : seats) {
      out += s.id;
      out += s.alive ? ":1" : ":0";
      out += s.connected ? ":1;" : ":0;";
    }
    out += '|';
    if (find(me) != nullptr) {
      out += me;
      out += ':';
      out += role.empty() || phase == "lobby" ? std::string("none") : role;
    }
    return out;
  }
};

// FNV-1a 32 as 8 lower-case hex digits (games/common/checksum.hpp).
std::string fnv1a_hex(std::string_view text) {
  std::uint32_t hash = 2166136261u;
  for (unsigned char c : text) hash = (hash ^ c) * 16777619u;
  char hex[9];
  std::snprintf(hex, sizeof hex, "%08x", hash);
  return hex;
}

class mafia_player final : public ws_conn {
 public:
  mafia_player(runner& r, mafia_stats& stats, mafia_shared& shared, int thread, int index)
      : ws_conn(r.context(thread), r.shard_of(thread), r.run),
        r_(r),
        stats_(stats),
        shared_(shared),
        rng_(static_cast<std::minstd_rand::result_type>(index) * 7919 + 17),
        timer_(r.context(thread)),
        heartbeat_timer_(r.context(thread)) {
    name_ = "Player" + std::to_string(index);
  }

  // Connects `delay` from now (the join storm's share of this client).
  void start_after(std::chrono::nanoseconds delay) {
    timer_.expires_after(delay);
    timer_.async_wait([this](boost::system::error_code ec) {
      if (!ec && !stopped() && !run_.stopping.load()) open();
    });
  }
  void halt() {
    timer_.cancel();
    heartbeat_timer_.cancel();
    stop();
  }
  // mono_ns() of the matchmaking:join whose game:role has not come yet, else 0.
  std::int64_t waiting_since() const { return wait_started_ns_; }

  // Once a second: a client that heard nothing for too long starts over.
  void check_stalled(std::int64_t now) {
    const std::int64_t quiet = now - last_frame_ns_;
    switch (stage_) {
      case stage::identifying:
      case stage::joining:
      case stage::moving:
        if (quiet > 30'000'000'000) restart("mafia_stalled_entering");
        return;
      case stage::seated:
        // The longest quiet is a phase with nothing to say (a day without chat).
        if (quiet > 30'000'000'000 + phase_ms_ * 1'000'000) restart("mafia_stalled_in_room");
        return;
      default:  // queued: the queue decides (a wait has no frame); leaving: its own timer
        return;
    }
  }

 private:
  enum class stage : std::uint8_t {
    idle,         // not connected
    identifying,  // auth:identify sent
    joining,      // matchmaking:join sent (or the server re-queued us), no CONNECTED yet
    queued,       // in the queue's session
    moving,       // matchmaking:found: the server moves us into the room
    seated,       // in the room's session
    leaving,      // room:leave sent
    done,         // enough games: connected, in no room
  };

  void open() {
    reset_session();
    stage_ = stage::identifying;
    last_frame_ns_ = mono_ns();
    connect(r_.endpoints, r_.opt.host, "/ws/mafia");
  }

  void reset_session() {
    heartbeat_timer_.cancel();
    last_seq_ = 0;
    in_session_ = false;
    numbering_ = false;
    queued_at_ = 0;
    view_ = mafia_view{};
    mafia_.clear();
  }

  void on_open() override {
    std::string& text = next_frame();
    text = "{\"type\":\"auth:identify\",\"payload\":{\"username\":\"";
    text += name_;
    if (!token_.empty()) {
      text += "\",\"token\":\"";  // the same user as before a restart
      text += token_;
    }
    text += "\"}}";
    commit();
  }

  void on_frame(std::string_view frame) override {
    last_frame_ns_ = mono_ns();
    const numbering n = read_numbering(frame);
    if (!n.error.empty()) return error(n.error);
    if (n.seq != 0) {
      if (!numbering_) {
        // A room's frame after its room:left (the broadcast of our own departure): that
        // session is over, the next one starts with its CONNECTED.
        histogram::bump(stats_.after_left);
        return;
      }
      if (!take_numbered(n, last_seq_, "sequence_gap")) return;
    }
    const std::string_view type = frame_type(frame);
    if (n.seq == 0) {
      if (type == "HEARTBEAT_ACK") return histogram::bump(stats_.heartbeat_acks);
      if (type == "CONNECTED") return on_connected(frame);
      if (type == "STATE_SNAPSHOT") return on_snapshot(frame);
    }
    try {
      on_game_frame(type, frame);
    } catch (const std::exception&) {
      if (run_.log_frame()) {
        std::fprintf(stderr, "mafia: unreadable frame: %.*s\n",
                     static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
      }
      error("bad_frame");
    }
  }

  void on_game_frame(std::string_view type, std::string_view frame) {
    // The busiest types first: every vote is told to the whole room.
    if (type == "vote:update" || type == "action:mafiaVotes" || type == "chat:message") return;
    if (type == "room:update") return on_room_update(frame);
    if (type == "game:phase") return on_phase(frame);
    if (type == "action:accepted") return histogram::bump(stats_.accepted);
    if (type == "vote:result") return;
    if (type == "action:result") return histogram::bump(stats_.inspections);
    if (type == "game:role") return on_role(frame);
    if (type == "game:end") return on_end(frame);
    if (type == "matchmaking:queued") {
      queued_at_ = int_field(frame, "queuedAt").value_or(0);
      return;
    }
    if (type == "matchmaking:found") return on_found(frame);
    if (type == "room:left") return on_left(frame);
    if (type == "room:error") return on_error(frame);
    if (type == "auth:success") return on_identified(frame);
    if (type == "matchmaking:left") {
      scratch_ = "matchmaking_left:";
      scratch_ += string_field(frame, "reason");
      error(scratch_);
      return join_queue();
    }
    scratch_ = "unexpected_frame:";
    scratch_ += type;
    error(scratch_);
  }

  void on_identified(std::string_view frame) {
    if (stage_ != stage::identifying) return error("unexpected_auth_success");
    user_id_.assign(string_field(frame, "userId"));
    token_.assign(string_field(frame, "token"));
    if (user_id_.empty()) return error("bad_auth_success");
    stats_.connect.record(mono_ns() - connect_started_ns_);
    histogram::bump(stats_.connections);
    join_queue();
  }

  void join_queue() {
    if (!is_open()) return;
    if (shared_.enough()) {
      stage_ = stage::done;
      return;
    }
    reset_session();
    // A wait runs from the first join until a game:role, across refusals and restarts.
    if (wait_started_ns_ == 0) wait_started_ns_ = mono_ns();
    stage_ = stage::joining;
    histogram::bump(stats_.joins);
    send("{\"type\":\"matchmaking:join\"}");
  }

  void on_connected(std::string_view frame) {
    const std::string_view room = string_field(frame, "roomId");
    const bool queue = room == queue_code;
    if (!(queue ? stage_ == stage::joining : stage_ == stage::moving)) {
      return error("unexpected_connected");
    }
    heartbeat_ms_ = int_field(frame, "heartbeatIntervalMs").value_or(10000);
    if (heartbeat_ms_ <= 0) return error("bad_connected");
    reset_session();
    in_session_ = true;
    numbering_ = true;
    if (queue) {
      stage_ = stage::queued;
    } else {
      stage_ = stage::seated;
      room_.assign(room);
      phase_ms_ = 0;
    }
    arm_heartbeat(false);
  }

  void on_found(std::string_view frame) {
    if (stage_ != stage::queued) return error("unexpected_matchmaking_found");
    // The queue let us go: no session until the room's CONNECTED (a HEARTBEAT now is refused).
    stage_ = stage::moving;
    in_session_ = false;
    heartbeat_timer_.cancel();
    found_room_.assign(string_field(frame, "roomId"));
  }

  void on_room_update(std::string_view frame) {
    if (stage_ != stage::seated) return;
    unsigned char buffer[8192];
    json::monotonic_resource memory(buffer, sizeof buffer);
    const json::value parsed = json::parse(frame, &memory);
    view_.set_room(parsed.as_object().at("payload").as_object());
  }

  void on_role(std::string_view frame) {
    if (stage_ != stage::seated) return error("unexpected_game_role");
    const std::int64_t now = mono_ns();
    if (wait_started_ns_ != 0) {
      const std::int64_t waited = now - wait_started_ns_;
      stats_.queue_to_game.record(waited);
      if (waited > long_wait_ns) {
        histogram::bump(stats_.long_waits);
        error("wait_over_30s");
      }
      wait_started_ns_ = 0;
    }
    histogram::bump(stats_.roles);
    shared_.role_dealt(room_);
    view_.role.assign(string_field(frame, "role"));
    mafia_.clear();
    if (view_.role == "mafia") {
      const json::value parsed = json::parse(frame);
      for (const json::value& id :
           parsed.as_object().at("payload").as_object().at("mafia").as_array()) {
        mafia_.emplace_back(id.as_string());
      }
    }
  }

  void on_phase(std::string_view frame) {
    if (stage_ != stage::seated) return;
    view_.phase.assign(string_field(frame, "phase"));
    view_.round = int_field(frame, "round").value_or(view_.round);
    phase_ms_ = int_field(frame, "duration").value_or(0) * 1000;
    phase_ends_ms_ = int_field(frame, "endsAt").value_or(0);
    // Alive or not is checked when the pause is over: this phase's room:update may follow it.
    const bool acts = view_.phase == "voting" ||
                      (view_.phase == "night" && !view_.role.empty() && view_.role != "villager");
    if (!acts) return;
    const std::string phase = view_.phase;
    const std::int64_t round = view_.round;
    timer_.expires_after(std::chrono::nanoseconds(think_ns()));
    timer_.async_wait([this, phase, round](boost::system::error_code ec) {
      if (ec || stopped() || !is_open()) return;
      act(phase, round);
    });
  }

  // The night action of this client's role, or its vote, if still in that phase and alive.
  void act(const std::string& phase, std::int64_t round) {
    if (stage_ != stage::seated || view_.phase != phase || view_.round != round) return;
    const seat* me = view_.find(user_id_);
    if (me == nullptr || !me->alive) return;
    // An action that could reach the room after the deadline would be refused: let it go.
    if (phase_ends_ms_ != 0 && wall_ns() / 1'000'000 + 200 >= phase_ends_ms_) return;
    std::vector<const seat*> others;  // living, not this client
    for (const seat& s : view_.seats) {
      if (s.alive && s.id != user_id_) others.push_back(&s);
    }
    if (phase == "voting") return vote(others);
    const bool mafia = view_.role == "mafia";
    if (mafia) {
      std::erase_if(others, [this](const seat* s) { return is_mafia(s->id); });
    }
    if (view_.role == "doctor") others.push_back(me);  // the doctor may save itself
    if (others.empty()) return;
    std::uniform_int_distribution<std::size_t> pick(0, others.size() - 1);
    const std::string_view type = mafia                       ? "action:mafiaKill"
                                  : view_.role == "doctor"    ? "action:doctorSave"
                                  : view_.role == "detective" ? "action:detectiveInspect"
                                                              : "";
    if (type.empty()) return;
    histogram::bump(stats_.night_actions);
    command(type, others[pick(rng_)]->id);
  }

  // Most of a room agrees on one suspect (the same pick in every client's view), so that a vote
  // usually eliminates someone and games end after a few rounds; some vote at random or skip.
  void vote(const std::vector<const seat*>& others) {
    if (others.empty()) return;
    std::vector<const seat*> living;
    for (const seat& s : view_.seats) {
      if (s.alive) living.push_back(&s);
    }
    const std::size_t suspect_at = static_cast<std::size_t>(view_.round) * 7 % living.size();
    const seat* suspect = living[suspect_at];
    if (suspect->id == user_id_ || (view_.role == "mafia" && is_mafia(suspect->id))) {
      suspect = living[(suspect_at + 1) % living.size()];
      if (suspect->id == user_id_) suspect = nullptr;
    }
    std::uniform_int_distribution<int> die(0, 99);
    const int roll = die(rng_);
    histogram::bump(stats_.votes);
    if (roll < 10) return command("vote:cast", {});
    if (roll < 25 || suspect == nullptr) {
      std::uniform_int_distribution<std::size_t> pick(0, others.size() - 1);
      return command("vote:cast", others[pick(rng_)]->id);
    }
    command("vote:cast", suspect->id);
  }

  bool is_mafia(std::string_view id) const {
    return std::find(mafia_.begin(), mafia_.end(), id) != mafia_.end();
  }

  // {"type":T,"payload":{"targetId":id}}; an empty id is null (a skipped vote).
  void command(std::string_view type, std::string_view target) {
    std::string& text = next_frame();
    text = "{\"type\":\"";
    text += type;
    text += "\",\"payload\":{\"targetId\":";
    if (target.empty()) {
      text += "null";
    } else {
      text += '"';
      text += target;
      text += '"';
    }
    text += "}}";
    histogram::bump(shard_.actions);
    commit();
  }

  void on_end(std::string_view frame) {
    if (stage_ != stage::seated) return;
    view_.phase = "ended";
    if (shared_.game_ended(room_, string_field(frame, "gameId"), string_field(frame, "winner"))) {
      histogram::bump(shard_.games);
      stats_.game_length.record(int_field(frame, "durationMs").value_or(0) * 1'000'000);
      histogram::bump(stats_.rounds, static_cast<std::uint64_t>(std::max<std::int64_t>(
                                         0, int_field(frame, "rounds").value_or(0))));
    }
    // A look at the result, then out, as a player would; back in line if more games are wanted.
    timer_.expires_after(std::chrono::nanoseconds(think_ns()));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped() || !is_open() || stage_ != stage::seated) return;
      leave();
    });
  }

  void leave() {
    stage_ = stage::leaving;
    in_session_ = false;
    heartbeat_timer_.cancel();
    send("{\"type\":\"room:leave\"}");
    timer_.expires_after(std::chrono::seconds(3));
    timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped() || !is_open() || stage_ != stage::leaving) return;
      histogram::bump(stats_.left_missing);
      error("room_left_missing");
      join_queue();
    });
  }

  void on_left(std::string_view frame) {
    const std::string_view reason = string_field(frame, "reason");
    if (reason == "match_failed") {
      // Too few came: the server puts us back in the queue itself (its CONNECTED follows).
      histogram::bump(stats_.match_failed);
      reset_session();
      stage_ = stage::joining;
      return;
    }
    if (reason != "left" || stage_ != stage::leaving) {
      scratch_ = "room_left:";
      scratch_ += reason;
      error(scratch_);
    }
    timer_.cancel();
    numbering_ = false;
    join_queue();
  }

  void on_error(std::string_view frame) {
    const std::string_view reason = string_field(frame, "reason");
    shared_.room_error(reason);
    scratch_ = "room_error:";
    scratch_ += reason;
    error(scratch_);
    if (run_.log_frame()) {
      std::fprintf(stderr, "mafia: %.*s\n",
                   static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
    }
    // A refused join (the queue's, or the move into the room): we are in no room; join again.
    if (stage_ == stage::joining || stage_ == stage::moving) {
      histogram::bump(stats_.rejoins);
      stage_ = stage::idle;
      timer_.expires_after(std::chrono::seconds(1));
      timer_.async_wait([this](boost::system::error_code ec) {
        if (ec || stopped() || !is_open()) return;
        join_queue();
      });
    }
  }

  void on_snapshot(std::string_view frame) {
    if (stage_ == stage::queued) {
      histogram::bump(stats_.resyncs_queue);
      histogram::bump(shard_.resyncs);
      const json::value parsed = json::parse(frame);
      const json::object& state =
          parsed.as_object().at("payload").as_object().at("gameState").as_object();
      if (const json::value* at = state.if_contains("queuedAt")) {
        queued_at_ = at->to_number<std::int64_t>();
      }
      return;
    }
    if (stage_ != stage::seated) return;
    histogram::bump(stats_.resyncs_room);
    histogram::bump(shard_.resyncs);
    mafia_view fresh;
    std::string checksum;
    try {
      const json::value parsed = json::parse(frame);
      const json::object& payload = parsed.as_object().at("payload").as_object();
      const json::object& state = payload.at("gameState").as_object();
      checksum = payload.at("stateChecksum").as_string();
      fresh.set_room(state);
      fresh.round = state.at("round").to_number<std::int64_t>();
      if (const json::value* you = state.if_contains("you")) {
        if (const json::value* role = you->as_object().if_contains("role")) {
          fresh.role = role->as_string();
        }
      }
      if (fresh.role.empty()) fresh.role = view_.role;  // the lobby hides it; the deal stands
    } catch (const std::exception&) {
      return error("bad_state_snapshot");
    }
    if (fresh.text(user_id_) == view_.text(user_id_)) {
      histogram::bump(stats_.resyncs_moved);  // a frame crossed the heartbeat: we were right
    } else if (run_.log_frame()) {
      std::fprintf(stderr, "mafia: resync: ours %s, the room's %s\n", view_.text(user_id_).c_str(),
                   fresh.text(user_id_).c_str());
    }
    if (fnv1a_hex(fresh.text(user_id_)) != checksum) {
      // gameState and stateChecksum disagree, or our reading of the checksum is wrong.
      if (run_.log_frame()) {
        std::fprintf(stderr, "mafia: snapshot checksum %s, its gameState gives %s (%s)\n",
                     checksum.c_str(), fnv1a_hex(fresh.text(user_id_)).c_str(),
                     fresh.text(user_id_).c_str());
      }
      error("snapshot_checksum_mismatch");
    }
    view_ = std::move(fresh);
  }

  std::string checksum() const {
    if (stage_ == stage::queued) {
      // mafia_matchmaker::view_of: queued|queuedAt
      return fnv1a_hex((queued_at_ != 0 ? "1|" : "0|") + std::to_string(queued_at_));
    }
    return fnv1a_hex(view_.text(user_id_));
  }

  void arm_heartbeat(bool next) {
    if (stopped()) return;
    heartbeat_timer_.expires_after(heartbeat_delay(next, heartbeat_ms_));
    heartbeat_timer_.async_wait([this](boost::system::error_code ec) {
      if (ec || stopped() || !is_open() || !in_session_) return;
      send_heartbeat(0, checksum());
      arm_heartbeat(true);
    });
  }

  // Stalled or closed: a new socket a second later, the same user (its token).
  void restart(std::string_view why) {
    if (run_.stopping.load(std::memory_order_relaxed)) return;
    if (!why.empty()) error(why);
    histogram::bump(stats_.restarts);
    drop();
    reset_session();
    stage_ = stage::idle;
    start_after(std::chrono::seconds(1));
  }

  void on_closed(bool expected) override {
    (void)expected;  // the server never closes a mafia client on purpose here
    if (run_.stopping.load(std::memory_order_relaxed)) return;
    histogram::bump(stats_.disconnects);
    restart({});  // the close's code is counted already
  }

  std::int64_t think_ns() {
    std::uniform_real_distribution<double> spread(0.5, 1.5);
    return static_cast<std::int64_t>(r_.opt.think_ms * 1e6 * spread(rng_));
  }

  runner& r_;
  mafia_stats& stats_;
  mafia_shared& shared_;
  std::minstd_rand rng_;
  net::steady_timer timer_;  // the next own move: connect, action, vote, leave, rejoin
  net::steady_timer heartbeat_timer_;
  std::string name_;
  std::string user_id_;
  std::string token_;
  stage stage_ = stage::idle;
  bool in_session_ = false;  // heartbeats go out
  bool numbering_ = false;   // numbered frames belong to the current session
  std::uint64_t last_seq_ = 0;
  std::int64_t heartbeat_ms_ = 10000;
  std::int64_t last_frame_ns_ = 0;
  std::int64_t wait_started_ns_ = 0;
  std::int64_t queued_at_ = 0;  // matchmaking:queued's queuedAt (the queue's checksum)
  std::string found_room_;      // matchmaking:found's roomId
  std::string room_;            // the room's code, from its CONNECTED
  mafia_view view_;
  std::vector<std::string> mafia_;  // game:role's mafia (this client is one of them)
  std::int64_t phase_ms_ = 0;       // the current phase's duration
  std::int64_t phase_ends_ms_ = 0;  // its endsAt (server wall clock)
  std::string scratch_;
};

// Percentile of merged histograms, in ms, as summarize() ranks them (it has no p90).
double percentile_ms(const std::vector<const histogram*>& parts, double p) {
  std::vector<std::uint64_t> counts(histogram::size, 0);
  std::int64_t max = 0;
  std::uint64_t total = 0;
  for (const auto* h : parts) h->add_to(counts, max);
  for (auto c : counts) total += c;
  if (total == 0) return 0;
  const auto rank = std::max<std::uint64_t>(
      1, static_cast<std::uint64_t>(p * static_cast<double>(total) + 0.999999));
  std::uint64_t seen = 0;
  for (std::size_t i = 0; i < counts.size(); ++i) {
    seen += counts[i];
    if (seen >= rank) return static_cast<double>(std::min(histogram::value_of(i), max)) / 1e6;
  }
  return static_cast<double>(max) / 1e6;
}

// GET /metrics (plain text, no token needed; the admin token is sent when given).
std::string metrics_text(const options& opt) {
  namespace beast = boost::beast;
  namespace http = beast::http;
  net::io_context ctx;
  tcp::resolver resolver(ctx);
  beast::tcp_stream stream(ctx);
  stream.connect(resolver.resolve(opt.host, opt.port));
  http::request<http::empty_body> req{http::verb::get, "/metrics", 11};
  req.set(http::field::host, opt.host);
  if (!opt.token.empty()) req.set(http::field::authorization, "Bearer " + opt.token);
  http::write(stream, req);
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  http::read(stream, buffer, res);
  if (res.result_int() != 200) {
    throw std::runtime_error("GET /metrics: " + std::to_string(res.result_int()));
  }
  return std::move(res.body());
}

// A sample without labels ("name value") in a Prometheus text; nullopt when absent.
std::optional<double> metric_value(std::string_view text, std::string_view name) {
  std::size_t line = 0;
  while (line < text.size()) {
    std::size_t end = text.find('\n', line);
    if (end == std::string_view::npos) end = text.size();
    const std::string_view row = text.substr(line, end - line);
    if (row.size() > name.size() && row.starts_with(name) && row[name.size()] == ' ') {
      try {
        return std::stod(std::string(row.substr(name.size() + 1)));
      } catch (const std::exception&) {
        return std::nullopt;
      }
    }
    line = end + 1;
  }
  return std::nullopt;
}

}  // namespace

void run_mafia(runner& r, double join_within_s, int games, json::object& result) {
  const options& opt = r.opt;
  mafia_shared shared(static_cast<std::uint64_t>(games));
  std::vector<std::unique_ptr<mafia_stats>> stats;
  for (int t = 0; t < r.threads(); ++t) stats.push_back(std::make_unique<mafia_stats>());
  std::vector<std::vector<std::unique_ptr<mafia_player>>> players(r.threads());
  for (int i = 0; i < opt.players; ++i) {
    const int t = i % r.threads();
    players[t].push_back(std::make_unique<mafia_player>(r, *stats[t], shared, t, i));
  }
  std::vector<std::unique_ptr<net::steady_timer>> watchdogs;
  for (int t = 0; t < r.threads(); ++t) {
    watchdogs.push_back(std::make_unique<net::steady_timer>(r.context(t)));
  }
  std::function<void(int)> watch = [&](int t) {
    watchdogs[t]->expires_after(std::chrono::seconds(1));
    watchdogs[t]->async_wait([&, t](boost::system::error_code ec) {
      if (ec || r.run.stopping.load()) return;
      const std::int64_t now = mono_ns();
      for (auto& p : players[t]) p->check_stalled(now);
      watch(t);
    });
  };

  const long rss_before = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  r.start();
  r.begin_window();
  r.run.measuring.store(true);
  for (int t = 0; t < r.threads(); ++t) {
    net::post(r.context(t), [&, t] {
      // Client i connects at i / N of the join window: an even spread over all threads.
      for (std::size_t k = 0; k < players[t].size(); ++k) {
        const double at = static_cast<double>(k * players.size() + t) / opt.players;
        players[t][k]->start_after(
            std::chrono::nanoseconds(static_cast<std::int64_t>(at * join_within_s * 1e9)));
      }
      watch(t);
    });
  }
  const auto total = [&](std::atomic<std::uint64_t> mafia_stats::*field) {
    std::uint64_t sum = 0;
    for (const auto& s : stats) sum += ((*s).*field).load(std::memory_order_relaxed);
    return sum;
  };
  const auto merged = [&](histogram mafia_stats::*h) {
    std::vector<const histogram*> parts;
    for (const auto& s : stats) parts.push_back(&((*s).*h));
    return parts;
  };
  const auto progress_line = [&] {
    const summary waits = summarize(merged(&mafia_stats::queue_to_game));
    char line[224];
    std::snprintf(line, sizeof line,
                  "connected=%llu joins=%llu dealt=%llu games_ended=%llu queue_to_game_p99=%.0fms "
                  "resyncs=%llu disconnects=%llu",
                  static_cast<unsigned long long>(total(&mafia_stats::connections)),
                  static_cast<unsigned long long>(total(&mafia_stats::joins)),
                  static_cast<unsigned long long>(waits.count),
                  static_cast<unsigned long long>(shared.games_ended.load()), waits.p99_ms,
                  static_cast<unsigned long long>(r.sum(&shard::resyncs)),
                  static_cast<unsigned long long>(total(&mafia_stats::disconnects)));
    return std::string(line);
  };
  const double elapsed = r.progress(
      opt.duration_s, [&] { return shared.enough(); }, progress_line);
  r.run.measuring.store(false);
  r.end_window(result);
  if (opt.server_pid) {
    result["server_rss_kib_before"] = rss_before;
    result["server_rss_kib_after"] = rss_kib(opt.server_pid);
  }

  // The waits still open when the run stopped, read on their threads before the clients stop.
  std::vector<std::vector<std::int64_t>> open_waits(r.threads());
  const std::int64_t stopped_at = mono_ns();
  r.finish([&](int t) {
    watchdogs[t]->cancel();
    for (auto& p : players[t]) {
      if (p->waiting_since() != 0) open_waits[t].push_back(stopped_at - p->waiting_since());
      p->halt();
    }
  });
  std::uint64_t pending = 0;
  std::uint64_t pending_long = 0;
  std::int64_t pending_max = 0;
  for (const auto& waits : open_waits) {
    for (std::int64_t w : waits) {
      ++pending;
      if (w > long_wait_ns) ++pending_long;
      pending_max = std::max(pending_max, w);
    }
  }
  if (pending_long > 0) r.run.error("wait_over_30s_open_at_end");

  // The history writes finished games a moment after they end: wait for it to catch up.
  const std::uint64_t ended = shared.games_ended.load();
  json::value history_written = nullptr;
  json::value history_failures = nullptr;
  json::value history_refused = nullptr;
  try {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (true) {
      const std::string text = metrics_text(opt);
      const auto written = metric_value(text, "partyd_history_records_written_total");
      // Counters: whole numbers, reported as such.
      const auto whole = [](double v) { return static_cast<std::uint64_t>(v); };
      if (written) history_written = whole(*written);
      if (auto v = metric_value(text, "partyd_history_failures_total")) {
        history_failures = whole(*v);
      }
      if (auto v = metric_value(text, "partyd_history_refused_total")) history_refused = whole(*v);
      if (!written || *written >= static_cast<double>(ended) ||
          std::chrono::steady_clock::now() >= deadline) {
        break;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(200));
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "mafia: %s\n", e.what());
    r.run.error("metrics_unreadable");
  }

  const auto wait_parts = merged(&mafia_stats::queue_to_game);
  const summary waits = summarize(wait_parts);
  const double waits_p90 = percentile_ms(wait_parts, 0.90);
  const summary connect = summarize(merged(&mafia_stats::connect));
  const summary length = summarize(merged(&mafia_stats::game_length));
  print_latency_header();
  print_latency_row("queue -> game:role", waits);
  print_latency_row("connect -> auth:success", connect);
  print_latency_row("game length", length);

  json::object sizes;
  std::map<int, std::uint64_t> by_size;
  for (const auto& [room, count] : shared.roles_by_room) ++by_size[count];
  std::string size_line;
  for (const auto& [size, rooms] : by_size) {
    sizes[std::to_string(size)] = rooms;
    size_line += " " + std::to_string(size) + ":" + std::to_string(rooms);
  }
  json::object winners;
  for (const auto& [who, count] : shared.winners) winners[who] = count;
  json::object room_errors;
  for (const auto& [reason, count] : shared.room_errors) room_errors[reason] = count;
  const std::uint64_t long_waits = total(&mafia_stats::long_waits);
  std::fprintf(stderr,
               "games ended %llu (target %d), rooms %zu by size (players:rooms)%s, waits over 30 s "
               "%llu (+%llu still open at the end, of %llu open), resyncs %llu (queue %llu, room "
               "%llu), disconnects %llu, history records %s\n",
               static_cast<unsigned long long>(ended), games, shared.roles_by_room.size(),
               size_line.c_str(), static_cast<unsigned long long>(long_waits),
               static_cast<unsigned long long>(pending_long),
               static_cast<unsigned long long>(pending),
               static_cast<unsigned long long>(r.sum(&shard::resyncs)),
               static_cast<unsigned long long>(total(&mafia_stats::resyncs_queue)),
               static_cast<unsigned long long>(total(&mafia_stats::resyncs_room)),
               static_cast<unsigned long long>(total(&mafia_stats::disconnects)),
               json::serialize(history_written).c_str());

  result["players"] = opt.players;
  result["join_within_s"] = join_within_s;
  result["think_ms"] = opt.think_ms;
  result["games_target"] = games;
  result["duration_s"] = elapsed;
  result["connections_made"] = total(&mafia_stats::connections);
  put_percentiles(result, "connect", connect);
  result["queue_joins"] = total(&mafia_stats::joins);
  put_percentiles(result, "queue_to_game", waits);
  result["queue_to_game_p90_ms"] = waits_p90;
  result["queue_to_game"].as_object()["p90_ms"] = waits_p90;
  result["waits_over_30s"] = long_waits;
  result["waits_open_at_end"] = pending;
  result["waits_open_at_end_max_ms"] = static_cast<double>(pending_max) / 1e6;
  result["waits_open_over_30s"] = pending_long;
  result["no_wait_over_30s"] = long_waits == 0 && pending_long == 0;
  result["rooms_started"] = shared.roles_by_room.size();
  result["room_sizes"] = std::move(sizes);
  result["games_ended"] = ended;
  result["winners"] = std::move(winners);
  put_percentiles(result, "game_length", length);
  result["rounds_per_game"] =
      length.count ? static_cast<double>(total(&mafia_stats::rounds)) / length.count : 0.0;
  result["night_actions"] = total(&mafia_stats::night_actions);
  result["actions_accepted"] = total(&mafia_stats::accepted);
  result["inspections"] = total(&mafia_stats::inspections);
  result["votes"] = total(&mafia_stats::votes);
  result["room_errors"] = std::move(room_errors);
  result["match_failed"] = total(&mafia_stats::match_failed);
  result["rejoins_after_refusal"] = total(&mafia_stats::rejoins);
  result["room_left_missing"] = total(&mafia_stats::left_missing);
  result["heartbeats"] = r.sum(&shard::heartbeats);
  result["heartbeat_acks"] = total(&mafia_stats::heartbeat_acks);
  result["resyncs"] = r.sum(&shard::resyncs);
  result["resyncs_queue"] = total(&mafia_stats::resyncs_queue);
  result["resyncs_room"] = total(&mafia_stats::resyncs_room);
  result["resyncs_room_state_moved"] = total(&mafia_stats::resyncs_moved);
  result["frames_after_room_left"] = total(&mafia_stats::after_left);
  result["acks"] = r.sum(&shard::acks);
  result["disconnects"] = total(&mafia_stats::disconnects);
  result["restarts"] = total(&mafia_stats::restarts);
  result["historyRecordsWritten"] = history_written;
  result["history_failures"] = history_failures;
  result["history_refused"] = history_refused;
}

}  // namespace partyload
