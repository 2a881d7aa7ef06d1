// Test harness for the relay game: the shared game_driver (tests/support/game_driver.hpp) with the
// relay's handshakes and questions. Single-threaded (test thread only).
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>
#include <boost/json.hpp>

#include "engine/effects.hpp"
#include "engine/game.hpp"
#include "engine/rng.hpp"
#include "games/relay/codec.hpp"
#include "games/relay/game.hpp"
#include "games/relay/module.hpp"
#include "support/game_driver.hpp"

namespace partyd::relay::testing {

namespace json = boost::json;

inline constexpr std::string_view room_code = "ROOM42";

// One step's output, with the relay's own questions.
struct outcome : partyd::testing::step_outcome {
  outcome() = default;
  outcome(partyd::testing::step_outcome o) : step_outcome(std::move(o)) {}  // NOLINT

  // The single frame sent to `conn`; fails the test when there is not exactly one.
  json::object only(connection_id conn) const {
    std::vector<json::object> frames = to(conn);
    EXPECT_EQ(frames.size(), 1u) << "frames to " << conn;
    return frames.empty() ? json::object{} : frames.front();
  }
  // The error code of the single error frame sent to `conn`, or "" when none.
  std::string error_code(connection_id conn) const {
    for (const json::object& frame : to(conn)) {
      if (frame.at("type") == "error" ||
          (frame.at("type") == "handshake_response" && frame.at("status") == "error")) {
        return std::string(frame.at("code").as_string());
      }
    }
    return {};
  }
};

inline std::string str(const json::value& v) { return std::string(v.as_string()); }

class harness {
 public:
  explicit harness(json::object options = {}, relay_config config = {})
      : module_(config), driver_(module_, create(options), 1000) {}
  explicit harness(std::unique_ptr<game> restored, relay_config config = {})
      : module_(config), driver_(module_, std::move(restored), 1000) {}

  // Decodes `text` as the module would on the io thread, then steps the game with it.
  outcome send_text(connection_id conn, std::string_view text) {
    // Built by appending: "s" + to_string(...) trips a GCC 12 false -Wrestrict warning.
    std::string secret = "s";
    secret += std::to_string(++secrets_);
    secret += "x";
    secret += std::to_string(conn);
    return driver_.send_text(conn, text, std::move(secret));
  }
  // A player handshake that names a clientId this harness saw given out, without a seatToken,
  // gets that seat's token added: a reconnecting client sends both. Tests of a missing or wrong
  // token send it themselves (or use send_text).
  outcome send(connection_id conn, json::object message) {
    if (message.contains("clientId") && !message.contains("seatToken") &&
        message.at("type") == "handshake") {
      auto token = seat_tokens_.find(str(message.at("clientId")));
      if (token != seat_tokens_.end()) message["seatToken"] = token->second;
    }
    outcome o = send_text(conn, json::serialize(message));
    for (const json::object& frame : o.to(conn)) {
      if (frame.at("type") == "handshake_response" && frame.contains("seatToken")) {
        seat_tokens_[str(frame.at("clientId"))] = str(frame.at("seatToken"));
      }
    }
    return o;
  }
  // The seat token the player holding `client_id` was given ("" when none).
  std::string seat_token(const std::string& client_id) const {
    auto found = seat_tokens_.find(client_id);
    return found == seat_tokens_.end() ? std::string() : found->second;
  }
  outcome engine_input(input_kind kind, connection_id conn = 0) {
    return driver_.engine_input(kind, conn);
  }
  outcome disconnect(connection_id conn) { return engine_input(input_kind::disconnect, conn); }

  // Handshakes; returns the clientId given (empty on failure).
  std::string join_host(connection_id conn) {
    outcome o = send(
        conn,
        {{"type", "handshake"}, {"roomCode", room_code}, {"role", "host"}, {"hostKey", host_key_}});
    return client_id_of(o, conn);
  }
  std::string join_player(connection_id conn, json::object extra = {}) {
    json::object hs{{"type", "handshake"}, {"roomCode", room_code}, {"role", "player"}};
    for (auto& kv : extra) {
      hs[kv.key()] = kv.value();
    }
    return client_id_of(send(conn, hs), conn);
  }
  std::string join_audience(connection_id conn) {
    return client_id_of(
        send(conn, {{"type", "handshake"}, {"roomCode", room_code}, {"role", "audience"}}), conn);
  }
  outcome handshake(connection_id conn, json::object fields) {
    fields["type"] = "handshake";
    if (!fields.contains("roomCode")) {
      fields["roomCode"] = room_code;
    }
    return send(conn, fields);
  }

  const std::string& host_key() const { return host_key_; }
  game& instance() { return driver_.instance(); }
  relay_game& relay() { return dynamic_cast<relay_game&>(driver_.instance()); }
  const relay_module& module() const { return module_; }
  std::vector<effect>& log() { return driver_.log(); }
  partyd::testing::game_driver& driver() { return driver_; }

 private:
  std::unique_ptr<game> create(const json::object& options) {
    create_result created = module_.create(options, room_code);
    EXPECT_FALSE(created.error) << created.error.code << ": " << created.error.message;
    if (created.reply.contains("hostKey")) host_key_ = str(created.reply.at("hostKey"));
    return std::move(created.instance);
  }
  static std::string client_id_of(const outcome& o, connection_id conn) {
    EXPECT_FALSE(o.decode_error) << o.decode_error.code << ": " << o.decode_error.message;
    for (const json::object& frame : o.to(conn)) {
      if (frame.at("type") == "handshake_response") {
        EXPECT_EQ(frame.at("status"), "success") << json::serialize(frame);
        if (frame.at("status") == "success") {
          return str(frame.at("clientId"));
        }
      }
    }
    ADD_FAILURE() << "no handshake_response to " << conn;
    return {};
  }

  relay_module module_;
  std::string host_key_;
  partyd::testing::game_driver driver_;
  std::uint64_t secrets_ = 0;
  std::map<std::string, std::string> seat_tokens_;
};

}  // namespace partyd::relay::testing
