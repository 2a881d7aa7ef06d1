// What one client address may do beyond opening sockets: create rooms anonymously (a game's first
// message that creates its room, brainrot's CREATE_ROOM) and fail handshakes.
// - room_creation_limiter: a token bucket per address (--create-rate-per-ip rooms a minute), a
//   quota of anonymous rooms still open per address (--create-quota-per-ip), and two server-wide
//   shares anonymous creation may not pass: --max-rooms minus the rooms kept for the admin API
//   (--admin-room-reserve), and the measured state of all rooms (--room-state-budget-bytes).
// - handshake_guard: failed first messages per address (no such room, or a credential the game
//   refused); past --handshake-failures-free each further first message of the address waits a
//   delay that doubles per failure up to a cap, and the count halves for every
//   --handshake-failure-window-ms without a failure. At most max_addresses are remembered (the
//   one that failed longest ago is forgotten first).
// Addresses are grouped as --max-connections-per-ip groups them (address_key).
// Thread safety: every method may be called from any thread (a short mutex each).
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

#include "engine/metrics.hpp"
#include "engine/runtime.hpp"

namespace partyd {

struct server_config;

// A client address as --max-connections-per-ip counts it: an IPv4 address (also when mapped into
// IPv6), or the /64 prefix of an IPv6 address, the usual assignment to one subscriber (counting
// single IPv6 addresses would limit nothing).
struct address_key {
  std::uint64_t high = 0;
  std::uint64_t low = 0;
  bool operator==(const address_key&) const = default;
  static address_key of(const boost::asio::ip::address& address);
  // "203.0.113.7", or "2001:db8:1:2::/64": the group, as logged.
  std::string to_string() const;
};

struct address_key_hash {
  std::size_t operator()(const address_key& key) const noexcept {
    return std::hash<std::uint64_t>{}(key.high * 0x9E3779B97F4A7C15ull ^ key.low);
  }
};

enum class creation_refusal : std::uint8_t {
  none,
  max_rooms,      // --max-rooms rooms are open (also counted for the admin API)
  admin_reserve,  // the rooms left are kept for the admin API
  state_budget,   // the rooms' measured state reached --room-state-budget-bytes
  quota,          // the address holds --create-quota-per-ip anonymous rooms still open
  rate,           // the address created --create-rate-per-ip rooms within the last minute
};

class room_creation_limiter : public std::enable_shared_from_this<room_creation_limiter> {
 public:
  room_creation_limiter(const server_config& config, runtime& engine, metrics_registry& metrics);

  // Before a client's first message of `message_bytes` creates a room: whether it may. When it
  // may, one creation is taken from the address's rate and `limits` is set for create_room: its
  // hold counts the room against the address's quota until the room is gone.
  creation_refusal admit(const address_key& key, std::int64_t now_ms, std::size_t message_bytes,
                         room_creation_limits& limits);
  // The creation admitted did not happen: its token goes back (the quota comes back with the
  // hold, when it is destroyed).
  void refund(const address_key& key);
  // Counts a refusal in partyd_rooms_refused_total{reason}.
  void count(creation_refusal reason);

  static std::string_view reason_name(creation_refusal reason);
  // The error a refused client gets: a code its game turns into its own error frame.
  static std::string_view error_code(creation_refusal reason);
  static std::string_view error_message(creation_refusal reason);
  // Rooms anonymous creation may fill: --max-rooms minus the reserve (at most a tenth of it).
  std::size_t anonymous_room_limit() const noexcept { return anonymous_room_limit_; }
  // Addresses remembered with no room open and a partly used rate at most; beyond it those are
  // forgotten (their buckets start full again).
  static constexpr std::size_t max_idle_addresses = 65536;

 private:
  struct entry {
    double tokens = 0;
    std::int64_t refilled_ms = 0;
    std::uint32_t open = 0;  // anonymous rooms still open
  };
  struct hold;
  void refill(entry& e, std::int64_t now_ms) const;
  void release(const address_key& key);  // a room of the address is gone

  runtime& engine_;
  const double rate_per_minute_;  // 0: unlimited
  const std::uint32_t quota_;     // 0: unlimited
  const std::int64_t state_budget_bytes_;
  const std::size_t anonymous_room_limit_;
  std::mutex mutex_;
  std::unordered_map<address_key, entry, address_key_hash> addresses_;  // guarded by mutex_
  counter* refused_[6] = {};
};

class handshake_guard {
 public:
  explicit handshake_guard(const server_config& config);

  // Before a first message from `key` is handled, arriving at `now_ms`: how long it must wait
  // (0: not at all); `failures` gets the address's count.
  std::int64_t delay_for(const address_key& key, std::int64_t now_ms, std::uint32_t& failures);
  // A first message from `key` failed. Returns the address's count, this failure included.
  std::uint32_t note_failure(const address_key& key, std::int64_t now_ms);

  static constexpr std::size_t max_addresses = 65536;

 private:
  struct entry {
    address_key key;
    std::uint32_t failures = 0;
    std::int64_t decay_from_ms = 0;  // halvings are counted from here
  };
  void decay(entry& e, std::int64_t now_ms) const;

  const std::uint32_t free_;
  const std::int64_t window_ms_;
  const std::int64_t delay_ms_;  // 0: failures are counted, never delayed
  const std::int64_t delay_max_ms_;
  std::mutex mutex_;
  std::list<entry> recent_;  // most recent failure first; guarded by mutex_
  std::unordered_map<address_key, std::list<entry>::iterator, address_key_hash>
      index_;                         // guarded by mutex_
  std::atomic<std::size_t> size_{0};  // index_.size(), read without the lock
};

}  // namespace partyd
