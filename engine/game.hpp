// The Game interface: the only thing a game implements. A game owns its rules; the engine owns
// connections, identities, limits, ordering, timers and persistence.
//
// Threads: a game_module is immutable after start-up and is used from io threads (decode,
// encode_error), the admin HTTP thread (create) and workers. A game instance is touched only by
// its room's worker, one input at a time. step() is pure: it depends only on the state, the input,
// `now` and the room's rng; it never reads a clock and never blocks.
#pragma once

#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "engine/effects.hpp"
#include "engine/rng.hpp"
#include "engine/secrets.hpp"
#include "engine/session.hpp"
#include "engine/types.hpp"

namespace partyd {

// A decoded client message. Each game derives its own commands from this base.
struct command {
  virtual ~command() = default;
  std::uint16_t type = 0;  // index into the game's in_types()
};
using command_ptr = std::unique_ptr<command>;

// The command of an input_kind::record_written: the record `key` is in the database (written),
// or the sink could not take it now (offer it again later).
struct record_written_reply final : command {
  std::string key;
  bool written = false;
};

// The command of an input_kind::room_created: the new room's code, or why none was made.
struct room_created_reply final : command {
  std::string code;   // empty when creation failed
  std::string error;  // the module's or the engine's error code (limit_reached, ...)
};

enum class input_kind : std::uint8_t {
  created,         // the room was just created or restored (engine arms its timers)
  command,         // a decoded message from `conn`
  disconnect,      // `conn`'s socket is gone
  timer,           // game timer `timer_key` expired
  inactive,        // no message for the configured inactivity limit
  admin_close,     // closed through the admin API
  presence,        // session games: `conn`'s session changed `stage` (engine/session.hpp)
  room_created,    // the answer to effects::create_room: `timer_key` = its request, `cmd` a
                   // room_created_reply
  record_written,  // the answer to effects::record: `cmd` a record_written_reply
};

// Timer keys the engine keeps for itself (inactivity, snapshot, durable-reply checks). A game's
// keys are below this; an effect that arms or cancels one of these fails the room.
inline constexpr std::uint64_t first_reserved_timer_key = ~std::uint64_t{0} - 15;

// What a game sees of one input. The engine's own envelope around it (the connection's sink, the
// admin API's durability callback) is room_input in engine/room.hpp: a game reaches connections
// only through its effects, so nothing it sends can pass the durability hold or the outbox.
struct input {
  input_kind kind = input_kind::command;
  connection_id conn = 0;
  command_ptr cmd;
  std::uint64_t timer_key = 0;
  // A fresh secret from a secure source, present on a connection's first message: a game that
  // hands out seat tokens takes them from here, so step() stays deterministic.
  std::string secret;
  // Present on a connection's first message when its upgrade carried an accepted token (or a
  // development-mode name): who the connection is. A session resume (RECONNECT) never reaches
  // the game, so it carries none. A pointer, so that the inputs every room queues stay small;
  // games that have no use for it ignore it.
  std::shared_ptr<const connection_identity> identity;
  // presence: away (detached past the grace), warned (past the warning), back (resumed after
  // `away`), degraded (reliable frames went unacknowledged). Removal is a `disconnect`.
  presence_stage stage = presence_stage::away;
};

// A client error, turned into a documented error frame by the game's encode_error().
struct protocol_error {
  std::string code;
  std::string message;
  explicit operator bool() const noexcept { return !code.empty(); }
};

struct decode_result {
  command_ptr cmd;
  protocol_error error;
  // For a connection's first message: the room it asks for.
  std::string room_code;
  // For a first message that creates its room (brainrot's CREATE_ROOM): io creates a room of this
  // game from `create_options` (module::create), then hands it `cmd` as the connection's first
  // input. `room_code` is ignored then.
  bool creates_room = false;
  boost::json::object create_options;
  // A message that leaves the connection's room (Mafia's room:leave): io pushes it to the room and
  // lets go of the room at once, so the client's next message may route elsewhere; the worker
  // drops the connection after the step (no disconnect). Ignored on a first message.
  bool leaves_room = false;
  // A message answered at the edge that names who the connection is (Mafia's auth:identify with
  // a verified guest token): io keeps it as the connection's identity, unless the upgrade's token
  // gave one, sends module::identified_frame of the identity kept and routes nothing.
  std::shared_ptr<const connection_identity> identity;
  // The message's type (an entry of the module's in_types()) once the envelope named a known one,
  // also when decoding failed after that; empty for bad JSON or an unknown type. io passes it to
  // encode_request_error for errors of later messages.
  std::string_view request_type;
};

// Counts a game reports for listings and metrics; read by the worker after each step.
struct room_summary {
  std::array<std::uint32_t, max_roles> connected_by_role{};
  std::uint32_t seats = 0;  // seats held, connected or not
};

class game {
 public:
  virtual ~game() = default;
  // `in.cmd` is this step's alone: a game may move payloads out of it (the worker drops the input
  // after the step), which spares a copy of large states.
  // A step that throws (a rule that finds its state impossible, allocation failure) fails only its
  // room: the worker's step guard drops the step's effects, closes the room with 1011, counts it
  // and keeps the room's last good snapshot aside (ARCHITECTURE.md, "Failures").
  virtual void step(const input& in, time_ms now, room_rng& rng, effects& out) = 0;
  // Self-describing bytes with a schema version; restore() of the module reads them back.
  virtual std::string snapshot() const = 0;
  virtual room_summary summary() const noexcept = 0;
  // Session games (game_module::sessions): what connection `conn` sees, for a resume
  // (RECONNECTED), a resync after a heartbeat's checksum mismatch (STATE_SNAPSHOT) and the
  // heartbeat's checksum, as of `now` (a view with a running clock, like Alias's remaining
  // round time). Never another viewer's private fields.
  virtual session_view view_of(connection_id conn, time_ms now) const {
    (void)conn;
    (void)now;
    return {};
  }
  // The state version a session game shows its clients (RECONNECTED, STATE_SNAPSHOT,
  // HEARTBEAT_ACK): a game that counts its own transitions (Alias's stateVersion) says it here;
  // 0 means the room's own version (every step that changed the room).
  virtual std::uint64_t state_version() const noexcept { return 0; }
  // The checksum of view_of(conn, now), for a heartbeat that matches: a game that can give it
  // without building the whole view overrides this (a heartbeat per session every 10 s adds up).
  virtual std::string checksum_of(connection_id conn) const { return view_of(conn, 0).checksum; }
  // Session games, after a restore: whether the seat of session `conn` still exists. Sessions of
  // seats a game did not keep (connection-scoped ones) end then, without a disconnect.
  virtual bool holds_session(connection_id conn) const {
    (void)conn;
    return true;
  }
};

struct create_result {
  std::unique_ptr<game> instance;
  boost::json::object reply;  // returned to the admin caller (relay: hostKey); never logged
  protocol_error error;
};

class game_module {
 public:
  virtual ~game_module() = default;

  virtual std::string_view name() const noexcept = 0;
  virtual std::string_view ws_path() const noexcept = 0;
  virtual std::size_t max_message_bytes() const noexcept = 0;
  virtual std::span<const std::string_view> role_names() const noexcept = 0;
  virtual std::span<const std::string_view> in_types() const noexcept = 0;
  virtual std::span<const std::string_view> out_types() const noexcept = 0;

  // io thread. Never throws; bad input becomes `error`.
  virtual decode_result decode(std::string_view text, bool first_message) const = 0;
  // io thread: the frame for an error found before the room (bad JSON, unknown room, rate limit).
  virtual std::string encode_error(std::string_view code, std::string_view message) const = 0;
  // io thread: the frame for a first message refused before it reached a room (room not found,
  // server busy). `room_code` is the code the client asked for (empty when it named none).
  // Games whose handshake has its own reply type, or whose errors echo the code, override this.
  virtual std::string encode_handshake_error(std::string_view code, std::string_view message,
                                             std::string_view room_code = {}) const {
    (void)room_code;
    return encode_error(code, message);
  }
  // io thread: the frame for an error of a later message (not the connection's first) whose type
  // was known (`request_type`: a field error found while decoding, a full inbox). Games whose
  // error frames name the request override this; by default it is encode_error.
  virtual std::string encode_request_error(std::string_view code, std::string_view message,
                                           std::string_view request_type) const {
    (void)request_type;
    return encode_error(code, message);
  }

  // Room codes of this game: length (0 = the server's --room-code-length) and alphabet.
  virtual std::size_t room_code_length() const noexcept { return 0; }
  virtual std::string_view room_code_alphabet() const noexcept {
    return partyd::room_code_alphabet;
  }

  // Whether a refused first message (unknown room, bad handshake) also closes the connection.
  // The relay closes (1008); a game whose clients retry on the same socket says false.
  virtual bool first_message_error_closes() const noexcept { return true; }

  // Whether an upgrade to this game needs a valid token (io/auth.hpp): without one it is refused
  // with 401 before any WebSocket exists. An operator can require it for any game as well
  // (--auth-required-games).
  virtual bool requires_auth() const noexcept { return false; }

  // Admin thread (or io thread for decode_result::creates_room): a new room from validated
  // options. Secrets come from engine/secrets.hpp or from the first input's `secret`.
  virtual create_result create(const boost::json::object& options, std::string_view code) const = 0;
  // Rebuilds a room from snapshot() bytes; nullptr when they cannot be decoded.
  virtual std::unique_ptr<game> restore(std::string_view bytes) const = 0;

  // io thread: the answer to a message that identified its connection (decode_result::identity).
  virtual std::string identified_frame(const connection_identity& identity) const {
    (void)identity;
    return {};
  }

  // Rooms of this game under a fixed code no client-made room can take (a matchmaker's queue):
  // opened by the first message that names the code (runtime::standing_room), then kept in the
  // store and restored like any room.
  struct standing_room {
    std::string code;
    boost::json::object options;  // for create()
  };
  virtual std::vector<standing_room> standing_rooms() const { return {}; }

  // Whether and how Socket.IO clients reach this game (docs/protocol/socketio.md).
  virtual socketio_shape socketio() const noexcept { return socketio_shape::none; }

  // The session layer for this game's connections (docs/protocol/sessions.md); nullptr: none.
  virtual const session_policy* sessions() const noexcept { return nullptr; }

  // Lifetime of a room's snapshot key, set on every write. Default: the inactivity limit,
  // refreshed by each write (a room idle that long would have closed anyway). A game whose rooms
  // live a fixed time from creation overrides this.
  virtual std::int64_t snapshot_ttl_s(time_ms created_at, time_ms now,
                                      time_ms inactivity_ms) const {
    (void)created_at;
    (void)now;
    return std::max<std::int64_t>(1, (inactivity_ms + 999) / 1000);
  }
};

}  // namespace partyd
