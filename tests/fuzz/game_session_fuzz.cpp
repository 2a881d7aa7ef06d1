// Drives a relay, a brainrot, a quiz and an Alias room with fuzzed client messages, as io and the
// worker would (decode, then step), and requires that every snapshot any game writes restores and
// writes the same bytes again. Input: lines; a line's first byte picks the game (bit 6 set: Mafia,
// see mafia_session.hpp; else bit 5: Alias, whose host is connection 2 and whose timers fire as
// the clock moves 1 s a message; else bit 4: the quiz; else bit 0: relay or brainrot) and the
// connection (bits 1-3), the rest is the text. Each connection's first message carries an
// identity, as a token would give it. A snapshot that does not restore is a room lost at the next
// restart.
#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <string_view>

#include <boost/json.hpp>

#include "engine/effects.hpp"
#include "engine/rng.hpp"
#include "games/alias/module.hpp"
#include "games/brainrot/module.hpp"
#include "games/quiz/module.hpp"
#include "games/relay/module.hpp"
#include "tests/fuzz/mafia_session.hpp"

namespace {

using namespace partyd;
namespace json = boost::json;

struct room_under_test {
  const game_module& module;
  std::unique_ptr<game> instance;
  room_rng rng{1};
  time_ms now = 1'700'000'000'000;

  void step(connection_id conn, std::string_view text, bool first, std::string secret = {}) {
    decode_result decoded = module.decode(text, first);
    if (decoded.error || !decoded.cmd || decoded.creates_room) return;
    input in;
    in.kind = input_kind::command;
    in.conn = conn;
    in.cmd = std::move(decoded.cmd);
    in.secret = first ? (secret.empty() ? "s" + std::to_string(conn) : secret) : std::string();
    if (first) {
      in.identity = std::make_shared<const connection_identity>(
          connection_identity{"u" + std::to_string(conn), "User " + std::to_string(conn)});
    }
    effects out;
    instance->step(in, now, rng, out);
    track(out);
    now += 1000;
    if (fires_timers) fire_due();
  }

  // Alias: the timers its effects armed, fired once due (as the engine's wheel would).
  bool fires_timers = false;
  std::map<std::uint64_t, time_ms> timers;
  void track(const effects& out) {
    for (const effect& e : out.list()) {
      if (e.kind == effect_kind::set_timer) timers[e.timer_key] = e.deadline;
      if (e.kind == effect_kind::cancel_timer) timers.erase(e.timer_key);
      if (e.kind == effect_kind::close_room) timers.clear();
    }
  }
  void fire_due() {
    for (int fired = 0; fired < 16; ++fired) {
      auto due = timers.end();
      for (auto it = timers.begin(); it != timers.end(); ++it) {
        if (it->second <= now && (due == timers.end() || it->second < due->second)) due = it;
      }
      if (due == timers.end()) return;
      input in;
      in.kind = input_kind::timer;
      in.timer_key = due->first;
      timers.erase(due);
      effects out;
      instance->step(in, now, rng, out);
      track(out);
    }
  }

  void check_restores() const {
    const std::string bytes = instance->snapshot();
    auto restored = module.restore(bytes);
    if (!restored || restored->snapshot() != bytes) __builtin_trap();
  }
};

std::string brainrot_create() {
  json::array senders;
  for (const char* id : {"s1", "s2", "s3"}) {
    senders.emplace_back(
        json::object{{"sender_id", id}, {"name", id}, {"active", true}, {"reels_count", 1}});
  }
  json::array items;
  items.emplace_back(json::object{{"item_id", "a"},
                                  {"reel", {{"reel_id", "ra"}, {"url", "https://r/a"}}},
                                  {"true_sender_ids", json::array{"s1"}}});
  json::array rounds;
  rounds.emplace_back(json::object{{"round_id", "r1"}, {"items", std::move(items)}});
  return json::serialize(
      json::object{{"type", "CREATE_ROOM"},
                   {"payload", {{"senders", std::move(senders)}, {"rounds", std::move(rounds)}}}});
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const relay_module relay{};
  static const brainrot_module brainrot{};
  static const quiz_module quiz{};
  static const alias_module alias{};
  static const mafia_module mafia{mafia_fuzz::harness_config()};

  create_result made_relay = relay.create(json::object{}, "ROOM42");
  room_under_test relay_room{relay, std::move(made_relay.instance)};
  const std::string host_key(made_relay.reply.at("hostKey").as_string());
  relay_room.step(
      1, R"({"type":"handshake","roomCode":"ROOM42","role":"host","hostKey":")" + host_key + "\"}",
      true);

  decode_result create = brainrot.decode(brainrot_create(), true);
  create_result made_brainrot = brainrot.create(create.create_options, "ABCDEFGH");
  room_under_test brainrot_room{brainrot, std::move(made_brainrot.instance)};
  {
    input in;
    in.kind = input_kind::command;
    in.conn = 1;
    in.cmd = std::move(create.cmd);
    in.secret = "master-secret";
    effects out;
    brainrot_room.instance->step(in, brainrot_room.now, brainrot_room.rng, out);
  }

  create_result made_quiz = quiz.create(json::object{}, "QUIZ42");
  room_under_test quiz_room{quiz, std::move(made_quiz.instance)};  // first joiner hosts

  decode_result alias_create = alias.decode(
      R"({"type":"CREATE_ROOM","payload":{"hostName":"H","roundDurationSec":10,"roundsPerTeam":1,"scoreReviewSec":1}})",
      true);
  create_result made_alias = alias.create(alias_create.create_options, "ALIAS7");
  room_under_test alias_room{alias, std::move(made_alias.instance)};
  alias_room.fires_timers = true;
  {
    input in;
    in.kind = input_kind::command;
    in.conn = 2;
    in.cmd = std::move(alias_create.cmd);
    in.secret = "host-secret";
    effects out;
    alias_room.instance->step(in, alias_room.now, alias_room.rng, out);
  }

  mafia_fuzz::mafia_world mafia_rooms(mafia);

  bool seen[4][8] = {};
  seen[3][0] = true;  // Alias's host, connection 2
  std::string_view rest(reinterpret_cast<const char*>(data), size);
  while (!rest.empty()) {
    const std::size_t end = rest.find('\n');
    std::string_view line = rest.substr(0, end);
    rest = end == std::string_view::npos ? std::string_view() : rest.substr(end + 1);
    if (line.empty()) continue;
    const auto selector = static_cast<unsigned char>(line.front());
    const std::string_view text = line.substr(1);
    if ((selector & 0x40) != 0) {
      mafia_rooms.line((selector >> 1) & 7, text);
      continue;
    }
    const int game_index = (selector & 0x20) != 0 ? 3 : (selector & 0x10) != 0 ? 2 : selector & 1;
    const connection_id conn = 2 + ((selector >> 1) & 7);  // 2..9; 1 is the host or master
    room_under_test* rooms[] = {&relay_room, &brainrot_room, &quiz_room, &alias_room};
    room_under_test& room = *rooms[game_index];
    const bool first = !seen[game_index][conn - 2];
    seen[game_index][conn - 2] = true;
    room.step(conn, text, first);
    room.check_restores();
  }
  relay_room.check_restores();
  brainrot_room.check_restores();
  quiz_room.check_restores();
  alias_room.check_restores();
  mafia_rooms.check_all();
  return 0;
}
