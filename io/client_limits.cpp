#include "io/client_limits.hpp"

#include <algorithm>

#include <boost/asio/ip/address_v4.hpp>
#include <boost/asio/ip/address_v6.hpp>

#include "io/config.hpp"

namespace partyd {

namespace net = boost::asio;

address_key address_key::of(const net::ip::address& address) {
  address_key key;
  if (address.is_v4()) {
    key.low = address.to_v4().to_uint();
    return key;
  }
  const net::ip::address_v6 v6 = address.to_v6();
  if (v6.is_v4_mapped()) {
    key.low = net::ip::make_address_v4(net::ip::v4_mapped, v6).to_uint();
    return key;
  }
  const auto bytes = v6.to_bytes();
  for (std::size_t i = 0; i < 8; ++i) {
    key.high = (key.high << 8) | bytes[i];
  }
  key.low = ~std::uint64_t{0};  // never an IPv4 key
  return key;
}

std::string address_key::to_string() const {
  if (low != ~std::uint64_t{0}) {
    return net::ip::address_v4(static_cast<net::ip::address_v4::uint_type>(low)).to_string();
  }
  net::ip::address_v6::bytes_type bytes{};
  for (std::size_t i = 0; i < 8; ++i) {
    bytes[i] = static_cast<unsigned char>(high >> (56 - 8 * i));
  }
  return net::ip::address_v6(bytes).to_string() + "/64";
}

// ---- room_creation_limiter ----

// Kept with an anonymous room (runtime::room_creation_limits::hold): the address's quota counts
// the room until the room is gone and this is destroyed (by the room's worker, or the runtime).
struct room_creation_limiter::hold {
  hold(std::shared_ptr<room_creation_limiter> limiter, const address_key& address)
      : owner(std::move(limiter)), key(address) {}
  hold(const hold&) = delete;
  hold& operator=(const hold&) = delete;
  ~hold() { owner->release(key); }
  const std::shared_ptr<room_creation_limiter> owner;
  const address_key key;
};

room_creation_limiter::room_creation_limiter(const server_config& config, runtime& engine,
                                             metrics_registry& metrics)
    : engine_(engine),
      rate_per_minute_(config.create_rate_per_ip),
      quota_(config.create_quota_per_ip),
      state_budget_bytes_(config.room_state_budget_bytes),
      anonymous_room_limit_(config.engine.max_rooms -
                            std::min(config.admin_room_reserve, config.engine.max_rooms / 10)) {
  for (const creation_refusal reason :
       {creation_refusal::max_rooms, creation_refusal::admin_reserve,
        creation_refusal::state_budget, creation_refusal::quota, creation_refusal::rate}) {
    refused_[static_cast<std::size_t>(reason)] = &metrics.get_counter(
        "partyd_rooms_refused_total", "reason=\"" + std::string(reason_name(reason)) + "\"",
        "Room creations refused, by the limit that refused them");
  }
}

std::string_view room_creation_limiter::reason_name(creation_refusal reason) {
  switch (reason) {
    case creation_refusal::none:
      return "none";
    case creation_refusal::max_rooms:
      return "max_rooms";
    case creation_refusal::admin_reserve:
      return "admin_reserve";
    case creation_refusal::state_budget:
      return "state_budget";
    case creation_refusal::quota:
      return "quota";
    case creation_refusal::rate:
      return "rate";
  }
  return "none";
}

std::string_view room_creation_limiter::error_code(creation_refusal reason) {
  switch (reason) {
    case creation_refusal::quota:
      return "room_quota_reached";
    case creation_refusal::rate:
      return "create_rate_limited";
    default:
      // The server is full for anonymous rooms, whichever share ran out: as --max-rooms always
      // answered.
      return "limit_reached";
  }
}

std::string_view room_creation_limiter::error_message(creation_refusal reason) {
  switch (reason) {
    case creation_refusal::quota:
      return "this address holds its maximum number of open rooms; close one first";
    case creation_refusal::rate:
      return "this address created too many rooms in the last minute; retry later";
    case creation_refusal::state_budget:
      return "the server holds its maximum of room state";
    default:
      return "the server holds its maximum number of rooms";
  }
}

void room_creation_limiter::count(creation_refusal reason) {
  if (counter* c = refused_[static_cast<std::size_t>(reason)]) {
    c->inc();
  }
}

void room_creation_limiter::refill(entry& e, std::int64_t now_ms) const {
  if (now_ms > e.refilled_ms) {
    e.tokens = std::min(rate_per_minute_, e.tokens + static_cast<double>(now_ms - e.refilled_ms) *
                                                         rate_per_minute_ / 60000.0);
    e.refilled_ms = now_ms;
  }
}

creation_refusal room_creation_limiter::admit(const address_key& key, std::int64_t now_ms,
                                              std::size_t message_bytes,
                                              room_creation_limits& limits) {
  // Server-wide shares first: they take nothing from the address.
  const std::size_t rooms = engine_.room_count();
  if (rooms >= engine_.options().max_rooms) {
    return creation_refusal::max_rooms;
  }
  if (rooms >= anonymous_room_limit_) {
    return creation_refusal::admin_reserve;
  }
  if (state_budget_bytes_ > 0 &&
      engine_.room_state_bytes() + static_cast<std::int64_t>(message_bytes) > state_budget_bytes_) {
    return creation_refusal::state_budget;
  }
  limits.room_limit = anonymous_room_limit_;
  limits.initial_state_bytes = message_bytes;
  if (rate_per_minute_ <= 0 && quota_ == 0) {
    return creation_refusal::none;
  }
  std::lock_guard lock(mutex_);
  auto found = addresses_.find(key);
  if (found == addresses_.end()) {
    if (addresses_.size() >= max_idle_addresses) {
      // Forget the addresses without an open room; those with one must stay, and they are
      // bounded by the rooms open.
      std::erase_if(addresses_, [](const auto& item) { return item.second.open == 0; });
    }
    found = addresses_.emplace(key, entry{rate_per_minute_, now_ms, 0}).first;
  }
  entry& e = found->second;
  if (quota_ != 0 && e.open >= quota_) {
    return creation_refusal::quota;
  }
  if (rate_per_minute_ > 0) {
    refill(e, now_ms);
    if (e.tokens < 1.0) {
      return creation_refusal::rate;
    }
    e.tokens -= 1.0;
  }
  if (quota_ != 0) {
    ++e.open;
    limits.hold = std::make_shared<hold>(shared_from_this(), key);  // released without mutex_
  }
  return creation_refusal::none;
}

void room_creation_limiter::refund(const address_key& key) {
  if (rate_per_minute_ <= 0) {
    return;
  }
  std::lock_guard lock(mutex_);
  const auto found = addresses_.find(key);
  if (found != addresses_.end()) {
    found->second.tokens = std::min(rate_per_minute_, found->second.tokens + 1.0);
  }
}

void room_creation_limiter::release(const address_key& key) {
  std::lock_guard lock(mutex_);
  const auto found = addresses_.find(key);
  if (found == addresses_.end() || found->second.open == 0) {
    return;
  }
  --found->second.open;
  // An address with nothing open and a full bucket is like one never seen.
  if (found->second.open == 0 &&
      (rate_per_minute_ <= 0 || found->second.tokens >= rate_per_minute_)) {
    addresses_.erase(found);
  }
}

// ---- handshake_guard ----

handshake_guard::handshake_guard(const server_config& config)
    : free_(config.handshake_failures_free),
      window_ms_(config.handshake_failure_window_ms),
      delay_ms_(config.handshake_delay_ms),
      delay_max_ms_(std::max(config.handshake_delay_max_ms, config.handshake_delay_ms)) {}

void handshake_guard::decay(entry& e, std::int64_t now_ms) const {
  if (now_ms <= e.decay_from_ms) {
    return;
  }
  const std::int64_t quiet = (now_ms - e.decay_from_ms) / window_ms_;
  if (quiet <= 0) {
    return;
  }
  e.failures = quiet >= 32 ? 0 : e.failures >> quiet;
  e.decay_from_ms += quiet * window_ms_;
}

std::int64_t handshake_guard::delay_for(const address_key& key, std::int64_t now_ms,
                                        std::uint32_t& failures) {
  failures = 0;
  if (delay_ms_ <= 0 || size_.load(std::memory_order_relaxed) == 0) {
    return 0;  // the usual case: nobody failed lately, and no lock is taken
  }
  std::lock_guard lock(mutex_);
  const auto found = index_.find(key);
  if (found == index_.end()) {
    return 0;
  }
  entry& e = *found->second;
  decay(e, now_ms);
  failures = e.failures;
  if (e.failures == 0) {
    recent_.erase(found->second);
    index_.erase(found);
    size_.store(index_.size(), std::memory_order_relaxed);
    return 0;
  }
  if (e.failures < free_) {
    return 0;
  }
  // Doubles per failure past the free ones: delay, 2 x delay, 4 x delay, ... up to the cap.
  const std::uint32_t doublings = std::min<std::uint32_t>(e.failures - free_, 40);
  const std::int64_t units =
      std::min<std::int64_t>(std::int64_t{1} << doublings, delay_max_ms_ / delay_ms_ + 1);
  return std::min(delay_max_ms_, units * delay_ms_);
}

std::uint32_t handshake_guard::note_failure(const address_key& key, std::int64_t now_ms) {
  std::lock_guard lock(mutex_);
  auto found = index_.find(key);
  if (found == index_.end()) {
    if (index_.size() >= max_addresses) {
      index_.erase(recent_.back().key);  // the address that failed longest ago
      recent_.pop_back();
    }
    recent_.push_front(entry{key, 0, now_ms});
    found = index_.emplace(key, recent_.begin()).first;
    size_.store(index_.size(), std::memory_order_relaxed);
  } else if (found->second != recent_.begin()) {
    recent_.splice(recent_.begin(), recent_, found->second);  // iterators stay valid
  }
  entry& e = *found->second;
  decay(e, now_ms);
  if (e.failures < UINT32_MAX) {
    ++e.failures;
  }
  e.decay_from_ms = now_ms;  // the quiet time that halves the count starts now
  return e.failures;
}

}  // namespace partyd
