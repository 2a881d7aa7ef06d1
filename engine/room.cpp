#include "engine/room.hpp"

#include "engine/secrets.hpp"

namespace partyd {

room::room(std::uint64_t serial, std::string code, const game_module& module,
           std::unique_ptr<game> instance, std::uint64_t seed, std::size_t worker_index,
           std::size_t inbox_max, time_ms created_at)
    : inbox_max_(inbox_max),
      serial_(serial),
      code_(std::move(code)),
      module_(module),
      instance_(std::move(instance)),
      worker_index_(worker_index),
      created_at_(created_at),
      last_activity_(created_at),
      rng_(seed) {
  if (const session_policy* policy = module.sessions()) {
    // A new epoch for every process that holds the room: a client that sees it change knows the
    // frames after its last one may be gone (docs/protocol/sessions.md, "After a restart").
    sessions = std::make_unique<session_table>(*policy, code_, random_token(6));
  }
}

void room::restore_position(std::uint64_t version, const room_rng::state_type& rng_state,
                            time_ms last_activity) {
  state_version_.store(version, std::memory_order_relaxed);
  snapshot_version = version;
  rng_ = room_rng::from_state(rng_state);
  last_activity_.store(last_activity, std::memory_order_relaxed);
}

push_result room::push(room_input&& in, bool exempt) {
  if (closed()) {
    return push_result::closed;
  }
  // Reserve a place first so that concurrent producers cannot overshoot the bound together.
  const std::size_t before = depth_.fetch_add(1, std::memory_order_acq_rel);
  if (!exempt && before >= inbox_max_) {
    depth_.fetch_sub(1, std::memory_order_acq_rel);
    return push_result::full;
  }
  inbox_.enqueue(std::move(in));
  return push_result::accepted;
}

bool room::pop(room_input& out) {
  if (!inbox_.try_dequeue(out)) {
    return false;
  }
  depth_.fetch_sub(1, std::memory_order_acq_rel);
  return true;
}

room_summary room::summary() const noexcept {
  room_summary out;
  for (std::size_t i = 0; i < max_roles; ++i) {
    out.connected_by_role[i] = connected_by_role_[i].load(std::memory_order_relaxed);
  }
  out.seats = seats_.load(std::memory_order_relaxed);
  return out;
}

void room::publish_summary() noexcept {
  const room_summary now = instance_->summary();
  for (std::size_t i = 0; i < max_roles; ++i) {
    connected_by_role_[i].store(now.connected_by_role[i], std::memory_order_relaxed);
  }
  seats_.store(now.seats, std::memory_order_relaxed);
}

}  // namespace partyd
