#include "support/ws_client.hpp"

#include <ostream>

#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/json.hpp>

namespace partyd::testing {

namespace beast = boost::beast;
namespace websocket = beast::websocket;
namespace net = boost::asio;
namespace json = boost::json;
using tcp = net::ip::tcp;

std::ostream& operator<<(std::ostream& out, const close_info& info) {
  if (!info.closed) {
    return out << "{still open}";
  }
  if (info.close_frame) {
    return out << "{close " << info.code << " '" << info.reason << "'}";
  }
  return out << "{" << info.error << "}";
}

std::string str(const json::object& frame, std::string_view key) {
  const json::value* value = frame.if_contains(key);
  return value && value->is_string() ? std::string(value->as_string()) : std::string();
}

std::string dump(const std::optional<json::object>& frame) {
  return frame ? json::serialize(*frame) : std::string("<nothing>");
}

ws_client::ws_client() = default;

ws_client::~ws_client() {
  if (ws_) {
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
    ioc_.restart();
    ioc_.run_for(200ms);  // pending handlers complete with errors
  }
}

template <typename Done>
bool ws_client::run_until(Done done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) {
      return false;
    }
    if (ioc_.stopped()) {
      ioc_.restart();
    }
    // run_one_for returns after one handler or when the time is up / no work is left.
    if (ioc_.run_one_for(deadline - now) == 0 && ioc_.stopped()) {
      return done();  // no work left that could make progress
    }
  }
  return true;
}

bool ws_client::connect(std::uint16_t port, std::string_view path, connect_options options) {
  ws_ = std::make_unique<websocket::stream<beast::tcp_stream>>(ioc_);
  auto& socket = beast::get_lowest_layer(*ws_).socket();
  beast::error_code ec;
  socket.open(tcp::v4(), ec);
  if (ec) {
    last_error_ = "open: " + ec.message();
    return false;
  }
  if (options.receive_buffer_bytes > 0) {
    socket.set_option(net::socket_base::receive_buffer_size(options.receive_buffer_bytes), ec);
  }
  std::optional<beast::error_code> result;
  websocket::response_type response;
  const std::string target(path);
  beast::get_lowest_layer(*ws_).expires_after(options.timeout);
  beast::get_lowest_layer(*ws_).async_connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), port), [&](beast::error_code cec) {
        if (cec) {
          result = cec;
          return;
        }
        ws_->async_handshake(response, "127.0.0.1:" + std::to_string(port), target,
                             [&](beast::error_code hec) { result = hec; });
      });
  const bool done = run_until([&] { return result.has_value(); }, options.timeout + 1s);
  beast::get_lowest_layer(*ws_).expires_never();
  upgrade_status_ = static_cast<int>(response.result_int());
  if (!done) {
    last_error_ = "connect timeout";
    beast::error_code ignored;
    socket.close(ignored);
    run_until([&] { return result.has_value(); }, 1s);  // the handlers reference locals
    return false;
  }
  if (*result) {
    last_error_ = "connect: " + result->message();
    return false;
  }
  ws_->text(true);
  ws_->auto_fragment(false);  // one message = one frame, written at once
  connected_ = true;
  start_read();
  return true;
}

bool ws_client::is_open() const { return connected_ && !ended_; }

void ws_client::start_read() {
  if (reading_ || ended_) {
    return;
  }
  reading_ = true;
  ws_->async_read(buffer_, [this](beast::error_code ec, std::size_t) {
    reading_ = false;
    if (ec) {
      close_info info;
      info.closed = true;
      // A close frame was received also when echoing it failed afterwards (the server may reset
      // the connection right after its close frame, e.g. after 1009).
      if (ec == websocket::error::closed || ws_->reason().code != websocket::close_code::none) {
        info.close_frame = true;
        info.code = static_cast<std::uint16_t>(ws_->reason().code);
        info.reason = std::string(ws_->reason().reason.c_str());
      } else {
        info.error = "socket error: " + ec.message();
      }
      ended_ = info;
      return;
    }
    inbox_.push_back(beast::buffers_to_string(buffer_.data()));
    buffer_.consume(buffer_.size());
    start_read();
  });
}

bool ws_client::send_raw(std::string_view text, std::chrono::milliseconds timeout) {
  if (!connected_ || ended_) {
    return false;
  }
  std::optional<beast::error_code> result;
  auto payload = std::make_shared<std::string>(text);
  ws_->async_write(net::buffer(*payload),
                   [&result, payload](beast::error_code ec, std::size_t) { result = ec; });
  if (!run_until([&] { return result.has_value(); }, timeout)) {
    // The write may still complete later; it only touches the shared payload and `result`
    // would dangle, so close the socket and drain the handler now.
    beast::error_code ignored;
    beast::get_lowest_layer(*ws_).socket().close(ignored);
    run_until([&] { return result.has_value(); }, 1s);
    return false;
  }
  return !*result;
}

bool ws_client::send(const json::value& message, std::chrono::milliseconds timeout) {
  return send_raw(json::serialize(message), timeout);
}

bool ws_client::send_bytes(std::size_t bytes, std::chrono::milliseconds timeout) {
  return send_raw(std::string(bytes, 'x'), timeout);
}

std::optional<std::string> ws_client::receive_text(std::chrono::milliseconds timeout) {
  if (!connected_) {
    return std::nullopt;
  }
  run_until([&] { return !inbox_.empty() || ended_.has_value(); }, timeout);
  if (inbox_.empty()) {
    return std::nullopt;
  }
  std::string text = std::move(inbox_.front());
  inbox_.pop_front();
  return text;
}

std::optional<json::object> ws_client::receive(std::chrono::milliseconds timeout) {
  std::optional<std::string> next = receive_text(timeout);
  if (!next) {
    return std::nullopt;
  }
  std::string text = std::move(*next);
  boost::system::error_code ec;
  json::value parsed = json::parse(text, ec);
  if (ec || !parsed.is_object()) {
    return json::object{{"type", "<unparsable>"}, {"raw", text}};
  }
  return std::move(parsed.as_object());
}

std::optional<json::object> ws_client::receive_until(std::string_view type,
                                                     std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    auto frame = receive(std::max(left, 0ms));
    if (!frame) {
      return std::nullopt;
    }
    if (str(*frame, "type") == type) {
      return frame;
    }
    skipped_.push_back(json::serialize(*frame));
  }
}

std::size_t ws_client::pending(std::chrono::milliseconds for_at_most) {
  if (connected_ && for_at_most > 0ms) {
    run_until([&] { return ended_.has_value(); }, for_at_most);
  }
  return inbox_.size();
}

close_info ws_client::expect_closed(std::chrono::milliseconds timeout) {
  if (!connected_) {
    close_info info;
    info.closed = true;
    info.error = "never connected";
    return info;
  }
  run_until([&] { return ended_.has_value(); }, timeout);
  for (auto& text : inbox_) {
    skipped_.push_back(std::move(text));
  }
  inbox_.clear();
  return ended_.value_or(close_info{});
}

void ws_client::close(std::chrono::milliseconds timeout) {
  if (!connected_ || ended_) {
    return;
  }
  auto done = std::make_shared<bool>(false);
  ws_->async_close(websocket::close_code::normal, [done](beast::error_code) { *done = true; });
  run_until([&] { return *done && ended_.has_value(); }, timeout);
  if (!*done || !ended_) {
    drop();
  }
}

void ws_client::drop() {
  if (!ws_) {
    return;
  }
  beast::error_code ignored;
  beast::get_lowest_layer(*ws_).socket().shutdown(tcp::socket::shutdown_both, ignored);
  beast::get_lowest_layer(*ws_).socket().close(ignored);
  run_until([&] { return !reading_; }, 1s);
  if (!ended_) {
    close_info info;
    info.closed = true;
    info.error = "dropped by the client";
    ended_ = info;
  }
}

}  // namespace partyd::testing
