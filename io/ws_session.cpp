#include "io/ws_session.hpp"

#include <chrono>

#include <boost/asio/bind_allocator.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "engine/log.hpp"
#include "engine/secrets.hpp"
#include "engine/session.hpp"
#include "engine/session_codec.hpp"
#include "io/exact_allocator.hpp"
#include "io/ws_session_engineio.hpp"

namespace partyd {

namespace net = boost::asio;
using tcp = net::ip::tcp;
using error_code = boost::system::error_code;

namespace {

// How long a peer has to answer our close frame before the socket is closed anyway.
constexpr std::int64_t kCloseHandshakeTimeoutMs = 2000;
// Reads per readiness event before yielding to other connections of the thread.
constexpr int kReadsPerWakeup = 4;

bool would_block(const error_code& ec) {
  return ec == net::error::would_block || ec == net::error::try_again;
}

// RFC 6455 7.1.5: the close code of a connection that ended without a close frame. Never sent.
constexpr std::uint16_t kClosedAbnormally = 1006;

// "203.0.113.7:51234" or "[2001:db8::1]:51234"; empty when the peer is already gone.
std::string remote_of(const tcp::socket& socket) {
  error_code ec;
  const tcp::endpoint peer = socket.remote_endpoint(ec);
  if (ec) {
    return {};
  }
  std::string text;
  if (peer.address().is_v6()) {
    text += '[';
    text += peer.address().to_string();
    text += ']';
  } else {
    text += peer.address().to_string();
  }
  text += ':';
  text += std::to_string(peer.port());
  return text;
}

}  // namespace

// A first message held back for its address's failed handshakes (handshake_guard).
struct ws_session::delayed_message {
  explicit delayed_message(net::io_context& context) : timer(context) {}
  net::steady_timer timer;
  std::string text;
  std::int64_t ack_id = -1;  // a Socket.IO emit's ack, answered once the message is handled
};

ws_session::ws_session(server_context& ctx, io_thread& thread, tcp::socket&& socket,
                       const game_module& module, socket_slot slot,
                       std::shared_ptr<const connection_identity> identity)
    : ctx_(ctx),
      thread_(thread),
      module_(module),
      id_(ctx.next_connection_id.fetch_add(1)),
      socket_(std::move(socket)),
      slot_(std::move(slot)),
      identity_(std::move(identity)),
      identity_from_upgrade_(identity_ != nullptr),
      // Never trust a library default: each game sets its own message limit.
      reader_(module.max_message_bytes(), /*expect_masked=*/true) {}

ws_session::~ws_session() {
  // Bytes never written no longer wait.
  ctx_.io.outbox_bytes.sub(static_cast<std::int64_t>(waiting_bytes_));
}

void ws_session::start(std::string_view upgrade_response, std::string_view early_bytes) {
  error_code ec;
  socket_.non_blocking(true, ec);  // reads and writes are attempted directly, never block
  opened_ms_ = last_read_ms_ = unrouted_since_ms_ = steady_ms();
  error_code peer_ec;
  const tcp::endpoint peer = socket_.remote_endpoint(peer_ec);
  if (!peer_ec) {
    address_ = address_key::of(peer.address());
  }
  thread_.sessions[id_] = weak_from_this();
  ctx_.io.ws_accepted.inc();
  ctx_.io.ws_open.add(1);
  boost::json::object connected{
      {"conn", id_}, {"game", module_.name()}, {"remote", remote_of(socket_)}};
  if (identity_) {
    connected["user"] = identity_->user_id;
  }
  log::info("client_connected", std::move(connected));
  if (ec) {
    finish();
    return;
  }
  std::string& out = thread_.write_buffer;
  out.assign(upgrade_response);
  write_out(out);
  if (finished_) {
    return;
  }
  if (eio_) {
    send_engineio(sio::open_packet(eio_->sid, false, ctx_.config.socketio_ping_interval_ms,
                                   ctx_.config.socketio_ping_timeout_ms,
                                   ctx_.config.socketio_max_payload_bytes));
    if (finished_) {
      return;
    }
  }
  if (!early_bytes.empty()) {
    std::string copy(early_bytes);  // parsing unmasks in place
    consume(copy.data(), copy.size());
    if (finished_) {
      return;
    }
    note_message_progress();
  }
  if (!paused_) {
    wait_readable();
  }
}

// ---- reading ----

void ws_session::wait_readable() {
  // This wait is what an idle connection holds: sized exactly (io/exact_allocator.hpp).
  socket_.async_wait(
      tcp::socket::wait_read,
      net::bind_allocator(exact_allocator<void>(),
                          [self = shared_from_this(), epoch = socket_epoch_](const error_code& ec) {
                            if (epoch != self->socket_epoch_) {
                              return;  // a probing socket dropped since
                            }
                            if (ec) {
                              self->on_socket_error();
                              return;
                            }
                            self->on_readable();
                          }));
}

void ws_session::on_readable() {
  std::string& buffer = thread_.read_buffer;
  for (int round = 0; round < kReadsPerWakeup; ++round) {
    if (finished_ || paused_) {
      return;  // paused: on_delay_over() reads on
    }
    error_code ec;
    const std::size_t bytes = socket_.read_some(net::buffer(buffer.data(), buffer.size()), ec);
    if (would_block(ec)) {
      wait_readable();
      return;
    }
    if (ec) {
      on_socket_error();  // the peer went away (EOF or reset)
      return;
    }
    ctx_.io.reads.inc();
    // A clock read per read(): cheap next to the syscall, and deadlines are never early.
    last_read_ms_ = steady_ms();
    ping_outstanding_ = false;
    consume(buffer.data(), bytes);
    note_message_progress();
    if (bytes < buffer.size() || paused_) {
      // Drained: the socket is registered edge-triggered, and new bytes are a new edge.
      if (!finished_ && !paused_) {
        wait_readable();
      }
      return;
    }
  }
  // Still more to read: let the thread's other connections have a turn first.
  net::post(thread_.context, [self = shared_from_this(), epoch = socket_epoch_] {
    if (epoch == self->socket_epoch_) self->on_readable();
  });
}

void ws_session::consume(char* data, std::size_t size) {
  const auto handler = [this](const ws::reader_event& event) { return on_frame(event); };
  if (partial_.empty()) {
    const std::size_t used = reader_.parse(data, size, handler);
    if (used < size && !reader_.finished()) {
      partial_.assign(data + used, size - used);
    }
    return;
  }
  partial_.append(data, size);
  const std::size_t used = reader_.parse(partial_.data(), partial_.size(), handler);
  partial_.erase(0, used);
  if (partial_.empty() && partial_.capacity() > 4096) {
    std::string().swap(partial_);  // an idle connection keeps no buffer
  }
}

void ws_session::note_message_progress() {
  // A fragmented message, or a frame only partly received: either must complete in time, or a
  // client could keep the connection (and up to a message's worth of buffer) forever by sending
  // a byte now and then, each of which also resets the idle timeout.
  if (!reader_.in_message() && partial_.empty()) {
    message_started_ms_ = 0;
  } else if (message_started_ms_ == 0) {
    message_started_ms_ = last_read_ms_;
  }
}

bool ws_session::on_frame(const ws::reader_event& event) {
  switch (event.what) {
    case ws::reader_event::kind::message:
      if (!eio_) {
        handle_message(event.payload);
      } else if (event.binary) {
        ctx_.io.socketio_error("binary").inc();
        reply_error("binary_not_supported", "binary packets are not supported: send JSON events",
                    false);
      } else {
        on_engineio_packet(event.payload);
      }
      break;
    case ws::reader_event::kind::ping:
      if (!close_sent_) {
        std::string pong;
        ws::append_frame(pong, ws::opcode::pong, event.payload);
        write_frames({}, pong);
      }
      break;
    case ws::reader_event::kind::pong:
      break;  // any bytes count as activity (on_readable)
    case ws::reader_event::kind::close:
      close_received_ = true;
      if (close_sent_) {
        after_writes();  // our close went out (or is going): the handshake is complete
      } else {
        // Echo the peer's code, as RFC 6455 asks; then close TCP from our side. The peer's reason
        // text is its own and is not logged.
        note_end(event.code, "client_closed");
        send_close(event.code == ws::close_no_status ? 0 : event.code, {});
      }
      break;
    case ws::reader_event::kind::error:
      if (event.code == ws::close_too_big) {
        ctx_.io.too_large.inc();
        log::info("message_too_large", {{"conn", id_}, {"game", module_.name()}});
      } else {
        ctx_.io.protocol_errors.inc();
        log::info("websocket_protocol_error",
                  {{"conn", id_}, {"game", module_.name()}, {"reason", event.error_reason}});
      }
      close_received_ = true;  // failing the connection: no need to wait for the peer
      send_close(event.code, event.error_reason);
      break;
  }
  return !finished_ && !paused_;  // paused: the frames behind the held message stay in partial_
}

bool ws_session::allow_by_rate_limit() {
  if (rate_exempt_.load(std::memory_order_acquire)) {
    return true;
  }
  const std::int64_t now = steady_ms();
  if (now - window_start_ms_ >= ctx_.config.rate_limit_window_ms) {
    window_start_ms_ = now;
    window_count_ = 0;
    window_logged_ = false;
  }
  if (window_count_ < ctx_.config.rate_limit_messages) {
    ++window_count_;
    return true;
  }
  ctx_.io.rate_limited.inc();
  if (!window_logged_) {
    // One line per client per window: a flood must not flood the log too.
    window_logged_ = true;
    log::warn("rate_limited", {{"conn", id_},
                               {"game", module_.name()},
                               {"room", room_ ? room_->code() : std::string()},
                               {"limit", ctx_.config.rate_limit_messages},
                               {"window_ms", ctx_.config.rate_limit_window_ms}});
  }
  return false;
}

void ws_session::reply_error(std::string_view code, std::string_view message, bool first_message,
                             std::string_view room_code, std::string_view request_type) {
  ctx_.engine.error_counter(module_, std::string(code)).inc();
  answer_ack(false, code, message);
  if (first_message) {
    deliver(make_frame(module_.encode_handshake_error(code, message, room_code)));
    if (module_.first_message_error_closes()) {
      request_close(ws::close_policy, code);
    }
  } else if (!request_type.empty()) {
    deliver(make_frame(module_.encode_request_error(code, message, request_type)));
  } else {
    deliver(make_frame(module_.encode_error(code, message)));
  }
}

void ws_session::handle_message(std::string_view text, bool from_server) {
  if (close_sent_ || close_received_ || finished_) {
    return;
  }
  if (ctx_.phase.load() == server_phase::stopping) {
    reply_error("server_shutting_down", "the server is shutting down; reconnect shortly", false);
    return;
  }
  if (first_message_ && !delay_served_ && !from_server && delay_first_message(text)) {
    return;  // handled again when its delay is over
  }
  if (!from_server && !allow_by_rate_limit()) {
    reply_error("rate_limited", "too many messages; slow down", false);
    return;
  }
  const bool first = first_message_;
  session_request session_fields;
  if (handle_session_message(text, first, session_fields)) {
    return;
  }
  decode_result decoded = module_.decode(text, first);
  if (decoded.error) {
    reply_error(decoded.error.code, decoded.error.message, first, {}, decoded.request_type);
    return;
  }
  ctx_.engine.messages_in(module_, decoded.cmd->type).inc();
  if (decoded.identity) {
    // Answered here: who the connection is reaches rooms with its later first messages.
    if (!identity_from_upgrade_) {
      identity_ = std::move(decoded.identity);
    }
    deliver(make_frame(module_.identified_frame(*identity_)));
    answer_ack(true);
    return;
  }
  const bool leaves = !first && decoded.leaves_room;
  const auto in_types = module_.in_types();
  const std::string_view request_type =
      decoded.cmd->type < in_types.size() ? in_types[decoded.cmd->type] : std::string_view();

  room_input in;
  in.in.kind = input_kind::command;
  in.in.conn = id_;
  in.in.cmd = std::move(decoded.cmd);
  in.session = std::move(session_fields);
  if (first) {
    if (decoded.creates_room) {
      if (!create_anonymous_room(decoded, text.size())) {
        return;
      }
    } else {
      room_ = ctx_.engine.find(decoded.room_code);
      if (!room_) room_ = ctx_.engine.standing_room(module_, decoded.room_code);
      if (!room_) {
        note_handshake_failure("room_not_found", false);
        reply_error("room_not_found", "no room with this code", true, decoded.room_code);
        return;
      }
    }
    // 24 bytes: enough for any seat token or room key a game derives from it.
    in.in.secret = random_token(24);
    in.in.identity = identity_;
    in.sink = shared_from_this();
    in.route = route_ + 1;
  }
  in.leaves = leaves;
  const push_result pushed = push_to_room(std::move(in), false);
  if (pushed == push_result::accepted) {
    if (first) {
      ++route_;
    }
    first_message_ = false;
    if (leaves) {
      leave_room();
    }
    answer_ack(true);
    return;
  }
  if (pushed == push_result::full) {
    ctx_.io.inbox_full.inc();
    reply_error("inbox_full", "the room is busy; retry shortly", first, {}, request_type);
    return;
  }
  // The room closed in the meantime.
  if (first) {
    note_handshake_failure("room_not_found", false);
  }
  reply_error("room_not_found", "no room with this code", first, {}, request_type);
  if (!first) {
    request_close(ws::close_normal, "room_closed");
  }
}

bool ws_session::create_anonymous_room(const decode_result& decoded, std::size_t message_bytes) {
  room_creation_limiter& limiter = *ctx_.creations;
  const std::int64_t now = steady_ms();
  room_creation_limits limits;
  creation_refusal refusal = limiter.admit(address_, now, message_bytes, limits);
  runtime::create_outcome created;
  if (refusal == creation_refusal::none) {
    created = ctx_.engine.create_room(module_, decoded.create_options, {}, std::move(limits));
    if (created.error) {
      limiter.refund(address_);
      if (created.error.code == "limit_reached") {
        // Lost a race for the last rooms against other creators.
        refusal = ctx_.engine.room_count() >= ctx_.engine.options().max_rooms
                      ? creation_refusal::max_rooms
                      : creation_refusal::admin_reserve;
      } else {
        reply_error(created.error.code, created.error.message, true);
        return false;
      }
    }
  }
  if (refusal != creation_refusal::none) {
    limiter.count(refusal);
    ctx_.logs.room_refused.write(now, {{"reason", room_creation_limiter::reason_name(refusal)},
                                       {"game", module_.name()},
                                       {"conn", id_},
                                       {"remote", address_.to_string()}});
    reply_error(room_creation_limiter::error_code(refusal),
                room_creation_limiter::error_message(refusal), true);
    return false;
  }
  room_ = std::move(created.created);
  return true;
}

bool ws_session::delay_first_message(std::string_view text) {
  const std::int64_t now = steady_ms();
  std::uint32_t failures = 0;
  const std::int64_t wait = ctx_.handshakes.delay_for(address_, now, failures);
  if (wait <= 0) {
    return false;
  }
  ctx_.io.handshakes_delayed.inc();
  ctx_.logs.handshake_delayed.write(now, {{"conn", id_},
                                          {"game", module_.name()},
                                          {"remote", address_.to_string()},
                                          {"failures", failures},
                                          {"delay_ms", wait}});
  if (!delayed_) {
    delayed_ = std::make_unique<delayed_message>(thread_.context);
  }
  delayed_->text.assign(text);  // the payload lives in a buffer the next read overwrites
  delayed_->ack_id = ack_id_;
  ack_id_ = -1;
  paused_ = true;
  delayed_->timer.expires_after(std::chrono::milliseconds(wait));
  delayed_->timer.async_wait([self = shared_from_this()](const error_code& ec) {
    if (!ec) {
      self->on_delay_over();
    }
  });
  return true;
}

void ws_session::on_delay_over() {
  paused_ = false;
  if (finished_) {
    return;
  }
  std::string text;
  text.swap(delayed_->text);
  delay_served_ = true;
  ack_id_ = delayed_->ack_id;
  handle_message(text);
  ack_id_ = -1;
  delay_served_ = false;
  if (finished_ || paused_) {
    return;
  }
  if (eio_ && eio_->polling) {
    // Polling: the packets of the POST that came behind the held message.
    while (!eio_->pending_in.empty() && !finished_ && !paused_) {
      const std::string packet = std::move(eio_->pending_in.front());
      eio_->pending_in.pop_front();
      on_engineio_packet(packet);
    }
    if (!eio_->probing) {
      return;  // no socket to read yet
    }
  }
  if (!partial_.empty()) {
    // Frames that arrived behind the held message (a later first message may wait again).
    char none = 0;
    consume(&none, 0);
    if (finished_) {
      return;
    }
    note_message_progress();
  }
  if (!paused_) {
    wait_readable();
  }
}

// Any thread: the room's worker (close() below) or this io thread (no such room).
void ws_session::note_handshake_failure(std::string_view reason, bool refused_by_room) {
  const std::int64_t now = steady_ms();
  const std::uint32_t failures = ctx_.handshakes.note_failure(address_, now);
  (refused_by_room ? ctx_.io.handshake_failures_refused : ctx_.io.handshake_failures_no_room).inc();
  ctx_.logs.handshake_failed.write(now, {{"conn", id_},
                                         {"game", module_.name()},
                                         {"reason", reason},
                                         {"remote", address_.to_string()},
                                         {"failures", failures}});
}

push_result ws_session::push_to_room(room_input&& in, bool may_wait) {
  in.received_ns = std::chrono::steady_clock::now().time_since_epoch().count();
  const push_result pushed =
      may_wait ? ctx_.engine.submit_lazily(room_, std::move(in), thread_.pending_wakes)
               : ctx_.engine.submit_deferred(room_, std::move(in), thread_.pending_wakes);
  // The rooms this read made ready are woken once, after the io thread's current batch of reads.
  if (!thread_.pending_wakes.empty() && !thread_.wakes_posted) {
    thread_.wakes_posted = true;
    net::post(thread_.context, [&thread = thread_, &engine = ctx_.engine] {
      thread.wakes_posted = false;
      engine.wake(thread.pending_wakes);
    });
  }
  return pushed;
}

bool ws_session::handle_session_message(std::string_view text, bool first,
                                        session_request& fields) {
  const session_policy* policy = module_.sessions();
  if (!policy || !(first || in_session_.load(std::memory_order_acquire))) {
    return false;
  }
  session_decode decoded = decode_session_fields(text, first, *policy);
  if (decoded.result == session_decode::outcome::error) {
    reply_error(decoded.error_code, decoded.error_message, first);
    if (decoded.error_closes) {
      request_close(ws::close_policy, decoded.error_code);
    }
    return true;
  }
  if (decoded.result == session_decode::outcome::game_message) {
    fields = std::move(decoded.request);
    return false;
  }
  room_input in;
  in.in.kind = input_kind::command;
  in.in.conn = id_;
  in.session = std::move(decoded.request);
  if (first) {
    room_ = ctx_.engine.find(decoded.room_code);
    if (!room_) {
      note_handshake_failure("room_not_found", false);
      deliver(reconnect_failed_frame(decoded.room_code, policy->protocol_version, "ROOM_NOT_FOUND",
                                     {}, ctx_.engine.now()));
      request_close(ws::close_normal, "room_not_found");
      return true;
    }
    in.sink = shared_from_this();
    in.route = route_ + 1;
  }
  // ACKs and heartbeats change nothing anyone waits for: they may wait for the room's next turn.
  const bool may_wait = in.session.what == session_request::kind::ack ||
                        in.session.what == session_request::kind::heartbeat;
  const push_result pushed = push_to_room(std::move(in), may_wait);
  if (pushed == push_result::accepted) {
    if (first) {
      ++route_;
    }
    first_message_ = false;
    answer_ack(true);
  } else if (pushed == push_result::full) {
    ctx_.io.inbox_full.inc();
    reply_error("inbox_full", "the room is busy; retry shortly", first);
  } else {
    reply_error("room_not_found", "no room with this code", first);
    request_close(ws::close_normal, "room_closed");
  }
  return true;
}

// ---- connection_sink: called by workers (and by this io thread for local errors) ----

void ws_session::deliver(const frame_ptr& frame) noexcept { queue_frame({frame, 0, false}); }

void ws_session::deliver_numbered(const frame_ptr& frame, std::uint64_t seq,
                                  bool reliable) noexcept {
  // Only a JSON object can take the members; anything else goes out as it is.
  const bool object = frame->size() >= 2 && frame->front() == '{';
  queue_frame({frame, object ? seq : 0, object && reliable});
}

void ws_session::session_opened() noexcept { in_session_.store(true, std::memory_order_release); }

std::size_t ws_session::queued_bytes() const noexcept {
  std::lock_guard lock(outbox_mutex_);
  return outbox_bytes_;
}

void ws_session::queue_frame(outbound_frame frame) noexcept {
  std::lock_guard lock(outbox_mutex_);
  if (stop_delivery_ || close_request_) {
    return;
  }
  outbox_bytes_ += frame.size();
  if (outbox_bytes_ > ctx_.config.outbox_max_bytes) {
    // The client stopped reading. Drop it before it grows server memory; it can reconnect.
    stop_delivery_ = true;
    net::post(thread_.context, [self = shared_from_this()] { self->drop_slow_consumer(); });
    return;
  }
  outbox_.push_back(std::move(frame));
  schedule_flush_locked();
}

void ws_session::bind(role_id role, bool rate_limited) noexcept {
  role_.store(role, std::memory_order_relaxed);  // published by bound_'s release below
  rate_exempt_.store(!rate_limited, std::memory_order_release);
  bound_.store(true, std::memory_order_release);
}

void ws_session::close(std::uint16_t code, std::string_view reason) noexcept {
  // The game refused the connection's first message (relay: a wrong password, host key or seat
  // token, an unknown seat, a full room): it closes with 1008 a connection it never bound. Every
  // close of io's own goes through request_close().
  if (code == ws::close_policy && !bound_.load(std::memory_order_acquire)) {
    note_handshake_failure(reason, true);
  }
  request_close(code, reason);
}

void ws_session::released(std::uint64_t route, std::string next_message) noexcept {
  net::post(thread_.context,
            [self = shared_from_this(), route, next = std::move(next_message)]() mutable {
              self->on_released(route, std::move(next));
            });
}

void ws_session::on_released(std::uint64_t route, std::string next_message) {
  if (finished_ || first_message_ || route != route_) {
    return;  // the client left (and maybe rejoined) on its own meanwhile
  }
  leave_room();
  if (!next_message.empty()) {
    handle_message(next_message, true);
  }
}

void ws_session::leave_room() {
  room_.reset();
  // In no room again: the first-message deadline counts from here, not from the socket's start.
  unrouted_since_ms_ = steady_ms();
  first_message_ = true;
  in_session_.store(false, std::memory_order_release);
  bound_.store(false, std::memory_order_release);
  rate_exempt_.store(false, std::memory_order_release);
}

void ws_session::request_close(std::uint16_t code, std::string_view reason) {
  std::lock_guard lock(outbox_mutex_);
  if (close_request_ || stop_delivery_) {
    return;
  }
  close_request_.emplace(code, std::string(reason));
  schedule_flush_locked();
}

void ws_session::schedule_flush_locked() {
  if (flush_posted_) {
    return;  // already queued for the io thread's next drain
  }
  flush_posted_ = true;
  flush_posted_ns_ = std::chrono::steady_clock::now().time_since_epoch().count();
  io_thread& thread = thread_;
  bool post = false;
  {
    std::lock_guard lock(thread.flush_mutex);  // always taken inside outbox_mutex_, never around it
    thread.flush_queue.push_back(shared_from_this());
    post = !thread.flush_drain_posted;
    thread.flush_drain_posted = true;
  }
  if (post) {
    net::post(thread.context, [&thread] { drain_flush_queue(thread); });
  }
}

void drain_flush_queue(io_thread& thread) {
  {
    std::lock_guard lock(thread.flush_mutex);
    thread.flush_batch.swap(thread.flush_queue);
    thread.flush_drain_posted = false;
  }
  for (auto& session : thread.flush_batch) {
    session->on_flush();
  }
  thread.flush_batch.clear();
}

// ---- writing (io thread) ----

void ws_session::on_flush() {
  std::optional<std::pair<std::uint16_t, std::string>> close_now;
  std::size_t taken_bytes = 0;
  {
    std::lock_guard lock(outbox_mutex_);
    flush_posted_ = false;
    const std::int64_t waited_ns =
        std::chrono::steady_clock::now().time_since_epoch().count() - flush_posted_ns_;
    ctx_.io.flush_wait.observe_us(static_cast<std::uint64_t>(std::max<std::int64_t>(0, waited_ns)) /
                                  1000);
    taken_.swap(outbox_);
    for (const auto& frame : taken_) {
      taken_bytes += frame.size();
    }
    outbox_bytes_ -= taken_bytes;
    if (close_request_ && !close_sent_) {
      close_now = close_request_;
    }
  }
  if (!finished_) {
    write_frames(taken_, {});
    if (close_now) {
      send_close(close_now->first, close_now->second);
    }
  }
  taken_.clear();
  if (taken_.capacity() > 64) {
    std::vector<outbound_frame>().swap(taken_);
  }
}

void ws_session::write_frames(const std::vector<outbound_frame>& frames, std::string_view control) {
  if (finished_ || (close_sent_ && control.empty())) {
    return;  // nothing may follow a close frame
  }
  const bool polling = eio_ && eio_->polling;
  if (polling && !close_sent_ && !frames.empty()) {
    // Frames wait for the client's next GET (a probing WebSocket carries only its control).
    const std::size_t before = eio_->poll_out.size();
    append_engineio_frames(eio_->poll_out, frames);
    ctx_.io.frames_out.inc(frames.size());
    if (!queue_unsent(eio_->poll_out.size() - before)) {
      return;  // dropped as a slow consumer
    }
    answer_held_get();
  }
  if (polling && (control.empty() || !eio_->probing)) {
    return;
  }
  // Behind a pending write, frames queue in unsent_; otherwise they are framed into the thread's
  // shared buffer and written at once, so an idle connection holds no write buffer.
  const bool queue_behind = waiting_writable_;
  std::string& out = queue_behind ? unsent_ : thread_.write_buffer;
  const std::size_t before = out.size();
  if (!queue_behind) {
    out.clear();
  }
  if (eio_ && !polling && !close_sent_) {
    append_engineio_frames(out, frames);
    ctx_.io.frames_out.inc(frames.size());
  } else if (!close_sent_ && !polling) {
    for (const auto& queued : frames) {
      if (queued.seq == 0) {
        ws::append_frame(out, ws::opcode::text, *queued.frame);
        continue;
      }
      // A session's frame: its number goes in front of the shared frame's own members, so a
      // broadcast stays one serialization for all its recipients.
      const std::string& frame = *queued.frame;
      numbered_.assign(1, '{');
      append_session_members(numbered_, queued.seq, queued.reliable);
      if (frame.size() > 2) numbered_ += ',';
      ws::append_frame_header(out, ws::opcode::text, numbered_.size() + frame.size() - 1);
      out += numbered_;
      out.append(frame, 1, std::string::npos);
    }
    ctx_.io.frames_out.inc(frames.size());
  }
  out.append(control);
  if (queue_behind) {
    queue_unsent(out.size() - before);  // may drop the connection
    return;
  }
  if (out.empty()) {
    return;
  }
  write_out(out);
}

void ws_session::write_out(std::string& bytes) {
  error_code ec;
  const std::size_t written = socket_.write_some(net::buffer(bytes), ec);
  ctx_.io.writes.inc();
  if (ec && !would_block(ec)) {
    on_socket_error();
    return;
  }
  if (written == bytes.size()) {
    after_writes();
    return;
  }
  // The socket buffer is full: keep the rest and let Asio finish it when the socket drains.
  ctx_.io.write_waits.inc();
  unsent_.assign(bytes, written);
  if (!queue_unsent(unsent_.size())) {
    return;
  }
  wait_writable();
}

// Every byte queued for the connection counts against --outbox-max-bytes, control frames too: a
// client that sends pings and never reads would otherwise make the server queue pongs forever.
bool ws_session::queue_unsent(std::size_t bytes) {
  bool over = false;
  {
    std::lock_guard lock(outbox_mutex_);
    outbox_bytes_ += bytes;
    if (outbox_bytes_ > ctx_.config.outbox_max_bytes && !stop_delivery_) {
      stop_delivery_ = true;
      over = true;
    }
  }
  note_waiting(static_cast<std::int64_t>(bytes));
  if (over) {
    drop_slow_consumer();
    return false;
  }
  return true;
}

void ws_session::drop_slow_consumer() {
  if (finished_) {
    return;
  }
  ctx_.io.slow_consumers.inc();
  log::info("slow_consumer_disconnected", {{"conn", id_}, {"room", room_ ? room_->code() : ""}});
  note_end(kClosedAbnormally, "slow_consumer");
  finish();
}

// Only bytes that wait for a slow socket count in partyd_outbox_bytes: frames written at once pass
// through the outbox in microseconds, and counting each of them cost two locked instructions per
// delivery on a counter both threads write.
void ws_session::note_waiting(std::int64_t bytes) {
  waiting_bytes_ += bytes;
  ctx_.io.outbox_bytes.add(bytes);
}

void ws_session::wait_writable() {
  waiting_writable_ = true;
  in_flight_.swap(unsent_);
  unsent_.clear();
  net::async_write(
      socket_, net::buffer(in_flight_),
      [self = shared_from_this(), epoch = socket_epoch_](const error_code& ec, std::size_t bytes) {
        if (epoch == self->socket_epoch_) self->on_writable(ec, bytes);
      });
}

void ws_session::on_writable(const error_code& ec, std::size_t bytes) {
  {
    std::lock_guard lock(outbox_mutex_);
    outbox_bytes_ -= in_flight_.size();
  }
  note_waiting(-static_cast<std::int64_t>(in_flight_.size()));
  ctx_.io.writes.inc();
  (void)bytes;
  std::string().swap(in_flight_);  // slow path only: give the memory back
  if (finished_) {
    return;
  }
  if (ec) {
    on_socket_error();
    return;
  }
  if (!unsent_.empty()) {
    wait_writable();
    return;
  }
  waiting_writable_ = false;
  std::string().swap(unsent_);
  after_writes();
}

void ws_session::send_close(std::uint16_t code, std::string_view reason) {
  if (close_sent_ || finished_) {
    return;
  }
  if (eio_ && !close_engineio(code, reason)) {
    return;  // polling: the close went with the session's last packets
  }
  note_end(code == 0 ? ws::close_no_status : code, reason);
  std::string frame;
  ws::append_frame(frame, ws::opcode::close,
                   code == 0 ? std::string() : ws::close_payload(code, reason));
  close_deadline_ms_ = steady_ms() + kCloseHandshakeTimeoutMs;
  write_frames({}, frame);
  close_sent_ = true;  // after the write: write_frames sends nothing once this is set
  after_writes();
}

void ws_session::after_writes() {
  // Our close frame is out and the peer's has arrived (or we failed the connection): done.
  if (close_sent_ && close_received_ && !waiting_writable_) {
    finish();
  }
}

// ---- timers (io thread sweep) ----

void ws_session::sweep(std::int64_t now_ms) {
  if (finished_) {
    return;
  }
  if (close_sent_) {
    if (now_ms >= close_deadline_ms_) {
      finish();  // the peer never answered our close frame
    }
    return;
  }
  if (!bound_.load(std::memory_order_acquire) &&
      now_ms - unrouted_since_ms_ >= ctx_.config.handshake_timeout_ms) {
    ctx_.io.handshake_timeouts.inc();
    log::info("handshake_timeout", {{"conn", id_}, {"game", module_.name()}});
    request_close(ws::close_policy, "handshake_timeout");
    return;
  }
  if (message_started_ms_ != 0 && now_ms - message_started_ms_ >= ctx_.config.message_timeout_ms) {
    message_started_ms_ = 0;
    ctx_.io.message_timeouts.inc();
    log::info("message_timeout", {{"conn", id_},
                                  {"game", module_.name()},
                                  {"buffered_bytes", reader_.buffered_bytes() + partial_.size()}});
    request_close(ws::close_policy, "message_timeout");
    return;
  }
  const std::int64_t idle = now_ms - last_read_ms_;
  if (idle >= ctx_.config.idle_timeout_ms) {
    ctx_.io.idle_timeouts.inc();
    log::info("idle_timeout", {{"conn", id_}, {"game", module_.name()}});
    note_end(kClosedAbnormally, "idle_timeout");
    finish();
    return;
  }
  if (eio_) {
    sweep_engineio(now_ms);  // Engine.IO's own pings instead of WebSocket pings
    return;
  }
  if (idle >= ctx_.config.idle_timeout_ms / 2 && !ping_outstanding_) {
    ping_outstanding_ = true;
    std::string ping;
    ws::append_frame(ping, ws::opcode::ping, {});
    write_frames({}, ping);
  }
}

void ws_session::shutdown() { request_close(ws::close_going_away, "server_shutdown"); }

void ws_session::finish() {
  if (finished_) {
    return;
  }
  finished_ = true;
  if (delayed_) {
    delayed_->timer.cancel();
  }
  std::shared_ptr<ws_session> hold;
  if (eio_) {
    hold = shared_from_this();  // a polling session's own hold ends in finish_engineio
    finish_engineio();
  }
  error_code ignored;
  socket_.shutdown(tcp::socket::shutdown_both, ignored);
  socket_.close(ignored);  // cancels the pending wait
  slot_.release();
  {
    std::lock_guard lock(outbox_mutex_);
    stop_delivery_ = true;  // nothing more is queued for a finished session
  }
  if (room_ && !first_message_) {
    room_input in;
    in.in.kind = input_kind::disconnect;
    in.in.conn = id_;
    ctx_.engine.submit(room_, std::move(in), true);
  }
  thread_.sessions.erase(id_);
  ctx_.io.ws_open.sub(1);
  ctx_.ws_connections.fetch_sub(1);
  note_end(kClosedAbnormally, "connection_lost");  // the peer went away without a close frame
  boost::json::object fields{{"conn", id_}, {"game", module_.name()}};
  if (room_) {
    fields["room"] = room_->code();
  }
  if (bound_.load(std::memory_order_acquire)) {
    const role_id role = role_.load(std::memory_order_relaxed);
    const auto roles = module_.role_names();
    if (role < roles.size()) {
      fields["role"] = roles[role];
    }
  }
  fields["code"] = end_code_;
  fields["reason"] = end_reason_;
  fields["duration_ms"] = steady_ms() - opened_ms_;
  log::info("client_disconnected", std::move(fields));
}

void ws_session::note_end(std::uint16_t code, std::string_view reason) {
  if (end_code_ == 0) {
    end_code_ = code;
    end_reason_ = reason;
  }
}

}  // namespace partyd
