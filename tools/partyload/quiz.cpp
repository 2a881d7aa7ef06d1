// partyload: the quiz scenario. R lobbies, each on one io thread, play whole quiz games in a
// loop: the host connects (development-mode name, as the server runs without a token key) and
// sends lobby:create; the other M-1 players join by the code; once all are in, the host starts;
// every player answers each question after a human pause (uniform in [0.5, 1.5] x --think-ms,
// and with probability 1/10 not at all, so that some questions close by their timer and some
// early); after game:finished the host starts the next game. Every client speaks the session
// layer: ACKs for reliable frames, HEARTBEAT every heartbeatIntervalMs with the state checksum
// that docs/protocol/quiz.md defines, computed from the frames the client saw (as a real client
// would: a mismatch costs the server a STATE_SNAPSHOT, counted as heartbeat_resyncs).
// Measured after a warm-up (the ramp, one question and 5 s: the connection storm of the start is
// not a game's steady state), over the rest of --duration: result delivery (game:answer_result's
// arrival at each player minus its closedAt), close lateness (closedAt minus the question's
// deadline, for timer closes: read by the host), answer round trip (game:answer to the sender's own
// game:answered). closedAt and deadline are the server's wall clock in whole ms; partyload reads
// the same clock (one machine), so delivery is overstated by up to 1 ms.
#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstdio>
#include <random>

#include <boost/asio/steady_timer.hpp>

#include "room_loop.hpp"
#include "ws_conn.hpp"

namespace partyload {
namespace {

class quiz_lobby;

// What a player knows of its lobby, from its frames: the fields of the quiz checksum.
struct tracked_view {
  std::string status = "waiting";
  std::int64_t round = 0;
  std::string question_id;
  std::int64_t deadline = 0;
  std::int64_t answers = 0;
  std::vector<std::pair<std::string, std::int64_t>> scores;  // players of the game, in order
  std::vector<std::pair<std::string, bool>> members;         // userId, connected

  void on_lobby_state(const json::object& frame) {
    const std::string next(frame.at("status").as_string());
    members.clear();
    for (const json::value& m : frame.at("members").as_array()) {
      members.emplace_back(std::string(m.at("userId").as_string()), m.at("connected").as_bool());
    }
    if (next == "question" && status != "question" && status != "result") {
      scores.clear();  // a game starts: everyone in the lobby plays, from 0
      for (const auto& [user, connected] : members) scores.emplace_back(user, 0);
    }
    status = next;
  }
  void on_question(const json::object& frame) {
    status = "question";
    round = frame.at("round").as_int64();
    question_id = std::string(frame.at("questionId").as_string());
    deadline = frame.at("deadline").as_int64();
    answers = 0;
  }
  void on_result(const json::object& frame) {
    status = "result";
    scores.clear();
    for (const json::value& entry : frame.at("scores").as_array()) {
      scores.emplace_back(std::string(entry.at("userId").as_string()),
                          entry.at("score").as_int64());
    }
  }
  // FNV-1a 32 of the documented text, as 8 lower-case hex digits.
  std::string checksum() const {
    const bool open = status == "question";
    std::string text = status + "|" + std::to_string(round) + "|" + question_id + "|" +
                       std::to_string(open ? deadline : 0) + "|" +
                       std::to_string(open ? answers : 0) + "|";
    for (const auto& [user, score] : scores) text += user + "=" + std::to_string(score) + ";";
    text += "|";
    for (const auto& [user, connected] : members) text += user + (connected ? ":1;" : ":0;");
    std::uint32_t hash = 2166136261u;
    for (unsigned char c : text) hash = (hash ^ c) * 16777619u;
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", hash);
    return hex;
  }
};

class quiz_client final : public ws_conn {
 public:
  quiz_client(quiz_lobby& lobby, int index);

  void open();
  void reset() { drop(); }  // open() clears the rest
  void halt() {
    answer_timer_.cancel();
    heartbeat_timer_.cancel();
    stop();
  }
  void start_game();

 private:
  void on_open() override;
  void on_frame(std::string_view frame) override;
  void on_closed(bool expected) override;
  void on_game_frame(std::string_view type, std::string_view frame, std::int64_t now);
  void answer_later(std::string_view question_id, std::int64_t options);
  void arm_heartbeat(bool next);
  bool measuring() const { return run_.measuring.load(std::memory_order_relaxed); }

  quiz_lobby& lobby_;
  int index_;  // 0 = host
  std::string path_;
  std::string user_id_;
  net::steady_timer answer_timer_;
  net::steady_timer heartbeat_timer_;
  std::int64_t heartbeat_ms_ = 10000;
  std::uint64_t last_seq_ = 0;
  tracked_view view_;
  std::string question_id_;
  std::int64_t answer_sent_ns_ = 0;
  std::string scratch_;
};

// A quiz lobby and its players (the host first); room_base restarts it after a failure.
class quiz_lobby : public room_base<quiz_lobby, quiz_client> {
 public:
  quiz_lobby(runner& r, int thread, int number)
      : room_base(r, thread, number * 7919 + 29), number_(number) {
    for (int i = 0; i < r.opt.players; ++i) {
      clients_.push_back(std::make_unique<quiz_client>(*this, i));
    }
  }

  int number() const { return number_; }

  void open_room() {
    last_progress_ns = mono_ns();
    code.clear();
    everyone_in = false;
    clients_[0]->open();
  }

  bool everyone_in = false;
  std::int64_t deadline_ms = 0;  // the open question's

 private:
  int number_;
};

quiz_client::quiz_client(quiz_lobby& lobby, int index)
    : ws_conn(lobby.context(), lobby.counters(), lobby.r().run),
      lobby_(lobby),
      index_(index),
      answer_timer_(lobby.context()),
      heartbeat_timer_(lobby.context()) {
  const std::string name = "r" + std::to_string(lobby.number()) + "p" + std::to_string(index);
  path_ = "/ws/quiz?name=" + name;
  user_id_ = "dev:" + name;
}

void quiz_client::open() {
  last_seq_ = 0;
  view_ = tracked_view{};
  question_id_.clear();
  connect(lobby_.r().endpoints, lobby_.r().opt.host, path_.c_str());
}

void quiz_client::on_open() {
  std::string& text = next_frame();
  if (index_ == 0) {
    text = "{\"type\":\"lobby:create\",\"version\":\"1.0\",\"settings\":{\"rounds\":";
    text += std::to_string(lobby_.r().opt.game_rounds);
    text += ",\"secondsPerQuestion\":";
    text += std::to_string(lobby_.r().opt.question_s);
    text += "}}";
  } else {
    text = "{\"type\":\"lobby:join\",\"version\":\"1.0\",\"code\":\"";
    text += lobby_.code;
    text += "\"}";
  }
  histogram::bump(shard_.actions);
  commit();
}

void quiz_client::start_game() {
  answer_timer_.expires_after(std::chrono::nanoseconds(lobby_.think_ns()));
  answer_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped() || !is_open()) return;
    send("{\"type\":\"lobby:start\"}");
    histogram::bump(shard_.actions);
  });
}

void quiz_client::on_frame(std::string_view frame) {
  const std::int64_t now = mono_ns();
  lobby_.last_progress_ns = now;
  const numbering n = read_numbering(frame);
  if (!n.error.empty()) return error(n.error);
  if (n.seq == 0) {
    const std::string_view type = frame_type(frame);
    if (type == "CONNECTED") {
      heartbeat_ms_ = int_field(frame, "heartbeatIntervalMs").value_or(10000);
      arm_heartbeat(false);
      return;
    }
    if (type == "HEARTBEAT_ACK") return;
    if (type == "STATE_SNAPSHOT") {
      // A heartbeat that crossed a change in flight, or a checksum computed wrong.
      histogram::bump(shard_.resyncs);
      return;
    }
    return on_game_frame(type, frame, now);  // errors found before the room are unnumbered
  }
  if (!take_numbered(n, last_seq_, "sequence_gap")) return;
  on_game_frame(frame_type(frame), frame, now);
}

void quiz_client::on_game_frame(std::string_view type, std::string_view frame, std::int64_t now) {
  if (type == "lobby:state" || type == "game:question" || type == "game:answer_result") {
    boost::system::error_code ec;
    const json::value parsed = json::parse(frame, ec);
    if (ec || !parsed.is_object()) return error("bad_frame");
    const json::object& object = parsed.as_object();
    if (type == "lobby:state") view_.on_lobby_state(object);
    if (type == "game:question") view_.on_question(object);
    if (type == "game:answer_result") view_.on_result(object);
  }
  if (type == "lobby:state") {
    if (index_ == 0 && lobby_.code.empty()) {
      lobby_.code.assign(string_field(frame, "code"));
      if (lobby_.code.empty()) return error("bad_lobby_state");
      for (int i = 1; i < lobby_.players(); ++i) lobby_.client(i).open();
    }
    if (index_ == 0 && !lobby_.everyone_in &&
        frame.find("\"status\":\"waiting\"") != std::string_view::npos) {
      int members = 0;
      for (auto at = frame.find("\"userId\""); at != std::string_view::npos;
           at = frame.find("\"userId\"", at + 1)) {
        ++members;
      }
      if (members == lobby_.players()) {
        lobby_.everyone_in = true;
        start_game();
      }
    }
    return;
  }
  if (type == "game:question") {
    if (index_ == 0) lobby_.deadline_ms = int_field(frame, "deadline").value_or(0);
    int options = 0;
    const auto list = frame.find("\"options\":[");
    if (list != std::string_view::npos) {
      const auto close = frame.find(']', list);
      for (auto at = frame.find('"', list + 11); at < close; at = frame.find('"', at + 1)) {
        ++options;
      }
    }
    answer_later(string_field(frame, "questionId"), std::max(1, options / 2));
    return;
  }
  if (type == "game:answered") {
    view_.answers = int_field(frame, "answered").value_or(view_.answers);
    if (answer_sent_ns_ != 0 && string_field(frame, "userId") == user_id_ && measuring()) {
      shard_.quiz_answer.record(now - answer_sent_ns_);
      answer_sent_ns_ = 0;
    }
    return;
  }
  if (type == "game:answer_result") {
    const auto closed_at = int_field(frame, "closedAt");
    if (!closed_at) return error("bad_answer_result");
    if (measuring()) shard_.quiz_result.record(wall_ns() - *closed_at * 1'000'000);
    if (index_ == 0 && measuring() &&
        frame.find("\"closedBy\":\"timer\"") != std::string_view::npos) {
      shard_.quiz_lateness.record((*closed_at - lobby_.deadline_ms) * 1'000'000);
    }
    answer_timer_.cancel();
    return;
  }
  if (type == "game:finished") {
    view_.status = "finished";
    if (index_ == 0) {
      histogram::bump(shard_.games);
      start_game();
    }
    return;
  }
  if (type == "error") {
    scratch_ = "quiz_error:";
    scratch_ += string_field(frame, "code");
    if (run_.log_frame()) {
      std::fprintf(stderr, "quiz: %.*s\n",
                   static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
    }
    return error(scratch_);
  }
}

void quiz_client::answer_later(std::string_view question_id, std::int64_t options) {
  question_id_.assign(question_id);
  std::uniform_int_distribution<int> skip(0, 9);
  if (skip(lobby_.rng()) == 0) return;  // this one lets the timer close the question
  const std::int64_t delay = std::min<std::int64_t>(
      lobby_.think_ns(), lobby_.r().opt.question_s * 1'000'000'000LL * 9 / 10);
  answer_timer_.expires_after(std::chrono::nanoseconds(delay));
  answer_timer_.async_wait([this, options](boost::system::error_code ec) {
    if (ec || stopped() || !is_open()) return;
    std::string& text = next_frame();
    text = "{\"type\":\"game:answer\",\"questionId\":\"";
    text += question_id_;
    text += "\",\"optionIndex\":";
    text += std::to_string(static_cast<int>(lobby_.rng()() % static_cast<unsigned>(options)));
    text += '}';
    answer_sent_ns_ = mono_ns();
    histogram::bump(shard_.actions);
    commit();
  });
}

void quiz_client::arm_heartbeat(bool next) {
  if (stopped()) return;
  heartbeat_timer_.expires_after(heartbeat_delay(next, heartbeat_ms_));
  heartbeat_timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped() || !is_open()) return;
    send_heartbeat(0, view_.checksum());  // quiz frames carry no stateVersion
    arm_heartbeat(true);
  });
}

void quiz_client::on_closed(bool expected) {
  answer_timer_.cancel();
  heartbeat_timer_.cancel();
  if (run_.stopping.load(std::memory_order_relaxed)) return;
  (void)expected;
  error("unexpected_close");
  lobby_.abort_room();
}

}  // namespace

void run_quiz(runner& r, json::object& result) {
  const options& opt = r.opt;
  // A lobby without any frame for a question's length plus 10 s is stuck: counted, started over.
  const auto stall_ns = static_cast<std::int64_t>((opt.question_s + 10) * 1e9);
  room_set<quiz_lobby> lobbies(
      r, stall_ns, [&r](int t, int i) { return std::make_unique<quiz_lobby>(r, t, i); });
  const long rss_before = opt.server_pid ? rss_kib(opt.server_pid) : -1;
  r.start();
  lobbies.start();
  const auto progress_line = [&] {
    char line[192];
    std::snprintf(line, sizeof line, "games=%llu results=%llu result_p99=%.2fms",
                  static_cast<unsigned long long>(r.sum(&shard::games)),
                  static_cast<unsigned long long>(r.merged(&shard::quiz_result).count),
                  r.merged(&shard::quiz_result).p99_ms);
    return std::string(line);
  };
  const double warmup = std::min(opt.ramp_s + opt.question_s + 5, opt.duration_s / 2);
  const double elapsed = measure_after_warmup(r, warmup, rss_before, progress_line, result);
  r.finish([&lobbies](int t) { lobbies.halt(t); });

  const summary delivery = r.merged(&shard::quiz_result);
  const summary lateness = r.merged(&shard::quiz_lateness);
  const summary answer = r.merged(&shard::quiz_answer);
  print_latency_header();
  print_latency_row("answer_result delivery", delivery);
  print_latency_row("timer close lateness", lateness);
  print_latency_row("answer -> answered", answer);
  const auto games = r.sum(&shard::games);
  std::fprintf(stderr,
               "games completed %llu, frames received/s %.0f, heartbeats %llu (resynced %llu)\n",
               static_cast<unsigned long long>(games),
               static_cast<double>(r.sum(&shard::frames_in)) / elapsed,
               static_cast<unsigned long long>(r.sum(&shard::heartbeats)),
               static_cast<unsigned long long>(r.sum(&shard::resyncs)));
  result["rooms"] = opt.rooms;
  result["players"] = opt.players;
  result["think_ms"] = opt.think_ms;
  result["question_s"] = opt.question_s;
  result["game_rounds"] = opt.game_rounds;
  result["connections"] = opt.rooms * opt.players;
  result["warmup_s"] = warmup;
  result["duration_s"] = elapsed;
  result["games_completed"] = games;
  result["actions_per_s"] = static_cast<double>(r.sum(&shard::actions)) / elapsed;
  result["delivered_per_s"] = static_cast<double>(r.sum(&shard::frames_in)) / elapsed;
  put_percentiles(result, "result_delivery", delivery);
  put_percentiles(result, "close_lateness", lateness);
  put_percentiles(result, "answer_round_trip", answer);
  result["heartbeats"] = r.sum(&shard::heartbeats);
  result["heartbeat_resyncs"] = r.sum(&shard::resyncs);
}

}  // namespace partyload
