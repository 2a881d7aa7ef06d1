// The engine facade: the room directory (create, look up by code, close, list), the worker pool
// and the metrics the engine keeps. io/ talks to the engine only through this class.
// Thread safety: every public method may be called from any thread.
#pragma once

#include <functional>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/game.hpp"
#include "engine/limits.hpp"
#include "engine/metrics.hpp"
#include "engine/record_sink.hpp"
#include "engine/room.hpp"
#include "engine/snapshot_sink.hpp"

namespace partyd {

class worker;

struct runtime_options {
  std::size_t workers = 1;
  std::size_t inbox_max = limits::inbox_max;            // pending client inputs per room
  std::size_t batch_per_room = limits::batch_per_room;  // inputs taken from a room per pass
  time_ms inactivity_ms = limits::inactivity_ms;        // a room with no message this long closes
  std::size_t room_code_length = limits::room_code_length;
  std::size_t max_rooms = limits::max_rooms;
  time_ms timer_tick_ms = 10;
  // A changed room is snapshotted at most this long after its first change (sooner when a game
  // marks a transition important).
  time_ms snapshot_interval_ms = limits::snapshot_interval_ms;
  // Replies that confirm an important transition (a seat claim, a new room) wait until its
  // snapshot is in the store, at most this long; 0 = never wait.
  time_ms durable_reply_timeout_ms = limits::durable_reply_timeout_ms;
  // Session ACKs and heartbeats (submit_lazily) wake no worker: they wait at most this long for
  // the room's next turn, so they ride on the wake-ups the game's traffic makes anyway instead of
  // costing two context switches each on a loaded core; 0 = wake at once like any input.
  time_ms session_control_delay_ms = limits::session_control_delay_ms;
  // Injected wall clock (ms since epoch); tests replace it.
  std::function<time_ms()> clock;
};

// What a creation may take, and what the room keeps until it is gone.
struct room_creation_limits {
  // Rooms open at most for this creation to succeed; 0: max_rooms. Anonymous creation (a
  // client's first message) passes max_rooms minus the rooms reserved for the admin API.
  std::size_t room_limit = 0;
  // Stands for the room's state in room_state_bytes() until its first snapshot is measured
  // (without a store: for its whole life); e.g. the size of the message that created it.
  std::size_t initial_state_bytes = 0;
  // Kept with the room and released when it is gone (closed, or the runtime destroyed); io
  // counts a client address's open rooms with it.
  std::shared_ptr<void> hold;
};

struct room_listing {
  std::string code;
  std::string game;
  time_ms created_at = 0;
  time_ms last_activity = 0;
  std::uint64_t state_version = 0;
  room_summary summary;
};

class runtime {
 public:
  runtime(runtime_options options, metrics_registry& metrics);
  ~runtime();
  runtime(const runtime&) = delete;
  runtime& operator=(const runtime&) = delete;

  // Start-up only, before start(): a game becomes reachable at its ws_path().
  void add_module(std::unique_ptr<game_module> module);
  const game_module* module_by_path(std::string_view path) const;
  const game_module* module_by_name(std::string_view name) const;
  std::vector<const game_module*> modules() const;

  // Start-up only: where snapshots go (nullptr = not persisted). Workers get the runtime's
  // meter in front of it, which measures each room's newest snapshot (room_state_bytes()).
  void set_snapshot_sink(snapshot_sink* sink) noexcept { snapshot_sink_ = sink; }
  snapshot_sink* snapshots() const noexcept { return snapshot_sink_ ? &meter_ : nullptr; }
  // Start-up only: where rooms' records go (effects::record); nullptr = kept nowhere.
  void set_record_sink(record_sink* sink) noexcept { record_sink_ = sink; }
  record_sink* records() const noexcept { return record_sink_; }

  // Rebuilds a room from encode_room_snapshot() bytes (boot, before start() or later). With
  // `expected_code` (the store key the bytes were found under), a snapshot of another room is
  // refused: a copy under a stale key must not bring a closed room back.
  struct restore_outcome {
    bool ok = false;
    std::string code;
    std::string error;
  };
  restore_outcome restore_room(std::string_view bytes, std::string_view expected_code = {});

  void start();
  // Lets the workers finish every input already queued, then joins them.
  void stop();

  time_ms now() const { return options_.clock(); }
  const runtime_options& options() const noexcept { return options_; }
  metrics_registry& metrics() noexcept { return metrics_; }

  std::shared_ptr<room> find(std::string_view code) const;

  struct create_outcome {
    std::shared_ptr<room> created;
    boost::json::object reply;
    protocol_error error;
  };
  // `on_durable` (optional) is called from another thread once the room's first snapshot is in the
  // store, or at once when rooms are not persisted, or after durable_reply_timeout_ms.
  create_outcome create_room(const game_module& module, const boost::json::object& options,
                             std::function<void()> on_durable = {},
                             room_creation_limits limits = {}, std::string_view fixed_code = {});

  // A standing room of `module` (game_module::standing_rooms) under `code`: the open one, or one
  // made now (standing rooms open on first use, and come back from the store after a restart).
  // nullptr when `code` names none of the module's standing rooms, or no room can be made.
  std::shared_ptr<room> standing_room(const game_module& module, std::string_view code);

  // The measured state of every open room, in bytes: the size of each room's newest snapshot
  // (the encoded envelope handed to the store), or its creation's initial_state_bytes until it
  // has one; a restored room counts its stored snapshot. Any thread.
  std::int64_t room_state_bytes() const noexcept { return state_bytes_.value(); }

  // Asks the room's worker to close it (input admin_close). False when no such room.
  bool close_room(std::string_view code);
  // Asks the room's worker an admin question (room.hpp): `done` gets the answer on the worker's
  // thread (inspect: JSON; snapshot: the envelope's bytes; disconnect: "true"/"false"), or
  // nullopt when the room closed first. False (and `done` never called) when no such room.
  bool ask_room(std::string_view code, admin_request what, connection_id conn,
                std::function<void(std::optional<std::string>)> done);

  // Queues an input for the room's worker and wakes it. Client commands are refused when the
  // inbox is full; engine inputs pass `exempt`.
  push_result submit(const std::shared_ptr<room>& target, room_input&& in, bool exempt = false);

  // The same, but a room this makes ready is added to `wakes` instead of waking its worker; the
  // caller hands them over with wake(wakes). An io thread that reads many messages in one poll
  // thus wakes each worker once, not once per message (a context switch each when the server
  // shares one core). Thread: `wakes` belongs to the caller.
  using deferred_wakes = std::vector<std::shared_ptr<room>>;
  push_result submit_deferred(const std::shared_ptr<room>& target, room_input&& in,
                              deferred_wakes& wakes);
  void wake(deferred_wakes& wakes);
  // An input nobody waits for (a session ACK or heartbeat): queued like submit_deferred's, but a
  // room it makes ready is listed with its worker's lazy rooms, taken within
  // session_control_delay_ms or at the worker's next wake-up, whichever comes first.
  push_result submit_lazily(const std::shared_ptr<room>& target, room_input&& in,
                            deferred_wakes& wakes);

  // Any thread (the snapshot writer): `version` of the room is in the store; its worker releases
  // the replies it held for it.
  void notify_durable(const std::shared_ptr<room>& target, std::uint64_t version);

  // Any thread (the snapshot writer, when the store lost its snapshots): every open room is
  // snapshotted again, whether it changed or not. Each worker writes its rooms in bounded batches
  // (full_snapshot_batch per timer tick) between its other work; a new request starts over.
  void request_full_snapshot();
  static constexpr std::size_t full_snapshot_batch = 128;
  counter& snapshot_rewrites() noexcept { return snapshot_rewrites_; }

  std::vector<room_listing> list_rooms() const;
  std::size_t room_count() const;

  // Worker only: the room closed itself; forget its code.
  void forget(const room& closed_room);

  // Metric handles for workers and io; the per-module ones are created by add_module().
  void note_dequeued() noexcept { inbox_depth_.sub(1); }
  counter& messages_in(const game_module& module, std::uint16_t type);
  counter& messages_out(const game_module& module, std::uint16_t type);
  gauge& connection_gauge(const game_module& module, role_id role);
  counter& error_counter(const game_module& module, const std::string& code);
  counter& game_event_counter(const game_module& module, const std::string& event);
  counter& room_failures(const game_module& module);
  // partyd_session_events_total{game, event}: opened, resumed_backfill, resumed_snapshot,
  // resume_expired, resume_refused, resent, degraded, removed, resync, duplicate_command,
  // heartbeat_timeout.
  counter& session_event(const game_module& module, std::string_view event);
  counter& replies_held() noexcept { return replies_held_; }
  counter& durable_timeouts() noexcept { return durable_timeouts_; }

 private:
  // Pushes into the room's inbox and counts; `became_ready`: the room must be handed to its worker.
  push_result push(const std::shared_ptr<room>& target, room_input&& in, bool exempt,
                   bool& became_ready);
  // The push itself, counted in the inbox metrics; claims nothing.
  push_result push_counted(const std::shared_ptr<room>& target, room_input&& in, bool exempt);
  struct module_metrics {
    std::vector<counter*> in_by_type;
    std::vector<counter*> out_by_type;
    std::vector<gauge*> connections_by_role;
    gauge* rooms = nullptr;
    counter* failures = nullptr;
  };
  const module_metrics& metrics_of(const game_module& module) const;

  // Sits between the workers and the real sink: notes the size of each room's newest snapshot.
  class state_meter final : public snapshot_sink {
   public:
    explicit state_meter(runtime& owner) : owner_(owner) {}
    void offer(snapshot_job&& job) noexcept override;
    bool healthy() const noexcept override { return owner_.snapshot_sink_->healthy(); }

   private:
    runtime& owner_;
  };
  // Per open room (by code): its measured state and what it holds until it is gone.
  struct room_account {
    std::size_t state_bytes = 0;
    std::shared_ptr<void> hold;
  };
  void open_account(const std::string& code, std::size_t state_bytes, std::shared_ptr<void> hold);
  void note_state_bytes(const std::string& code, std::size_t state_bytes);

  runtime_options options_;
  metrics_registry& metrics_;
  std::vector<std::unique_ptr<game_module>> modules_;
  std::vector<module_metrics> module_metrics_;  // parallel to modules_
  std::vector<std::unique_ptr<worker>> workers_;

  mutable std::shared_mutex directory_mutex_;
  std::unordered_map<std::string, std::shared_ptr<room>> directory_;
  std::atomic<std::uint64_t> next_serial_{1};
  bool started_ = false;
  snapshot_sink* snapshot_sink_ = nullptr;
  record_sink* record_sink_ = nullptr;
  mutable state_meter meter_{*this};  // stateless: const access is harmless
  std::mutex accounts_mutex_;
  std::unordered_map<std::string, room_account> accounts_;  // guarded by accounts_mutex_

  counter& inbox_rejected_;
  gauge& inbox_depth_;
  counter& rooms_created_;
  counter& replies_held_;
  counter& durable_timeouts_;
  counter& snapshot_rewrites_;
  gauge& state_bytes_;
};

}  // namespace partyd
