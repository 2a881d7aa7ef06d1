// libFuzzer target: Mafia snapshot restore (a "mafia" room or the "mafia-queue" queue) on arbitrary
// bytes, with the default limits. A snapshot that restores must encode again to bytes that restore
// to the same snapshot (a fixed point after one round). The restored instance is then stepped as
// after a restart (created, presence, its seats' commands, its timers, history and room answers,
// disconnects): no crash, and every snapshot it writes on the way restores to the same bytes.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/effects.hpp"
#include "engine/rng.hpp"
#include "games/mafia/codec.hpp"
#include "games/mafia/game.hpp"
#include "games/mafia/matchmaker.hpp"
#include "games/mafia/module.hpp"

namespace {

using namespace partyd;

[[noreturn]] void fail(const char* what, std::string_view bytes) {
  std::fprintf(stderr, "mafia_snapshot_fuzz: %s\nsnapshot: %.*s\n", what,
               static_cast<int>(bytes.size()), bytes.data());
  __builtin_trap();
}

// Times from the bytes may be anything; the clock stays where the harness's own sums cannot wrap.
time_ms clock_after(time_ms t) {
  constexpr time_ms latest = time_ms{1} << 52;
  return std::clamp<time_ms>(t, 0, latest) + 1;
}

struct driver {
  const mafia_module& module;
  std::unique_ptr<game> instance;
  room_rng rng{7};
  time_ms now = 1'700'000'000'000;
  bool closed = false;

  void step(input in) {
    if (closed) return;
    effects out;
    instance->step(in, now, rng, out);
    for (const effect& e : out.list()) {
      if (e.kind == effect_kind::close_room) closed = true;
    }
    const std::string bytes = instance->snapshot();
    auto restored = module.restore(bytes);
    if (!restored || restored->snapshot() != bytes) fail("a stepped room does not restore", bytes);
  }

  void command(connection_id conn, std::string_view text, bool first, std::string user = {}) {
    decode_result decoded = module.decode(text, first);
    if (!decoded.cmd) return;
    input in;
    in.kind = input_kind::command;
    in.conn = conn;
    in.cmd = std::move(decoded.cmd);
    if (first) {
      in.secret = "s" + std::to_string(conn);
      in.identity = std::make_shared<const connection_identity>(
          connection_identity{std::move(user), "Late Player", true});
    }
    step(std::move(in));
  }

  void simple(input_kind kind, connection_id conn = 0, std::uint64_t timer_key = 0,
              presence_stage stage = presence_stage::away) {
    input in;
    in.kind = kind;
    in.conn = conn;
    in.timer_key = timer_key;
    in.stage = stage;
    step(std::move(in));
  }

  void written(std::string key, bool ok) {
    auto r = std::make_unique<record_written_reply>();
    r->key = std::move(key);
    r->written = ok;
    input in;
    in.kind = input_kind::record_written;
    in.cmd = std::move(r);
    step(std::move(in));
  }

  void created(std::uint64_t request, std::string code, std::string error) {
    auto r = std::make_unique<room_created_reply>();
    r->code = std::move(code);
    r->error = std::move(error);
    input in;
    in.kind = input_kind::room_created;
    in.timer_key = request;
    in.cmd = std::move(r);
    step(std::move(in));
  }
};

std::string with_target(std::string_view type, std::string_view target) {
  return "{\"type\":\"" + std::string(type) + "\",\"payload\":{\"targetId\":\"" +
         std::string(target) + "\"}}";
}

void play_room(driver& d) {
  const auto* room = dynamic_cast<const mafia_game*>(d.instance.get());
  const mafia::room_state& s = room->state();  // a reference: it follows the steps
  d.now = clock_after(std::max({s.created_at, s.phase_ends_at, s.countdown_ends_at}));
  d.simple(input_kind::created);
  // The seats as restored: later steps may remove some, so work on a copy.
  std::vector<std::pair<connection_id, std::string>> seats;
  for (const auto& p : s.players) {
    if (p.conn != 0) seats.emplace_back(p.conn, p.user_id);
  }
  for (const auto& [conn, user] : seats) {
    d.simple(input_kind::presence, conn, 0, presence_stage::away);
    d.simple(input_kind::presence, conn, 0, presence_stage::back);
    d.command(conn, R"({"type":"room:ready"})", false);
  }
  for (const auto& [conn, user] : seats) d.command(conn, R"({"type":"room:start"})", false);
  for (int round = 0; round < 3 && !d.closed; ++round) {
    for (const auto& [conn, user] : seats) {
      const std::string& other = seats[(round + 1 + (conn % seats.size())) % seats.size()].second;
      d.command(conn, with_target("action:mafiaKill", other), false);
      d.command(conn, with_target("action:doctorSave", user), false);
      d.command(conn, with_target("action:detectiveInspect", other), false);
      d.command(conn, R"({"type":"chat:send","payload":{"message":"hi"}})", false);
      d.command(conn, with_target("vote:cast", other), false);
    }
    d.now = clock_after(std::max(d.now, s.phase_ends_at));
    for (std::uint64_t key : {mafia_game::phase_timer, mafia_game::countdown_timer}) {
      d.simple(input_kind::timer, 0, key);
    }
  }
  // The history's answers: one refused for now, then each record written.
  std::vector<std::string> keys;
  for (const auto& e : s.unwritten) keys.push_back(e.game_id);
  if (!keys.empty()) d.written(keys[0], false);
  d.simple(input_kind::timer, 0, mafia_game::history_timer);
  for (const std::string& key : keys) {
    d.written(key, true);
  }
  // A connection of a reserved user (a matched room) or of a new one.
  const std::string late = s.reserved.empty() ? mafia::uuid_from(1, 2) : s.reserved.front();
  d.command(1'000'000, "{\"type\":\"room:join\",\"payload\":{\"roomCode\":\"ABCDEF\"}}", true,
            late);
  for (const auto& [conn, user] : seats) d.simple(input_kind::disconnect, conn);
  d.simple(input_kind::inactive);
}

void play_queue(driver& d) {
  const auto* queue = dynamic_cast<const mafia_matchmaker*>(d.instance.get());
  const mafia::queue_state& s = queue->state();
  d.now = clock_after(s.retry_at);
  d.simple(input_kind::created);
  std::vector<std::uint64_t> requests;
  for (const auto& g : s.forming) requests.push_back(g.request);
  // The first room is made, the others refused (the server is full).
  for (std::size_t i = 0; i < requests.size(); ++i) {
    d.created(requests[i], i == 0 ? "ABCDEF" : "", i == 0 ? "" : "limit_reached");
  }
  std::vector<connection_id> conns;
  for (const auto& p : s.waiting) conns.push_back(p.conn);
  for (connection_id conn : conns) {
    d.simple(input_kind::presence, conn, 0, presence_stage::away);
    d.simple(input_kind::presence, conn, 0, presence_stage::back);
  }
  for (std::uint64_t k = 0; k < 4; ++k) {
    d.command(2'000'000 + k, R"({"type":"matchmaking:join"})", true, mafia::uuid_from(k, 9));
  }
  d.now = clock_after(d.now + 60'000);
  d.simple(input_kind::timer, 0, mafia_matchmaker::match_timer);
  if (!conns.empty()) {
    d.command(conns.front(), R"({"type":"matchmaking:leave"})", false);
    d.simple(input_kind::disconnect, conns.back());
  }
  d.simple(input_kind::inactive);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const mafia_module module{};
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto restored = module.restore(bytes);
  if (!restored) return 0;
  const std::string once = restored->snapshot();
  auto again = module.restore(once);
  if (!again || again->snapshot() != once) fail("a restored snapshot does not restore again", once);
  driver d{module, std::move(again)};
  if (dynamic_cast<const mafia_game*>(d.instance.get())) {
    play_room(d);
  } else if (dynamic_cast<const mafia_matchmaker*>(d.instance.get())) {
    play_queue(d);
  } else {
    fail("restore made neither a room nor a queue", once);
  }
  return 0;
}
