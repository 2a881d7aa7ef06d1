// fanout_baseline: the smallest relay fan-out server we can write, the ceiling partyd is measured
// against (bench/README.md). It speaks just enough of the relay protocol for
// `partyload --scenario relay-fanout`: POST /api/rooms, the WebSocket upgrade on /ws/relay, the
// handshake message, set_game_state -> game_state to every player, message_to_host ->
// client_message to the host. No game rules, no JSON parser, no persistence. WebSocket framing is
// partyd's own (io/ws_codec), so the two servers do the same work per frame.
//
// Why plain epoll on one thread: it is the floor. There is no handler allocation, no strand and
// no cross-thread hand-off, and it makes coalescing explicit: every frame for a connection is
// appended to its output buffer while a batch of events is handled, and each dirty connection
// gets one write() at the end of the pass. A small write() to loopback costs 4-7 µs of syscall and
// TCP work; shared by 16 frames it is ~0.3 µs each, and that is what the best servers do.
//
// Shortcuts a real server cannot take, and why they do not change what is measured:
// - Fields are found by substring search in compact JSON (`"roomCode":"..."`, no spaces), as
//   partyload (Boost.JSON) writes it. A host's `state` (and a player's `message`) must be the
//   last field of the object: the outgoing frame is a fixed prefix plus the bytes after
//   `"state":` (or `"message":`), closing brace included. partyload writes them that way.
// - Room codes come from a counter and host keys are not secret; there are no limits besides a
//   per-connection output cap (a client that stops reading is dropped).
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "io/ws_codec.hpp"

namespace {

namespace ws = partyd::ws;

constexpr std::size_t max_message_bytes = 64 * 1024;
constexpr std::size_t max_pending_output = 4 * 1024 * 1024;

struct room;

struct connection {
  int fd = -1;
  enum class phase { http, websocket, closed } state = phase::http;
  std::string in;
  std::string out;
  std::size_t out_sent = 0;  // bytes of `out` already written
  ws::frame_reader reader{max_message_bytes, /*expect_masked=*/true};
  bool dirty = false;  // in the flush list of this pass
  bool watching_output = false;
  bool close_after_flush = false;
  room* joined = nullptr;
  bool is_host = false;
  std::size_t player_index = 0;  // in joined->players
  std::string client_id;
};

struct room {
  std::string code;
  std::string host_key;
  connection* host = nullptr;
  std::vector<connection*> players;
};

struct server {
  int epoll_fd = -1;
  int listen_fd = -1;
  std::string admin_token;
  std::vector<std::unique_ptr<connection>> by_fd;
  std::vector<std::unique_ptr<connection>> closed_this_pass;  // freed after the flush
  std::vector<connection*> dirty;
  std::unordered_map<std::string, std::unique_ptr<room>> rooms;
  std::uint64_t rooms_made = 0;
  std::uint64_t clients_made = 0;
};

volatile std::sig_atomic_t stopping = 0;

std::string frame_of(ws::opcode op, std::string_view payload) {
  std::string frame;
  ws::append_frame(frame, op, payload);
  return frame;
}

// ----- output: queue now, one write per connection per pass -----

void queue_output(server& s, connection& c, std::string_view bytes) {
  // Nothing may follow a close frame (set once it is queued).
  if (c.state == connection::phase::closed || c.close_after_flush) return;
  c.out.append(bytes);
  if (!c.dirty) {
    c.dirty = true;
    s.dirty.push_back(&c);
  }
}

// Queues a close frame; the connection is closed once its output is written.
void queue_close(server& s, connection& c, std::string_view payload) {
  queue_output(s, c, frame_of(ws::opcode::close, payload));
  c.close_after_flush = true;
}

void watch_output(server& s, connection& c, bool on) {
  if (c.watching_output == on) return;
  c.watching_output = on;
  epoll_event ev{};
  ev.events = EPOLLIN | (on ? EPOLLOUT : 0u);
  ev.data.ptr = &c;
  epoll_ctl(s.epoll_fd, EPOLL_CTL_MOD, c.fd, &ev);
}

void close_connection(server& s, connection& c) {
  if (c.state == connection::phase::closed) return;
  c.state = connection::phase::closed;
  if (room* r = c.joined) {
    if (c.is_host) {
      if (r->host == &c) r->host = nullptr;
    } else {
      // Swap-remove keeps the player list dense for the fan-out loop.
      connection* last = r->players.back();
      r->players[c.player_index] = last;
      last->player_index = c.player_index;
      r->players.pop_back();
    }
  }
  epoll_ctl(s.epoll_fd, EPOLL_CTL_DEL, c.fd, nullptr);
  ::close(c.fd);
  s.closed_this_pass.push_back(std::move(s.by_fd[static_cast<std::size_t>(c.fd)]));
}

// Returns false when the connection was closed.
bool write_pending(server& s, connection& c) {
  while (c.out_sent < c.out.size()) {
    const ssize_t n = ::write(c.fd, c.out.data() + c.out_sent, c.out.size() - c.out_sent);
    if (n > 0) {
      c.out_sent += static_cast<std::size_t>(n);
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      if (c.out.size() - c.out_sent > max_pending_output) {
        close_connection(s, c);  // not reading: drop it rather than buffer without bound
        return false;
      }
      watch_output(s, c, true);
      return true;
    }
    close_connection(s, c);
    return false;
  }
  c.out.clear();
  c.out_sent = 0;
  watch_output(s, c, false);
  if (c.close_after_flush) {
    close_connection(s, c);
    return false;
  }
  return true;
}

void flush_dirty(server& s) {
  for (connection* c : s.dirty) {
    c->dirty = false;
    if (c->state == connection::phase::closed) continue;
    if (!c->watching_output) {
      write_pending(s, *c);
    } else if (c->out.size() - c->out_sent > max_pending_output) {
      close_connection(s, *c);  // still not reading: drop it rather than buffer without bound
    }
  }
  s.dirty.clear();
  s.closed_this_pass.clear();
}

// ----- relay messages -----

// The string value after `"field":"` in `text`, or empty.
std::string_view string_field(std::string_view text, std::string_view quoted_field_colon_quote) {
  const auto at = text.find(quoted_field_colon_quote);
  if (at == std::string_view::npos) return {};
  const auto begin = at + quoted_field_colon_quote.size();
  const auto end = text.find('"', begin);
  if (end == std::string_view::npos) return {};
  return text.substr(begin, end - begin);
}

// The bytes after `"field":`, which partyload puts last: the value and the closing brace.
std::string_view tail_after(std::string_view text, std::string_view quoted_field_colon) {
  const auto at = text.find(quoted_field_colon);
  if (at == std::string_view::npos) return {};
  return text.substr(at + quoted_field_colon.size());
}

void refuse_handshake(server& s, connection& c, std::string_view code) {
  queue_output(
      s, c,
      frame_of(ws::opcode::text, R"({"type":"handshake_response","status":"error","code":")" +
                                     std::string(code) + "\"}"));
  queue_close(s, c, ws::close_payload(ws::close_policy, code));
}

void on_handshake(server& s, connection& c, std::string_view text) {
  const auto found = s.rooms.find(std::string(string_field(text, R"("roomCode":")")));
  if (found == s.rooms.end()) return refuse_handshake(s, c, "room_not_found");
  room& r = *found->second;
  const bool host = string_field(text, R"("role":")") == "host";
  if (host && string_field(text, R"("hostKey":")") != r.host_key) {
    return refuse_handshake(s, c, "wrong_host_key");
  }
  if (host) {
    if (r.host != nullptr) {
      r.host->joined = nullptr;  // the older host leaves the room and is closed after its flush
      queue_close(s, *r.host, ws::close_payload(4001, "host_replaced"));
    }
    r.host = &c;
  } else {
    c.player_index = r.players.size();
    r.players.push_back(&c);
  }
  c.joined = &r;
  c.is_host = host;
  // partyload counts a player's handshake_response without a clientId and seatToken as an error.
  c.client_id = (host ? "h_" : "p_") + std::to_string(++s.clients_made);
  std::string response = R"({"type":"handshake_response","status":"success","role":")";
  response.append(host ? "host" : "player").append(R"(","clientId":")").append(c.client_id);
  if (!host) response.append(R"(","seatToken":"t)").append(c.client_id);
  queue_output(s, c, frame_of(ws::opcode::text, response + R"(","gameState":{}})"));
}

void on_text(server& s, connection& c, std::string_view text) {
  if (c.joined == nullptr) {
    if (!c.close_after_flush) on_handshake(s, c, text);
    return;
  }
  room& r = *c.joined;
  if (c.is_host) {
    if (text.find(R"("type":"set_game_state")") == std::string_view::npos) return;
    const std::string_view state = tail_after(text, R"("state":)");
    if (state.empty()) return;
    // Framed once, copied into every player's output buffer.
    constexpr std::string_view prefix = R"({"type":"game_state","state":)";
    std::string payload;
    payload.reserve(prefix.size() + state.size());
    payload.append(prefix).append(state);
    const std::string frame = frame_of(ws::opcode::text, payload);
    for (connection* player : r.players) queue_output(s, *player, frame);
    return;
  }
  if (r.host == nullptr || text.find(R"("type":"message_to_host")") == std::string_view::npos) {
    return;
  }
  const std::string_view message = tail_after(text, R"("message":)");
  if (message.empty()) return;
  std::string payload = R"({"type":"client_message","clientId":")";
  payload.append(c.client_id).append(R"(","role":"player","message":)").append(message);
  queue_output(s, *r.host, frame_of(ws::opcode::text, payload));
}

// Handles every complete frame in c.in; the reader unmasks them in place and reassembles
// fragmented messages.
void on_websocket_bytes(server& s, connection& c) {
  const std::size_t used = c.reader.parse(c.in.data(), c.in.size(), [&](const ws::reader_event& e) {
    switch (e.what) {
      case ws::reader_event::kind::message:
        on_text(s, c, e.payload);
        break;
      case ws::reader_event::kind::ping:
        queue_output(s, c, frame_of(ws::opcode::pong, e.payload));
        break;
      case ws::reader_event::kind::pong:
        break;
      case ws::reader_event::kind::close:  // echo the status code
        queue_close(s, c, e.code == ws::close_no_status ? "" : ws::close_payload(e.code, ""));
        break;
      case ws::reader_event::kind::error:  // e.g. unmasked, or over max_message_bytes
        queue_close(s, c, ws::close_payload(e.code, e.error_reason));
        break;
    }
    return !c.close_after_flush;  // nothing more is read once a close frame is queued
  });
  c.in.erase(0, used);
}

// ----- HTTP: the admin API's room creation and the WebSocket upgrade -----

std::string_view header_value(std::string_view head, std::string_view name) {
  // Case-insensitive search for "\r\n<name>:".
  for (std::size_t at = head.find("\r\n"); at != std::string_view::npos;
       at = head.find("\r\n", at + 2)) {
    const std::string_view line = head.substr(at + 2, head.find("\r\n", at + 2) - at - 2);
    if (line.size() <= name.size() || line[name.size()] != ':') continue;
    if (strncasecmp(line.data(), name.data(), name.size()) != 0) continue;
    std::string_view value = line.substr(name.size() + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    while (!value.empty() && value.back() == ' ') value.remove_suffix(1);
    return value;
  }
  return {};
}

void http_reply(server& s, connection& c, std::string_view status, std::string_view body) {
  std::string response = "HTTP/1.1 ";
  response.append(status).append("\r\nContent-Type: application/json\r\nContent-Length: ");
  response.append(std::to_string(body.size())).append("\r\n\r\n").append(body);
  queue_output(s, c, response);
}

std::string make_room(server& s) {
  // Six characters of the relay alphabet, distinct for the first 32^6 rooms.
  constexpr std::string_view alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789";
  auto r = std::make_unique<room>();
  std::uint64_t n = (++s.rooms_made * 0x9e3779b1u) & 0x3fffffff;
  for (int i = 0; i < 6; ++i, n >>= 5) r->code.push_back(alphabet[n & 31]);
  r->host_key = std::to_string(s.rooms_made);
  std::string body = R"({"roomCode":")";
  body.append(r->code).append(R"(","hostKey":")").append(r->host_key);
  body.append(R"(","game":"relay","maxPlayers":0,"maxAudience":0,"hasPassword":false})");
  s.rooms.emplace(r->code, std::move(r));
  return body;
}

// Handles every complete request in c.in; an upgrade hands the rest of the bytes to WebSocket.
void on_http_bytes(server& s, connection& c) {
  for (;;) {
    const auto end = c.in.find("\r\n\r\n");
    if (end == std::string::npos) {
      if (c.in.size() > 16 * 1024) close_connection(s, c);
      return;
    }
    const std::string_view head(c.in.data(), end + 2);
    std::size_t body_length = 0;
    if (auto value = header_value(head, "Content-Length"); !value.empty()) {
      body_length = std::strtoul(std::string(value).c_str(), nullptr, 10);
    }
    if (c.in.size() < end + 4 + body_length) return;
    const std::string_view request_line = head.substr(0, head.find("\r\n"));

    if (request_line.starts_with("GET /ws/relay ")) {
      const std::string_view key = header_value(head, "Sec-WebSocket-Key");
      if (!ws::valid_client_key(key)) {
        http_reply(s, c, "400 Bad Request", R"({"error":"bad_request"})");
        c.close_after_flush = true;
        return;
      }
      queue_output(s, c,
                   "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                   "Connection: Upgrade\r\nSec-WebSocket-Accept: " +
                       ws::accept_key(key) + "\r\n\r\n");
      c.in.erase(0, end + 4);
      c.state = connection::phase::websocket;
      on_websocket_bytes(s, c);
      return;
    }
    if (request_line.starts_with("POST /api/rooms ")) {
      const std::string_view auth = header_value(head, "Authorization");
      if (!s.admin_token.empty() && auth != "Bearer " + s.admin_token) {
        http_reply(s, c, "401 Unauthorized", R"({"error":"unauthorized"})");
      } else {
        http_reply(s, c, "201 Created", make_room(s));
      }
    } else {
      http_reply(s, c, "404 Not Found", R"({"error":"not_found"})");
    }
    c.in.erase(0, end + 4 + body_length);
  }
}

// ----- event loop -----

void on_readable(server& s, connection& c) {
  // One shared read buffer: a 64 kB string per connection would cost 64 kB of RSS each.
  static char buffer[64 * 1024];
  const ssize_t n = ::read(c.fd, buffer, sizeof buffer);
  if (n <= 0) {
    if (n < 0 && (errno == EAGAIN || errno == EINTR)) return;
    close_connection(s, c);
    return;
  }
  c.in.append(buffer, static_cast<std::size_t>(n));
  if (c.close_after_flush) {
    c.in.clear();  // closing: ignore anything more
  } else if (c.state == connection::phase::http) {
    on_http_bytes(s, c);
  } else {
    on_websocket_bytes(s, c);
  }
}

void accept_all(server& s) {
  for (;;) {
    const int fd = ::accept4(s.listen_fd, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) return;  // EAGAIN, or out of descriptors: try again on the next event
    const int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (s.by_fd.size() <= static_cast<std::size_t>(fd)) s.by_fd.resize(fd + 1);
    auto c = std::make_unique<connection>();
    c->fd = fd;
    epoll_event ev{};
    ev.events = EPOLLIN;
    ev.data.ptr = c.get();
    epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, fd, &ev);
    s.by_fd[static_cast<std::size_t>(fd)] = std::move(c);
  }
}

int listen_on(int port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  const int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(static_cast<std::uint16_t>(port));
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof address) != 0 ||
      ::listen(fd, 4096) != 0) {
    std::perror("fanout_baseline: bind/listen");
    std::exit(1);
  }
  return fd;
}

int bound_port(int fd) {
  sockaddr_in address{};
  socklen_t length = sizeof address;
  getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length);
  return ntohs(address.sin_port);
}

}  // namespace

int main(int argc, char** argv) {
  int port = 8080;
  std::string port_file;
  server s;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (i + 1 < argc && arg == "--port") {
      port = std::atoi(argv[++i]);
    } else if (i + 1 < argc && arg == "--port-file") {
      port_file = argv[++i];
    } else if (i + 1 < argc && arg == "--admin-token") {
      s.admin_token = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: fanout_baseline [--port P (0 = any)] [--port-file F] "
                   "[--admin-token T (empty = no check)]\n");
      return arg == "--help" ? 0 : 2;
    }
  }
  std::signal(SIGPIPE, SIG_IGN);
  std::signal(SIGINT, [](int) { stopping = 1; });
  std::signal(SIGTERM, [](int) { stopping = 1; });

  s.listen_fd = listen_on(port);
  s.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
  epoll_event listen_event{};
  listen_event.events = EPOLLIN;
  listen_event.data.ptr = nullptr;  // connections carry their own pointer
  epoll_ctl(s.epoll_fd, EPOLL_CTL_ADD, s.listen_fd, &listen_event);
  port = bound_port(s.listen_fd);
  if (!port_file.empty()) {
    const std::string temporary = port_file + ".tmp";
    std::ofstream(temporary) << port << "\n";
    std::rename(temporary.c_str(), port_file.c_str());  // readers never see a partial file
  }
  std::fprintf(stderr, "fanout_baseline listening on 127.0.0.1:%d\n", port);

  std::vector<epoll_event> events(1024);
  while (!stopping) {
    const int ready = epoll_wait(s.epoll_fd, events.data(), static_cast<int>(events.size()), 500);
    for (int i = 0; i < ready; ++i) {
      auto* c = static_cast<connection*>(events[static_cast<std::size_t>(i)].data.ptr);
      if (c == nullptr) {
        accept_all(s);
        continue;
      }
      // Closed earlier in this pass: still allocated (closed_this_pass) until the flush.
      if (c->state == connection::phase::closed) continue;
      const std::uint32_t flags = events[static_cast<std::size_t>(i)].events;
      if ((flags & EPOLLOUT) && !write_pending(s, *c)) continue;
      if (flags & (EPOLLIN | EPOLLHUP | EPOLLERR)) on_readable(s, *c);
    }
    flush_dirty(s);
  }
  return 0;
}
