#include "engine/runtime.hpp"

#include <algorithm>
#include <functional>
#include <iterator>
#include <mutex>

#include "engine/check.hpp"
#include "engine/clock.hpp"
#include "engine/log.hpp"
#include "engine/room_snapshot.hpp"
#include "engine/secrets.hpp"
#include "engine/worker.hpp"

namespace partyd {
namespace {

std::string game_label(const game_module& module) {
  return "game=\"" + std::string(module.name()) + "\"";
}

}  // namespace

runtime::runtime(runtime_options options, metrics_registry& metrics)
    : options_(std::move(options)),
      metrics_(metrics),
      inbox_rejected_(metrics.get_counter("partyd_inbox_rejected_total", "",
                                          "Client inputs refused because a room inbox was full")),
      inbox_depth_(
          metrics.get_gauge("partyd_inbox_depth", "", "Inputs queued in room inboxes, all rooms")),
      rooms_created_(metrics.get_counter("partyd_rooms_created_total", "", "Rooms created")),
      replies_held_(
          metrics.get_counter("partyd_replies_held_total", "",
                              "Steps whose replies waited for their snapshot to reach the store")),
      durable_timeouts_(metrics.get_counter(
          "partyd_durable_reply_timeouts_total", "",
          "Held replies released because the store took longer than the timeout")),
      snapshot_rewrites_(
          metrics.get_counter("partyd_snapshot_rewrites_total", "",
                              "Unchanged rooms snapshotted again because the store lost them")),
      state_bytes_(metrics.get_gauge(
          "partyd_room_state_bytes", "",
          "Measured state of the open rooms: the size of each one's newest snapshot")) {
  if (!options_.clock) {
    options_.clock = wall_clock_ms;
  }
  if (options_.workers == 0) {
    options_.workers = 1;
  }
}

runtime::~runtime() { stop(); }

void runtime::add_module(std::unique_ptr<game_module> module) {
  PARTYD_CHECK(!started_);
  PARTYD_CHECK(module->role_names().size() <= max_roles);
  module_metrics m;
  const std::string game = game_label(*module);
  const auto in_types = module->in_types();
  for (const auto type : in_types) {
    m.in_by_type.push_back(&metrics_.get_counter("partyd_messages_in_total",
                                                 game + ",type=\"" + std::string(type) + "\"",
                                                 "Client messages decoded, by type"));
  }
  for (const auto type : module->out_types()) {
    m.out_by_type.push_back(&metrics_.get_counter(
        "partyd_messages_out_total", game + ",type=\"" + std::string(type) + "\"",
        "Messages delivered to connections, by type (one per recipient)"));
  }
  for (const auto role : module->role_names()) {
    m.connections_by_role.push_back(
        &metrics_.get_gauge("partyd_connections", game + ",role=\"" + std::string(role) + "\"",
                            "Connections whose handshake was accepted, by role"));
  }
  m.rooms = &metrics_.get_gauge("partyd_rooms", game, "Open rooms, by game");
  m.failures = &metrics_.get_counter(
      "partyd_room_failures_total", game,
      "Rooms closed because a game step failed (their last snapshot is quarantined)");
  modules_.push_back(std::move(module));
  module_metrics_.push_back(std::move(m));
}

const game_module* runtime::module_by_path(std::string_view path) const {
  for (const auto& module : modules_) {
    if (module->ws_path() == path) return module.get();
  }
  return nullptr;
}

const game_module* runtime::module_by_name(std::string_view name) const {
  for (const auto& module : modules_) {
    if (module->name() == name) return module.get();
  }
  return nullptr;
}

std::vector<const game_module*> runtime::modules() const {
  std::vector<const game_module*> out;
  for (const auto& module : modules_) out.push_back(module.get());
  return out;
}

const runtime::module_metrics& runtime::metrics_of(const game_module& module) const {
  for (std::size_t i = 0; i < modules_.size(); ++i) {
    if (modules_[i].get() == &module) return module_metrics_[i];
  }
  PARTYD_CHECK(!"module not registered");
  std::abort();
}

counter& runtime::messages_in(const game_module& module, std::uint16_t type) {
  const auto& m = metrics_of(module);
  PARTYD_CHECK(type < m.in_by_type.size());
  return *m.in_by_type[type];
}

counter& runtime::messages_out(const game_module& module, std::uint16_t type) {
  const auto& m = metrics_of(module);
  PARTYD_CHECK(type < m.out_by_type.size());
  return *m.out_by_type[type];
}

gauge& runtime::connection_gauge(const game_module& module, role_id role) {
  const auto& m = metrics_of(module);
  PARTYD_CHECK(role < m.connections_by_role.size());
  return *m.connections_by_role[role];
}

counter& runtime::error_counter(const game_module& module, const std::string& code) {
  // Errors are off the hot path: a registry lookup per error is fine.
  return metrics_.get_counter("partyd_errors_total", game_label(module) + ",code=\"" + code + "\"",
                              "Error frames sent to clients, by code");
}

counter& runtime::game_event_counter(const game_module& module, const std::string& event) {
  return metrics_.get_counter("partyd_game_events_total",
                              game_label(module) + ",event=\"" + event + "\"",
                              "Events counted by game rules (e.g. dropped queued messages)");
}

counter& runtime::room_failures(const game_module& module) { return *metrics_of(module).failures; }

counter& runtime::session_event(const game_module& module, std::string_view event) {
  return metrics_.get_counter("partyd_session_events_total",
                              game_label(module) + ",event=\"" + std::string(event) + "\"",
                              "Session layer events (docs/protocol/sessions.md), by game");
}

void runtime::start() {
  PARTYD_CHECK(!started_);
  started_ = true;
  for (std::size_t i = 0; i < options_.workers; ++i) {
    workers_.push_back(std::make_unique<worker>(i, *this));
  }
  for (auto& w : workers_) {
    w->start();
  }
}

void runtime::stop() {
  for (auto& w : workers_) {
    w->stop();
  }
  // The workers are gone, so nothing else touches the rooms' worker-only state. A room and its
  // connections point at each other (room -> sink, session -> room) until a disconnect input
  // is processed, which will not happen now: break the cycles so both are freed.
  std::unique_lock lock(directory_mutex_);
  for (auto& [code, r] : directory_) {
    r->connections.clear();
    r->held.clear();
  }
}

std::shared_ptr<room> runtime::find(std::string_view code) const {
  std::shared_lock lock(directory_mutex_);
  auto it = directory_.find(std::string(code));
  return it == directory_.end() ? nullptr : it->second;
}

runtime::create_outcome runtime::create_room(const game_module& module,
                                             const boost::json::object& options,
                                             std::function<void()> on_durable,
                                             room_creation_limits limits,
                                             std::string_view fixed_code) {
  create_outcome outcome;
  const std::size_t room_limit =
      limits.room_limit != 0 ? std::min(limits.room_limit, options_.max_rooms) : options_.max_rooms;
  if (room_count() >= room_limit) {
    outcome.error = {"limit_reached", "the server holds its maximum number of rooms"};
    return outcome;
  }
  // A fresh code collides with a live room only rarely; retry a few times, then give up.
  for (int attempt = 0; attempt < 16; ++attempt) {
    const std::size_t length =
        module.room_code_length() != 0 ? module.room_code_length() : options_.room_code_length;
    std::string code = fixed_code.empty() ? random_code(length, module.room_code_alphabet())
                                          : std::string(fixed_code);
    if (find(code)) {
      if (!fixed_code.empty()) {
        outcome.error = {"room_exists", "a room with this code exists"};
        return outcome;
      }
      continue;
    }
    create_result made = module.create(options, code);
    if (made.error) {
      outcome.error = std::move(made.error);
      return outcome;
    }
    const std::size_t worker_index = std::hash<std::string>{}(code) % options_.workers;
    auto created =
        std::make_shared<room>(next_serial_.fetch_add(1), code, module, std::move(made.instance),
                               random_u64(), worker_index, options_.inbox_max, now());
    {
      std::unique_lock lock(directory_mutex_);
      // Checked again under the lock: concurrent creators can all pass the check above.
      if (directory_.size() >= room_limit) {
        outcome.error = {"limit_reached", "the server holds its maximum number of rooms"};
        return outcome;
      }
      if (!directory_.emplace(code, created).second) {
        continue;
      }
      open_account(code, limits.initial_state_bytes, std::move(limits.hold));
    }
    metrics_of(module).rooms->add(1);
    rooms_created_.inc();
    room_input in;
    in.in.kind = input_kind::created;
    in.on_durable = std::move(on_durable);
    submit(created, std::move(in), true);
    log::info("room_created", {{"room", code}, {"game", module.name()}});
    outcome.created = std::move(created);
    outcome.reply = std::move(made.reply);
    return outcome;
  }
  outcome.error = {"limit_reached", "could not find a free room code"};
  return outcome;
}

std::shared_ptr<room> runtime::standing_room(const game_module& module, std::string_view code) {
  for (const auto& standing : module.standing_rooms()) {
    if (standing.code != code) continue;
    for (int attempt = 0; attempt < 2; ++attempt) {
      if (auto open = find(code)) return open;
      auto outcome = create_room(module, standing.options, {}, {}, standing.code);
      if (outcome.created) return outcome.created;
      if (outcome.error.code != "room_exists") {
        log::error(
            "standing_room_failed",
            {{"room", standing.code}, {"game", module.name()}, {"error", outcome.error.code}});
        return nullptr;
      }
      // Another thread made it first: take that one.
    }
  }
  return nullptr;
}

runtime::restore_outcome runtime::restore_room(std::string_view bytes,
                                               std::string_view expected_code) {
  PARTYD_CHECK(started_);  // restore after start(): the room's worker must exist
  restore_outcome outcome;
  auto snapshot = decode_room_snapshot(bytes, outcome.error);
  if (!snapshot) {
    return outcome;
  }
  outcome.code = snapshot->code;
  if (!expected_code.empty() && snapshot->code != expected_code) {
    outcome.error = "the snapshot is of room '" + snapshot->code + "', not of its key '" +
                    std::string(expected_code) + "'";
    return outcome;
  }
  const game_module* module = module_by_name(snapshot->game);
  if (!module) {
    outcome.error = "unknown game '" + snapshot->game + "'";
    return outcome;
  }
  std::unique_ptr<game> instance = module->restore(snapshot->state);
  if (!instance) {
    outcome.error = "the game rejected its state";
    return outcome;
  }
  const std::size_t worker_index = std::hash<std::string>{}(snapshot->code) % options_.workers;
  auto restored = std::make_shared<room>(next_serial_.fetch_add(1), snapshot->code, *module,
                                         std::move(instance), 0, worker_index, options_.inbox_max,
                                         snapshot->created_at);
  restored->restore_position(snapshot->version, snapshot->rng_state, snapshot->last_activity);
  if (restored->sessions && !snapshot->sessions.empty() &&
      !restored->sessions->restore(snapshot->sessions, now())) {
    outcome.error = "unreadable session table";
    return outcome;
  }
  for (const auto& [key, deadline] : snapshot->timers) {
    auto& timer = restored->timers[key];
    timer.deadline = deadline;  // the worker puts it in its wheel when it sees `created`
  }
  restored->publish_summary();
  {
    std::unique_lock lock(directory_mutex_);
    if (!directory_.emplace(snapshot->code, restored).second) {
      outcome.error = "a room with this code is already open";
      return outcome;
    }
    open_account(snapshot->code, bytes.size(), nullptr);
  }
  metrics_of(*module).rooms->add(1);
  room_input in;
  in.in.kind = input_kind::created;
  submit(restored, std::move(in), true);
  outcome.ok = true;
  return outcome;
}

bool runtime::close_room(std::string_view code) {
  auto target = find(code);
  if (!target) {
    return false;
  }
  room_input in;
  in.in.kind = input_kind::admin_close;
  return submit(target, std::move(in), true) == push_result::accepted;
}

bool runtime::ask_room(std::string_view code, admin_request what, connection_id conn,
                       std::function<void(std::optional<std::string>)> done) {
  auto target = find(code);
  if (!target) {
    return false;
  }
  room_input in;
  in.in.kind = input_kind::admin_close;  // never stepped: the worker answers admin questions
  in.in.conn = conn;
  in.admin = what;
  in.reply = std::make_shared<admin_reply>(std::move(done));
  return submit(target, std::move(in), true) == push_result::accepted;
}

push_result runtime::push_counted(const std::shared_ptr<room>& target, room_input&& in,
                                  bool exempt) {
  const push_result result = target->push(std::move(in), exempt);
  if (result == push_result::full) {
    inbox_rejected_.inc();
  } else if (result == push_result::accepted) {
    inbox_depth_.add(1);
  }
  return result;
}

push_result runtime::push(const std::shared_ptr<room>& target, room_input&& in, bool exempt,
                          bool& became_ready) {
  const push_result result = push_counted(target, std::move(in), exempt);
  became_ready = result == push_result::accepted && target->claim_schedule();
  return result;
}

push_result runtime::submit_deferred(const std::shared_ptr<room>& target, room_input&& in,
                                     deferred_wakes& wakes) {
  bool became_ready = false;
  const push_result result = push(target, std::move(in), false, became_ready);
  if (became_ready) {
    wakes.push_back(target);
  }
  return result;
}

push_result runtime::submit_lazily(const std::shared_ptr<room>& target, room_input&& in,
                                   deferred_wakes& wakes) {
  if (options_.session_control_delay_ms <= 0) {
    return submit_deferred(target, std::move(in), wakes);
  }
  const push_result result = push_counted(target, std::move(in), false);
  // Not claimed: an input that cannot wait still wakes the room at once after this one.
  if (result == push_result::accepted && !target->scheduled() && target->claim_lazy_listing()) {
    workers_[target->worker_index()]->wake_lazily(target);
  }
  return result;
}

void runtime::wake(deferred_wakes& wakes) {
  for (std::size_t index = 0; index < workers_.size() && !wakes.empty(); ++index) {
    // Partition: this worker's rooms to the back, handed over in one bulk enqueue.
    auto mine = std::stable_partition(
        wakes.begin(), wakes.end(), [index](const auto& r) { return r->worker_index() != index; });
    workers_[index]->wake_many(std::make_move_iterator(mine),
                               static_cast<std::size_t>(wakes.end() - mine));
    wakes.erase(mine, wakes.end());
  }
  wakes.clear();
}

push_result runtime::submit(const std::shared_ptr<room>& target, room_input&& in, bool exempt) {
  bool became_ready = false;
  const push_result result = push(target, std::move(in), exempt, became_ready);
  if (became_ready) {
    workers_[target->worker_index()]->wake(target);
  }
  return result;
}

void runtime::notify_durable(const std::shared_ptr<room>& target, std::uint64_t version) {
  target->note_durable(version);
  if (!target->closed() && target->claim_schedule()) {
    workers_[target->worker_index()]->wake(target);
  }
}

void runtime::request_full_snapshot() {
  log::info("full_snapshot_requested", {{"rooms", room_count()}, {"workers", workers_.size()}});
  for (auto& w : workers_) {
    w->request_full_snapshot();
  }
}

std::vector<room_listing> runtime::list_rooms() const {
  std::vector<room_listing> out;
  std::shared_lock lock(directory_mutex_);
  out.reserve(directory_.size());
  for (const auto& [code, r] : directory_) {
    room_listing item;
    item.code = code;
    item.game = std::string(r->module().name());
    item.created_at = r->created_at();
    item.last_activity = r->last_activity();
    item.state_version = r->state_version();
    item.summary = r->summary();
    out.push_back(std::move(item));
  }
  return out;
}

std::size_t runtime::room_count() const {
  std::shared_lock lock(directory_mutex_);
  return directory_.size();
}

void runtime::forget(const room& closed_room) {
  bool forgotten = false;
  {
    std::unique_lock lock(directory_mutex_);
    auto it = directory_.find(closed_room.code());
    if (it != directory_.end() && it->second.get() == &closed_room) {
      directory_.erase(it);
      forgotten = true;
    }
  }
  metrics_of(closed_room.module()).rooms->sub(1);
  if (!forgotten) {
    return;
  }
  std::shared_ptr<void> hold;  // released after the lock: it may take another (io's)
  {
    std::lock_guard lock(accounts_mutex_);
    auto it = accounts_.find(closed_room.code());
    if (it != accounts_.end()) {
      state_bytes_.sub(static_cast<std::int64_t>(it->second.state_bytes));
      hold = std::move(it->second.hold);
      accounts_.erase(it);
    }
  }
}

// A room's account opens with its directory entry (under directory_mutex_, which is never taken
// inside accounts_mutex_), before its first input: every snapshot of it comes after. It closes in
// forget(), after the room's last snapshot job.
void runtime::open_account(const std::string& code, std::size_t state_bytes,
                           std::shared_ptr<void> hold) {
  std::lock_guard lock(accounts_mutex_);
  room_account& account = accounts_[code];
  state_bytes_.add(static_cast<std::int64_t>(state_bytes) -
                   static_cast<std::int64_t>(account.state_bytes));
  account.state_bytes = state_bytes;
  account.hold = std::move(hold);
}

void runtime::note_state_bytes(const std::string& code, std::size_t state_bytes) {
  std::lock_guard lock(accounts_mutex_);
  auto it = accounts_.find(code);
  if (it == accounts_.end()) {
    return;
  }
  state_bytes_.add(static_cast<std::int64_t>(state_bytes) -
                   static_cast<std::int64_t>(it->second.state_bytes));
  it->second.state_bytes = state_bytes;
}

void runtime::state_meter::offer(snapshot_job&& job) noexcept {
  if (job.what == snapshot_job::kind::write) {
    owner_.note_state_bytes(job.code, job.value.size());
  }
  owner_.snapshot_sink_->offer(std::move(job));
}

}  // namespace partyd
