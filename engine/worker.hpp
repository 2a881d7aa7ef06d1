// A worker thread: runs the rooms pinned to it. It sleeps on its ready queue when idle (no busy
// spin), wakes when a room of its becomes ready or a timer is due, takes at most
// `batch_per_room` inputs from a room per pass so one busy room cannot starve the others, runs
// game steps and applies their effects.
// Threads: wake() from any thread; everything else on the worker's own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <memory>
#include <thread>
#include <unordered_map>
#include <vector>

#include <concurrentqueue/blockingconcurrentqueue.h>

#include "engine/metrics.hpp"
#include "engine/room.hpp"
#include "engine/room_snapshot.hpp"
#include "engine/timer_wheel.hpp"

namespace partyd {

class runtime;

class worker {
 public:
  worker(std::size_t index, runtime& owner);
  ~worker();

  void start();
  // Finishes the inputs already queued, then returns after the thread has joined.
  void stop();
  // Any thread: the room has inputs.
  void wake(std::shared_ptr<room> ready);
  // Any thread: the room has inputs that may wait (runtime::submit_lazily).
  void wake_lazily(std::shared_ptr<room> listed);
  // Any thread: snapshot every room of this worker again (runtime::request_full_snapshot).
  void request_full_snapshot();
  // Any thread: several rooms at once, one signal.
  template <class MoveIterator>
  void wake_many(MoveIterator first, std::size_t count) {
    if (count > 0) {
      ready_.enqueue_bulk(first, count);
    }
  }

 private:
  void run();
  // One batch of the room's inputs; true when it has more and must go to the back of the line.
  bool run_pass(const std::shared_ptr<room>& ready);
  void process(room& target, room_input& in, time_ms now);
  // Runs the game's step behind the step guard; false when the step failed the room.
  bool guarded_step(room& target, const input& in, time_ms now);
  // Empty when every effect is one the game may ask for; else what is wrong.
  std::string invalid_effect(const room& target) const;
  // A game-rule failure: drops the step's effects, closes the room with 1011 and quarantines its
  // last good snapshot (ARCHITECTURE.md, "Failures").
  void fail_room(room& target, const input& in, std::string_view what);
  void apply(room& target, const effects& out, time_ms now);
  // --- sessions (engine/session.hpp) ---
  // A session message, or the session side of a command or disconnect; true when it consumed the
  // input (the game does not see it).
  bool session_input(room& target, room_input& envelope, time_ms now);
  struct session_ref {
    connection_id logical = 0;  // the id the game knows the connection's seat by
    session* found = nullptr;   // its session, if it has one
  };
  session_ref session_of(room& target, connection_id conn);
  void resume_session(room& target, room_input& envelope, time_ms now);
  void run_session_upkeep(room& target, time_ms now);
  void carry_out(room& target, std::vector<session_action>& actions,
                 const std::shared_ptr<connection_sink>& replying_to, time_ms now);
  void arm_session_timer(room& target);
  session_view view_for(room& target, connection_id logical, time_ms now);
  // The state version sessions are told: the game's own when it keeps one, else the room's.
  std::uint64_t shown_version(room& target);
  std::string checksum_for(room& target, connection_id logical);
  // A frame to an entry of `connections`: numbered when it is a session, held behind frames that
  // wait for durability, to the ring only while the session is away.
  void deliver_to(room& target, room::connection_entry& entry, const frame_ptr& frame,
                  bool reliable, time_ms now);
  // A frame outside any session's numbering (CONNECTED, RECONNECTED, errors before a seat).
  void deliver_unnumbered(room& target, const std::shared_ptr<connection_sink>& sink,
                          const frame_ptr& frame);
  // Bound connections with a socket count in partyd_connections.
  void count_connection(room& target, const room::connection_entry& entry, int delta);
  void fire_timers(time_ms now);
  // The connection leaves the room without a disconnect (a release, a leave): its session ends.
  void drop_connection(room& target, connection_id conn);
  void arm_inactivity(room& target, time_ms now);
  // `code`: the close code every connection gets; `failed`: quarantine the snapshot, not remove it.
  void close_room(room& target, const std::string& reason, std::uint16_t code = 1000,
                  bool failed = false);
  void maybe_snapshot(room& target, time_ms now);
  void snapshot_now(room& target, time_ms now);
  // The room as its snapshot holds it (state, timers, sessions, position).
  room_snapshot capture(room& target);
  // The admin API's questions (runtime::ask_room), answered here on the room's worker.
  void answer_admin(room& target, room_input& envelope, time_ms now);
  std::string inspect(room& target, time_ms now);
  void snapshot_all_dirty(time_ms now);
  // Takes a new full-snapshot request, then writes the next batch of its rooms when due (every
  // room left when `everything`, at shutdown).
  void continue_full_snapshot(time_ms now, bool everything);
  bool hold_enabled() const;
  void hold(room& target, time_ms now, std::uint64_t version);
  void hold_frame(room& target, std::vector<room::held_delivery::recipient> to,
                  const frame_ptr& frame);
  bool holding(const room& target) const {
    return !target.held.empty() || target.hold_version > target.snapshot_durable_version;
  }
  void release_held(room& target, std::uint64_t durable_version);

  std::size_t index_;  // names the thread; checked by invariants
  runtime& owner_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
  // A worker that runs out of work spins this many times before it sleeps (moodycamel's default
  // is 10,000, ~20 us). Spinning only pays when another core is free to fill the queue meanwhile;
  // on a server given one core it steals that time from the io thread. Measured in ARCHITECTURE.md.
  struct ready_queue_traits : moodycamel::ConcurrentQueueDefaultTraits {
    static const int MAX_SEMA_SPINS = 100;
  };
  moodycamel::BlockingConcurrentQueue<std::shared_ptr<room>, ready_queue_traits> ready_;
  // Rooms with inputs that may wait (wake_lazily). The worker takes them whenever it wakes; while
  // they keep coming it sleeps at most session_control_delay_ms, otherwise it sleeps as long as it
  // likes and a new one wakes it: sleeping_long_ and the queue are read across a seq_cst fence
  // on both sides, so either the producer sees the flag or the worker sees the room.
  moodycamel::ConcurrentQueue<std::shared_ptr<room>> lazy_;
  std::atomic<bool> sleeping_long_{false};
  std::chrono::steady_clock::time_point lazy_seen_until_{};  // worker thread only
  void take_lazy_rooms();
  // Rooms with inputs left after their batch, in turn order (worker thread only).
  std::deque<std::shared_ptr<room>> runnable_;
  timer_wheel wheel_;
  std::vector<timer_wheel::entry> expired_;
  std::unordered_map<std::uint64_t, std::shared_ptr<room>> rooms_;  // pinned here, by serial
  std::atomic<bool> full_snapshot_requested_{false};
  std::vector<std::uint64_t> full_snapshot_left_;  // serials still to snapshot again
  time_ms full_snapshot_next_ = 0;                 // when the next batch of them is due
  std::size_t full_snapshot_written_ = 0;          // by the current request, for its log line
  effects effects_;
  // While a command with a clientMsgId runs: the frames its step sends to its actor.
  struct answer_recording {
    connection_id logical = 0;  // 0: not recording
    std::vector<std::string> frames;
  } recording_;
  // The connection whose message leaves the room in the step being applied (room_input::leaves).
  connection_id leaving_ = 0;

  histogram& step_latency_;
  histogram& inbox_wait_;
  counter& steps_;
  counter& slow_steps_;
};

}  // namespace partyd
