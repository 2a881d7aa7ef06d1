#include "io/config.hpp"

#include <algorithm>
#include <cctype>
#include <iostream>
#include <variant>

#include <boost/program_options.hpp>

namespace partyd {

namespace po = boost::program_options;

namespace {

// Splits a comma-separated origin list, trimming spaces around each entry. An origin is what a
// browser sends in the Origin header: "scheme://host[:port]" without a path, or "null".
bool parse_origins(std::string_view list, std::vector<std::string>& out) {
  constexpr std::string_view space = " \t";
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const std::size_t begin = entry.find_first_not_of(space);
    if (begin == std::string_view::npos) {
      continue;  // an empty entry (",," or a trailing comma) adds nothing
    }
    entry = entry.substr(begin, entry.find_last_not_of(space) - begin + 1);
    if (entry != "null") {
      const std::size_t scheme_end = entry.find("://");
      if (scheme_end == 0 || scheme_end == std::string_view::npos ||
          scheme_end + 3 == entry.size() ||
          entry.find_first_of("/ \t", scheme_end + 3) != std::string_view::npos) {
        return false;
      }
    }
    out.emplace_back(entry);
  }
  return true;
}

// Splits a comma-separated list, trimming spaces around each entry; empty entries add nothing.
std::vector<std::string> split_list(std::string_view list) {
  constexpr std::string_view space = " \t";
  std::vector<std::string> out;
  while (!list.empty()) {
    const std::size_t comma = list.find(',');
    std::string_view entry = list.substr(0, comma);
    list = comma == std::string_view::npos ? std::string_view() : list.substr(comma + 1);
    const std::size_t begin = entry.find_first_not_of(space);
    if (begin != std::string_view::npos) {
      out.emplace_back(entry.substr(begin, entry.find_last_not_of(space) - begin + 1));
    }
  }
  return out;
}

// RFC 6265 cookie-name: a token (visible ASCII without separators).
bool valid_cookie_name(std::string_view name) {
  constexpr std::string_view separators = "()<>@,;:\\\"/[]?={} \t";
  return !name.empty() && std::all_of(name.begin(), name.end(), [&](char c) {
    return c > 0x20 && c < 0x7F && separators.find(c) == std::string_view::npos;
  });
}

// The auth flags among themselves and against the registered games; empty when they fit.
std::string check_auth(const auth_options& auth, const game_list& games) {
  if (!auth.jwt_secret.empty() && !auth.jwt_public_key_file.empty()) {
    return "give --auth-jwt-secret or --auth-jwt-public-key, not both";
  }
  // RFC 7518 3.2: an HS256 key must be at least as long as the hash.
  if (!auth.jwt_secret.empty() && auth.jwt_secret.size() < 32) {
    return "--auth-jwt-secret must be at least 32 bytes";
  }
  if (!auth.key_configured() && (!auth.issuer.empty() || !auth.audience.empty())) {
    return "--auth-issuer and --auth-audience need --auth-jwt-secret or --auth-jwt-public-key";
  }
  if (!valid_cookie_name(auth.cookie_name)) {
    return "--auth-cookie must be a cookie name (visible ASCII, no separators such as ; = or "
           "spaces)";
  }
  if (auth.name_claim.empty()) {
    return "--auth-name-claim must name a claim";
  }
  if (auth.leeway_s < 0 || auth.leeway_s > 3600) {
    return "--auth-leeway-s must be 0..3600";
  }
  for (const std::string& name : auth.required_games) {
    const bool known = std::any_of(games.begin(), games.end(),
                                   [&](const auto& game) { return game->name() == name; });
    if (!known) {
      return "--auth-required-games: no game named '" + name + "'";
    }
  }
  return {};
}

// Adds a game's declared options as flags with their config's defaults.
void add_game_options(po::options_description& desc, const option_list& options) {
  for (const option_list::option& o : options.options()) {
    std::visit(
        [&](auto* field) {
          desc.add_options()(o.name.c_str(), po::value(field)->default_value(*field),
                             o.help.c_str());
        },
        o.bound);
  }
}

}  // namespace

std::optional<server_config> parse_config(int argc, char** argv, game_list& games, int& exit_code) {
  server_config c;
  std::uint32_t port = c.port;
  std::string allowed_origins;
  std::string auth_required_games;
  po::options_description desc(
      "partyd: party-game rooms over WebSocket.\n"
      "Every flag can also be set by an environment variable PARTYD_<FLAG> (upper case, '-' as "
      "'_'),\ne.g. PARTYD_ADMIN_TOKEN. Flags win over the environment.\n\nOptions");
  // clang-format off
  desc.add_options()
    ("help", "print this help and exit")
    ("port", po::value(&port)->default_value(port), "TCP port for HTTP and WebSocket (0 = any free port)")
    ("bind", po::value(&c.bind_address)->default_value(c.bind_address), "address to listen on")
    ("port-file", po::value(&c.port_file)->default_value(c.port_file), "write the bound port to this file once listening")
    ("admin-token", po::value(&c.admin_token)->default_value(""), "bearer token for the admin API /api/rooms (empty: admin API disabled)")
    ("store", po::value(&c.store)->default_value(c.store), "snapshot store: file:<dir> (embedded default), redis://[:password@]host:port[/db], or memory (no persistence)")
    ("durable-reply-timeout-ms", po::value(&c.engine.durable_reply_timeout_ms)->default_value(c.engine.durable_reply_timeout_ms), "replies confirming a seat or a new room wait for their snapshot to be stored, at most this long (0: never wait)")
    ("session-control-delay-ms", po::value(&c.engine.session_control_delay_ms)->default_value(c.engine.session_control_delay_ms), "session ACKs and heartbeats wait at most this long for their room's next turn instead of waking a worker (0: wake at once)")
    ("store-prefix", po::value(&c.store_prefix)->default_value(c.store_prefix), "key prefix of room snapshots in Redis")
    ("history", po::value(&c.history)->default_value(c.history), "game history database: sqlite:<file>, postgresql://..., none, or auto (SQLite beside the file store; none with --store memory)")
    ("history-queue-max", po::value(&c.history_queue_max)->default_value(c.history_queue_max), "finished games waiting for the history database")
    ("store-quarantine-prefix", po::value(&c.store_quarantine_prefix)->default_value(c.store_quarantine_prefix), "key prefix in Redis of the snapshots of rooms a game failure closed (kept, never restored)")
    ("snapshot-interval-ms", po::value(&c.engine.snapshot_interval_ms)->default_value(c.engine.snapshot_interval_ms), "a changed room is snapshotted at most this long after its first change (important transitions at once)")
    ("io-threads", po::value(&c.io_threads)->default_value(c.io_threads), "network threads, one io_context each")
    ("workers", po::value(&c.engine.workers)->default_value(c.engine.workers), "worker threads running rooms")
    ("max-connections", po::value(&c.max_connections)->default_value(c.max_connections), "open WebSocket connections at most; more are refused with HTTP 503")
    ("max-sockets", po::value(&c.max_sockets)->default_value(c.max_sockets), "accepted sockets (HTTP and WebSocket, before and after a request) open at most; more are closed at once; 0: the descriptor limit (RLIMIT_NOFILE) minus a reserve, at most --max-connections plus max(--max-connections, 1024)")
    ("max-connections-per-ip", po::value(&c.max_connections_per_ip)->default_value(c.max_connections_per_ip), "accepted sockets open at most per client address (IPv6: per /64 prefix); more are closed at once; 0: unlimited (use 0 behind a reverse proxy, where every client has the proxy's address)")
    ("allowed-origins", po::value(&allowed_origins)->default_value(""), "comma-separated exact origins (e.g. https://party.example.com) a WebSocket upgrade's Origin header must match, else HTTP 403; upgrades without Origin are accepted; empty: any origin")
    ("max-rooms", po::value(&c.engine.max_rooms)->default_value(c.engine.max_rooms), "open rooms at most")
    ("admin-room-reserve", po::value(&c.admin_room_reserve)->default_value(c.admin_room_reserve), "rooms only the admin API may create: rooms created by clients (brainrot's CREATE_ROOM) stop at --max-rooms minus this (at most a tenth of --max-rooms)")
    ("create-rate-per-ip", po::value(&c.create_rate_per_ip)->default_value(c.create_rate_per_ip), "rooms a client address (IPv6: /64) may create a minute by its first message, in a burst of as many; more are refused with create_rate_limited; 0: unlimited")
    ("create-quota-per-ip", po::value(&c.create_quota_per_ip)->default_value(c.create_quota_per_ip), "rooms created by a client address's first messages and still open, at most; more are refused with room_quota_reached; 0: unlimited")
    ("room-state-budget-bytes", po::value(&c.room_state_budget_bytes)->default_value(c.room_state_budget_bytes), "rooms created by clients are refused (limit_reached) once the open rooms' state, measured by their newest snapshots, reaches this; 0: unlimited")
    ("handshake-failures-free", po::value(&c.handshake_failures_free)->default_value(c.handshake_failures_free), "failed first messages (no such room, a wrong password, host key or seat token) a client address may have before its further first messages are delayed")
    ("handshake-failure-window-ms", po::value(&c.handshake_failure_window_ms)->default_value(c.handshake_failure_window_ms), "an address's failure count halves for every this long without a failure")
    ("handshake-delay-ms", po::value(&c.handshake_delay_ms)->default_value(c.handshake_delay_ms), "delay of a first message from an address past its free failures, doubled per further failure; 0: never delay")
    ("handshake-delay-max-ms", po::value(&c.handshake_delay_max_ms)->default_value(c.handshake_delay_max_ms), "largest delay of a first message")
    ("http-timeout-ms", po::value(&c.http_timeout_ms)->default_value(c.http_timeout_ms), "an HTTP request (or WebSocket upgrade) must arrive, and its answer be written, within this time")
    ("handshake-timeout-ms", po::value(&c.handshake_timeout_ms)->default_value(c.handshake_timeout_ms), "a connection must complete its handshake within this time")
    ("message-timeout-ms", po::value(&c.message_timeout_ms)->default_value(c.message_timeout_ms), "a WebSocket message (all its fragments) must be complete within this time of its first bytes; else close 1008 message_timeout")
    ("idle-timeout-ms", po::value(&c.idle_timeout_ms)->default_value(c.idle_timeout_ms), "close a connection silent this long; pings are sent at half of it")
    ("outbox-max-bytes", po::value(&c.outbox_max_bytes)->default_value(c.outbox_max_bytes), "unsent bytes per connection before it is disconnected as a slow consumer")
    ("inbox-max", po::value(&c.engine.inbox_max)->default_value(c.engine.inbox_max), "pending client messages per room; more are refused with inbox_full")
    ("batch-per-room", po::value(&c.engine.batch_per_room)->default_value(c.engine.batch_per_room), "inputs a worker takes from one room per pass")
    ("rate-limit-messages", po::value(&c.rate_limit_messages)->default_value(c.rate_limit_messages), "messages a player or audience client may send per window (host exempt)")
    ("rate-limit-window-ms", po::value(&c.rate_limit_window_ms)->default_value(c.rate_limit_window_ms), "rate limit window")
    ("room-inactivity-ms", po::value(&c.engine.inactivity_ms)->default_value(c.engine.inactivity_ms), "a room with no client message for this long closes with reason 'inactive'")
    ("room-code-length", po::value(&c.engine.room_code_length)->default_value(c.engine.room_code_length), "characters in a room code")
    ("http-body-max-bytes", po::value(&c.http_body_max_bytes)->default_value(c.http_body_max_bytes), "largest HTTP request body")
    ("console-dir", po::value(&c.console_dir)->default_value(""), "serve the web console's files (GET /, /console/...) from this directory instead of the copy built into the binary (for working on the console)")
    ("socketio-ping-interval-ms", po::value(&c.socketio_ping_interval_ms)->default_value(c.socketio_ping_interval_ms), "Socket.IO: the server pings each client this often (Engine.IO pingInterval)")
    ("socketio-ping-timeout-ms", po::value(&c.socketio_ping_timeout_ms)->default_value(c.socketio_ping_timeout_ms), "Socket.IO: a client that has not answered a ping within this time is disconnected (pingTimeout)")
    ("socketio-max-payload-bytes", po::value(&c.socketio_max_payload_bytes)->default_value(c.socketio_max_payload_bytes), "Socket.IO: the largest polling request body and packet (maxPayload); larger: 413 and the session closes")
    ("shutdown-grace-ms", po::value(&c.shutdown_grace_ms)->default_value(c.shutdown_grace_ms), "time given to connections to flush and close on SIGTERM")
    ("auth-jwt-secret", po::value(&c.auth.jwt_secret)->default_value(""), "HS256 shared secret (at least 32 bytes) that signs the tokens checked at WebSocket upgrades; prefer PARTYD_AUTH_JWT_SECRET, which ps does not show; empty: see --auth-jwt-public-key")
    ("auth-jwt-public-key", po::value(&c.auth.jwt_public_key_file)->default_value(""), "PEM public key file (-----BEGIN PUBLIC KEY-----) that verifies the tokens: RSA of 2048 bits or more for RS256, EC P-256 for ES256; with neither key: development mode, where games that require authentication take ?name= unverified")
    ("auth-issuer", po::value(&c.auth.issuer)->default_value(""), "when set, a token's iss must equal it, else 401 wrong_issuer")
    ("auth-audience", po::value(&c.auth.audience)->default_value(""), "when set, a token's aud (a string, or an array of them) must contain it, else 401 wrong_audience")
    ("auth-cookie", po::value(&c.auth.cookie_name)->default_value(c.auth.cookie_name), "cookie that carries the token; looked at first, then Authorization: Bearer, then the token query parameter")
    ("auth-name-claim", po::value(&c.auth.name_claim)->default_value(c.auth.name_claim), "claim that holds the connection's display name (a string); sub when the token has none")
    ("auth-leeway-s", po::value(&c.auth.leeway_s)->default_value(c.auth.leeway_s), "clock skew in seconds allowed when checking exp and nbf (0..3600)")
    ("auth-required-games", po::value(&auth_required_games)->default_value(""), "comma-separated games whose upgrades need a valid token (401 otherwise), besides those that require it themselves; an unknown name stops the start")
    ("default-game", po::value(&c.default_game)->default_value(c.default_game), "game served on WebSocket upgrades to '/' (e.g. for clients written for another server); empty: none; admin API room creation without a game uses the first registered game")
    ("log-level", po::value(&c.log_level)->default_value(c.log_level), "debug | info | warn | error");
  // clang-format on
  for (auto& game : games) {
    option_list options;
    game->declare_options(options);
    add_game_options(desc, options);
  }

  po::variables_map vm;
  try {
    po::store(po::parse_command_line(argc, argv, desc), vm);
    po::store(po::parse_environment(desc,
                                    [&desc](const std::string& env) -> std::string {
                                      static const std::string prefix = "PARTYD_";
                                      if (env.rfind(prefix, 0) != 0) return {};
                                      std::string name;
                                      for (char ch : env.substr(prefix.size())) {
                                        name.push_back(ch == '_'
                                                           ? '-'
                                                           : static_cast<char>(std::tolower(
                                                                 static_cast<unsigned char>(ch))));
                                      }
                                      return desc.find_nothrow(name, false) ? name : std::string();
                                    }),
              vm);
    if (vm.count("help")) {
      std::cout << desc << "\n";
      exit_code = 0;
      return std::nullopt;
    }
    po::notify(vm);
  } catch (const std::exception& error) {
    std::cerr << "partyd: " << error.what() << "\n(see partyd --help)\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (port > 65535) {
    std::cerr << "partyd: --port must be 0..65535\n";
    exit_code = 2;
    return std::nullopt;
  }
  c.port = static_cast<std::uint16_t>(port);
  if (!parse_origins(allowed_origins, c.allowed_origins)) {
    std::cerr << "partyd: --allowed-origins takes origins like https://party.example.com "
                 "(scheme://host[:port], no path), separated by commas\n";
    exit_code = 2;
    return std::nullopt;
  }
  c.auth.required_games = split_list(auth_required_games);
  if (const std::string problem = check_auth(c.auth, games); !problem.empty()) {
    std::cerr << "partyd: " << problem << "\n";
    exit_code = 2;
    return std::nullopt;
  }
  if (c.io_threads == 0 || c.engine.workers == 0 || c.engine.inbox_max == 0 ||
      c.engine.batch_per_room == 0 || c.engine.room_code_length < limits::room_code_length_min ||
      c.engine.room_code_length > limits::room_code_length_max || c.rate_limit_window_ms <= 0 ||
      c.handshake_timeout_ms <= 0 || c.http_timeout_ms <= 0 || c.message_timeout_ms <= 0 ||
      c.engine.snapshot_interval_ms <= 0 || c.engine.durable_reply_timeout_ms < 0 ||
      c.idle_timeout_ms <= 0 || c.engine.inactivity_ms <= 0 || c.handshake_failure_window_ms <= 0 ||
      c.handshake_delay_ms < 0 || c.handshake_delay_max_ms < c.handshake_delay_ms ||
      c.room_state_budget_bytes < 0 || c.engine.session_control_delay_ms < 0 ||
      c.engine.session_control_delay_ms > 1000 || c.socketio_ping_interval_ms <= 0 ||
      c.socketio_ping_timeout_ms <= 0 || c.socketio_max_payload_bytes < 1024) {
    std::cerr
        << "partyd: thread counts, limits and timeouts must be positive (delays and budgets "
           "0 or more, --handshake-delay-max-ms at least --handshake-delay-ms); room code "
           "length 4..16; --session-control-delay-ms 0..1000; --socketio-max-payload-bytes at "
           "least 1024\n";
    exit_code = 2;
    return std::nullopt;
  }
  for (const auto& game : games) {
    std::string problem = game->check();
    // A connection's outbox must hold the largest frame its game may send it.
    if (problem.empty() && game->make()->max_message_bytes() > c.outbox_max_bytes) {
      problem = "--outbox-max-bytes must be at least the largest message of game '" +
                std::string(game->name()) + "'";
    }
    if (!problem.empty()) {
      std::cerr << "partyd: " << problem << "\n";
      exit_code = 2;
      return std::nullopt;
    }
  }
  exit_code = 0;
  return c;
}

}  // namespace partyd
