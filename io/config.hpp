// Server configuration: command-line flags, each also settable by an environment variable
// PARTYD_<FLAG_IN_UPPER_SNAKE_CASE>; flags win. `partyd --help` lists every setting with its
// default. Thread: read-only after parse_config().
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/game_factory.hpp"
#include "engine/limits.hpp"
#include "engine/runtime.hpp"
#include "io/auth.hpp"

namespace partyd {

struct server_config {
  // Snapshot store: "file:<dir>" (the embedded default), "redis://[:password@]host:port[/db]",
  // or "memory" (no persistence).
  std::string bind_address = "0.0.0.0";
  std::uint16_t port = 8080;
  std::string port_file;  // when set, the bound port is written there (useful with --port 0)
  std::string admin_token;
  std::string store = "file:partyd-data";
  std::string store_prefix = "partyd:room:";
  // Game history (Mafia's finished games): "sqlite:<file>", "postgresql://...", "none", or
  // "auto": SQLite in the file store's directory (history.sqlite3), none with --store memory,
  // partyd-history.sqlite3 in the working directory with Redis.
  std::string history = "auto";
  std::size_t history_queue_max = 4096;
  std::size_t io_threads = 1;
  std::size_t max_connections = limits::max_connections;
  // Accepted sockets (HTTP and WebSocket) open at most; more are closed at once. 0: derived at
  // start from RLIMIT_NOFILE (io/server.cpp, server::start).
  std::size_t max_sockets = 0;
  // Sockets open at most per client address (IPv6: per /64); 0 = unlimited. Sized for a venue
  // behind one NAT address: 250 phones, each with a stale socket awaiting its idle timeout after
  // a reconnect.
  std::size_t max_connections_per_ip = 512;
  // Anonymous room creation (a game's first message that creates its room: brainrot's
  // CREATE_ROOM), per client address grouped as for --max-connections-per-ip; 0 = unlimited.
  // Sized so that a venue behind one NAT address never meets them: a master screen starts a room
  // a game, every few minutes; a brainrot room lives 12 h unless its master closes it.
  std::uint32_t create_rate_per_ip = 60;     // rooms a minute (a burst of as many)
  std::uint32_t create_quota_per_ip = 1000;  // anonymous rooms still open
  // Anonymous creation stops once the open rooms' measured state (each room's newest snapshot)
  // reaches this; 0 = unlimited. 1 GiB: 4,000 brainrot rooms carrying a 250 KB game each.
  std::int64_t room_state_budget_bytes = std::int64_t{1} << 30;
  // Rooms only the admin API may create: anonymous creation stops at --max-rooms minus this (at
  // most a tenth of --max-rooms), so the operator can always make a room.
  std::size_t admin_room_reserve = 1000;
  // Failed first messages (no such room; a credential the game refused) per client address:
  // past `handshake_failures_free` each further first message of the address waits
  // handshake_delay_ms, doubled per failure, at most handshake_delay_max_ms; the count halves for
  // every window without a failure. handshake_delay_ms 0: never delayed.
  std::uint32_t handshake_failures_free = 5;
  std::int64_t handshake_failure_window_ms = 60000;
  std::int64_t handshake_delay_ms = 100;
  std::int64_t handshake_delay_max_ms = 5000;
  std::int64_t http_timeout_ms = limits::http_timeout_ms;
  std::int64_t handshake_timeout_ms = limits::handshake_timeout_ms;
  // A WebSocket message whose first bytes arrived (a first fragment, or part of a frame) must be
  // complete within this time: the largest brainrot message (256 KiB) on a ~10 KB/s uplink.
  std::int64_t message_timeout_ms = 30000;
  std::int64_t idle_timeout_ms = limits::idle_timeout_ms;  // pings go out at half of it
  std::size_t outbox_max_bytes = limits::outbox_max_bytes;
  std::size_t http_body_max_bytes = limits::http_body_max_bytes;
  std::uint32_t rate_limit_messages = limits::rate_limit_messages;
  std::int64_t rate_limit_window_ms = limits::rate_limit_window_ms;
  std::int64_t shutdown_grace_ms = 5000;
  std::string log_level = "info";
  std::string default_game;  // game served on WebSocket upgrades to "/" (empty: none)
  std::string console_dir;   // serve the web console from here, not from the binary (empty)
  // Socket.IO at /socket.io/ (docs/protocol/socketio.md): the game of a client without a `game`
  // query (the default game, else the relay), Engine.IO's heartbeat, and the largest packet or
  // polling body.
  std::int64_t socketio_ping_interval_ms = 10000;  // below the sessions' dead_after (20 s)
  std::int64_t socketio_ping_timeout_ms = 20000;
  std::size_t socketio_max_payload_bytes = 100000;
  // Exact Origin values a WebSocket upgrade may carry (e.g. "https://party.example.com"); an
  // upgrade with another Origin is refused with 403. Empty: any origin. An upgrade without an
  // Origin header (not a browser) is always accepted.
  std::vector<std::string> allowed_origins;
  std::string store_quarantine_prefix = "partyd:quarantine:";
  // Tokens at the WebSocket upgrade (io/auth.hpp); no key: development mode.
  auth_options auth;
  runtime_options engine;
};

// Parses argv and the environment, the server's own flags and those each game in `games` declares
// (bound to the game's factory, checked by it). Returns nullopt after printing help or an error;
// `exit_code` tells main what to return.
std::optional<server_config> parse_config(int argc, char** argv, game_list& games, int& exit_code);

}  // namespace partyd
