// Every server-wide limit's default and hard bounds, in one place. Each is a flag
// (`partyd --help`, docs/operations.md "Limits") and counted in /metrics when hit; a game's own
// limits are the fields of its config (games/<game>/module.hpp), declared as flags by its module
// and checked together at start-up by its check_config(). Related limits are tied below by
// static_assert, or at start-up where a flag can move one of them (io/config.cpp).
#pragma once

#include <cstddef>
#include <cstdint>

#include "engine/types.hpp"

namespace partyd::limits {

// Rooms (engine/runtime.hpp).
inline constexpr std::size_t max_rooms = 100000;
inline constexpr std::size_t inbox_max = 1024;     // pending client inputs per room
inline constexpr std::size_t batch_per_room = 64;  // inputs a worker takes per room per pass
inline constexpr time_ms inactivity_ms = 5 * 60 * 1000;
inline constexpr std::size_t room_code_length = 6;
inline constexpr std::size_t room_code_length_min = 4;  // below: codes are guessable
inline constexpr std::size_t room_code_length_max = 16;
inline constexpr time_ms snapshot_interval_ms = 1000;
inline constexpr time_ms durable_reply_timeout_ms = 1000;
// Session ACKs and heartbeats wait at most this long for their room's next turn (runtime.hpp).
inline constexpr time_ms session_control_delay_ms = 20;

// Connections (io/).
inline constexpr std::size_t max_connections = 10000;
inline constexpr std::size_t outbox_max_bytes = 1 << 20;  // unsent bytes before a slow-consumer cut
inline constexpr std::size_t http_body_max_bytes = 64 * 1024;
inline constexpr std::uint32_t rate_limit_messages = 100;
inline constexpr time_ms rate_limit_window_ms = 60000;
inline constexpr time_ms http_timeout_ms = 30000;
inline constexpr time_ms handshake_timeout_ms = 10000;
inline constexpr time_ms idle_timeout_ms = 60000;            // pings go out at half of it
inline constexpr std::size_t read_buffer_bytes = 64 * 1024;  // per io thread

// The largest default message of any game shipped (brainrot, an avatar in its envelope).
inline constexpr std::size_t largest_default_message_bytes = 262144;

static_assert(batch_per_room <= inbox_max, "a pass never takes more than a full inbox");
static_assert(room_code_length >= room_code_length_min && room_code_length <= room_code_length_max);
// A connection must be able to hold at least one of the largest frames it may be sent; the same
// tie is checked at start-up against every registered game's configured limit.
static_assert(outbox_max_bytes >= largest_default_message_bytes);
static_assert(rate_limit_messages > 0 && rate_limit_window_ms > 0);
static_assert(2 * (idle_timeout_ms / 2) <= idle_timeout_ms, "pings at half the idle timeout");

}  // namespace partyd::limits
