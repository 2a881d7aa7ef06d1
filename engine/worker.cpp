#include "engine/worker.hpp"

#include <algorithm>
#include <chrono>
#include <exception>
#include <limits>

#include <boost/json.hpp>

#include "engine/check.hpp"
#include "engine/log.hpp"
#include "engine/room_snapshot.hpp"
#include "engine/runtime.hpp"
#include "engine/thread_name.hpp"

namespace partyd {
namespace {

// The engine's own timer keys, inside the reserved range no game may use.
constexpr std::uint64_t inactivity_timer_key = std::numeric_limits<std::uint64_t>::max();
constexpr std::uint64_t snapshot_timer_key = std::numeric_limits<std::uint64_t>::max() - 1;
constexpr std::uint64_t durable_timer_key = std::numeric_limits<std::uint64_t>::max() - 2;
constexpr std::uint64_t session_timer_key = std::numeric_limits<std::uint64_t>::max() - 3;
static_assert(session_timer_key >= first_reserved_timer_key);

std::string_view kind_name(input_kind kind) {
  switch (kind) {
    case input_kind::created:
      return "created";
    case input_kind::command:
      return "command";
    case input_kind::disconnect:
      return "disconnect";
    case input_kind::timer:
      return "timer";
    case input_kind::inactive:
      return "inactive";
    case input_kind::admin_close:
      return "admin_close";
    case input_kind::presence:
      return "presence";
    case input_kind::room_created:
      return "room_created";
    case input_kind::record_written:
      return "record_written";
  }
  return "unknown";
}

// A step's own word that it changed nothing, unless it also armed timers or asked for a snapshot:
// those are state, whatever the step said.
bool marked_unchanged(const effects& out) {
  if (!out.marked_unchanged()) return false;
  for (const effect& e : out.list()) {
    if (e.kind == effect_kind::important || e.kind == effect_kind::persist ||
        e.kind == effect_kind::set_timer || e.kind == effect_kind::cancel_timer) {
      return false;
    }
  }
  return true;
}

bool has_important(const effects& out) {
  for (const effect& e : out.list()) {
    if (e.kind == effect_kind::important) return true;
  }
  return false;
}
// Rooms taken from the ready queue before the worker looks at its timers again.
constexpr int rooms_per_wakeup = 256;

}  // namespace

worker::worker(std::size_t index, runtime& owner)
    : index_(index),
      owner_(owner),
      wheel_(owner.now(), owner.options().timer_tick_ms),
      step_latency_(owner.metrics().get_histogram(
          "partyd_step_latency_seconds", "worker=\"" + std::to_string(index) + "\"",
          "Time spent in one game step plus applying its effects")),
      inbox_wait_(owner.metrics().get_histogram(
          "partyd_inbox_wait_seconds", "worker=\"" + std::to_string(index) + "\"",
          "Time from reading a client message to the start of its room's step")),
      steps_(owner.metrics().get_counter("partyd_steps_total",
                                         "worker=\"" + std::to_string(index) + "\"",
                                         "Inputs processed by game steps")),
      slow_steps_(owner.metrics().get_counter("partyd_slow_steps_total",
                                              "worker=\"" + std::to_string(index) + "\"",
                                              "Game steps that took longer than 10 ms")) {}

worker::~worker() { stop(); }

void worker::start() {
  thread_ = std::thread([this] {
    name_this_thread("partyd-worker-" + std::to_string(index_));
    run();
  });
}

void worker::stop() {
  if (!thread_.joinable()) {
    return;
  }
  stopping_.store(true, std::memory_order_release);
  ready_.enqueue(nullptr);  // wakes the thread if it sleeps
  thread_.join();
}

void worker::wake(std::shared_ptr<room> ready) { ready_.enqueue(std::move(ready)); }

void worker::wake_lazily(std::shared_ptr<room> listed) {
  lazy_.enqueue(std::move(listed));
  std::atomic_thread_fence(std::memory_order_seq_cst);
  if (sleeping_long_.load(std::memory_order_relaxed)) {
    ready_.enqueue(nullptr);  // the worker sleeps without a bound: it must look now
  }
}

void worker::take_lazy_rooms() {
  std::shared_ptr<room> listed;
  bool any = false;
  while (lazy_.try_dequeue(listed)) {
    any = true;
    // Released before the claim: an input pushed from now on lists the room again.
    listed->release_lazy_listing();
    if (listed->claim_schedule()) {
      runnable_.push_back(std::move(listed));
    }
    listed.reset();
  }
  if (any) {
    // While session traffic keeps coming, sleep in bounded steps instead of being woken for it.
    lazy_seen_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(1);
  }
}

void worker::request_full_snapshot() {
  full_snapshot_requested_.store(true, std::memory_order_release);
  ready_.enqueue(nullptr);  // wakes the thread if it sleeps
}

void worker::run() {
  std::shared_ptr<room> ready;
  for (;;) {
    fire_timers(owner_.now());
    continue_full_snapshot(owner_.now(), false);
    const time_ms next = wheel_.next_wake();
    std::int64_t timeout_us = -1;  // nothing due: sleep until a room is ready
    if (next >= 0) {
      timeout_us = std::max<std::int64_t>(0, (next - owner_.now()) * 1000);
    }
    if (!full_snapshot_left_.empty()) {
      const std::int64_t batch_us =
          std::max<std::int64_t>(0, (full_snapshot_next_ - owner_.now()) * 1000);
      timeout_us = timeout_us < 0 ? batch_us : std::min(timeout_us, batch_us);
    }
    take_lazy_rooms();
    const time_ms lazy_delay = owner_.options().session_control_delay_ms;
    const bool lazy_polling = lazy_delay > 0 && std::chrono::steady_clock::now() < lazy_seen_until_;
    if (lazy_polling) {
      timeout_us = timeout_us < 0 ? lazy_delay * 1000 : std::min(timeout_us, lazy_delay * 1000);
    }
    sleeping_long_.store(!lazy_polling, std::memory_order_relaxed);
    std::atomic_thread_fence(std::memory_order_seq_cst);
    if (!lazy_polling && lazy_.size_approx() > 0) {
      timeout_us = 0;  // listed after take_lazy_rooms(): take it on the next round
    }
    if (!runnable_.empty()) {
      timeout_us = 0;  // rooms still have inputs: take newly ready rooms, do not sleep
    }
    if (stopping_.load(std::memory_order_acquire)) {
      // Shutdown: finish what is queued, but do not wait for timers; then persist every change.
      if (runnable_.empty() && !ready_.try_dequeue(ready)) {
        continue_full_snapshot(owner_.now(), true);  // the store lost them: all, now
        snapshot_all_dirty(owner_.now());
        return;
      }
    } else if (!ready_.wait_dequeue_timed(ready, timeout_us) && runnable_.empty()) {
      sleeping_long_.store(false, std::memory_order_relaxed);
      continue;
    }
    sleeping_long_.store(false, std::memory_order_relaxed);
    // Rooms that became ready join the line behind the rooms that still have inputs left.
    int taken = 0;
    do {
      if (ready) {
        runnable_.push_back(std::move(ready));
      }
      ready.reset();
    } while (++taken < rooms_per_wakeup && ready_.try_dequeue(ready));
    // One pass over the line: each room takes one batch, then waits at the back if it has more.
    for (std::size_t left = runnable_.size(); left > 0; --left) {
      std::shared_ptr<room> front = std::move(runnable_.front());
      runnable_.pop_front();
      if (run_pass(front)) {
        runnable_.push_back(std::move(front));
      }
    }
  }
}

bool worker::run_pass(const std::shared_ptr<room>& ready) {
  room& target = *ready;
  PARTYD_CHECK(target.worker_index() == index_);
  // Release before draining: a producer that enqueues from now on re-queues the room itself.
  target.release_schedule();
  if (target.durable_version() > target.snapshot_durable_version) {
    release_held(target, target.durable_version());  // the writer stored what they confirm
  }
  const time_ms now = owner_.now();
  const std::size_t batch = owner_.options().batch_per_room;
  room_input in;
  std::size_t taken = 0;
  while (taken < batch && target.pop(in)) {
    ++taken;
    owner_.note_dequeued();
    if (in.received_ns != 0) {
      const std::int64_t waited_ns =
          std::chrono::steady_clock::now().time_since_epoch().count() - in.received_ns;
      inbox_wait_.observe_us(static_cast<std::uint64_t>(std::max<std::int64_t>(0, waited_ns)) /
                             1000);
    }
    if (in.in.kind == input_kind::created) {
      rooms_[target.serial()] = ready;  // pinned here: its timers live in this wheel
    }
    process(target, in, now);
    in = room_input{};
  }
  if (target.closed()) {
    // Whatever arrived after the close is dropped with the room.
    while (target.pop(in)) {
      owner_.note_dequeued();
    }
    return false;
  }
  target.publish_summary();
  maybe_snapshot(target, now);
  // The rest waits at the back of this worker's own line, unless a producer has queued the room
  // again already. Re-enqueueing it into ready_ instead let it starve other rooms: moodycamel's
  // queue is FIFO only per producer, and the worker's own re-enqueues kept being dequeued ahead
  // of rooms woken by io threads.
  return target.inbox_depth() > 0 && target.claim_schedule();
}

void worker::process(room& target, room_input& envelope, time_ms now) {
  if (target.closed()) {
    return;
  }
  if (envelope.admin != admin_request::none) {
    answer_admin(target, envelope, now);
    return;
  }
  input& in = envelope.in;
  target.note_input(now, in);
  if (target.sessions && in.kind != input_kind::created && session_input(target, envelope, now)) {
    arm_session_timer(target);
    return;
  }
  if (in.kind == input_kind::created) {
    if (envelope.on_durable) {
      // The admin API's reply waits for the new room's first snapshot, like a seat claim's.
      if (hold_enabled()) {
        hold(target, now, target.state_version() + 1);
        room::held_delivery item;
        item.version = target.hold_version;
        item.callback = std::move(envelope.on_durable);
        target.held.push_back(std::move(item));
      } else {
        envelope.on_durable();
      }
    }
    if (target.state_version() == 0) {
      // A brand-new room is persisted at once: its host holds a key for it from now on.
      target.bump_version();
      target.dirty_since = now;
      target.snapshot_important = true;
    }
    arm_inactivity(target, now);
    if (target.sessions) {
      // A restored room's sessions whose seats the game did not keep end here.
      for (const connection_id logical : target.sessions->logical_ids()) {
        if (!target.instance().holds_session(logical)) {
          target.sessions->end(logical);
          continue;
        }
        room::connection_entry& entry = target.connections[logical];
        entry.bound = true;
        entry.session = target.sessions->find_logical(logical);
        entry.role = entry.session->role;
      }
    }
    // A restored room brings its timers; deadlines already passed fire at once, in order.
    for (auto& [key, timer] : target.timers) {
      timer.generation = ++target.timer_generation;
      wheel_.schedule(timer.deadline, target.serial(), key, timer.generation);
    }
  }
  if (envelope.sink) {
    room::connection_entry& entry = target.connections[in.conn];
    entry.sink = std::move(envelope.sink);
    entry.route = envelope.route;
    entry.since = now;
  }
  if (in.kind == input_kind::disconnect && !target.connections.count(in.conn)) {
    return;  // the room already let go of this connection
  }
  if (in.kind == input_kind::command) {
    // Any client message that reaches the room counts as activity, refused ones included.
    target.touch(now);
  }
  const auto started = std::chrono::steady_clock::now();
  if (!guarded_step(target, in, now)) {
    return;
  }
  if (in.kind == input_kind::disconnect) {
    auto it = target.connections.find(in.conn);
    if (it != target.connections.end()) {
      count_connection(target, it->second, -1);
      target.connections.erase(it);
    }
    target.session_candidates.erase(in.conn);
  }
  if (envelope.leaves) {
    effects_.persist();  // the seat goes (below): a restart must not bring it back
  }
  if ((!effects_.empty() || in.kind == input_kind::command) && !marked_unchanged(effects_)) {
    target.bump_version();
    if (target.dirty_since == 0) {
      target.dirty_since = now;
    }
  }
  if (has_important(effects_) && hold_enabled()) {
    // What this step tells clients (a seat, a new room) must survive a crash: its frames wait
    // until the snapshot of this version is in the store.
    hold(target, now, target.state_version());
    owner_.replies_held().inc();
  }
  leaving_ = envelope.leaves ? in.conn : 0;
  apply(target, effects_, now);
  leaving_ = 0;
  effects_.clear();
  if (envelope.leaves && !target.closed()) {
    // io has let go of the room already: whatever the game made of the message (its reply went
    // out above), the connection is no longer this room's; a session ends without a disconnect.
    drop_connection(target, in.conn);
  }
  if (recording_.logical != 0) {
    // The answer is remembered with the state it produced: both go into the same snapshot.
    if (session* s = target.sessions->find_logical(recording_.logical)) {
      target.sessions->remember(*s, envelope.session.client_msg_id, std::move(recording_.frames));
    }
    recording_ = answer_recording{};
  }
  arm_session_timer(target);
  const auto micros = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - started)
                          .count();
  step_latency_.observe_us(static_cast<std::uint64_t>(micros));
  steps_.inc();
  if (micros > 10000) {
    slow_steps_.inc();
  }
}

bool worker::guarded_step(room& target, const input& in, time_ms now) {
  std::string failure;
  try {
    target.instance().step(in, now, target.rng(), effects_);
    failure = invalid_effect(target);
  } catch (const std::exception& error) {
    failure = error.what();
    if (failure.empty()) failure = "exception";
  } catch (...) {
    failure = "unknown exception";
  }
  if (failure.empty()) {
    return true;
  }
  fail_room(target, in, failure);
  return false;
}

std::string worker::invalid_effect(const room& target) const {
  const game_module& module = target.module();
  for (const effect& e : effects_.list()) {
    switch (e.kind) {
      case effect_kind::send:
      case effect_kind::send_roles:
        if (e.type >= module.out_types().size()) {
          return "effect sends out type " + std::to_string(e.type) + " of " +
                 std::to_string(module.out_types().size());
        }
        if (!e.frame) {
          return "effect sends no frame";
        }
        break;
      case effect_kind::bind:
        if (e.role >= module.role_names().size()) {
          return "effect binds unknown role " + std::to_string(e.role);
        }
        break;
      case effect_kind::set_timer:
      case effect_kind::cancel_timer:
        if (e.timer_key >= first_reserved_timer_key) {
          return "effect uses reserved timer key " + std::to_string(e.timer_key);
        }
        break;
      default:
        break;
    }
  }
  return {};
}

void worker::fail_room(room& target, const input& in, std::string_view what) {
  effects_.clear();  // nothing a failed step asked for is applied
  const game_module& module = target.module();
  owner_.room_failures(module).inc();
  // The input, never its payload: a first message may carry a key or a password.
  boost::json::object trigger{{"kind", kind_name(in.kind)}, {"conn", in.conn}};
  if (in.kind == input_kind::command && in.cmd) {
    const auto types = module.in_types();
    trigger["type"] = in.cmd->type < types.size() ? boost::json::value(types[in.cmd->type])
                                                  : boost::json::value(in.cmd->type);
  }
  if (in.kind == input_kind::timer) {
    trigger["timer_key"] = std::to_string(in.timer_key);
  }
  log::error("room_failed", {{"room", target.code()},
                             {"game", module.name()},
                             {"error", what},
                             {"input", std::move(trigger)},
                             {"state_version", target.state_version()},
                             {"snapshot_version", target.snapshot_version}});
  close_room(target, "internal_error", 1011, true);
}

void worker::apply(room& target, const effects& out, time_ms now) {
  const game_module& module = target.module();
  for (const effect& e : out.list()) {
    switch (e.kind) {
      case effect_kind::send: {
        auto it = target.connections.find(e.conn);
        if (it != target.connections.end()) {
          deliver_to(target, it->second, e.frame, e.reliable, now);
          owner_.messages_out(module, e.type).inc();
          if (recording_.logical == e.conn) recording_.frames.push_back(*e.frame);
        }
        if (!e.text.empty()) {
          owner_.error_counter(module, e.text).inc();
        }
        break;
      }
      case effect_kind::send_roles: {
        const bool held = holding(target);
        std::vector<room::held_delivery::recipient> recipients;
        std::uint64_t delivered = 0;
        for (auto& [id, conn] : target.connections) {
          // A connection leaving with this step has had its last frame (the game's answer).
          if (!conn.bound || !(e.roles & role_bit(conn.role)) || id == e.except || id == leaving_) {
            continue;
          }
          ++delivered;
          if (conn.session) {
            // Numbered per recipient; the frame itself stays one shared serialization.
            const std::uint64_t seq =
                target.sessions->number(*conn.session, e.frame, e.reliable, now);
            if (!conn.sink) continue;  // away: the ring keeps it for the resume
            if (held) {
              recipients.push_back({conn.sink, seq, e.reliable});
            } else {
              conn.sink->deliver_numbered(e.frame, seq, e.reliable);
            }
          } else if (!conn.sink) {
            continue;  // a session that ended in this step: the game is hearing its removal
          } else if (held) {
            recipients.push_back({conn.sink, 0, false});  // resolved now: later joiners must not
          } else {
            conn.sink->deliver(e.frame);
          }
        }
        if (held && !recipients.empty()) {
          hold_frame(target, std::move(recipients), e.frame);
        }
        owner_.messages_out(module, e.type).inc(delivered);
        break;
      }
      case effect_kind::bind: {
        auto it = target.connections.find(e.conn);
        if (it == target.connections.end()) {
          break;
        }
        room::connection_entry& entry = it->second;
        count_connection(target, entry, -1);
        entry.bound = true;
        entry.role = e.role;
        entry.rate_limited = e.rate_limited;
        count_connection(target, entry, +1);
        if (entry.sink) entry.sink->bind(e.role, e.rate_limited);
        if (entry.session) {
          entry.session->role = e.role;
          break;
        }
        auto candidate = target.session_candidates.find(e.conn);
        if (candidate != target.session_candidates.end() && entry.sink &&
            (target.sessions->policy().session_roles & role_bit(e.role))) {
          // The seat is the session's: CONNECTED goes out before the game's own reply.
          const frame_ptr connected = target.sessions->open(
              e.conn, e.role, candidate->second.secret, candidate->second.version, now);
          target.session_candidates.erase(candidate);
          entry.session = target.sessions->find_logical(e.conn);
          entry.sink->session_opened();
          deliver_unnumbered(target, entry.sink, connected);
          owner_.session_event(module, "opened").inc();
        }
        break;
      }
      case effect_kind::close_connection: {
        auto it = target.connections.find(e.conn);
        if (it == target.connections.end()) {
          break;
        }
        count_connection(target, it->second, -1);
        if (!it->second.sink) {
          // A session away: nothing to close.
        } else if (!holding(target)) {
          it->second.sink->close(e.close_code, e.text);
        } else {
          room::held_delivery item;  // the close follows the frames held before it
          item.version = target.hold_version;
          item.to.push_back({it->second.sink, 0, false});
          item.close_code = e.close_code;
          item.close_reason = e.text;
          target.held.push_back(std::move(item));
        }
        if (it->second.session) target.sessions->end(e.conn);  // the game ended the seat
        target.connections.erase(it);
        break;
      }
      case effect_kind::set_timer: {
        auto& timer = target.timers[e.timer_key];
        timer.deadline = e.deadline;
        timer.generation = ++target.timer_generation;
        wheel_.schedule(e.deadline, target.serial(), e.timer_key, timer.generation);
        break;
      }
      case effect_kind::cancel_timer:
        target.timers.erase(e.timer_key);
        break;
      case effect_kind::close_room:
        // A connection leaving with this step keeps its socket: it is no longer the room's.
        if (leaving_ != 0) drop_connection(target, leaving_);
        close_room(target, e.text);
        return;  // nothing after a close applies
      case effect_kind::count:
        owner_.game_event_counter(module, e.text).inc();
        break;
      case effect_kind::important:
      case effect_kind::persist:
        target.snapshot_important = true;  // maybe_snapshot() writes it at the end of the pass
        break;
      case effect_kind::release: {
        auto it = target.connections.find(e.conn);
        if (it == target.connections.end()) {
          break;
        }
        if (it->second.sink) {
          if (!holding(target)) {
            it->second.sink->released(it->second.route, e.text);
          } else {
            room::held_delivery item;  // like a close, after the frames held before it
            item.version = target.hold_version;
            item.to.push_back({it->second.sink, 0, false});
            item.release_route = it->second.route;
            item.next_message = e.text;
            item.release = true;
            target.held.push_back(std::move(item));
          }
        }
        drop_connection(target, e.conn);
        break;
      }
      case effect_kind::create_room: {
        // The new room's code comes back as an input of this room, after this step.
        auto made = owner_.create_room(module, e.fields);
        auto reply = std::make_unique<room_created_reply>();
        if (made.created) {
          reply->code = made.created->code();
        } else {
          reply->error = made.error.code.empty() ? "limit_reached" : made.error.code;
        }
        room_input answer;
        answer.in.kind = input_kind::room_created;
        answer.in.timer_key = e.timer_key;
        answer.in.cmd = std::move(reply);
        if (auto self = owner_.find(target.code())) {
          owner_.submit(self, std::move(answer), true);
        }
        break;
      }
      case effect_kind::record: {
        // The answer comes back as an input of this room: from the sink's thread once written,
        // or from here when it cannot take the record now or nothing keeps records.
        auto answer = [&owner = owner_, code = target.code(), key = e.text](bool written) {
          auto reply = std::make_unique<record_written_reply>();
          reply->key = key;
          reply->written = written;
          room_input in;
          in.in.kind = input_kind::record_written;
          in.in.cmd = std::move(reply);
          if (auto room = owner.find(code)) owner.submit(room, std::move(in), true);
        };
        record_sink* sink = owner_.records();
        if (!sink) {
          answer(true);
        } else if (!sink->offer(module.name(), e.fields, [answer] { answer(true); })) {
          answer(false);
        }
        break;
      }
      case effect_kind::log: {
        boost::json::object fields = e.fields;
        fields["room"] = target.code();
        fields["game"] = module.name();
        log::write(e.warn ? log::level::warn : log::level::info, e.text, std::move(fields));
        break;
      }
    }
  }
}

void worker::drop_connection(room& target, connection_id conn) {
  target.session_candidates.erase(conn);
  auto it = target.connections.find(conn);
  if (it == target.connections.end()) {
    return;
  }
  count_connection(target, it->second, -1);
  if (it->second.session) target.sessions->end(conn);  // the seat is gone, not away
  target.connections.erase(it);
}

void worker::arm_inactivity(room& target, time_ms now) {
  const time_ms deadline = target.last_activity() + owner_.options().inactivity_ms;
  wheel_.schedule(std::max(deadline, now), target.serial(), inactivity_timer_key, 0);
}

void worker::fire_timers(time_ms now) {
  wheel_.advance(now, expired_);
  for (const auto& entry : expired_) {
    auto owner_it = rooms_.find(entry.owner);
    if (owner_it == rooms_.end()) {
      continue;  // the room closed
    }
    std::shared_ptr<room> target = owner_it->second;
    if (target->closed()) {
      rooms_.erase(owner_it);
      continue;
    }
    if (entry.key == durable_timer_key) {
      if (entry.generation == target->hold_generation && !target->held.empty()) {
        // The store is slow or down: clients are not kept waiting longer than the timeout.
        owner_.durable_timeouts().inc();
        log::warn("durable_reply_timeout", {{"room", target->code()},
                                            {"held", target->held.size()},
                                            {"version", target->hold_version}});
        release_held(*target, target->hold_version);
      }
      continue;
    }
    if (entry.key == session_timer_key) {
      if (entry.generation == target->session_timer_generation) {
        target->session_timer_at = 0;
        run_session_upkeep(*target, now);
        if (!target->closed()) {
          target->publish_summary();
          maybe_snapshot(*target, now);
        }
      }
      continue;
    }
    if (entry.key == snapshot_timer_key) {
      target->snapshot_timer_armed = false;
      if (target->state_version() != target->snapshot_version) {
        snapshot_now(*target, now);
      }
      continue;
    }
    if (entry.key == inactivity_timer_key) {
      if (target->last_activity() + owner_.options().inactivity_ms <= now) {
        room_input in;
        in.in.kind = input_kind::inactive;
        process(*target, in, now);
        if (!target->closed()) {
          // A game may decide to stay open; check again after another full period.
          target->touch(now);
          arm_inactivity(*target, now);
        }
      } else {
        arm_inactivity(*target, now);
      }
      continue;
    }
    auto timer_it = target->timers.find(entry.key);
    if (timer_it == target->timers.end() || timer_it->second.generation != entry.generation) {
      continue;  // cancelled or re-armed since
    }
    target->timers.erase(timer_it);
    room_input in;
    in.in.kind = input_kind::timer;
    in.in.timer_key = entry.key;
    process(*target, in, now);
    if (!target->closed()) {
      target->publish_summary();
      maybe_snapshot(*target, now);
    }
  }
}

bool worker::hold_enabled() const {
  const snapshot_sink* sink = owner_.snapshots();
  return sink && sink->healthy() && owner_.options().durable_reply_timeout_ms > 0;
}

void worker::hold(room& target, time_ms now, std::uint64_t version) {
  target.hold_version = std::max(target.hold_version, version);
  target.snapshot_important = true;  // the snapshot goes out at the end of this pass
  if (target.held.empty()) {
    // One timeout per holding period, so a slow store cannot keep clients waiting forever.
    ++target.hold_generation;
    wheel_.schedule(now + owner_.options().durable_reply_timeout_ms, target.serial(),
                    durable_timer_key, target.hold_generation);
  }
}

void worker::hold_frame(room& target, std::vector<room::held_delivery::recipient> to,
                        const frame_ptr& frame) {
  room::held_delivery item;
  item.version = target.hold_version;
  item.to = std::move(to);
  item.frame = frame;
  target.held.push_back(std::move(item));
}

void worker::release_held(room& target, std::uint64_t durable_version) {
  target.snapshot_durable_version = std::max(target.snapshot_durable_version, durable_version);
  while (!target.held.empty() && target.held.front().version <= durable_version) {
    room::held_delivery item = std::move(target.held.front());
    target.held.pop_front();
    if (item.callback) {
      item.callback();
    } else if (item.release) {
      item.to.front().sink->released(item.release_route, std::move(item.next_message));
    } else if (item.close_code != 0) {
      item.to.front().sink->close(item.close_code, item.close_reason);
    } else {
      for (const auto& to : item.to) {
        if (to.seq != 0) {
          to.sink->deliver_numbered(item.frame, to.seq, to.reliable);
        } else {
          to.sink->deliver(item.frame);
        }
      }
    }
  }
  if (target.held.empty()) {
    ++target.hold_generation;  // disarms the pending timeout
  }
}

void worker::maybe_snapshot(room& target, time_ms now) {
  if (!owner_.snapshots() || target.closed() || target.state_version() == target.snapshot_version) {
    return;
  }
  if (target.snapshot_important) {
    snapshot_now(target, now);
    return;
  }
  if (!target.snapshot_timer_armed) {
    // Coalesce: everything that changes within one interval goes out in one snapshot.
    target.snapshot_timer_armed = true;
    wheel_.schedule(now + owner_.options().snapshot_interval_ms, target.serial(),
                    snapshot_timer_key, 0);
  }
}

room_snapshot worker::capture(room& target) {
  room_snapshot snapshot;
  snapshot.game = std::string(target.module().name());
  snapshot.code = target.code();
  snapshot.created_at = target.created_at();
  snapshot.last_activity = target.last_activity();
  snapshot.version = target.state_version();
  snapshot.rng_state = target.rng().state();
  for (const auto& [key, timer] : target.timers) {
    snapshot.timers.emplace_back(key, timer.deadline);
  }
  std::sort(snapshot.timers.begin(), snapshot.timers.end());
  snapshot.state = target.instance().snapshot();
  if (target.sessions) snapshot.sessions = target.sessions->encode();
  return snapshot;
}

void worker::answer_admin(room& target, room_input& envelope, time_ms now) {
  if (!envelope.reply) {
    return;
  }
  switch (envelope.admin) {
    case admin_request::snapshot:
      envelope.reply->answer(encode_room_snapshot(capture(target)));
      return;
    case admin_request::disconnect: {
      const auto it = target.connections.find(envelope.in.conn);
      const bool open = it != target.connections.end() && it->second.sink;
      if (open) {
        // Its io thread closes it; the room then hears a disconnect as for any other drop.
        it->second.sink->close(1000, "disconnected_by_admin");
      }
      envelope.reply->answer(open ? "true" : "false");
      return;
    }
    case admin_request::inspect:
      envelope.reply->answer(inspect(target, now));
      return;
    case admin_request::none:
      return;
  }
}

std::string worker::inspect(room& target, time_ms now) {
  namespace json = boost::json;
  const game_module& module = target.module();
  const auto roles = module.role_names();
  const auto in_types = module.in_types();
  // The game's own full view: its snapshot, as JSON when it is JSON.
  const std::string state_text = target.instance().snapshot();
  boost::system::error_code ec;
  json::value state = json::parse(state_text, ec);
  if (ec) state = json::string(state_text);
  json::array connections;
  for (const auto& [id, entry] : target.connections) {
    json::value session = nullptr;
    if (entry.session) {
      session = json::object{{"sessionId", entry.session->id},
                             {"nextSeq", entry.session->next_seq},
                             {"away", entry.session->attached == 0},
                             {"degraded", entry.session->degraded}};
    }
    connections.push_back(json::object{
        {"conn", id},
        // A session's seat outlives its connections: the seat is the session's logical id.
        {"seat", entry.session ? json::value(entry.session->logical) : json::value(nullptr)},
        {"since", entry.since != 0 ? json::value(entry.since) : json::value(nullptr)},
        {"role", entry.role < roles.size() ? json::value(roles[entry.role]) : json::value(nullptr)},
        {"bound", entry.bound},
        {"connected", entry.sink != nullptr},
        {"outboxBytes", entry.sink ? entry.sink->queued_bytes() : 0},
        {"session", std::move(session)}});
  }
  json::array timers;
  std::vector<std::pair<std::uint64_t, time_ms>> game_timers;
  for (const auto& [key, timer] : target.timers) game_timers.emplace_back(key, timer.deadline);
  std::sort(game_timers.begin(), game_timers.end());
  for (const auto& [key, deadline] : game_timers) {
    timers.push_back(json::object{
        {"name", "game:" + std::to_string(key)}, {"key", key}, {"deadline", deadline}});
  }
  timers.push_back(
      json::object{{"name", "inactivity"},
                   {"deadline", target.last_activity() + owner_.options().inactivity_ms}});
  if (target.session_timer_at != 0) {
    timers.push_back(json::object{{"name", "sessions"}, {"deadline", target.session_timer_at}});
  }
  json::array recent;
  const std::size_t kept = std::min(target.recent_inputs_seen, room::recent_inputs_kept);
  for (std::size_t i = 0; i < kept; ++i) {
    const room::input_note& note =
        target.recent_inputs[(target.recent_inputs_seen - 1 - i) % room::recent_inputs_kept];
    json::object item{{"time", note.time}, {"kind", kind_name(note.kind)}, {"conn", note.conn}};
    if (note.type < in_types.size()) item["type"] = in_types[note.type];
    recent.push_back(std::move(item));
  }
  return json::serialize(json::object{{"roomCode", target.code()},
                                      {"game", module.name()},
                                      {"createdAt", target.created_at()},
                                      {"lastActivity", target.last_activity()},
                                      {"stateVersion", target.state_version()},
                                      {"now", now},
                                      {"state", std::move(state)},
                                      {"connections", std::move(connections)},
                                      {"timers", std::move(timers)},
                                      {"recentInputs", std::move(recent)}});
}

void worker::snapshot_now(room& target, time_ms now) {
  snapshot_sink* sink = owner_.snapshots();
  if (!sink) {
    return;
  }
  room_snapshot snapshot = capture(target);

  snapshot_job job;
  job.what = snapshot_job::kind::write;
  job.code = target.code();
  job.value = encode_room_snapshot(snapshot);
  job.ttl_s =
      target.module().snapshot_ttl_s(target.created_at(), now, owner_.options().inactivity_ms);
  job.version = snapshot.version;
  job.dirty_since = target.dirty_since != 0 ? target.dirty_since : now;
  job.important = target.snapshot_important;
  if (!target.held.empty()) {
    std::weak_ptr<room> weak = rooms_.at(target.serial());
    runtime* owner = &owner_;
    const std::uint64_t version = snapshot.version;
    job.on_durable = [weak, owner, version] {
      if (auto durable_room = weak.lock()) {
        owner->notify_durable(durable_room, version);
      }
    };
  }
  sink->offer(std::move(job));
  target.snapshot_version = snapshot.version;
  target.dirty_since = 0;
  target.snapshot_important = false;
}

void worker::snapshot_all_dirty(time_ms now) {
  for (auto& [serial, target] : rooms_) {
    if (!target->closed() && target->state_version() != target->snapshot_version) {
      target->snapshot_important = true;
      snapshot_now(*target, now);
    }
    // Shutting down: the writer flushes these snapshots before exit; let the replies go now,
    // while the connections can still take them.
    if (!target->closed()) {
      release_held(*target, target->hold_version);
    }
  }
}

void worker::continue_full_snapshot(time_ms now, bool everything) {
  // A plain load first: this runs on every wakeup, the exchange only after a request.
  if (full_snapshot_requested_.load(std::memory_order_relaxed) &&
      full_snapshot_requested_.exchange(false, std::memory_order_acq_rel)) {
    // Starts over: rooms written by an earlier request may be lost again.
    full_snapshot_left_.clear();
    full_snapshot_left_.reserve(rooms_.size());
    for (const auto& [serial, target] : rooms_) {
      full_snapshot_left_.push_back(serial);
    }
    full_snapshot_next_ = now;
    full_snapshot_written_ = 0;
  }
  if (full_snapshot_left_.empty() || (!everything && now < full_snapshot_next_)) {
    return;
  }
  std::size_t budget = everything ? full_snapshot_left_.size() : runtime::full_snapshot_batch;
  while (budget > 0 && !full_snapshot_left_.empty()) {
    const std::uint64_t serial = full_snapshot_left_.back();
    full_snapshot_left_.pop_back();
    auto it = rooms_.find(serial);
    if (it == rooms_.end() || it->second->closed()) {
      continue;  // closed since the request: its key is removed, not rewritten
    }
    snapshot_now(*it->second, now);
    owner_.snapshot_rewrites().inc();
    ++full_snapshot_written_;
    --budget;
  }
  // One batch per timer tick: a worker with many rooms keeps serving them meanwhile.
  full_snapshot_next_ = now + owner_.options().timer_tick_ms;
  if (full_snapshot_left_.empty()) {
    log::info("full_snapshot_done", {{"worker", index_}, {"rooms", full_snapshot_written_}});
  }
}

void worker::count_connection(room& target, const room::connection_entry& entry, int delta) {
  if (entry.bound && entry.sink) {
    gauge& connected = owner_.connection_gauge(target.module(), entry.role);
    delta > 0 ? connected.add(1) : connected.sub(1);
  }
}

void worker::deliver_unnumbered(room& target, const std::shared_ptr<connection_sink>& sink,
                                const frame_ptr& frame) {
  if (holding(target)) {
    hold_frame(target, {{sink, 0, false}}, frame);
  } else {
    sink->deliver(frame);
  }
}

void worker::deliver_to(room& target, room::connection_entry& entry, const frame_ptr& frame,
                        bool reliable, time_ms now) {
  if (!entry.session) {
    if (entry.sink) deliver_unnumbered(target, entry.sink, frame);  // null: a session just ended
    return;
  }
  const std::uint64_t seq = target.sessions->number(*entry.session, frame, reliable, now);
  if (!entry.sink) {
    return;  // away: the ring keeps it for the resume
  }
  if (holding(target)) {
    hold_frame(target, {{entry.sink, seq, reliable}}, frame);
  } else {
    entry.sink->deliver_numbered(frame, seq, reliable);
  }
}

session_view worker::view_for(room& target, connection_id logical, time_ms now) {
  try {
    return target.instance().view_of(logical, now);
  } catch (const std::exception& error) {
    // A view is a read; a game that cannot give one fails the resume, not the room.
    log::warn("session_view_failed", {{"room", target.code()}, {"error", error.what()}});
    return {};
  }
}

std::uint64_t worker::shown_version(room& target) {
  const std::uint64_t own = target.instance().state_version();
  return own != 0 ? own : target.state_version();
}

std::string worker::checksum_for(room& target, connection_id logical) {
  try {
    return target.instance().checksum_of(logical);
  } catch (const std::exception& error) {
    log::warn("session_view_failed", {{"room", target.code()}, {"error", error.what()}});
    return {};
  }
}

void worker::arm_session_timer(room& target) {
  if (!target.sessions || target.closed()) return;
  const std::optional<time_ms> next = target.sessions->next_deadline();
  if (!next || (target.session_timer_at != 0 && target.session_timer_at <= *next)) return;
  target.session_timer_at = *next;
  wheel_.schedule(*next, target.serial(), session_timer_key, ++target.session_timer_generation);
}

worker::session_ref worker::session_of(room& target, connection_id conn) {
  // A session's entry is keyed by its logical id; a resumed session's newer connection is an
  // alias, never a key of `connections`. The common case (a seat's own connection, or a host
  // without a session) is one lookup in the room's sorted vector, no walk of the session table.
  auto own = target.connections.find(conn);
  if (own != target.connections.end()) return {conn, own->second.session};
  const connection_id logical = target.sessions->logical_of(conn);
  if (logical == conn) return {conn, nullptr};
  auto entry = target.connections.find(logical);
  return {logical, entry == target.connections.end() ? nullptr : entry->second.session};
}

bool worker::session_input(room& target, room_input& envelope, time_ms now) {
  session_table& table = *target.sessions;
  input& in = envelope.in;
  const session_request& request = envelope.session;
  if (in.kind == input_kind::disconnect) {
    target.session_candidates.erase(in.conn);
    const session_ref seat = session_of(target, in.conn);
    const connection_id logical = seat.logical;
    if (!seat.found) {
      return false;  // no session: the game hears it as always
    }
    if (table.detach(in.conn, now)) {
      auto it = target.connections.find(logical);
      if (it != target.connections.end()) {
        count_connection(target, it->second, -1);
        it->second.sink.reset();
      }
    }
    return true;  // the game hears presence stages, and `disconnect` only at removal
  }
  if (in.kind != input_kind::command) {
    return false;
  }
  if (request.what == session_request::kind::reconnect) {
    resume_session(target, envelope, now);
    return true;
  }
  const session_ref seat = session_of(target, in.conn);
  const connection_id logical = seat.logical;
  session* s = seat.found;
  if (s && s->attached != in.conn) s = nullptr;  // an older connection of a resumed session
  if (request.what == session_request::kind::ack ||
      request.what == session_request::kind::heartbeat) {
    auto it = target.connections.find(logical);
    if (!s || it == target.connections.end() || !it->second.sink) {
      auto plain = target.connections.find(in.conn);
      if (plain != target.connections.end() && plain->second.sink) {
        plain->second.sink->deliver(make_frame(
            target.module().encode_error("BAD_SESSION_MESSAGE", "this connection has no session")));
      }
      return true;
    }
    table.heard(*s, now);
    target.touch(now);  // a client message that reached the room, like every other
    if (request.what == session_request::kind::ack) {
      table.ack(*s, request.ack_id);
      return true;
    }
    // A matching checksum needs no view: only a resync sends the viewer's state.
    session_view view;
    view.checksum = checksum_for(target, logical);
    if (request.state_checksum != view.checksum) {
      owner_.session_event(target.module(), "resync").inc();
      view = view_for(target, logical, now);
    }
    deliver_unnumbered(target, it->second.sink,
                       table.heartbeat(*s, request, view, shown_version(target), now));
    return true;
  }
  if (s) {
    // A game command on a session's connection: the game knows the seat by its logical id.
    table.heard(*s, now);
    in.conn = logical;
    if (!request.client_msg_id.empty()) {
      if (const session::answer* answer = table.answered(*s, request.client_msg_id)) {
        target.touch(now);
        owner_.session_event(target.module(), "duplicate_command").inc();
        auto it = target.connections.find(logical);
        if (!answer->complete || answer->frames.empty()) {
          deliver_unnumbered(target, it->second.sink,
                             table.duplicate_frame(request.client_msg_id, now));
        } else {
          for (const std::string& frame : answer->frames) {
            deliver_to(target, it->second, make_frame(frame), false, now);
          }
        }
        return true;  // applied once already: the same answer again, no step
      }
      recording_.logical = logical;
      recording_.frames.clear();
    }
    return false;
  }
  if (envelope.sink && (table.policy().always || !request.version.empty())) {
    // A first message: a session opens if the game binds the connection.
    target.session_candidates[in.conn] = room::session_candidate{request.version, in.secret};
  }
  return false;
}

void worker::resume_session(room& target, room_input& envelope, time_ms now) {
  session_table& table = *target.sessions;
  const game_module& module = target.module();
  const std::shared_ptr<connection_sink> sink = std::move(envelope.sink);
  if (!sink) return;  // RECONNECT is only ever a first message
  const session_table::resume_lookup found = table.lookup(envelope.session);
  if (!found.target || !found.token_ok) {
    owner_.session_event(module, "resume_refused").inc();
    log::warn("auth_failed", {{"room", target.code()},
                              {"game", module.name()},
                              {"reason", "session_not_found"},
                              {"conn", envelope.in.conn}});
    sink->deliver(table.reconnect_failed("SESSION_NOT_FOUND", view_for(target, 0, now).phase, now));
    sink->close(1008, "session_not_found");
    return;
  }
  const connection_id logical = found.target->logical;
  const session_view view = view_for(target, logical, now);
  std::vector<session_action> actions;
  target.touch(now);
  const session_table::resume_outcome outcome = table.resume(
      *found.target, envelope.in.conn, envelope.session, view, shown_version(target), now, actions);
  // The older connection's close comes first in `actions`, so the new one is put in after it.
  auto first_other = std::find_if(actions.begin(), actions.end(), [](const session_action& a) {
    return a.what != session_action::kind::close;
  });
  std::vector<session_action> closes(std::make_move_iterator(actions.begin()),
                                     std::make_move_iterator(first_other));
  actions.erase(actions.begin(), first_other);
  carry_out(target, closes, nullptr, now);
  auto it = target.connections.find(logical);
  if (outcome.logical != 0 && it != target.connections.end()) {
    it->second.sink = sink;
    count_connection(target, it->second, +1);
    sink->bind(it->second.role, it->second.rate_limited);
    sink->session_opened();
    owner_.session_event(module, outcome.backfilled ? "resumed_backfill" : "resumed_snapshot")
        .inc();
  } else {
    owner_.session_event(module, "resume_expired").inc();
  }
  carry_out(target, actions, sink, now);
  if (outcome.logical == 0) {
    sink->close(1000, "session_expired");
  }
}

void worker::carry_out(room& target, std::vector<session_action>& actions,
                       const std::shared_ptr<connection_sink>& replying_to, time_ms now) {
  const game_module& module = target.module();
  // The table has ended the sessions it removes: no step below may reach them through an entry.
  for (const session_action& action : actions) {
    if (action.what != session_action::kind::remove) continue;
    auto it = target.connections.find(action.logical);
    if (it != target.connections.end()) it->second.session = nullptr;
  }
  for (session_action& action : actions) {
    if (target.closed()) return;
    switch (action.what) {
      case session_action::kind::deliver: {
        if (action.seq == 0 && replying_to) {
          deliver_unnumbered(target, replying_to, action.frame);  // a reply to the resume
          break;
        }
        auto it = target.connections.find(target.sessions->logical_of(action.conn));
        if (it == target.connections.end() || !it->second.sink) break;
        // A resend: the same frame with the same number.
        if (holding(target)) {
          hold_frame(target, {{it->second.sink, action.seq, action.reliable}}, action.frame);
        } else {
          it->second.sink->deliver_numbered(action.frame, action.seq, action.reliable);
        }
        owner_.session_event(module, "resent").inc();
        break;
      }
      case session_action::kind::close: {
        auto it = target.connections.find(action.logical);
        if (it != target.connections.end() && it->second.sink) {
          it->second.sink->close(action.close_code, action.reason);
          count_connection(target, it->second, -1);
          it->second.sink.reset();
        }
        if (action.reason == "heartbeat_timeout") {
          owner_.session_event(module, "heartbeat_timeout").inc();
        }
        break;
      }
      case session_action::kind::presence: {
        if (action.stage == presence_stage::degraded) {
          owner_.session_event(module, "degraded").inc();
          log::warn("session_degraded",
                    {{"room", target.code()}, {"game", module.name()}, {"conn", action.logical}});
        }
        room_input told;
        told.in.kind = input_kind::presence;
        told.in.conn = action.logical;
        told.in.stage = action.stage;
        process(target, told, now);
        break;
      }
      case session_action::kind::remove: {
        owner_.session_event(module, "removed").inc();
        // The table changed whatever the game does with the departure: the snapshot must say so.
        target.bump_version();
        if (target.dirty_since == 0) target.dirty_since = now;
        room_input gone;
        gone.in.kind = input_kind::disconnect;
        gone.in.conn = action.logical;
        process(target, gone, now);
        break;
      }
    }
  }
}

void worker::run_session_upkeep(room& target, time_ms now) {
  std::vector<session_action> actions;
  target.sessions->upkeep(now, actions);
  carry_out(target, actions, nullptr, now);
  arm_session_timer(target);
}

void worker::close_room(room& target, const std::string& reason, std::uint16_t code, bool failed) {
  const game_module& module = target.module();
  release_held(target, target.hold_version);  // in order, before the closes below
  for (auto& [id, conn] : target.connections) {
    count_connection(target, conn, -1);
    if (conn.sink) {
      conn.sink->close(code, reason);  // the room_closed frame with the same reason went first
    }
  }
  target.connections.clear();
  target.timers.clear();
  target.mark_closed();
  if (snapshot_sink* sink = owner_.snapshots()) {
    // A failed room's last good snapshot is the evidence: it moves aside instead of going away.
    snapshot_job job;
    job.what = failed ? snapshot_job::kind::quarantine : snapshot_job::kind::remove;
    job.code = target.code();
    job.version = target.state_version();
    job.important = true;
    sink->offer(std::move(job));
  }
  rooms_.erase(target.serial());
  owner_.forget(target);
  log::info("room_closed", {{"room", target.code()}, {"game", module.name()}, {"reason", reason}});
}

}  // namespace partyd
