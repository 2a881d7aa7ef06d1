// Test doubles for engine tests: an "echo" game module whose steps are scripted by its commands
// and written to a thread-safe journal, and a recording connection_sink.
// Threads: the game runs on a worker; the journal and the sinks may be read from any thread and
// offer wait_for() helpers that block on a condition_variable with a bounded timeout.
#pragma once

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include "engine/game.hpp"
#include "engine/runtime.hpp"

namespace partyd::testing {

using namespace std::chrono_literals;

// Bounded wait on a condition_variable: true when `done` holds before `timeout`.
template <typename Predicate>
bool wait_until_true(std::mutex& mutex, std::condition_variable& cv, Predicate done,
                     std::chrono::milliseconds timeout) {
  std::unique_lock lock(mutex);
  return cv.wait_for(lock, timeout, done);
}

// Polls a condition that has no condition_variable of its own (metrics, the room directory).
template <typename Predicate>
bool eventually(Predicate done, std::chrono::milliseconds timeout = 2000ms) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= until) {
      return false;
    }
    std::this_thread::sleep_for(1ms);
  }
  return true;
}

// ----- the echo game -----

enum echo_in : std::uint16_t {
  in_join,          // bind the sender in role `number`, reply "welcome:<conn>"
  in_echo,          // reply "echo:<text>"
  in_broadcast,     // send_roles(`roles`, "<text>"), except the sender when `number` != 0
  in_set_timer,     // set_timer(key `number`, now + `delay_ms`)
  in_cancel_timer,  // cancel_timer(key `number`)
  in_close_room,    // close_room(`text`)
  in_close_me,      // close_connection(sender, 4000, "bye")
  in_count,         // count(`text`)
  in_seq,           // journal only; `number` is a sequence number, `text` the producer
  in_block,         // waits in step() until the journal's gate opens (scheduling tests only)
  in_send_to,       // send(conn `number`, "<text>")
  in_important,     // important(), then reply "important:<text>" (a transition worth persisting)
  in_reliable,      // send_roles_reliable(`roles`, "<text>")
  in_persist,       // persist(), then reply "persist:<text>" (written at once, not waited for)
};
inline constexpr std::string_view echo_in_names[] = {
    "join",  "echo", "broadcast", "set_timer", "cancel_timer", "close_room", "close_me",
    "count", "seq",  "block",     "send_to",   "important",    "reliable",   "persist"};
enum echo_out : std::uint16_t { out_welcome, out_echo, out_broadcast, out_timer };
inline constexpr std::string_view echo_out_names[] = {"welcome", "echo", "broadcast", "timer"};
enum echo_role : role_id { role_host, role_player, role_audience };
inline constexpr std::string_view echo_role_names[] = {"host", "player", "audience"};

struct echo_command : command {
  std::uint64_t number = 0;
  std::int64_t delay_ms = 0;
  role_mask roles = 0;
  std::string text;
};

inline command_ptr make_command(echo_in type, std::uint64_t number = 0, std::string text = {},
                                std::int64_t delay_ms = 0, role_mask roles = 0) {
  auto cmd = std::make_unique<echo_command>();
  cmd->type = type;
  cmd->number = number;
  cmd->text = std::move(text);
  cmd->delay_ms = delay_ms;
  cmd->roles = roles;
  return cmd;
}

// One game step as the game saw it.
struct step_record {
  std::string room;
  input_kind kind = input_kind::command;
  connection_id conn = 0;
  std::uint16_t type = 0;  // command type, for commands
  std::uint64_t number = 0;
  std::string text;
  std::uint64_t timer_key = 0;
  time_ms now = 0;
};

// Every step of every echo room, in the order the steps ran (workers append under a lock).
class journal {
 public:
  void record(step_record r) {
    {
      std::lock_guard lock(mutex_);
      steps_.push_back(std::move(r));
    }
    cv_.notify_all();
  }
  std::vector<step_record> steps() const {
    std::lock_guard lock(mutex_);
    return steps_;
  }
  std::size_t size() const {
    std::lock_guard lock(mutex_);
    return steps_.size();
  }
  template <typename Predicate>
  bool wait_for(Predicate done, std::chrono::milliseconds timeout = 2000ms) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return done(steps_); });
  }
  // Waits until `count` steps have run (cheap: no scan of the journal on each step).
  bool wait_size(std::size_t count, std::chrono::milliseconds timeout = 2000ms) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return steps_.size() >= count; });
  }
  // Waits for a step of `kind` in `room` (any room when empty).
  bool wait_kind(input_kind kind, std::string_view room = {},
                 std::chrono::milliseconds timeout = 2000ms) {
    return wait_for(
        [&](const std::vector<step_record>& s) {
          return std::any_of(s.begin(), s.end(), [&](const step_record& r) {
            return r.kind == kind && (room.empty() || r.room == room);
          });
        },
        timeout);
  }

  // The gate that in_block waits on; open by default.
  void close_gate() {
    std::lock_guard lock(mutex_);
    gate_open_ = false;
  }
  void open_gate() {
    {
      std::lock_guard lock(mutex_);
      gate_open_ = true;
    }
    cv_.notify_all();
  }
  // True once a step is waiting at the closed gate.
  bool wait_blocked(std::chrono::milliseconds timeout = 2000ms) {
    std::unique_lock lock(mutex_);
    return cv_.wait_for(lock, timeout, [&] { return blocked_ > 0; });
  }
  void block_here() {
    std::unique_lock lock(mutex_);
    ++blocked_;
    cv_.notify_all();
    // Bounded so that a broken test cannot hang the suite.
    cv_.wait_for(lock, 5s, [&] { return gate_open_; });
    --blocked_;
  }

  bool close_on_inactive = true;  // set before rooms are created
  // A disconnect broadcasts "left:<conn>" to every role, before the game forgets the connection
  // (as a game that tells the others someone left does).
  bool broadcast_on_disconnect = false;

 private:
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<step_record> steps_;
  bool gate_open_ = true;
  int blocked_ = 0;
};

class echo_game final : public game {
 public:
  echo_game(std::string code, std::shared_ptr<journal> log) : code_(std::move(code)), log_(log) {}

  void step(const input& in, time_ms now, room_rng& rng, effects& out) override {
    step_record r;
    r.room = code_;
    r.kind = in.kind;
    r.conn = in.conn;
    r.timer_key = in.timer_key;
    r.now = now;
    const auto* cmd = static_cast<const echo_command*>(in.cmd.get());
    if (in.kind == input_kind::presence) {
      r.number = static_cast<std::uint64_t>(in.stage);
    }
    if (in.kind == input_kind::command && cmd != nullptr) {
      r.type = cmd->type;
      r.number = cmd->number;
      r.text = cmd->text;
    }
    log_->record(r);
    switch (in.kind) {
      case input_kind::command:
        if (cmd != nullptr) {
          run(in.conn, *cmd, now, out);
        }
        break;
      case input_kind::timer:
        out.send_roles(0xff, out_timer, make_frame("timer:" + std::to_string(in.timer_key)));
        break;
      case input_kind::inactive:
        if (log_->close_on_inactive) {
          out.close_room("inactive");
        }
        break;
      case input_kind::admin_close:
        out.close_room("admin");
        break;
      case input_kind::disconnect:
        if (log_->broadcast_on_disconnect) {
          out.send_roles(0xff, out_broadcast, make_frame("left:" + std::to_string(in.conn)));
        }
        roles_.erase(in.conn);
        break;
      case input_kind::created:
        break;
      case input_kind::presence:
      case input_kind::room_created:
      case input_kind::record_written:
        break;
    }
  }

  session_view view_of(connection_id conn, time_ms /*now*/) const override {
    auto it = roles_.find(conn);
    const std::string role = it == roles_.end() ? "-" : std::to_string(it->second);
    return {"echoing", "{\"role\":\"" + role + "\"}", "sum-" + role};
  }

  std::string snapshot() const override { return "echo:v1"; }

  room_summary summary() const noexcept override {
    room_summary s;
    for (const auto& [conn, role] : roles_) {
      ++s.connected_by_role[role];
    }
    s.seats = static_cast<std::uint32_t>(roles_.size());
    return s;
  }

 private:
  void run(connection_id conn, const echo_command& cmd, time_ms now, effects& out) {
    switch (cmd.type) {
      case in_join:
        roles_[conn] = static_cast<role_id>(cmd.number);
        out.bind(conn, static_cast<role_id>(cmd.number), cmd.number != role_host);
        out.send(conn, out_welcome, make_frame("welcome:" + std::to_string(conn)));
        break;
      case in_echo:
        out.send(conn, out_echo, make_frame("echo:" + cmd.text));
        break;
      case in_broadcast:
        out.send_roles(cmd.roles, out_broadcast, make_frame(cmd.text), cmd.number != 0 ? conn : 0);
        break;
      case in_set_timer:
        out.set_timer(cmd.number, now + cmd.delay_ms);
        break;
      case in_cancel_timer:
        out.cancel_timer(cmd.number);
        break;
      case in_close_room:
        out.close_room(cmd.text);
        break;
      case in_close_me:
        roles_.erase(conn);
        out.close_connection(conn, 4000, "bye");
        break;
      case in_count:
        out.count(cmd.text);
        break;
      case in_seq:
        break;
      case in_block:
        log_->block_here();
        break;
      case in_send_to:
        out.send(cmd.number, out_echo, make_frame(cmd.text));
        break;
      case in_reliable:
        out.send_roles_reliable(cmd.roles, out_broadcast, make_frame(cmd.text));
        break;
      case in_important:
        out.important();
        out.send(conn, out_echo, make_frame("important:" + cmd.text));
        break;
      case in_persist:
        out.persist();
        out.send(conn, out_echo, make_frame("persist:" + cmd.text));
        break;
      default:
        break;
    }
  }

  std::string code_;
  std::shared_ptr<journal> log_;
  std::map<connection_id, role_id> roles_;
};

class echo_module final : public game_module {
 public:
  explicit echo_module(std::shared_ptr<journal> log,
                       std::optional<session_policy> sessions = std::nullopt)
      : log_(std::move(log)), sessions_(std::move(sessions)) {}

  const session_policy* sessions() const noexcept override {
    return sessions_ ? &*sessions_ : nullptr;
  }

  std::string_view name() const noexcept override { return "echo"; }
  std::string_view ws_path() const noexcept override { return "/echo"; }
  std::size_t max_message_bytes() const noexcept override { return 1024; }
  std::span<const std::string_view> role_names() const noexcept override { return echo_role_names; }
  std::span<const std::string_view> in_types() const noexcept override { return echo_in_names; }
  std::span<const std::string_view> out_types() const noexcept override { return echo_out_names; }

  // "<type> [text]": enough to exercise the interface; engine tests build commands directly.
  decode_result decode(std::string_view text, bool first_message) const override {
    decode_result result;
    const auto space = text.find(' ');
    const std::string_view verb = text.substr(0, space);
    for (std::uint16_t i = 0; i < std::size(echo_in_names); ++i) {
      if (echo_in_names[i] == verb) {
        result.cmd = make_command(
            static_cast<echo_in>(i), 0,
            space == std::string_view::npos ? std::string() : std::string(text.substr(space + 1)));
        return result;
      }
    }
    result.error = {"bad_type", "unknown command"};
    return result;
  }
  std::string encode_error(std::string_view code, std::string_view message) const override {
    return "error:" + std::string(code);
  }
  create_result create(const boost::json::object& options, std::string_view code) const override {
    create_result result;
    if (options.contains("fail")) {
      result.error = {"bad_options", "asked to fail"};
      return result;
    }
    result.instance = std::make_unique<echo_game>(std::string(code), log_);
    result.reply["code"] = code;
    return result;
  }
  std::unique_ptr<game> restore(std::string_view bytes) const override {
    return bytes == "echo:v1" ? std::make_unique<echo_game>("restored", log_) : nullptr;
  }

 private:
  std::shared_ptr<journal> log_;
  std::optional<session_policy> sessions_;
};

// ----- connections -----

// Frames delivered to every recording_sink that shares it, in delivery order across sinks.
class delivery_log {
 public:
  void add(connection_id conn, const std::string& frame) {
    std::lock_guard lock(mutex_);
    entries_.emplace_back(conn, frame);
  }
  std::vector<std::pair<connection_id, std::string>> entries() const {
    std::lock_guard lock(mutex_);
    return entries_;
  }

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<connection_id, std::string>> entries_;
};

// A connection_sink that records frames, binds and closes; safe to read from the test thread.
class recording_sink final : public connection_sink {
 public:
  struct bind_record {
    role_id role;
    bool rate_limited;
  };
  struct close_record {
    std::uint16_t code;
    std::string reason;
  };

  explicit recording_sink(connection_id id, std::shared_ptr<delivery_log> shared = nullptr)
      : id_(id), shared_(std::move(shared)) {}

  connection_id id() const noexcept override { return id_; }
  void deliver(const frame_ptr& frame) noexcept override {
    {
      std::lock_guard lock(mutex_);
      frames_.push_back(frame);
      if (shared_) {
        shared_->add(id_, *frame);
      }
    }
    cv_.notify_all();
  }
  void deliver_numbered(const frame_ptr& frame, std::uint64_t seq,
                        bool reliable) noexcept override {
    {
      std::lock_guard lock(mutex_);
      numbered_.push_back({frame, seq, reliable});
      frames_.push_back(frame);
      if (shared_) {
        shared_->add(id_, *frame);
      }
    }
    cv_.notify_all();
  }
  void bind(role_id role, bool rate_limited) noexcept override {
    {
      std::lock_guard lock(mutex_);
      binds_.push_back({role, rate_limited});
    }
    cv_.notify_all();
  }
  void close(std::uint16_t code, std::string_view reason) noexcept override {
    {
      std::lock_guard lock(mutex_);
      closes_.push_back({code, std::string(reason)});
    }
    cv_.notify_all();
  }

  std::vector<std::string> frames() const {
    std::lock_guard lock(mutex_);
    std::vector<std::string> out;
    for (const auto& f : frames_) {
      out.push_back(*f);
    }
    return out;
  }
  std::vector<frame_ptr> frame_ptrs() const {
    std::lock_guard lock(mutex_);
    return frames_;
  }
  std::vector<bind_record> binds() const {
    std::lock_guard lock(mutex_);
    return binds_;
  }
  struct numbered_record {
    frame_ptr frame;
    std::uint64_t seq;
    bool reliable;
  };
  // The frames that came with a session's number (also in frames(), in order).
  std::vector<numbered_record> numbered() const {
    std::lock_guard lock(mutex_);
    return numbered_;
  }
  std::vector<close_record> closes() const {
    std::lock_guard lock(mutex_);
    return closes_;
  }

  bool wait_frames(std::size_t count, std::chrono::milliseconds timeout = 2000ms) {
    return wait_until_true(
        mutex_, cv_, [&] { return frames_.size() >= count; }, timeout);
  }
  bool wait_binds(std::size_t count, std::chrono::milliseconds timeout = 2000ms) {
    return wait_until_true(
        mutex_, cv_, [&] { return binds_.size() >= count; }, timeout);
  }
  bool wait_closed(std::chrono::milliseconds timeout = 2000ms) {
    return wait_until_true(
        mutex_, cv_, [&] { return !closes_.empty(); }, timeout);
  }

 private:
  const connection_id id_;
  std::shared_ptr<delivery_log> shared_;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<frame_ptr> frames_;
  std::vector<numbered_record> numbered_;
  std::vector<bind_record> binds_;
  std::vector<close_record> closes_;
};

// ----- a runtime with the echo module -----

// Owns a metrics registry, a runtime serving the echo module, and the journal its games write.
struct echo_fixture {
  explicit echo_fixture(runtime_options options = {},
                        std::optional<session_policy> sessions = std::nullopt)
      : log(std::make_shared<journal>()) {
    rt = std::make_unique<runtime>(std::move(options), metrics);
    rt->add_module(std::make_unique<echo_module>(log, std::move(sessions)));
    module = rt->module_by_name("echo");
  }
  ~echo_fixture() { rt->stop(); }

  // A started runtime's new room, after its `created` step ran.
  std::shared_ptr<room> create() {
    auto made = rt->create_room(*module, {});
    if (made.created) {
      const std::string code = made.created->code();
      log->wait_kind(input_kind::created, code);
    }
    return made.created;
  }

  // A connection's first input carries its sink; later ones do not need to.
  push_result send(const std::shared_ptr<room>& target, connection_id conn, command_ptr cmd,
                   std::shared_ptr<connection_sink> sink = nullptr) {
    room_input in;
    in.in.kind = input_kind::command;
    in.in.conn = conn;
    in.in.cmd = std::move(cmd);
    in.sink = std::move(sink);
    return rt->submit(target, std::move(in));
  }

  std::shared_ptr<recording_sink> join(const std::shared_ptr<room>& target, connection_id conn,
                                       echo_role role,
                                       std::shared_ptr<delivery_log> shared = nullptr) {
    auto sink = std::make_shared<recording_sink>(conn, std::move(shared));
    send(target, conn, make_command(in_join, role), sink);
    return sink;
  }

  metrics_registry metrics;
  std::shared_ptr<journal> log;
  std::unique_ptr<runtime> rt;
  const game_module* module = nullptr;
};

}  // namespace partyd::testing
