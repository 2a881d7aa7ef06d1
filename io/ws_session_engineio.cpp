// ws_session's Socket.IO side (docs/protocol/socketio.md): Engine.IO transports (WebSocket,
// HTTP long-polling and the upgrade between them), the Socket.IO packets, and the mapping of
// events onto the game's JSON messages. A Socket.IO client is the same connection_sink to its
// room as a JSON client: its messages go through handle_message, its frames through the outbox;
// only the bytes on the wire differ.
#include <chrono>

#include <boost/json.hpp>

#include "engine/log.hpp"
#include "engine/secrets.hpp"
#include "engine/session.hpp"
#include "io/ws_session_engineio.hpp"

namespace partyd {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// How long a polling session's closing packets wait for the client's next GET.
constexpr std::int64_t kPollingCloseMs = 2000;

std::int64_t unix_seconds() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

std::uint64_t parse_offset(std::string_view text) {
  std::uint64_t value = 0;
  if (text.empty() || text.size() > 15) return 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return 0;
    value = value * 10 + static_cast<std::uint64_t>(c - '0');
  }
  return value;
}

std::string_view frame_type(std::string_view frame) {
  constexpr std::string_view kTypeFirst = "{\"type\":\"";
  if (!frame.starts_with(kTypeFirst)) return {};
  const std::size_t end = frame.find('"', kTypeFirst.size());
  return end == std::string_view::npos ? std::string_view()
                                       : frame.substr(kTypeFirst.size(), end - kTypeFirst.size());
}

}  // namespace

const std::string& ws_session::sid() const { return eio_->sid; }

void ws_session::start_socketio(std::string_view upgrade_response, std::string_view early_bytes) {
  eio_ = std::make_unique<engineio>();
  eio_->sid = random_token(15);
  eio_->socket_id = random_token(15);
  eio_->shape = module_.socketio();
  eio_->next_ping_ms = steady_ms() + ctx_.config.socketio_ping_interval_ms;
  reader_.set_max_message_bytes(ctx_.config.socketio_max_payload_bytes);
  ctx_.engineio.add(eio_->sid, {weak_from_this(), &thread_});
  ctx_.io.socketio_open.add(1);
  ctx_.io.socketio_opened_websocket.inc();
  start(upgrade_response, early_bytes);
}

std::string ws_session::start_polling(const net::ip::address& peer) {
  eio_ = std::make_unique<engineio>();
  eio_->sid = random_token(15);
  eio_->socket_id = random_token(15);
  eio_->shape = module_.socketio();
  eio_->polling = true;
  eio_->keep_alive = shared_from_this();
  opened_ms_ = last_read_ms_ = unrouted_since_ms_ = steady_ms();
  eio_->next_ping_ms = opened_ms_ + ctx_.config.socketio_ping_interval_ms;
  address_ = address_key::of(peer);
  reader_.set_max_message_bytes(ctx_.config.socketio_max_payload_bytes);
  thread_.sessions[id_] = weak_from_this();
  ctx_.engineio.add(eio_->sid, {weak_from_this(), &thread_});
  ctx_.io.ws_accepted.inc();
  ctx_.io.ws_open.add(1);
  ctx_.io.socketio_open.add(1);
  ctx_.io.socketio_opened_polling.inc();
  boost::json::object connected{{"conn", id_},
                                {"game", module_.name()},
                                {"remote", peer.to_string()},
                                {"transport", "polling"}};
  if (identity_) {
    connected["user"] = identity_->user_id;
  }
  log::info("client_connected", std::move(connected));
  return sio::open_packet(eio_->sid, true, ctx_.config.socketio_ping_interval_ms,
                          ctx_.config.socketio_ping_timeout_ms,
                          ctx_.config.socketio_max_payload_bytes);
}

// ---- polling requests (the session's io thread) ----

bool ws_session::refuse_poll(bool gone, const poll_responder& respond) {
  if (gone) {
    ctx_.io.socketio_error("unknown_sid").inc();
    respond(400, sio::http_error_body(sio::http_error::unknown_sid));
    return true;
  }
  if (!eio_->polling) {
    ctx_.io.socketio_error("poll_after_upgrade").inc();
    respond(400, sio::http_error_body(sio::http_error::bad_request, "upgraded"));
    return true;
  }
  return false;
}

void ws_session::poll_get(poll_responder respond) {
  ctx_.io.socketio_poll_gets.inc();
  // A closing session still hands its last packets (the DISCONNECT, the close) to a GET.
  if (refuse_poll(finished_, respond)) {
    return;
  }
  if (eio_->held_get) {
    // Engine.IO: a second GET while one is pending is a protocol violation; the session ends.
    ctx_.io.socketio_error("concurrent_get").inc();
    respond(400, sio::http_error_body(sio::http_error::bad_request, "concurrent_get"));
    send_close(ws::close_policy, "concurrent_get");
    return;
  }
  last_read_ms_ = steady_ms();
  if (eio_->probe_answered && eio_->poll_out.empty() && !eio_->close_packet_pending) {
    // The client pauses polling for its upgrade: its last GET must not wait for packets.
    respond(200, std::string(1, sio::eio_noop));
    return;
  }
  eio_->held_get = std::move(respond);
  eio_->held_since_ms = last_read_ms_;
  answer_held_get();
}

void ws_session::poll_post(std::string body, poll_responder respond) {
  ctx_.io.socketio_poll_posts.inc();
  if (refuse_poll(finished_ || eio_->closing, respond)) {
    return;
  }
  last_read_ms_ = steady_ms();
  const auto self = shared_from_this();  // a packet may end the session
  std::string_view rest = body;
  while (!finished_) {
    const std::size_t end = rest.find(sio::record_separator);
    const std::string_view packet = rest.substr(0, end);
    if (paused_) {
      eio_->pending_in.emplace_back(packet);  // behind a first message that waits its delay
    } else {
      on_engineio_packet(packet);
    }
    if (end == std::string_view::npos) break;
    rest.remove_prefix(end + 1);
  }
  respond(200, "ok");
}

void ws_session::answer_held_get() {
  if (!eio_->held_get) {
    return;
  }
  if (eio_->poll_out.empty()) {
    if (eio_->close_packet_pending) {
      respond_held(std::string(1, sio::eio_close));
      finish();
    }
    return;
  }
  std::string body;
  body.swap(eio_->poll_out);
  release_unsent(body.size());
  respond_held(std::move(body));
}

void ws_session::respond_held(std::string body) {
  poll_responder respond = std::move(eio_->held_get);
  eio_->held_get = nullptr;
  respond(200, std::move(body));
}

void ws_session::release_unsent(std::size_t bytes) {
  if (bytes == 0) {
    return;
  }
  {
    std::lock_guard lock(outbox_mutex_);
    outbox_bytes_ -= std::min(outbox_bytes_, bytes);
  }
  note_waiting(-static_cast<std::int64_t>(bytes));
}

// ---- the upgrade ----

void ws_session::attach_probe(tcp::socket socket, socket_slot slot, std::string upgrade_response,
                              std::string early_bytes) {
  if (finished_ || !eio_->polling || eio_->probing || eio_->closing) {
    ctx_.io.socketio_error("bad_upgrade").inc();
    const std::string body = sio::http_error_body(sio::http_error::bad_request, "bad_upgrade");
    const std::string answer =
        "HTTP/1.1 400 Bad Request\r\nServer: partyd\r\nContent-Type: "
        "application/json\r\nConnection: close\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body;
    error_code ec;
    socket.non_blocking(true, ec);
    socket.write_some(net::buffer(answer), ec);  // best effort: the socket is new and empty
    socket.close(ec);
    return;
  }
  socket_ = std::move(socket);
  slot_ = std::move(slot);
  ++socket_epoch_;
  error_code ec;
  socket_.non_blocking(true, ec);
  eio_->probing = true;
  std::string& out = thread_.write_buffer;
  out.assign(upgrade_response);
  write_out(out);
  if (finished_ || !eio_->probing) {
    return;
  }
  if (!early_bytes.empty()) {
    consume(early_bytes.data(), early_bytes.size());
    if (finished_ || !eio_->probing) {
      return;
    }
  }
  wait_readable();
}

void ws_session::drop_probe() {
  ++socket_epoch_;  // completions of the probe's reads and writes are stale now
  error_code ignored;
  socket_.close(ignored);
  slot_.release();
  eio_->probing = false;
  eio_->probe_answered = false;
  reader_ = ws::frame_reader(ctx_.config.socketio_max_payload_bytes, /*expect_masked=*/true);
  partial_.clear();
  release_unsent(in_flight_.size() + unsent_.size());
  std::string().swap(in_flight_);
  std::string().swap(unsent_);
  waiting_writable_ = false;
}

void ws_session::on_socket_error() {
  if (eio_ && eio_->probing && !finished_) {
    drop_probe();  // the polling transport carries on
    return;
  }
  finish();
}

// ---- Engine.IO packets ----

void ws_session::on_engineio_packet(std::string_view packet) {
  if (packet.empty() || finished_) {
    return;
  }
  switch (packet[0]) {
    case sio::eio_ping:
      if (eio_->probing && packet == "2probe") {
        std::string frame;
        ws::append_frame(frame, ws::opcode::text, "3probe");
        write_frames({}, frame);  // on the probing WebSocket; packets still go by polling
        eio_->probe_answered = true;
        // The client pauses polling before its upgrade: let the GET it waits on complete.
        if (eio_->held_get && eio_->poll_out.empty()) {
          respond_held(std::string(1, sio::eio_noop));
        }
        return;
      }
      send_engineio(std::string("3").append(packet.substr(1)));
      return;
    case sio::eio_pong:
      eio_->ping_sent_ms = 0;
      if (in_session_.load(std::memory_order_acquire) && room_ && !first_message_) {
        // Engine.IO's heartbeat keeps the seat's session alive (its dead-connection timeout
        // counts client messages): an ACK that names nothing.
        room_input in;
        in.in.kind = input_kind::command;
        in.in.conn = id_;
        in.session.what = session_request::kind::ack;
        push_to_room(std::move(in), true);
      }
      return;
    case sio::eio_close:
      note_end(ws::close_normal, "client_closed");
      finish();
      return;
    case sio::eio_message:
      on_socketio_packet(packet.substr(1));
      return;
    case sio::eio_upgrade: {
      if (!eio_->probing) {
        return;
      }
      eio_->probing = false;
      eio_->probe_answered = false;
      eio_->polling = false;
      ctx_.io.socketio_upgrades.inc();
      std::string waiting;
      waiting.swap(eio_->poll_out);
      release_unsent(waiting.size());
      if (eio_->held_get) {
        respond_held(std::string(1, sio::eio_noop));
      }
      // What waited for a GET goes first, in order, on the WebSocket.
      std::string frames;
      std::string_view rest = waiting;
      while (!rest.empty()) {
        const std::size_t end = rest.find(sio::record_separator);
        ws::append_frame(frames, ws::opcode::text, rest.substr(0, end));
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
      }
      if (!frames.empty()) {
        write_frames({}, frames);
      }
      return;
    }
    case sio::eio_noop:
      return;
    case 'b':  // a binary packet, base64 over polling
      ctx_.io.socketio_error("binary").inc();
      reply_error("binary_not_supported", "binary packets are not supported: send JSON events",
                  false);
      return;
    default:
      ctx_.io.socketio_error("bad_packet").inc();
      ctx_.io.protocol_errors.inc();
      log::info("socketio_protocol_error", {{"conn", id_}, {"game", module_.name()}});
      note_end(ws::close_protocol_error, "bad_packet");
      finish();
      return;
  }
}

void ws_session::on_socketio_packet(std::string_view text) {
  const sio::packet packet = sio::parse_packet(text);
  switch (packet.what) {
    case sio::packet::kind::connect:
      on_socketio_connect(packet);
      return;
    case sio::packet::kind::disconnect:
      if (packet.nsp == "/") {
        note_end(ws::close_normal, "client_disconnected");
        finish();
      }
      return;
    case sio::packet::kind::event:
      on_socketio_event(packet);
      return;
    case sio::packet::kind::ack:
      return;  // the server asks for no acks
    case sio::packet::kind::binary_event:
    case sio::packet::kind::binary_ack:
      ctx_.io.socketio_error("binary").inc();
      reply_error("binary_not_supported", "binary events are not supported: send JSON events",
                  false);
      return;
    default:
      ctx_.io.socketio_error("bad_packet").inc();
      reply_error("bad_request", "not a Socket.IO packet", false);
      return;
  }
}

void ws_session::on_socketio_connect(const sio::packet& packet) {
  if (packet.nsp != "/") {
    ctx_.io.socketio_error("invalid_namespace").inc();
    std::string answer = "44";
    answer += packet.nsp;
    answer += ',';
    answer += sio::connect_error_packet("Invalid namespace").substr(2);
    send_engineio(answer);
    return;
  }
  if (eio_->connected) {
    return;
  }
  const std::string_view auth = packet.data;
  const std::string_view token = sio::string_member(auth, "token");
  if (!token.empty() && !identity_from_upgrade_) {
    auth_outcome outcome = ctx_.auth.verify(token, unix_seconds());
    if (!outcome || !outcome.identity) {
      ctx_.io.socketio_error("unauthorized").inc();
      send_engineio(sio::connect_error_packet("unauthorized", auth_refusal_code(outcome.refusal)));
      return;
    }
    identity_ = std::make_shared<const connection_identity>(std::move(*outcome.identity));
    identity_from_upgrade_ = true;
  }
  if (!identity_ && ctx_.auth.required_for(module_.name(), module_.requires_auth())) {
    ctx_.io.socketio_error("unauthorized").inc();
    send_engineio(sio::connect_error_packet("unauthorized", "missing_token"));
    return;
  }
  eio_->connected = true;
  if (module_.sessions()) {
    const std::string_view pid = sio::string_member(auth, "pid");
    if (!pid.empty() && first_message_) {
      if (auto credentials = ctx_.engineio.lookup(std::string(pid), steady_ms())) {
        // socket.io-client's recovery: resume the seat through the session layer; the CONNECT
        // answer waits for its outcome (append_engineio_frames).
        eio_->pid = pid;
        eio_->awaiting_recovery = true;
        ctx_.engineio.remember(eio_->pid, *credentials);
        eio_->pid_registered = true;
        const std::string reconnect = boost::json::serialize(boost::json::object{
            {"type", "RECONNECT"},
            {"roomId", credentials->room_code},
            {"payload",
             {{"sessionId", credentials->session_id},
              {"resumeToken", credentials->resume_token},
              {"lastSeqId", parse_offset(sio::string_member(auth, "offset"))}}}});
        handle_message(reconnect);
        return;
      }
    }
    eio_->pid = random_token(16);
  }
  send_engineio(sio::connect_packet(eio_->socket_id, eio_->pid));
}

void ws_session::on_socketio_event(const sio::packet& packet) {
  ack_id_ = packet.ack_id;
  if (!eio_->connected || packet.nsp != "/") {
    ctx_.io.socketio_error("not_connected").inc();
    reply_error("bad_request", "connect to the namespace \"/\" first", false);
    ack_id_ = -1;
    return;
  }
  std::string message;
  std::string type;
  sio::event_error error;
  if (!sio::event_to_message(packet.data, eio_->shape, message, type, error)) {
    reply_error(error.code, error.message, first_message_, {}, type);
    ack_id_ = -1;
    return;
  }
  if (message.size() > module_.max_message_bytes()) {
    ctx_.io.too_large.inc();
    log::info("message_too_large", {{"conn", id_}, {"game", module_.name()}});
    ack_id_ = -1;
    request_close(ws::close_too_big, "message_too_big");
    return;
  }
  handle_message(message);
  ack_id_ = -1;
}

void ws_session::answer_ack(bool ok, std::string_view code, std::string_view message) {
  if (ack_id_ < 0 || !eio_) {
    return;
  }
  const std::int64_t id = ack_id_;
  ack_id_ = -1;
  if (ok) {
    send_engineio(sio::ack_packet(id, "{\"ok\":true}"));
    return;
  }
  send_engineio(sio::ack_packet(id, boost::json::serialize(boost::json::object{
                                        {"ok", false}, {"error", code}, {"message", message}})));
}

// ---- writing ----

void ws_session::send_engineio(std::string_view packet) {
  if (finished_ || close_sent_) {
    return;
  }
  if (eio_->polling) {
    const std::size_t before = eio_->poll_out.size();
    append_engineio_packet(eio_->poll_out, packet);
    if (!queue_unsent(eio_->poll_out.size() - before)) {
      return;  // dropped as a slow consumer
    }
    answer_held_get();
    return;
  }
  std::string frame;
  ws::append_frame(frame, ws::opcode::text, packet);
  write_frames({}, frame);
}

void ws_session::append_engineio_packet(std::string& out, std::string_view packet) {
  if (eio_->polling) {
    if (!out.empty()) out += sio::record_separator;
    out += packet;
    return;
  }
  ws::append_frame(out, ws::opcode::text, packet);
}

void ws_session::append_engineio_frames(std::string& out,
                                        const std::vector<outbound_frame>& frames) {
  std::string& packet = thread_.socketio_packet;
  for (const auto& queued : frames) {
    const std::string& frame = *queued.frame;
    std::string_view members;
    std::string offset;
    if (queued.seq != 0) {
      numbered_.clear();
      append_session_members(numbered_, queued.seq, queued.reliable);
      members = numbered_;
      if (!eio_->pid.empty()) offset = std::to_string(queued.seq);
    }
    if (!eio_->pid.empty() && (queued.seq == 0 || eio_->awaiting_recovery)) {
      // The session layer's own frames: the Socket.IO edge reads two of them.
      const std::string_view type = frame_type(frame);
      const std::string_view payload =
          type.empty() ? std::string_view() : sio::raw_member(frame, "payload");
      if (type == "CONNECTED" && queued.seq == 0) {
        session_credentials credentials{std::string(sio::string_member(frame, "roomId")),
                                        std::string(sio::string_member(payload, "sessionId")),
                                        std::string(sio::string_member(payload, "resumeToken"))};
        if (!credentials.session_id.empty() && !credentials.resume_token.empty()) {
          ctx_.engineio.remember(eio_->pid, std::move(credentials));
          eio_->pid_registered = true;
        }
      }
      if (eio_->awaiting_recovery && !type.empty()) {
        eio_->awaiting_recovery = false;
        const bool recovered =
            type == "RECONNECTED" && sio::raw_member(payload, "recovered") == "true";
        if (!recovered) {
          // Not the frames the client missed: a new pid says so (socket.recovered is false).
          const auto kept = ctx_.engineio.lookup(eio_->pid, steady_ms());
          ctx_.engineio.forget(eio_->pid);
          eio_->pid = random_token(16);
          eio_->pid_registered = false;
          if (kept && type == "RECONNECTED") {
            ctx_.engineio.remember(eio_->pid, *kept);
            eio_->pid_registered = true;
          }
        }
        append_engineio_packet(out, sio::connect_packet(eio_->socket_id, eio_->pid));
        if (recovered) {
          for (const std::string_view missed :
               sio::array_elements(sio::raw_member(payload, "missedEvents"))) {
            packet.clear();
            const std::string missed_offset(sio::raw_member(missed, "sequenceId"));
            if (sio::append_event(packet, missed, eio_->shape, {}, missed_offset)) {
              append_engineio_packet(out, packet);
            }
          }
          // They came as events: RECONNECTED itself goes without them.
          const std::size_t at = static_cast<std::size_t>(payload.data() - frame.data());
          std::string trimmed(frame, 0, at);
          trimmed += sio::without_member(payload, "missedEvents");
          trimmed.append(frame, at + payload.size());
          packet.clear();
          if (sio::append_event(packet, trimmed, eio_->shape, {}, {})) {
            append_engineio_packet(out, packet);
          }
          continue;
        }
      }
    }
    packet.clear();
    if (sio::append_event(packet, frame, eio_->shape, members, offset)) {
      append_engineio_packet(out, packet);
    }
  }
}

bool ws_session::close_engineio(std::uint16_t code, std::string_view reason) {
  // A close of the server's (a refused first message, a closed room, a resumed session) leaves
  // the namespace: socket.io-client then does not reconnect on its own. A shutdown or a dead
  // connection (1001) only ends the transport, and the client comes back.
  const bool leave_namespace = eio_->connected && !close_received_ && code != ws::close_going_away;
  if (!eio_->polling) {
    if (leave_namespace) send_engineio("41");
    return true;  // the WebSocket's close frame follows
  }
  // Polling: the DISCONNECT and the close go to the next GET together; the session ends once
  // they are taken, or after kPollingCloseMs.
  note_end(code == 0 ? ws::close_no_status : code, reason);
  eio_->closing = true;
  close_sent_ = true;
  close_received_ = true;
  close_deadline_ms_ = steady_ms() + kPollingCloseMs;
  // The close packet goes alone, in a GET after the one that took the DISCONNECT:
  // socket.io-client handles a DISCONNECT a tick later than a close in the same payload, and
  // would take the close for a lost transport (and reconnect).
  eio_->close_packet_pending = true;
  if (leave_namespace) {
    const std::size_t before = eio_->poll_out.size();
    append_engineio_packet(eio_->poll_out, "41");
    if (!queue_unsent(eio_->poll_out.size() - before)) {
      return false;
    }
  }
  answer_held_get();
  return false;
}

void ws_session::sweep_engineio(std::int64_t now_ms) {
  if (eio_->ping_sent_ms != 0 &&
      now_ms - eio_->ping_sent_ms >= ctx_.config.socketio_ping_timeout_ms) {
    ctx_.io.socketio_ping_timeouts.inc();
    log::info("ping_timeout", {{"conn", id_}, {"game", module_.name()}});
    note_end(ws::close_going_away, "ping_timeout");
    finish();
    return;
  }
  if (eio_->ping_sent_ms == 0 && now_ms >= eio_->next_ping_ms) {
    eio_->ping_sent_ms = now_ms;
    eio_->next_ping_ms = now_ms + ctx_.config.socketio_ping_interval_ms;
    send_engineio("2");
  }
  if (eio_->polling && eio_->held_get &&
      now_ms - eio_->held_since_ms >= ctx_.config.socketio_ping_interval_ms + 1000) {
    // Pings answer a held GET in time; this bounds it should they not.
    ctx_.io.socketio_polls_held_to_limit.inc();
    respond_held(std::string(1, sio::eio_noop));
  }
}

void ws_session::finish_engineio() {
  ctx_.engineio.remove(eio_->sid);
  ctx_.io.socketio_open.sub(1);
  if (eio_->pid_registered) {
    const session_policy* policy = module_.sessions();
    const std::int64_t keep =
        policy ? std::max(policy->resume_ms, policy->host_resume_ms) : std::int64_t{0};
    ctx_.engineio.release(eio_->pid, steady_ms(), keep);
  }
  if (eio_->held_get) {
    std::string body = std::move(eio_->poll_out);
    append_engineio_packet(body, "1");
    respond_held(std::move(body));
  }
  eio_->pending_in.clear();
  eio_->keep_alive.reset();  // last: may free this session once the caller is done
}

}  // namespace partyd
