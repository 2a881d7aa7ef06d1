// Test harness for the relay game: drives a relay_game through its module's decode and the Game
// interface, without sockets, and parses the produced frames. Single-threaded (test thread only).
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

namespace partyd::relay::testing {

namespace json = boost::json;

inline constexpr std::string_view room_code = "ROOM42";

// One step's output.
struct outcome {
  protocol_error decode_error;  // set when decode refused the text (no step ran)
  std::vector<effect> effects;

  // Frames (parsed) sent to one connection by `send`, in order.
  std::vector<json::object> to(connection_id conn) const {
    std::vector<json::object> frames;
    for (const effect& e : effects) {
      if (e.kind == effect_kind::send && e.conn == conn) {
        frames.push_back(json::parse(*e.frame).as_object());
      }
    }
    return frames;
  }
  // Frames broadcast with send_roles, with their role masks.
  std::vector<std::pair<role_mask, json::object>> broadcasts() const {
    std::vector<std::pair<role_mask, json::object>> frames;
    for (const effect& e : effects) {
      if (e.kind == effect_kind::send_roles) {
        frames.emplace_back(e.roles, json::parse(*e.frame).as_object());
      }
    }
    return frames;
  }
  std::vector<const effect*> of_kind(effect_kind kind) const {
    std::vector<const effect*> found;
    for (const effect& e : effects) {
      if (e.kind == kind) {
        found.push_back(&e);
      }
    }
    return found;
  }
  const effect* close_of(connection_id conn) const {
    for (const effect& e : effects) {
      if (e.kind == effect_kind::close_connection && e.conn == conn) {
        return &e;
      }
    }
    return nullptr;
  }
  std::size_t count_of(std::string_view counter) const {
    std::size_t n = 0;
    for (const effect& e : effects) {
      n += (e.kind == effect_kind::count && e.text == counter) ? 1 : 0;
    }
    return n;
  }
  bool important() const { return !of_kind(effect_kind::important).empty(); }
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
  explicit harness(json::object options = {}, relay_config config = {}) : module_(config) {
    create_result created = module_.create(options, room_code);
    EXPECT_FALSE(created.error) << created.error.code << ": " << created.error.message;
    host_key_ = str(created.reply.at("hostKey"));
    game_ = std::move(created.instance);
  }
  explicit harness(std::unique_ptr<game> restored, relay_config config = {})
      : module_(config), game_(std::move(restored)) {}

  // Decodes `text` as the module would on the io thread, then steps the game with it.
  outcome send_text(connection_id conn, std::string_view text) {
    const bool first = seen_.insert(conn).second;
    decode_result decoded = module_.decode(text, first);
    outcome result;
    if (decoded.error) {
      result.decode_error = decoded.error;
      return result;
    }
    if (first) {
      EXPECT_EQ(decoded.room_code, room_code);
    }
    input in;
    in.kind = input_kind::command;
    in.conn = conn;
    in.cmd = std::move(decoded.cmd);
    if (first) {
      // Built by appending: "s" + to_string(...) trips a GCC 12 false -Wrestrict warning.
      in.secret = "s";
      in.secret += std::to_string(++secrets_);
      in.secret += "x";
      in.secret += std::to_string(conn);
    }
    return run(in);
  }
  outcome send(connection_id conn, const json::object& message) {
    return send_text(conn, json::serialize(message));
  }
  outcome engine_input(input_kind kind, connection_id conn = 0) {
    input in;
    in.kind = kind;
    in.conn = conn;
    return run(in);
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
  game& instance() { return *game_; }
  relay_game& relay() { return dynamic_cast<relay_game&>(*game_); }
  const relay_module& module() const { return module_; }
  std::vector<effect>& log() { return log_; }

 private:
  outcome run(input& in) {
    effects out;
    game_->step(in, 1000, rng_, out);
    outcome result;
    result.effects = out.list();
    log_.insert(log_.end(), out.list().begin(), out.list().end());
    return result;
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
  std::unique_ptr<game> game_;
  room_rng rng_{7};
  std::string host_key_;
  std::set<connection_id> seen_;
  std::uint64_t secrets_ = 0;
  std::vector<effect> log_;
};

}  // namespace partyd::relay::testing
