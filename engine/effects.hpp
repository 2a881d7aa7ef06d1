// The output of one game step: an ordered list of effects that the worker applies.
// Thread: owned by one worker; the game fills it, the worker applies and clears it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "engine/types.hpp"

namespace partyd {

enum class effect_kind : std::uint8_t {
  send,              // frame to one connection
  send_roles,        // frame to every bound connection whose role is in `roles`, except `except`
  bind,              // connection accepted in `role`
  close_connection,  // close `conn` with `close_code` / `text`
  set_timer,         // (re)arm game timer `timer_key` at absolute `deadline`
  cancel_timer,      // disarm game timer `timer_key`
  close_room,        // close every connection and remove the room; `text` is the reason
  count,             // increment the game counter named `text` (e.g. a dropped queued message)
  important,         // this step made a transition worth persisting at once (phase, scores, seats)
  persist,           // write this step's snapshot at once, without holding its replies
  log,               // a structured log line `text` with `fields` (the worker adds room and game)
  release,           // let `conn` go without closing it; `text`: its next first message, if any
  create_room,       // create a room of this game from `fields`; answered by input room_created
  record,            // a record `fields` for the database, key `text`; answered by record_written
};

struct effect {
  effect_kind kind = effect_kind::send;
  connection_id conn = 0;
  connection_id except = 0;
  role_mask roles = 0;
  role_id role = 0;
  bool rate_limited = true;
  std::uint16_t type = 0;  // index into the game's out_types(), for metrics
  std::uint16_t close_code = 0;
  frame_ptr frame;
  std::uint64_t timer_key = 0;
  time_ms deadline = 0;
  std::string text;  // close reason, error code (for send), counter name, room close reason, event
  boost::json::object fields;  // log only; never secrets
  bool warn = false;           // log only: warn level instead of info
  bool reliable = false;       // send, send_roles: session recipients must acknowledge it
};

class effects {
 public:
  void send(connection_id conn, std::uint16_t type, frame_ptr frame);
  // Like send, and counts the error `code` in partyd_errors_total.
  void send_error(connection_id conn, std::uint16_t type, std::string code, frame_ptr frame);
  void send_roles(role_mask roles, std::uint16_t type, frame_ptr frame, connection_id except = 0);
  // Reliable frames (seed 004, 2.5): a session recipient gets them with requiresAck and an ackId
  // and they are resent until acknowledged. To a connection without a session, a plain send.
  void send_reliable(connection_id conn, std::uint16_t type, frame_ptr frame);
  void send_roles_reliable(role_mask roles, std::uint16_t type, frame_ptr frame,
                           connection_id except = 0);
  void bind(connection_id conn, role_id role, bool rate_limited);
  void close_connection(connection_id conn, std::uint16_t code, std::string reason);
  void set_timer(std::uint64_t timer_key, time_ms deadline);
  void cancel_timer(std::uint64_t timer_key);
  void close_room(std::string reason);
  void count(std::string counter_name);
  void important();
  // Like important(), the snapshot of this step is written at once, but the step's frames go out
  // without waiting for the store: for a transition a client should not wait a disk sync for
  // (a quiz answer, a timer's close) and whose loss in a crash costs at most that write's time.
  void persist();
  // Writes the structured log line `event` with `fields` plus the room's code and game (e.g.
  // auth_failed, at warn). Games never put secrets in `fields`.
  void log(std::string event, boost::json::object fields, bool warn = false);
  // The room lets `conn` go and keeps the socket open: it can join another room. A non-empty
  // `next_message` is handled as the connection's next first message, as if its client had sent
  // it (a matchmaker moving a player into the room it made). The session, if any, ends quietly.
  void release(connection_id conn, std::string next_message = {});
  // Asks the engine for a new room of this game, built by the module's create() from `options`.
  // The answer comes back to this room as an input of kind room_created with `timer_key` =
  // `request` and a room_created_reply command (the code, or why there is none).
  void create_room(std::uint64_t request, boost::json::object options);
  // Hands `record` (keyed `key`) to the server's record sink (engine/record_sink.hpp). The answer
  // comes back as an input of kind record_written with a record_written_reply: written (the room
  // may forget it), or refused for now (offer it again later). Without a sink, it is answered as
  // written at once: nothing keeps records.
  void record(std::string key, boost::json::object record);
  // This step changed nothing that a snapshot holds (a refused command, a no-op, a heartbeat):
  // the state version stays, so the room is not written again. Without it, a step that took a
  // client command or produced any effect counts as a change.
  void unchanged() noexcept { unchanged_ = true; }
  bool marked_unchanged() const noexcept { return unchanged_; }

  const std::vector<effect>& list() const noexcept { return list_; }
  bool empty() const noexcept { return list_.empty(); }
  void clear() noexcept {
    list_.clear();
    unchanged_ = false;
  }

 private:
  std::vector<effect> list_;
  bool unchanged_ = false;
};

}  // namespace partyd
