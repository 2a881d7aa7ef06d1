// Reliable sessions (docs/protocol/sessions.md): a seat's session outlives its connections. It
// numbers every frame sent to its viewer, keeps the recent ones in a ring for a resume, resends
// reliable frames until acknowledged, answers heartbeats and remembers the answers to the last
// commands that carried a clientMsgId.
//
// A session is known to the game by one connection id, its "logical" id: the id of the connection
// that opened it. Later connections that resume it are aliases of that id, so the game never sees
// a reconnect, only presence inputs (away, warned, back, degraded) and, at removal, a disconnect.
//
// Threads: a session_table belongs to its room and is touched only by the room's worker. Pure
// logic on an injected clock: unit-tested without a worker (tests/unit/engine/session_test.cpp).
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "engine/types.hpp"

namespace partyd {

// What a game module chooses for its sessions; the windows are the seed's defaults.
struct session_policy {
  // The protocol version the server speaks, "MAJOR.MINOR". A client's version is compatible when
  // its major is this one or one of the `supported_majors - 1` before it (minor versions are
  // backward compatible); otherwise the first message is answered UPGRADE_REQUIRED and closed.
  std::string_view protocol_version = "1.0";
  int supported_majors = 2;
  // Sessions for every connection the game binds (true), or only for connections whose first
  // message carried `version` (false: the relay, whose clients predate sessions).
  bool always = true;
  // Roles that get the host's windows (backfill and resume).
  role_mask host_roles = 0;
  // Roles whose connections get sessions (a game may keep its own reconnect for a role).
  role_mask session_roles = 0xff;
  time_ms backfill_ms = 5'000;        // a resume this soon after the drop gets missedEvents
  time_ms host_backfill_ms = 30'000;  // the host's: it must see every missed word
  time_ms resume_ms = 30'000;         // later than this: SESSION_EXPIRED
  time_ms host_resume_ms = 60'000;
  time_ms away_ms = 5'000;      // presence: the game hears `away` after this long detached
  time_ms warning_ms = 15'000;  // `warned` (the others get a warning)
  time_ms removal_ms = 60'000;  // the session ends: the game gets `disconnect`
  time_ms ack_timeout_ms = 2'000;
  int ack_retries = 2;  // resends before the session is degraded
  time_ms heartbeat_interval_ms = 10'000;
  time_ms dead_after_ms = 20'000;  // no message this long: the connection is closed
  std::size_t ring_frames = 256;   // frames kept for a backfill, and at most these bytes
  std::size_t ring_bytes = 256 * 1024;
  std::size_t answer_window = 16;         // clientMsgIds remembered per session
  std::size_t answer_max_bytes = 16'384;  // larger answers are remembered as "applied" only
};

// What the worker asks a game for a resume or a resync (game::view_of).
struct session_view {
  std::string phase;       // the game's state name ("ROUND_ACTIVE"); may be empty
  std::string state_json;  // the viewer's full state, a JSON object
  std::string checksum;    // the documented checksum of its critical fields
};

// A decoded session message, or the session fields of a game command (io fills it).
struct session_request {
  enum class kind : std::uint8_t { none, reconnect, ack, heartbeat };
  kind what = kind::none;
  std::string version;        // first message: the client's protocol version ("" when absent)
  std::string client_msg_id;  // a game command's idempotency key ("" when absent)
  // reconnect
  std::string session_id;
  std::string resume_token;
  std::uint64_t last_seq = 0;
  // ack
  std::string ack_id;
  // heartbeat
  std::uint64_t state_version = 0;
  std::string state_checksum;
};

enum class presence_stage : std::uint8_t { away = 1, warned = 2, back = 3, degraded = 4 };

struct ring_entry {
  std::uint64_t seq = 0;
  frame_ptr frame;
  time_ms sent_at = 0;
  bool reliable = false;
};

struct session {
  std::string id;          // public: "sess_" + 24 hex digits
  std::string token_hash;  // sha256_tagged of the resume token, never the token
  connection_id logical = 0;
  connection_id attached = 0;  // the connection it is on now; 0 while detached
  role_id role = 0;
  std::string client_version;
  std::uint64_t next_seq = 1;
  time_ms detached_at = 0;  // valid while attached == 0
  int presence_told = 0;    // 0 nothing yet, 1 `away` told, 2 `warned` told
  time_ms last_heard = 0;
  bool degraded = false;
  std::deque<ring_entry> ring;
  std::size_t ring_bytes = 0;
  bool ring_complete = true;  // false after a restore: frames before it are gone
  struct pending_ack {
    std::uint64_t seq = 0;
    time_ms due = 0;
    int attempts = 1;
  };
  std::deque<pending_ack> unacked;  // ascending seq
  struct answer {
    std::string client_msg_id;
    std::vector<std::string> frames;  // what the command sent to its actor
    bool complete = true;             // false: too large to remember, only "applied"
  };
  std::deque<answer> answers;
};

// The outcome of a session upkeep pass or a message, for the worker to carry out.
struct session_action {
  enum class kind : std::uint8_t {
    deliver,   // `frame` to connection `conn` (numbered `seq`, reliable `reliable`; seq 0: not)
    presence,  // tell the game: `stage` for logical `logical`
    remove,    // the session ended: the game gets disconnect for `logical`
    close,     // close connection `conn` with `close_code` / `reason`
  };
  kind what = kind::deliver;
  connection_id conn = 0;
  connection_id logical = 0;
  frame_ptr frame;
  std::uint64_t seq = 0;
  bool reliable = false;
  presence_stage stage = presence_stage::away;
  std::uint16_t close_code = 0;
  std::string reason;
};

// Whether `client` may talk to a server at `server` (both "MAJOR.MINOR"), per the policy.
bool version_compatible(std::string_view client, std::string_view server, int supported_majors);

// The members written in front of a numbered frame's own (after its `{`): `"sequenceId":N`, and
// `"requiresAck":true,"ackId":"ack_N"` for a reliable one. io splices them into a live frame as it
// writes it, so a broadcast is serialized once for all its recipients.
void append_session_members(std::string& out, std::uint64_t seq, bool reliable);
// A ring entry as its recipient got it: the frame with its members spliced in.
std::string session_frame_text(const ring_entry& entry);
// The seed's server envelope {type, roomId, timestamp, version, broadcast: "actor", payload}
// around `payload_json` (already JSON text): every frame of the session layer itself.
std::string session_envelope(std::string_view type, std::string_view room_code, time_ms now,
                             std::string_view version, std::string_view payload_json);
// RECONNECT_FAILED with `reason` (SESSION_NOT_FOUND, SESSION_EXPIRED, ROOM_NOT_FOUND).
frame_ptr reconnect_failed_frame(std::string_view room_code, std::string_view version,
                                 std::string_view reason, std::string_view phase, time_ms now);

class session_table {
 public:
  session_table(const session_policy& policy, std::string room_code, std::string epoch);

  const session_policy& policy() const noexcept { return policy_; }
  const std::string& epoch() const noexcept { return epoch_; }
  std::size_t size() const noexcept { return by_logical_.size(); }
  std::vector<connection_id> logical_ids() const;

  // A new session for connection `conn` (its logical id), bound in `role`. The resume token and
  // the session id derive from the connection's fresh secret. Returns the CONNECTED frame.
  frame_ptr open(connection_id conn, role_id role, std::string_view secret,
                 std::string_view client_version, time_ms now);
  session* find_logical(connection_id logical);
  // The logical id a connection speaks for (itself when it is no alias).
  connection_id logical_of(connection_id conn) const;
  bool is_alias(connection_id conn) const { return aliases_.count(conn) != 0; }

  // Numbers a frame for the session and keeps it in the ring; returns its sequence number.
  std::uint64_t number(session& s, const frame_ptr& frame, bool reliable, time_ms now);

  // The session's connection dropped (`conn` is the physical id). False if `conn` is not the
  // connection it is on now (an older connection of a resumed session).
  bool detach(connection_id conn, time_ms now);

  // RECONNECT as the first message of connection `conn`, for a session lookup() found with its
  // token. Fills `actions`, in order: the close of an older connection, the reply (seq 0, to
  // `conn`), then presence back or, when expired, the removal. `view`: the game's, for the seat.
  struct resume_lookup {
    session* target = nullptr;
    bool token_ok = false;
  };
  resume_lookup lookup(const session_request& request);
  struct resume_outcome {
    connection_id logical = 0;  // 0: refused (expired); the session is gone
    bool backfilled = false;    // missedEvents held every frame after the client's last
  };
  resume_outcome resume(session& s, connection_id conn, const session_request& request,
                        const session_view& view, std::uint64_t state_version, time_ms now,
                        std::vector<session_action>& actions);
  frame_ptr reconnect_failed(std::string_view reason, std::string_view phase, time_ms now) const {
    return reconnect_failed_frame(room_code_, policy_.protocol_version, reason, phase, now);
  }
  // Ends a session at once (expired resume, close by the game). The caller tells the game.
  void end(connection_id logical);

  void ack(session& s, std::string_view ack_id);
  // HEARTBEAT: HEARTBEAT_ACK when the checksum matches, else a STATE_SNAPSHOT.
  frame_ptr heartbeat(session& s, const session_request& request, const session_view& view,
                      std::uint64_t state_version, time_ms now);
  void heard(session& s, time_ms now) { s.last_heard = now; }

  // clientMsgId: the remembered answer, if any.
  const session::answer* answered(const session& s, std::string_view client_msg_id) const;
  void remember(session& s, std::string client_msg_id, std::vector<std::string> frames);
  frame_ptr duplicate_frame(std::string_view client_msg_id, time_ms now) const;

  // Due work (resends, presence stages, removals, dead connections) up to `now`.
  void upkeep(time_ms now, std::vector<session_action>& actions);
  // The earliest deadline of any session; nullopt when nothing is pending. Worked out again only
  // after a change that can bring a deadline closer: a heard heartbeat or an ACK moves deadlines
  // later, and a timer that fires early just runs an upkeep that finds nothing due.
  std::optional<time_ms> next_deadline() const;

  // Persisted form (without rings and pending ACKs): a JSON array. restore() marks every session
  // detached at `now` with an incomplete ring.
  std::string encode() const;
  bool restore(std::string_view text, time_ms now);

  // Degraded sessions since the start, for the metric.
  std::uint64_t degraded_total() const noexcept { return degraded_total_; }

 private:
  bool host(const session& s) const noexcept;
  time_ms backfill_window(const session& s) const noexcept;
  time_ms resume_window(const session& s) const noexcept;
  void trim_ring(session& s, time_ms now);
  std::string envelope(std::string_view type, time_ms now, std::string_view payload_json) const {
    return session_envelope(type, room_code_, now, policy_.protocol_version, payload_json);
  }

  session_policy policy_;
  std::string room_code_;
  std::string epoch_;
  std::map<connection_id, session> by_logical_;  // ordered: upkeep is deterministic
  std::unordered_map<std::string, connection_id> by_id_;
  std::unordered_map<connection_id, connection_id> aliases_;  // physical -> logical
  std::uint64_t degraded_total_ = 0;
  mutable std::optional<time_ms> next_deadline_;  // next_deadline()'s answer while it holds
  mutable bool deadline_known_ = false;
};

}  // namespace partyd
