#include "support/raw_ws_client.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cstring>

#include "support/tcp_probe.hpp"

namespace partyd::testing {

namespace {

std::string lower(std::string text) {
  std::transform(text.begin(), text.end(), text.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return text;
}

}  // namespace

raw_ws_client::~raw_ws_client() {
  if (fd_ >= 0) {
    ::close(fd_);
  }
}

bool raw_ws_client::connect(std::uint16_t port, int receive_buffer) {
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) {
    return false;
  }
  if (receive_buffer > 0) {
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &receive_buffer, sizeof receive_buffer);
  }
  const int one = 1;
  ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_port = htons(port);
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return ::connect(fd_, reinterpret_cast<sockaddr*>(&address), sizeof address) == 0;
}

int raw_ws_client::upgrade_with(const std::string& request) {
  if (!send_bytes(request)) {
    return 0;
  }
  std::size_t end = std::string::npos;
  while ((end = inbox_.find("\r\n\r\n")) == std::string::npos) {
    if (!read_more(std::chrono::seconds(5))) {
      return 0;
    }
  }
  const std::string head = inbox_.substr(0, end);
  inbox_.erase(0, end + 4);
  // "HTTP/1.1 101 Switching Protocols", then "name: value" lines.
  std::size_t line_end = head.find("\r\n");
  const std::string status_line = head.substr(0, line_end);
  const auto space = status_line.find(' ');
  if (space == std::string::npos) {
    return 0;
  }
  const int status = std::atoi(status_line.c_str() + space + 1);
  std::size_t at = line_end == std::string::npos ? head.size() : line_end + 2;
  while (at < head.size()) {
    line_end = head.find("\r\n", at);
    const std::string line = head.substr(at, line_end - at);
    const auto colon = line.find(':');
    if (colon != std::string::npos) {
      std::string value = line.substr(colon + 1);
      value.erase(0, value.find_first_not_of(' '));
      headers_[lower(line.substr(0, colon))] = value;
    }
    at = line_end == std::string::npos ? head.size() : line_end + 2;
  }
  return status;
}

int raw_ws_client::upgrade(std::string_view path, std::string_view key) {
  std::string request = "GET " + std::string(path) +
                        " HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
                        "Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\n"
                        "Sec-WebSocket-Key: " +
                        std::string(key) + "\r\n\r\n";
  return upgrade_with(request);
}

bool raw_ws_client::send_bytes(std::string_view bytes) { return send_all(fd_, bytes); }

bool raw_ws_client::send_frame(ws::opcode op, std::string_view payload, bool fin) {
  std::string frame;
  ws::append_masked_frame(frame, op, payload, 0x5EEDF00Du);
  if (!fin) {
    frame[0] = static_cast<char>(frame[0] & 0x7F);
  }
  return send_bytes(frame);
}

bool raw_ws_client::read_more(std::chrono::milliseconds timeout) {
  if (eof_) {
    return false;
  }
  pollfd ready{fd_, POLLIN, 0};
  if (::poll(&ready, 1, static_cast<int>(timeout.count())) <= 0) {
    return false;
  }
  char buffer[16 * 1024];
  const ssize_t got = ::recv(fd_, buffer, sizeof buffer, 0);
  if (got <= 0) {
    eof_ = true;
    return false;
  }
  inbox_.append(buffer, static_cast<std::size_t>(got));
  return true;
}

std::optional<raw_frame> raw_ws_client::receive(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    // A fresh reader per frame: the server never fragments, so each frame is a whole message.
    ws::frame_reader reader(1 << 24, /*expect_masked=*/false);
    std::optional<raw_frame> frame;
    const std::size_t used =
        reader.parse(inbox_.data(), inbox_.size(), [&](const ws::reader_event& event) {
          raw_frame f;
          switch (event.what) {
            case ws::reader_event::kind::message:
              f.op = event.binary ? ws::opcode::binary : ws::opcode::text;
              break;
            case ws::reader_event::kind::ping:
              f.op = ws::opcode::ping;
              break;
            case ws::reader_event::kind::pong:
              f.op = ws::opcode::pong;
              break;
            case ws::reader_event::kind::close:
              f.op = ws::opcode::close;
              f.close_code = event.code;
              f.close_reason = std::string(event.payload);
              break;
            case ws::reader_event::kind::error:
              return false;
          }
          f.payload = std::string(event.payload);
          frame = std::move(f);
          return false;  // one frame per call
        });
    if (frame) {
      inbox_.erase(0, used);
      return frame;
    }
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !read_more(left)) {
      return std::nullopt;
    }
  }
}

bool raw_ws_client::wait_eof(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!eof_) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) {
      return false;
    }
    if (!read_more(left) && !eof_) {
      return false;
    }
    inbox_.clear();
  }
  return true;
}

}  // namespace partyd::testing
