#include "io/ws_session.hpp"

#include <chrono>

#include <boost/asio/post.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/version.hpp>
#include <boost/beast/websocket/error.hpp>

#include "engine/log.hpp"
#include "engine/secrets.hpp"

namespace partyd {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

}  // namespace

ws_session::ws_session(server_context& ctx, io_thread& thread, beast::tcp_stream&& stream,
                       const game_module& module)
    : ctx_(ctx),
      thread_(thread),
      module_(module),
      id_(ctx.next_connection_id.fetch_add(1)),
      ws_(std::move(stream)),
      handshake_timer_(thread.context) {}

ws_session::~ws_session() {
  // Frames never written are no longer outbox bytes.
  ctx_.io.outbox_bytes.sub(static_cast<std::int64_t>(outbox_bytes_));
}

void ws_session::start(beast::http::request<beast::http::string_body> request) {
  beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts take over
  websocket::stream_base::timeout timeouts{};
  timeouts.handshake_timeout = std::chrono::milliseconds(ctx_.config.handshake_timeout_ms);
  timeouts.idle_timeout = std::chrono::milliseconds(ctx_.config.idle_timeout_ms);
  timeouts.keep_alive_pings = true;
  ws_.set_option(timeouts);
  ws_.set_option(websocket::stream_base::decorator(
      [](websocket::response_type& res) { res.set(beast::http::field::server, "partyd"); }));
  // Never trust the library default (16 MB): each game sets its own message limit.
  ws_.read_message_max(module_.max_message_bytes());
  ws_.text(true);
  thread_.sessions[id_] = weak_from_this();
  ctx_.io.ws_accepted.inc();
  ctx_.io.ws_open.add(1);

  handshake_timer_.expires_after(std::chrono::milliseconds(ctx_.config.handshake_timeout_ms));
  handshake_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
    auto self = weak.lock();
    if (ec || !self || self->bound_.load() || self->finished_) {
      return;
    }
    self->ctx_.io.handshake_timeouts.inc();
    log::info("handshake_timeout", {{"conn", self->id_}, {"game", self->module_.name()}});
    self->close(1008, "handshake_timeout");
  });

  ws_.async_accept(request,
                   [self = shared_from_this()](beast::error_code ec) { self->on_accept(ec); });
}

void ws_session::on_accept(beast::error_code ec) {
  if (ec) {
    finish();
    return;
  }
  do_read();
}

void ws_session::do_read() {
  ws_.async_read(read_buffer_,
                 [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                   self->on_read(ec, bytes);
                 });
}

void ws_session::on_read(beast::error_code ec, std::size_t) {
  if (ec) {
    if (ec == websocket::error::message_too_big) {
      ctx_.io.too_large.inc();
      log::info("message_too_large", {{"conn", id_}, {"game", module_.name()}});
    }
    finish();
    return;
  }
  const auto data = read_buffer_.cdata();
  handle_message(std::string_view(static_cast<const char*>(data.data()), data.size()));
  read_buffer_.consume(read_buffer_.size());
  if (read_buffer_.capacity() > 16 * 1024) {
    read_buffer_.shrink_to_fit();  // one large message must not pin memory for an idle client
  }
  do_read();  // also while closing: the peer's close frame arrives through a read
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
                             std::string_view room_code) {
  ctx_.engine.error_counter(module_, std::string(code)).inc();
  if (first_message) {
    deliver(make_frame(module_.encode_handshake_error(code, message, room_code)));
    if (module_.first_message_error_closes()) {
      close(1008, code);
    }
  } else {
    deliver(make_frame(module_.encode_error(code, message)));
  }
}

void ws_session::handle_message(std::string_view text) {
  if (closing_) {
    return;
  }
  if (ctx_.phase.load() == server_phase::stopping) {
    reply_error("server_shutting_down", "the server is shutting down; reconnect shortly", false);
    return;
  }
  if (!allow_by_rate_limit()) {
    reply_error("rate_limited", "too many messages; slow down", false);
    return;
  }
  const bool first = first_message_;
  decode_result decoded = module_.decode(text, first);
  if (decoded.error) {
    reply_error(decoded.error.code, decoded.error.message, first);
    return;
  }
  ctx_.engine.messages_in(module_, decoded.cmd->type).inc();

  input in;
  in.kind = input_kind::command;
  in.conn = id_;
  in.cmd = std::move(decoded.cmd);
  if (first) {
    if (decoded.creates_room) {
      auto created = ctx_.engine.create_room(module_, decoded.create_options);
      if (created.error) {
        reply_error(created.error.code, created.error.message, true);
        return;
      }
      room_ = std::move(created.created);
    } else {
      room_ = ctx_.engine.find(decoded.room_code);
      if (!room_) {
        reply_error("room_not_found", "no room with this code", true, decoded.room_code);
        return;
      }
    }
    // 24 bytes: enough for a seat token or a master key (brainrot's is 24 random bytes).
    in.secret = random_token(24);
    in.sink = shared_from_this();
  }
  const push_result pushed = ctx_.engine.submit(room_, std::move(in));
  if (pushed == push_result::accepted) {
    first_message_ = false;
    return;
  }
  if (pushed == push_result::full) {
    ctx_.io.inbox_full.inc();
    reply_error("inbox_full", "the room is busy; retry shortly", first);
    return;
  }
  // The room closed in the meantime.
  reply_error("room_not_found", "no room with this code", first);
  if (!first) {
    close(1000, "room_closed");
  }
}

// ---- connection_sink: called by workers (and by this io thread for local errors) ----

void ws_session::deliver(const frame_ptr& frame) noexcept {
  std::lock_guard lock(outbox_mutex_);
  if (slow_consumer_ || close_request_) {
    return;
  }
  outbox_bytes_ += frame->size();
  ctx_.io.outbox_bytes.add(static_cast<std::int64_t>(frame->size()));
  if (outbox_bytes_ > ctx_.config.outbox_max_bytes) {
    // The client stopped reading. Drop it before it grows server memory; it can reconnect.
    slow_consumer_ = true;
    ctx_.io.slow_consumers.inc();
    net::post(thread_.context, [self = shared_from_this()] {
      log::info("slow_consumer_disconnected",
                {{"conn", self->id_}, {"room", self->room_ ? self->room_->code() : ""}});
      self->hard_close();
    });
    return;
  }
  outbox_.push_back(frame);
  schedule_flush_locked();
}

void ws_session::bind(role_id, bool rate_limited) noexcept {
  rate_exempt_.store(!rate_limited, std::memory_order_release);
  bound_.store(true, std::memory_order_release);
}

void ws_session::close(std::uint16_t code, std::string_view reason) noexcept {
  std::lock_guard lock(outbox_mutex_);
  if (close_request_ || slow_consumer_) {
    return;
  }
  close_request_.emplace(code, std::string(reason));
  schedule_flush_locked();
}

void ws_session::schedule_flush_locked() {
  if (flush_posted_) {
    return;  // one post per batch, not one per message
  }
  flush_posted_ = true;
  net::post(thread_.context, [self = shared_from_this()] { self->on_flush(); });
}

// ---- io thread ----

void ws_session::on_flush() {
  bool close_now = false;
  {
    std::lock_guard lock(outbox_mutex_);
    flush_posted_ = false;
    for (auto& frame : outbox_) {
      write_queue_.push_back(std::move(frame));
    }
    outbox_.clear();
    close_now = close_request_.has_value();
  }
  if (finished_) {
    return;
  }
  if (!writing_ && !write_queue_.empty()) {
    do_write();
  } else if (!writing_ && close_now) {
    do_close();
  }
}

void ws_session::do_write() {
  writing_ = true;
  const frame_ptr& frame = write_queue_.front();
  ws_.async_write(net::buffer(*frame),
                  [self = shared_from_this()](beast::error_code ec, std::size_t bytes) {
                    self->on_write(ec, bytes);
                  });
}

void ws_session::on_write(beast::error_code ec, std::size_t) {
  writing_ = false;
  const std::size_t size = write_queue_.front()->size();
  write_queue_.pop_front();
  bool close_now = false;
  {
    std::lock_guard lock(outbox_mutex_);
    outbox_bytes_ -= size;
    close_now = close_request_.has_value();
  }
  ctx_.io.outbox_bytes.sub(static_cast<std::int64_t>(size));
  if (ec) {
    hard_close();
    return;
  }
  if (!write_queue_.empty()) {
    do_write();
  } else if (close_now) {
    do_close();
  }
}

void ws_session::do_close() {
  if (closing_ || finished_) {
    return;
  }
  closing_ = true;
  std::pair<std::uint16_t, std::string> request;
  {
    std::lock_guard lock(outbox_mutex_);
    request = *close_request_;
  }
  // A close frame carries at most 123 bytes of reason: cut longer ones on a UTF-8 boundary.
  std::string text = std::move(request.second);
  if (text.size() > 123) {
    std::size_t cut = 123;
    while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) {
      --cut;  // never split a multi-byte character
    }
    text.resize(cut);
  }
  websocket::close_reason reason(static_cast<websocket::close_code>(request.first), text);
  ws_.async_close(reason, [self = shared_from_this()](beast::error_code) {
    // The pending read completes with `closed` and finishes the session; make sure of it.
    self->hard_close();
  });
}

void ws_session::hard_close() {
  beast::error_code ignored;
  beast::get_lowest_layer(ws_).socket().shutdown(net::socket_base::shutdown_both, ignored);
  beast::get_lowest_layer(ws_).socket().close(ignored);
}

void ws_session::shutdown() { close(1001, "server_shutdown"); }

void ws_session::finish() {
  if (finished_) {
    return;
  }
  finished_ = true;
  handshake_timer_.cancel();
  hard_close();
  if (room_ && !first_message_) {
    input in;
    in.kind = input_kind::disconnect;
    in.conn = id_;
    ctx_.engine.submit(room_, std::move(in), true);
  }
  thread_.sessions.erase(id_);
  ctx_.io.ws_open.sub(1);
  ctx_.ws_connections.fetch_sub(1);
}

}  // namespace partyd
