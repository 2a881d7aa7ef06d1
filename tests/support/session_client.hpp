// session_client: a client of the session layer (docs/protocol/sessions.md) over ws_client, as a
// real one would behave: it keeps the session from CONNECTED, processes numbered frames once each
// (a resend repeats a number), acknowledges reliable frames unless told not to, and resumes with
// RECONNECT, applying missedEvents. Helpers report problems through their return values.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/object.hpp>

#include "support/ws_client.hpp"

namespace partyd::testing {

class session_client {
 public:
  session_client(std::uint16_t port, std::string path) : port_(port), path_(std::move(path)) {}

  // Connects and sends `first` (which should carry "version"); true once CONNECTED and the
  // game's reply (the first numbered frame) arrived.
  bool open(const boost::json::object& first, std::chrono::milliseconds timeout = 5s);
  // Drops the TCP connection without a close frame (the network went away).
  void drop();
  bool connected() const { return ws_ && ws_->is_open(); }
  // RECONNECT on a new connection; returns RECONNECTED or RECONNECT_FAILED (nullopt: nothing).
  // RECONNECTED's missedEvents are processed as if they had arrived live.
  std::optional<boost::json::object> resume(std::string_view room_code,
                                            std::chrono::milliseconds timeout = 5s);

  bool send(const boost::json::object& message);
  // Reads and processes frames for up to `timeout`, until `done()` holds; returns done().
  template <typename Done>
  bool pump_until(Done done, std::chrono::milliseconds timeout = 5s);
  // Reads and processes every frame that arrives within `quiet` of the previous one.
  void pump(std::chrono::milliseconds quiet = 200ms);

  // Numbered frames processed, in order, once each (sequenceId removed: the body as sent).
  std::vector<boost::json::object> stream;
  std::vector<std::uint64_t> numbers;           // their sequenceIds
  std::vector<boost::json::object> unnumbered;  // session frames and errors, in order
  std::uint64_t duplicates = 0;                 // frames whose number was seen already (resends)
  std::uint64_t gaps = 0;                       // numbers skipped (a frame lost)
  bool acknowledge = true;                      // answer requiresAck with ACK
  std::string session_id;
  std::string resume_token;
  std::string epoch;
  std::uint64_t last_seq = 0;
  ws_client* ws() const { return ws_.get(); }

 private:
  void process(boost::json::object frame);

  std::uint16_t port_;
  std::string path_;
  std::unique_ptr<ws_client> ws_;
};

template <typename Done>
bool session_client::pump_until(Done done, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !ws_) return done();
    auto frame = ws_->receive(std::min<std::chrono::milliseconds>(left, 100ms));
    if (frame) process(std::move(*frame));
  }
  return true;
}

}  // namespace partyd::testing
