// Relay micro benchmarks: decoding typical client messages (a handshake included), one
// set_game_state and one message_to_host step with 8 players, and snapshot encode/restore of a
// typical room (8 players, 2 polls) and a large one (1000 seats). Rooms are built through the
// module's own decode and step. See bench/README.md.
#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <boost/json.hpp>

#include "bench/game_bench.hpp"
#include "engine/effects.hpp"
#include "engine/game.hpp"
#include "engine/room_snapshot.hpp"
#include "games/relay/codec.hpp"
#include "games/relay/module.hpp"

namespace partyd {
namespace {

namespace json = boost::json;

constexpr std::string_view code = "BENCH2";

// About 200 bytes once serialized: a quiz host's usual state.
json::object typical_state(int round) {
  return {{"phase", "question"},
          {"round", round},
          {"question", "Which planet has the most known moons?"},
          {"choices", json::array{"Mars", "Jupiter", "Saturn", "Neptune"}},
          {"deadline", 1700000020000},
          {"scores", json::object{{"ana", 1200}, {"bo", 900}, {"cy", 1500}, {"di", 300}}}};
}

std::string set_game_state_text(int round) {
  return json::serialize(json::object{{"type", "set_game_state"}, {"state", typical_state(round)}});
}

// A relay room driven through decode + step, as the engine would drive it.
class relay_room {
 public:
  explicit relay_room(const relay_module& module) : module_(module) {
    create_result made = module_.create({}, code);
    host_key_ = std::string(made.reply.at("hostKey").as_string());
    game_ = std::move(made.instance);
  }

  void send(connection_id conn, const json::object& message, bool first = false) {
    decode_result decoded = module_.decode(json::serialize(message), first);
    if (decoded.error) {
      throw std::runtime_error("bench setup: " + decoded.error.code + " " + decoded.error.message);
    }
    input in;
    in.kind = input_kind::command;
    in.conn = conn;
    in.cmd = std::move(decoded.cmd);
    if (first) {
      in.secret = "secret-" + std::to_string(conn);
    }
    game_->step(in, 1000, rng_, out_);
    out_.clear();
  }

  void join_host(connection_id conn) {
    send(conn,
         {{"type", "handshake"}, {"roomCode", code}, {"role", "host"}, {"hostKey", host_key_}},
         true);
  }
  void join_player(connection_id conn) {
    send(conn,
         {{"type", "handshake"},
          {"roomCode", code},
          {"role", "player"},
          {"meta", {{"name", "player " + std::to_string(conn)}, {"avatar", conn % 12}}}},
         true);
  }

  game& instance() { return *game_; }
  room_rng& rng() { return rng_; }

 private:
  const relay_module& module_;
  std::unique_ptr<game> game_;
  std::string host_key_;
  room_rng rng_{7};
  effects out_;
};

// Host 1, players 100.., two polls with every player's answer, a game state and player states.
std::unique_ptr<relay_room> build_room(const relay_module& module, int players) {
  auto r = std::make_unique<relay_room>(module);
  r->join_host(1);
  for (int i = 0; i < players; ++i) {
    r->join_player(100 + static_cast<connection_id>(i));
  }
  r->send(1, {{"type", "set_game_state"}, {"state", typical_state(1)}});
  r->send(1, {{"type", "poll_start"},
              {"pollId", "p1"},
              {"pollType", "single_choice"},
              {"question", "Best pizza topping?"},
              {"options", {"Ham", "Olives", "Corn", "Pineapple"}}});
  r->send(1, {{"type", "poll_start"},
              {"pollId", "p2"},
              {"pollType", "free_text"},
              {"question", "Name a famous scientist"}});
  const char* toppings[] = {"Ham", "Olives", "Corn", "Pineapple"};
  for (int i = 0; i < players; ++i) {
    const auto conn = 100 + static_cast<connection_id>(i);
    r->send(conn, {{"type", "poll_response"}, {"pollId", "p1"}, {"response", toppings[i % 4]}});
    r->send(conn, {{"type", "poll_response"}, {"pollId", "p2"}, {"response", "Marie Curie"}});
  }
  return r;
}

void BM_relay_decode_set_game_state(benchmark::State& state) {
  relay_module module;
  bench::measure_decode(state, module, set_game_state_text(3), false);
}
BENCHMARK(BM_relay_decode_set_game_state);

void BM_relay_decode_message_to_host(benchmark::State& state) {
  relay_module module;
  const std::string text = json::serialize(json::object{
      {"type", "message_to_host"}, {"message", {{"action", "answer"}, {"choice", 2}}}});
  bench::measure_decode(state, module, text, false);
}
BENCHMARK(BM_relay_decode_message_to_host);

// A connection's first message: a player's handshake with a small meta (91 B).
void BM_relay_decode_handshake(benchmark::State& state) {
  relay_module module;
  const std::string text =
      json::serialize(json::object{{"type", "handshake"},
                                   {"roomCode", code},
                                   {"role", "player"},
                                   {"meta", {{"name", "Alice"}, {"avatar", 3}}}});
  bench::measure_decode(state, module, text, true);
}
BENCHMARK(BM_relay_decode_handshake);

// One host set_game_state in a room of 8 connected players: the step and the effects it makes
// (the frame is built once for every player). The command is decoded once, outside; the step
// takes the state out of its command, so every iteration steps a fresh copy of it (one copy of
// a ~200-byte string, part of the figure).
void BM_relay_step_set_game_state_8_players(benchmark::State& state) {
  relay_module module;
  auto r = build_room(module, 8);
  const auto decoded = module.decode(set_game_state_text(4), false);
  const auto& command = dynamic_cast<const relay::set_game_state_cmd&>(*decoded.cmd);
  input in;
  in.kind = input_kind::command;
  in.conn = 1;
  bench::measure_step(state, r->instance(), r->rng(), 2000, in, [&command](input& next) {
    next.cmd = std::make_unique<relay::set_game_state_cmd>(command);
  });
}
BENCHMARK(BM_relay_step_set_game_state_8_players);

// One player's message_to_host in the same room: one client_message frame to the host.
void BM_relay_step_message_to_host_8_players(benchmark::State& state) {
  relay_module module;
  auto r = build_room(module, 8);
  input in;
  in.kind = input_kind::command;
  in.conn = 100;
  in.cmd =
      module
          .decode(json::serialize(json::object{{"type", "message_to_host"},
                                               {"message", {{"action", "answer"}, {"choice", 2}}}}),
                  false)
          .cmd;
  bench::measure_step(state, r->instance(), r->rng(), 2000, in, [](input&) {});
}
BENCHMARK(BM_relay_step_message_to_host_8_players);

void BM_relay_snapshot_encode(benchmark::State& state) {
  relay_module module;
  auto r = build_room(module, static_cast<int>(state.range(0)));
  bench::measure_snapshot_encode(state, r->instance());
}
BENCHMARK(BM_relay_snapshot_encode)->ArgName("seats")->Arg(8)->Arg(1000);

// What a worker spends per snapshot of a relay room: the game's bytes inside the engine's
// envelope (engine/room_snapshot), as the snapshot writer receives them.
void BM_relay_room_snapshot_encode(benchmark::State& state) {
  relay_module module;
  auto r = build_room(module, static_cast<int>(state.range(0)));
  room_snapshot snapshot;
  snapshot.game = "relay";
  snapshot.code = "K7MNPQ";
  snapshot.created_at = 1796217842773;
  snapshot.last_activity = 1796217842773;
  snapshot.version = 12;
  snapshot.rng_state = {13602123730461514068u, 17065175787613227733u, 4746659747985591758u,
                        14805535216808432992u};
  snapshot.timers = {{1, 1796218142773}};
  std::size_t bytes = 0;
  for (auto _ : state) {
    snapshot.state = r->instance().snapshot();
    std::string envelope = encode_room_snapshot(snapshot);
    bytes = envelope.size();
    benchmark::DoNotOptimize(envelope.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.counters["envelope_bytes"] = static_cast<double>(bytes);
}
BENCHMARK(BM_relay_room_snapshot_encode)->ArgName("seats")->Arg(8)->Arg(1000);

void BM_relay_snapshot_restore(benchmark::State& state) {
  relay_module module;
  auto r = build_room(module, static_cast<int>(state.range(0)));
  bench::measure_snapshot_restore(state, module, r->instance().snapshot());
}
BENCHMARK(BM_relay_snapshot_restore)->ArgName("seats")->Arg(8)->Arg(1000);

}  // namespace
}  // namespace partyd
