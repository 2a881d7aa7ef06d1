#include "ws_conn.hpp"

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <vector>

#include <boost/asio/connect.hpp>
#include <boost/asio/post.hpp>

#include "socketio.hpp"

namespace partyload {

namespace ws = partyd::ws;

namespace {

constexpr std::size_t read_chunk_bytes = 64 * 1024;
constexpr std::size_t max_message_bytes = 1 << 20;
constexpr std::size_t max_upgrade_response_bytes = 8 * 1024;

// The io thread's read buffer: what a connection kept of its last read, then the new bytes.
std::vector<char>& thread_read_buffer() {
  thread_local std::vector<char> buffer(read_chunk_bytes);
  return buffer;
}

bool iequals(std::string_view a, std::string_view b) {
  return std::equal(a.begin(), a.end(), b.begin(), b.end(), [](char x, char y) {
    return std::tolower(static_cast<unsigned char>(x)) ==
           std::tolower(static_cast<unsigned char>(y));
  });
}

// The value of header `name` in an HTTP response head (first match), trimmed.
std::string_view header_value(std::string_view head, std::string_view name) {
  std::size_t line = head.find("\r\n");
  while (line != std::string_view::npos && line + 2 < head.size()) {
    const std::size_t begin = line + 2;
    const std::size_t end = head.find("\r\n", begin);
    const std::string_view text = head.substr(begin, end - begin);
    const std::size_t colon = text.find(':');
    if (colon != std::string_view::npos && iequals(text.substr(0, colon), name)) {
      std::string_view value = text.substr(colon + 1);
      while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
      while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
      return value;
    }
    line = end;
  }
  return {};
}

}  // namespace

ws_conn::ws_conn(net::io_context& ctx, shard& sh, run_state& run)
    : ctx_(ctx),
      shard_(sh),
      run_(run),
      random_(static_cast<std::uint_fast32_t>(reinterpret_cast<std::uintptr_t>(this) >> 4) | 1) {}

void ws_conn::connect(const tcp::resolver::results_type& endpoints, const std::string& host,
                      const char* path) {
  if (socket_) drop();
  ++generation_;
  socket_.emplace(ctx_.get_executor());
  reader_.emplace(max_message_bytes, /*expect_masked=*/false);
  out_.clear();
  out_sent_ = 0;
  unsent_frames_ = 0;
  partial_in_.clear();
  flush_scheduled_ = false;
  write_blocked_ = false;
  upgraded_ = false;
  expect_close_ = false;
  namespace_joined_ = false;
  connect_started_ns_ = mono_ns();

  unsigned char nonce[16];
  for (auto& byte : nonce) byte = static_cast<unsigned char>(random_());
  const std::string key = ws::client_key(nonce);
  expected_accept_ = ws::accept_key(key);
  out_ = "GET ";
  out_ += path;
  out_ += " HTTP/1.1\r\nHost: ";
  out_ += host;
  out_ += "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: ";
  out_ += key;
  out_ += "\r\nSec-WebSocket-Version: 13\r\n\r\n";

  const auto gen = generation_;
  net::async_connect(*socket_, endpoints,
                     [this, gen](boost::system::error_code ec, const tcp::endpoint&) {
                       if (gen != generation_ || stopped_) return;
                       if (ec) return closed("connect_failed");
                       socket_->set_option(tcp::no_delay(true));
                       socket_->non_blocking(true);
                       flush();  // the upgrade request
                       if (gen == generation_) wait_readable();
                     });
}

void ws_conn::drop() {
  ++generation_;
  open_ = false;
  if (socket_) {
    boost::system::error_code ignored;
    socket_->close(ignored);
  }
}

std::string& ws_conn::next_frame() {
  text_.clear();
  return text_;
}

void ws_conn::send_ack(std::string_view ack_id) {
  std::string& text = next_frame();
  text = "{\"type\":\"ACK\",\"payload\":{\"ackId\":\"";
  text += ack_id;
  text += "\",\"status\":\"received\"}}";
  commit();
  histogram::bump(shard_.acks);
}

bool ws_conn::take_numbered(const numbering& n, std::uint64_t& last_seq, std::string_view gap) {
  const bool repeated = n.seq <= last_seq;
  if (n.seq > last_seq + 1) error(gap);
  if (!repeated) last_seq = n.seq;
  // Also for a repeat (our ACK may have been lost) and a backfill's: the server waits for it.
  if (!n.ack_id.empty()) send_ack(n.ack_id);
  return !repeated;
}

void ws_conn::send_heartbeat(std::int64_t state_version, std::string_view checksum) {
  std::string& text = next_frame();
  text = "{\"type\":\"HEARTBEAT\",\"payload\":{\"stateVersion\":";
  text += std::to_string(state_version);
  text += ",\"stateChecksum\":\"";
  text += checksum;
  text += "\"}}";
  commit();
  histogram::bump(shard_.heartbeats);
}

void ws_conn::send_reconnect(std::string_view room, std::string_view session_id,
                             std::string_view resume_token, std::uint64_t last_seq) {
  std::string& text = next_frame();
  text = "{\"type\":\"RECONNECT\",\"roomId\":\"";
  text += room;
  text += "\",\"version\":\"1.0\",\"payload\":{\"sessionId\":\"";
  text += session_id;
  text += "\",\"resumeToken\":\"";
  text += resume_token;
  text += "\",\"lastSeqId\":";
  text += std::to_string(last_seq);
  text += "}}";
  commit();
}

std::chrono::milliseconds ws_conn::heartbeat_delay(bool next, std::int64_t interval_ms) const {
  const double share =
      next ? 1.0 : 0.5 + static_cast<double>(reinterpret_cast<std::uintptr_t>(this) % 997) / 1994;
  return std::chrono::milliseconds(
      static_cast<std::int64_t>(share * static_cast<double>(interval_ms)));
}

void ws_conn::commit() {
  if (socketio_ && !socketio::to_event(text_)) error("socketio_unmapped_message");
  queue(ws::opcode::text, text_);
  histogram::bump(shard_.frames_out);
}

void ws_conn::queue(ws::opcode op, std::string_view payload) {
  ws::append_masked_frame(out_, op, payload, static_cast<std::uint32_t>(random_()));
  ++unsent_frames_;
  if (open_) schedule_flush();
}

// The write waits until the current handler returns, so that every frame it commits shares it.
void ws_conn::schedule_flush() {
  if (flush_scheduled_ || write_blocked_) return;
  flush_scheduled_ = true;
  const auto gen = generation_;
  net::post(ctx_, [this, gen] {
    if (gen != generation_) return;
    flush_scheduled_ = false;
    flush();
  });
}

void ws_conn::flush() {
  while (out_sent_ < out_.size()) {
    boost::system::error_code ec;
    const std::size_t n =
        socket_->write_some(net::buffer(out_.data() + out_sent_, out_.size() - out_sent_), ec);
    if (ec == net::error::would_block || ec == net::error::try_again) {
      write_blocked_ = true;
      const auto gen = generation_;
      socket_->async_wait(socket_type::wait_write, [this, gen](boost::system::error_code e) {
        if (gen != generation_) return;
        write_blocked_ = false;
        if (e) return closed("write_failed");
        flush();
      });
      return;
    }
    if (ec) return closed("write_failed");
    out_sent_ += n;
  }
  out_.clear();
  out_sent_ = 0;
  unsent_frames_ = 0;
}

void ws_conn::wait_readable() {
  const auto gen = generation_;
  socket_->async_wait(socket_type::wait_read, [this, gen](boost::system::error_code ec) {
    if (gen != generation_) return;
    if (ec) return closed(upgraded_ ? "connection_lost" : "ws_upgrade_failed");
    on_readable();
  });
}

void ws_conn::on_readable() {
  const auto gen = generation_;
  std::vector<char>& buffer = thread_read_buffer();
  const std::size_t kept = partial_in_.size();
  if (buffer.size() < kept + read_chunk_bytes) buffer.resize(kept + read_chunk_bytes);
  std::memcpy(buffer.data(), partial_in_.data(), kept);
  boost::system::error_code ec;
  const std::size_t n = socket_->read_some(net::buffer(buffer.data() + kept, read_chunk_bytes), ec);
  if (ec == net::error::would_block || ec == net::error::try_again) return wait_readable();
  if (ec) return closed(upgraded_ ? "connection_lost" : "ws_upgrade_failed");

  char* data = buffer.data();
  std::size_t size = kept + n;
  if (!upgraded_) {
    const auto taken = read_upgrade_response(std::string_view(data, size));
    if (!taken) return;  // failed and closed
    if (*taken == 0) {
      partial_in_.assign(data, size);
      return wait_readable();
    }
    data += *taken;
    size -= *taken;
    open_ = true;
    // A Socket.IO client's messages wait for the namespace (on_socketio_frame).
    if (!socketio_) on_open();
    if (gen != generation_) return;
  }
  const auto consumed = read_frames(data, size);
  if (!consumed || gen != generation_) return;
  partial_in_.assign(data + *consumed, size - *consumed);
  wait_readable();
}

std::optional<std::size_t> ws_conn::read_upgrade_response(std::string_view data) {
  const std::size_t end = data.find("\r\n\r\n");
  if (end == std::string_view::npos) {
    if (data.size() <= max_upgrade_response_bytes) return 0;
    closed("ws_upgrade_failed");
    return std::nullopt;
  }
  const std::string_view head = data.substr(0, end + 2);
  if (!head.starts_with("HTTP/1.1 101 ") ||
      header_value(head, "Sec-WebSocket-Accept") != expected_accept_) {
    if (run_.log_frame()) {
      std::fprintf(stderr, "upgrade failed: %.*s\n",
                   static_cast<int>(std::min<std::size_t>(head.size(), 300)), head.data());
    }
    closed("ws_upgrade_failed");
    return std::nullopt;
  }
  upgraded_ = true;
  return end + 4;
}

std::optional<std::size_t> ws_conn::read_frames(char* data, std::size_t size) {
  const auto gen = generation_;
  std::string close_code;  // set when the server closed
  bool protocol_error = false;
  const std::size_t consumed = reader_->parse(data, size, [&](const ws::reader_event& event) {
    switch (event.what) {
      case ws::reader_event::kind::message:
        histogram::bump(shard_.frames_in);
        if (!socketio_) {
          on_frame(event.payload);
        } else if (const auto end = on_socketio_frame(event.payload); !end.empty()) {
          close_code = end;  // closed below, as for a close frame
          return false;
        }
        return gen == generation_;  // the handler may have dropped or reconnected
      case ws::reader_event::kind::ping:
        queue(ws::opcode::pong, event.payload);
        return true;
      case ws::reader_event::kind::pong:
        return true;
      case ws::reader_event::kind::close:
        // closed_by_server:<close code>[:<reason>]
        close_code = "closed_by_server:" + std::to_string(event.code);
        if (!event.payload.empty()) {
          close_code += ':';
          close_code += event.payload;
        }
        return false;
      case ws::reader_event::kind::error:
        protocol_error = true;
        return false;
    }
    return false;
  });
  if (gen != generation_) return std::nullopt;
  if (protocol_error) {
    closed("server_protocol_error");
    return std::nullopt;
  }
  if (!close_code.empty()) {
    // Echo the close (best effort, one write), as a client would, then let the socket go.
    queue(ws::opcode::close, ws::close_payload(ws::close_normal, {}));
    flush();
    if (gen == generation_) closed(expect_close_ ? std::string_view{} : close_code);
    return std::nullopt;
  }
  return consumed;
}

std::string_view ws_conn::on_socketio_frame(std::string_view frame) {
  // The io thread's message buffer: an event's JSON lives only while on_frame() runs.
  thread_local std::string message;
  switch (socketio::read(frame, message)) {
    case socketio::packet::open:
      queue(ws::opcode::text, "40");  // CONNECT to "/", no auth
      return {};
    case socketio::packet::ping:
      queue(ws::opcode::text, "3");
      return {};
    case socketio::packet::connected:
      if (namespace_joined_) return {};
      namespace_joined_ = true;
      on_open();
      return {};
    case socketio::packet::event:
      if (!namespace_joined_) {
        error("socketio_event_before_connect");
        return {};
      }
      on_frame(message);
      return {};
    case socketio::packet::disconnect:
      return "closed_by_server:socketio_disconnect";
    case socketio::packet::connect_error:
      if (run_.log_frame()) {
        std::fprintf(stderr, "socketio connect refused: %.*s\n",
                     static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
      }
      return "socketio_connect_error";
    case socketio::packet::close:
      return "closed_by_server:engineio_close";
    case socketio::packet::malformed:
      if (run_.log_frame()) {
        std::fprintf(stderr, "malformed socketio event: %.*s\n",
                     static_cast<int>(std::min<std::size_t>(frame.size(), 300)), frame.data());
      }
      error("socketio_malformed_event");
      return {};
    case socketio::packet::noop:
      return {};
  }
  return {};
}

void ws_conn::closed(std::string_view code) {
  drop();
  if (stopped_) return;
  if (!code.empty() && !run_.stopping.load(std::memory_order_relaxed)) error(code);
  on_closed(code.empty());
}

}  // namespace partyload
