#include "io/config.hpp"

#include <cctype>
#include <iostream>

#include <boost/program_options.hpp>

namespace partyd {

namespace po = boost::program_options;

std::optional<server_config> parse_config(int argc, char** argv, int& exit_code) {
  server_config c;
  std::uint32_t port = c.port;
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
    ("store-prefix", po::value(&c.store_prefix)->default_value(c.store_prefix), "key prefix of room snapshots in Redis")
    ("snapshot-interval-ms", po::value(&c.engine.snapshot_interval_ms)->default_value(c.engine.snapshot_interval_ms), "a changed room is snapshotted at most this long after its first change (important transitions at once)")
    ("io-threads", po::value(&c.io_threads)->default_value(c.io_threads), "network threads, one io_context each")
    ("workers", po::value(&c.engine.workers)->default_value(c.engine.workers), "worker threads running rooms")
    ("max-connections", po::value(&c.max_connections)->default_value(c.max_connections), "open WebSocket connections at most; more are refused with HTTP 503")
    ("max-rooms", po::value(&c.engine.max_rooms)->default_value(c.engine.max_rooms), "open rooms at most")
    ("max-message-bytes", po::value(&c.games.relay.max_message_bytes)->default_value(c.games.relay.max_message_bytes), "largest relay WebSocket message; larger ones close the connection with 1009")
    ("http-timeout-ms", po::value(&c.http_timeout_ms)->default_value(c.http_timeout_ms), "an HTTP request (or WebSocket upgrade) must arrive, and its answer be written, within this time")
    ("handshake-timeout-ms", po::value(&c.handshake_timeout_ms)->default_value(c.handshake_timeout_ms), "a connection must complete its handshake within this time")
    ("idle-timeout-ms", po::value(&c.idle_timeout_ms)->default_value(c.idle_timeout_ms), "close a connection silent this long; pings are sent at half of it")
    ("outbox-max-bytes", po::value(&c.outbox_max_bytes)->default_value(c.outbox_max_bytes), "unsent bytes per connection before it is disconnected as a slow consumer")
    ("inbox-max", po::value(&c.engine.inbox_max)->default_value(c.engine.inbox_max), "pending client messages per room; more are refused with inbox_full")
    ("batch-per-room", po::value(&c.engine.batch_per_room)->default_value(c.engine.batch_per_room), "inputs a worker takes from one room per pass")
    ("rate-limit-messages", po::value(&c.rate_limit_messages)->default_value(c.rate_limit_messages), "messages a player or audience client may send per window (host exempt)")
    ("rate-limit-window-ms", po::value(&c.rate_limit_window_ms)->default_value(c.rate_limit_window_ms), "rate limit window")
    ("room-inactivity-ms", po::value(&c.engine.inactivity_ms)->default_value(c.engine.inactivity_ms), "a room with no client message for this long closes with reason 'inactive'")
    ("room-code-length", po::value(&c.engine.room_code_length)->default_value(c.engine.room_code_length), "characters in a room code")
    ("relay-meta-max-bytes", po::value(&c.games.relay.meta_max_bytes)->default_value(c.games.relay.meta_max_bytes), "largest relay handshake meta (serialized JSON)")
    ("relay-host-queue-max", po::value(&c.games.relay.host_queue_max)->default_value(c.games.relay.host_queue_max), "messages kept for an absent relay host; the oldest is dropped past this")
    ("brainrot-max-message-bytes", po::value(&c.games.brainrot.max_message_bytes)->default_value(c.games.brainrot.max_message_bytes), "largest brainrot WebSocket message (must admit an avatar in its envelope)")
    ("brainrot-avatar-max-chars", po::value(&c.games.brainrot.avatar_max_chars)->default_value(c.games.brainrot.avatar_max_chars), "longest brainrot avatar data URL")
    ("http-body-max-bytes", po::value(&c.http_body_max_bytes)->default_value(c.http_body_max_bytes), "largest HTTP request body")
    ("shutdown-grace-ms", po::value(&c.shutdown_grace_ms)->default_value(c.shutdown_grace_ms), "time given to connections to flush and close on SIGTERM")
    ("default-game", po::value(&c.default_game)->default_value(c.default_game), "game served on WebSocket upgrades to '/' (e.g. for clients written for another server); empty: none")
    ("log-level", po::value(&c.log_level)->default_value(c.log_level), "debug | info | warn | error");
  // clang-format on

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
  if (c.io_threads == 0 || c.engine.workers == 0 || c.engine.inbox_max == 0 ||
      c.engine.batch_per_room == 0 || c.engine.room_code_length < 4 ||
      c.engine.room_code_length > 16 || c.rate_limit_window_ms <= 0 ||
      c.handshake_timeout_ms <= 0 || c.http_timeout_ms <= 0 || c.engine.snapshot_interval_ms <= 0 ||
      c.engine.durable_reply_timeout_ms < 0 || c.idle_timeout_ms <= 0 ||
      c.engine.inactivity_ms <= 0) {
    std::cerr << "partyd: thread counts, limits and timeouts must be positive; room code length "
                 "4..16\n";
    exit_code = 2;
    return std::nullopt;
  }
  exit_code = 0;
  return c;
}

}  // namespace partyd
