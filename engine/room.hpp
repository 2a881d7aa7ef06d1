// A room: one game instance, its bounded lock-free inbox, and the engine's view of its
// connections and timers.
// Threads: code(), module(), push(), summary(), closed() and the atomics may be used from any
// thread. Everything under "worker only" belongs to the room's worker (one per room, fixed by a
// hash of the code), which is the only thread that ever touches the game instance.
#pragma once

#include <array>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include <concurrentqueue/concurrentqueue.h>
#include <boost/container/flat_map.hpp>

#include "engine/connection_sink.hpp"
#include "engine/game.hpp"

namespace partyd {

enum class push_result { accepted, full, closed };

// An input as the engine carries it: what the game sees, plus what only the engine may use.
// Admin API questions a room's worker answers (runtime::ask_room); games never see them.
enum class admin_request : std::uint8_t { none, inspect, snapshot, disconnect };
// Called exactly once: with the answer, or with nullopt when the room closed before its worker
// got to the question (the holder's destructor answers then).
class admin_reply {
 public:
  explicit admin_reply(std::function<void(std::optional<std::string>)> done)
      : done_(std::move(done)) {}
  admin_reply(const admin_reply&) = delete;
  admin_reply& operator=(const admin_reply&) = delete;
  ~admin_reply() {
    if (done_) done_(std::nullopt);
  }
  void answer(std::string text) {
    auto done = std::move(done_);
    done_ = nullptr;
    if (done) done(std::move(text));
  }

 private:
  std::function<void(std::optional<std::string>)> done_;
};

struct room_input {
  room_input() = default;
  room_input(input&& game_input) : in(std::move(game_input)) {}  // NOLINT: implicit on purpose

  input in;
  // Present on a connection's first input so the room can reach it.
  std::shared_ptr<connection_sink> sink;
  // On `created` from the admin API: called once the new room's first snapshot is durable (or the
  // wait timed out, or the room is not persisted). The admin API answers from here.
  std::function<void()> on_durable;
  // Session games: a session message (RECONNECT, ACK, HEARTBEAT; `in.cmd` is empty then), or the
  // session fields of a game command (clientMsgId, the first message's version).
  session_request session;
  // When io read the client message (steady clock, ns); 0 for the engine's own inputs. The worker
  // counts the wait until its step in partyd_inbox_wait_seconds.
  std::int64_t received_ns = 0;
  // io's number of the connection's routing into this room (connection_sink::released), on the
  // input that brings the sink.
  std::uint64_t route = 0;
  // The message leaves the room (decode_result::leaves_room): io has already let go of the room,
  // and the worker drops the connection after the step, with no disconnect.
  bool leaves = false;
  // An admin API question (in.conn: the connection a disconnect names) and where its answer goes.
  admin_request admin = admin_request::none;
  std::shared_ptr<admin_reply> reply;
};

class room {
 public:
  room(std::uint64_t serial, std::string code, const game_module& module,
       std::unique_ptr<game> instance, std::uint64_t seed, std::size_t worker_index,
       std::size_t inbox_max, time_ms created_at);

  // --- any thread ---
  std::uint64_t serial() const noexcept { return serial_; }
  const std::string& code() const noexcept { return code_; }
  const game_module& module() const noexcept { return module_; }
  std::size_t worker_index() const noexcept { return worker_index_; }
  time_ms created_at() const noexcept { return created_at_; }

  // Client inputs are refused past `inbox_max` pending; engine inputs (disconnect, timers,
  // admin close) pass `exempt` because they are bounded by other means (one per connection...).
  push_result push(room_input&& in, bool exempt);
  // True when the caller must hand the room to its worker (it was not already queued there).
  bool claim_schedule() noexcept { return !scheduled_.exchange(true, std::memory_order_acq_rel); }
  bool scheduled() const noexcept { return scheduled_.load(std::memory_order_acquire); }
  // An input that may wait for the room's next turn (runtime::submit_lazily): true when the
  // caller must list the room with its worker's waiting ones (it was not listed already).
  bool claim_lazy_listing() noexcept {
    return !lazy_listed_.exchange(true, std::memory_order_acq_rel);
  }
  void release_lazy_listing() noexcept { lazy_listed_.store(false, std::memory_order_release); }
  std::size_t inbox_depth() const noexcept { return depth_.load(std::memory_order_relaxed); }
  bool closed() const noexcept { return closed_.load(std::memory_order_acquire); }
  room_summary summary() const noexcept;
  std::uint64_t state_version() const noexcept {
    return state_version_.load(std::memory_order_relaxed);
  }
  time_ms last_activity() const noexcept { return last_activity_.load(std::memory_order_relaxed); }
  // The writer thread reports the newest state version known to be in the store.
  void note_durable(std::uint64_t version) noexcept {
    std::uint64_t seen = durable_version_.load(std::memory_order_relaxed);
    while (seen < version &&
           !durable_version_.compare_exchange_weak(seen, version, std::memory_order_release)) {
    }
  }
  std::uint64_t durable_version() const noexcept {
    return durable_version_.load(std::memory_order_acquire);
  }

  // --- worker only ---
  void release_schedule() noexcept { scheduled_.store(false, std::memory_order_release); }
  bool pop(room_input& out);
  game& instance() noexcept { return *instance_; }
  room_rng& rng() noexcept { return rng_; }
  void bump_version() noexcept { state_version_.fetch_add(1, std::memory_order_relaxed); }
  void touch(time_ms now) noexcept { last_activity_.store(now, std::memory_order_relaxed); }
  void publish_summary() noexcept;
  void mark_closed() noexcept { closed_.store(true, std::memory_order_release); }

  struct connection_entry {
    std::shared_ptr<connection_sink> sink;  // null while a session's connection is away
    role_id role = 0;
    bool bound = false;
    bool rate_limited = true;
    // The seat's session (an entry keyed by the session's logical id; `sink` is its current
    // connection), null for a plain connection. Points into the room's session_table, whose
    // entries stay put until the worker ends the session and clears this first.
    partyd::session* session = nullptr;
    std::uint64_t route = 0;  // room_input::route of the input that brought the sink
    time_ms since = 0;        // when the current sink reached the room (the inspector)
  };
  // Ordered by id so that role broadcasts reach connections in a deterministic order. A sorted
  // vector: every broadcast walks it, and a walk over std::map nodes scattered over the heap cost
  // a cache miss per connection (perf, bench/README.md); joins and leaves are rare next to it.
  boost::container::flat_map<connection_id, connection_entry> connections;
  // Game timers: key -> (deadline, generation). The generation invalidates older wheel entries.
  struct timer_state {
    time_ms deadline = 0;
    std::uint64_t generation = 0;
  };
  std::unordered_map<std::uint64_t, timer_state> timers;
  std::uint64_t timer_generation = 0;

  // Sessions (worker only; null unless the game has them). Keys of `connections` that are
  // sessions stay while the session is away, with a null sink.
  std::unique_ptr<session_table> sessions;
  // First messages of connections not bound yet: the version they asked for and their secret,
  // until the game binds them (a session opens then) or they leave.
  struct session_candidate {
    std::string version;
    std::string secret;
  };
  std::unordered_map<connection_id, session_candidate> session_candidates;
  std::uint64_t session_timer_generation = 0;
  time_ms session_timer_at = 0;  // 0: not armed

  // The last inputs the room took (worker only), for the admin API's inspector: a ring.
  struct input_note {
    time_ms time = 0;
    input_kind kind = input_kind::command;
    std::uint32_t type = ~std::uint32_t{0};  // a command's type index; ~0 for other inputs
    connection_id conn = 0;
  };
  static constexpr std::size_t recent_inputs_kept = 32;
  std::array<input_note, recent_inputs_kept> recent_inputs{};
  std::size_t recent_inputs_seen = 0;  // the newest is at (seen - 1) % kept
  void note_input(time_ms now, const input& in) noexcept {
    input_note& note = recent_inputs[recent_inputs_seen++ % recent_inputs_kept];
    note.time = now;
    note.kind = in.kind;
    note.type = in.cmd ? static_cast<std::uint32_t>(in.cmd->type) : ~std::uint32_t{0};
    note.conn = in.conn;
  }

  // Persistence bookkeeping (worker only).
  std::uint64_t snapshot_version = 0;  // state version of the last snapshot handed to the writer
  time_ms dirty_since = 0;             // first change not yet in a snapshot; 0 = clean
  bool snapshot_important = false;     // a step asked for an immediate snapshot
  bool snapshot_timer_armed = false;

  // Replies held back until the state they confirm is durable (worker only). An important step's
  // frames, and every frame after them, wait here in order; `version` is the state version that
  // must reach the store first.
  struct held_delivery {
    struct recipient {
      std::shared_ptr<connection_sink> sink;
      std::uint64_t seq = 0;  // a session's number for the frame; 0: none
      bool reliable = false;
    };
    std::uint64_t version = 0;
    std::vector<recipient> to;
    frame_ptr frame;               // a frame for `to`, or
    std::uint16_t close_code = 0;  // a close of to[0] when non-zero
    std::string close_reason;
    std::function<void()> callback;  // or a callback (admin create reply), or
    bool release = false;            // a release of to[0] (effects::release)
    std::uint64_t release_route = 0;
    std::string next_message;
  };
  std::deque<held_delivery> held;
  std::uint64_t hold_version = 0;              // newest version a held delivery waits for
  std::uint64_t snapshot_durable_version = 0;  // newest version known to be in the store
  std::uint64_t hold_generation = 0;

  // Before the room is published (restore): continue from a snapshot's position.
  void restore_position(std::uint64_t version, const room_rng::state_type& rng_state,
                        time_ms last_activity);

 private:
  // Thousands of rooms, each with a small inbox: blocks of 16 inputs taken when first needed and
  // small producer tables (a few io threads push). With moodycamel's defaults (32 blocks of 32
  // inputs preallocated) an empty relay room took 28.5 KB of RSS, 7.4 KB with these, and a push
  // touched cold blocks (ARCHITECTURE.md).
  struct inbox_traits : moodycamel::ConcurrentQueueDefaultTraits {
    static constexpr std::size_t BLOCK_SIZE = 16;
    static constexpr std::size_t IMPLICIT_INITIAL_INDEX_SIZE = 8;
    static constexpr std::size_t INITIAL_IMPLICIT_PRODUCER_HASH_SIZE = 4;
  };

  // What an io thread touches on every push comes first, together.
  std::atomic<bool> closed_{false};
  std::atomic<bool> scheduled_{false};
  std::atomic<bool> lazy_listed_{false};
  std::atomic<std::size_t> depth_{0};
  const std::size_t inbox_max_;
  moodycamel::ConcurrentQueue<room_input, inbox_traits> inbox_{0};

  const std::uint64_t serial_;
  const std::string code_;
  const game_module& module_;
  std::unique_ptr<game> instance_;
  const std::size_t worker_index_;
  const time_ms created_at_;
  std::atomic<std::uint64_t> state_version_{0};
  std::atomic<std::uint64_t> durable_version_{0};
  std::atomic<time_ms> last_activity_;
  std::array<std::atomic<std::uint32_t>, max_roles> connected_by_role_{};
  std::atomic<std::uint32_t> seats_{0};
  room_rng rng_;
};

}  // namespace partyd
