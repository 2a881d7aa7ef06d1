// Brainrot micro benchmarks: decoding a SUBMIT_VOTE, one vote step in an 8-player room, and
// snapshot encode/restore of a typical room (8 players, 3 rounds of 5 items) and a large one (100
// players with 2 kB avatars, 10 rounds of 10 items), both in the middle of round 2's first vote.
// Rooms are built through the module's own decode and step, as io and the worker drive them.
// See bench/README.md.
#include <benchmark/benchmark.h>

#include <memory>
#include <stdexcept>
#include <string>

#include <boost/json.hpp>

#include "bench/game_bench.hpp"
#include "engine/effects.hpp"
#include "engine/game.hpp"
#include "games/brainrot/codec.hpp"
#include "games/brainrot/game.hpp"
#include "games/brainrot/module.hpp"

namespace partyd {
namespace {

namespace json = boost::json;

constexpr std::string_view code = "BENCHBR8";
constexpr connection_id master_conn = 1;
constexpr connection_id first_device = 100;
// CREATE_ROOM's socket secret becomes the room's master key.
constexpr std::string_view master_key = "bench-master-key-0123456789abcde";

std::string envelope(std::string_view type, json::object payload) {
  return json::serialize(json::object{{"type", type}, {"payload", std::move(payload)}});
}

// prefix + n. (GCC 12 warns, falsely, about `"literal" + std::to_string(n)` under -O3.)
std::string numbered(std::string_view prefix, std::uint64_t n) {
  std::string text(prefix);
  text += std::to_string(n);
  return text;
}

std::string sender_id(int i) { return numbered("s", static_cast<std::uint64_t>(i) + 1); }
std::string player_id(int i) { return "p_" + sender_id(i); }
std::string device_id(connection_id conn) { return numbered("device-", conn); }

// `players` senders; `rounds` rounds of `items` items, each sent by one sender.
json::object create_payload(int players, int rounds, int items) {
  json::array senders;
  for (int i = 0; i < players; ++i) {
    senders.emplace_back(
        json::object{{"sender_id", sender_id(i)},
                     {"name", numbered("Player ", static_cast<std::uint64_t>(i) + 1)},
                     {"active", true},
                     {"reels_count", rounds * items / players + 1}});
  }
  json::array round_list;
  for (int r = 0; r < rounds; ++r) {
    json::array item_list;
    for (int k = 0; k < items; ++k) {
      const std::string id = numbered("r", static_cast<std::uint64_t>(r) + 1) +
                             numbered("i", static_cast<std::uint64_t>(k) + 1);
      item_list.emplace_back(json::object{
          {"item_id", id},
          {"reel", {{"reel_id", "reel_" + id}, {"url", "https://www.instagram.com/reel/" + id}}},
          {"true_sender_ids", json::array{sender_id((r * items + k) % players)}}});
    }
    round_list.emplace_back(
        json::object{{"round_id", numbered("r", static_cast<std::uint64_t>(r) + 1)},
                     {"items", std::move(item_list)}});
  }
  return {{"senders", std::move(senders)}, {"rounds", std::move(round_list)}};
}

// A brainrot room driven through decode + step, as the engine would drive it.
class brainrot_room {
 public:
  brainrot_room(const brainrot_module& module, int players, int rounds, int items)
      : module_(module), players_(players) {
    decode_result decoded =
        module_.decode(envelope("CREATE_ROOM", create_payload(players, rounds, items)), true);
    check(decoded);
    create_result made = module_.create(decoded.create_options, code);
    if (made.error) throw std::runtime_error("bench setup: create " + made.error.message);
    game_ = std::move(made.instance);
    input created;
    created.kind = input_kind::created;
    run(created);
    input first;
    first.conn = master_conn;
    first.cmd = std::move(decoded.cmd);
    first.secret = std::string(master_key);
    run(first);
  }

  void send(connection_id conn, std::string_view type, json::object payload, bool first = false) {
    payload["code"] = code;
    decode_result decoded = module_.decode(envelope(type, std::move(payload)), first);
    check(decoded);
    input in;
    in.conn = conn;
    in.cmd = std::move(decoded.cmd);
    if (first) in.secret = numbered("secret-", conn);
    run(in);
  }
  void master(std::string_view type, json::object payload = {}) {
    payload["master_key"] = master_key;
    send(master_conn, type, std::move(payload));
  }

  // Every player is claimed by its own device (first_device + i), optionally with an avatar.
  void claim_all(std::size_t avatar_bytes) {
    for (int i = 0; i < players_; ++i) {
      const connection_id conn = first_device + static_cast<connection_id>(i);
      send(conn, "JOIN_ROOM", {{"device_id", device_id(conn)}}, true);
      send(conn, "TAKE_PLAYER", {{"device_id", device_id(conn)}, {"player_id", player_id(i)}});
      if (avatar_bytes > 0) {
        std::string image = "data:image/png;base64,";
        image.append(avatar_bytes, 'A');
        send(conn, "UPDATE_AVATAR",
             {{"device_id", device_id(conn)}, {"player_id", player_id(i)}, {"image", image}});
      }
    }
  }

  const std::string& round_id() const { return state().round_order[state().round_index]; }
  const std::string& item_id() const {
    for (const brainrot::round& r : state().rounds) {
      if (r.round_id == round_id()) return r.items[state().item_index].item_id;
    }
    throw std::runtime_error("bench setup: no current round");
  }

  // The text of player i's vote for the current item.
  std::string vote_text(int i) const {
    const connection_id conn = first_device + static_cast<connection_id>(i);
    return envelope("SUBMIT_VOTE", {{"code", code},
                                    {"device_id", device_id(conn)},
                                    {"player_id", player_id(i)},
                                    {"round_id", round_id()},
                                    {"item_id", item_id()},
                                    {"selections", json::array{sender_id((i + 1) % players_)}}});
  }
  void vote(int i) {
    decode_result decoded = module_.decode(vote_text(i), false);
    check(decoded);
    input in;
    in.conn = first_device + static_cast<connection_id>(i);
    in.cmd = std::move(decoded.cmd);
    run(in);
  }

  // START_GAME, a whole first round (everyone votes on every item), then round 2's first reel
  // with every player but the last having voted: the room is in the middle of a vote.
  void play_to_second_round_vote() {
    master("START_GAME");
    const std::string first_round = round_id();
    while (round_id() == first_round && state().status == brainrot::status::idle) {
      master("REEL_OPENED", {{"round_id", round_id()}, {"item_id", item_id()}});
      for (int i = 0; i < players_; ++i) vote(i);
      master("END_ITEM", {{"round_id", round_id()}, {"item_id", item_id()}});
    }
    master("START_NEXT_ROUND");
    master("REEL_OPENED", {{"round_id", round_id()}, {"item_id", item_id()}});
    for (int i = 0; i + 1 < players_; ++i) vote(i);
    if (state().status != brainrot::status::vote ||
        state().votes.size() != static_cast<std::size_t>(players_ - 1)) {
      throw std::runtime_error("bench setup: the room is not in a vote");
    }
  }

  game& instance() { return *game_; }
  room_rng& rng() { return rng_; }
  const brainrot::room_state& state() const {
    return static_cast<const brainrot_game&>(*game_).state();
  }

 private:
  static void check(const decode_result& decoded) {
    if (decoded.error) {
      throw std::runtime_error("bench setup: " + decoded.error.code + " " + decoded.error.message);
    }
  }
  void run(input& in) {
    game_->step(in, now_, rng_, out_);
    for (const effect& e : out_.list()) {
      if (e.kind == effect_kind::send && e.frame &&
          e.frame->find("\"type\":\"ERROR\"") != std::string::npos) {
        throw std::runtime_error("bench setup: " + *e.frame);
      }
    }
    out_.clear();
    now_ += 100;
  }

  const brainrot_module& module_;
  int players_;
  std::unique_ptr<game> game_;
  room_rng rng_{7};
  effects out_;
  time_ms now_ = 1700000000000;
};

struct room_shape {
  int players;
  int rounds;
  int items;
  std::size_t avatar_bytes;
};

// state.range(0) = players: 8 is a typical room, 100 a large one.
room_shape shape_of(std::int64_t players) {
  if (players <= 8) return {8, 3, 5, 0};
  return {static_cast<int>(players), 10, 10, 2048};
}

std::unique_ptr<brainrot_room> build_room(const brainrot_module& module, std::int64_t players) {
  const room_shape shape = shape_of(players);
  auto r = std::make_unique<brainrot_room>(module, shape.players, shape.rounds, shape.items);
  r->claim_all(shape.avatar_bytes);
  r->play_to_second_round_vote();
  return r;
}

void BM_brainrot_decode_submit_vote(benchmark::State& state) {
  brainrot_module module;
  auto r = build_room(module, 8);
  bench::measure_decode(state, module, r->vote_text(7), false);
}
BENCHMARK(BM_brainrot_decode_submit_vote);

// A player's SUBMIT_VOTE in an 8-player room where 7 have voted: VOTE_ACK to the voter,
// PLAYER_VOTED to the master. Player 0 votes again every iteration (a vote overwrites the
// earlier one), so the vote never closes and every iteration does the same work.
void BM_brainrot_step_submit_vote_8_players(benchmark::State& state) {
  brainrot_module module;
  auto r = build_room(module, 8);
  input in;
  in.kind = input_kind::command;
  in.conn = first_device;
  in.cmd = module.decode(r->vote_text(0), false).cmd;
  bench::measure_step(state, r->instance(), r->rng(), 1700000100000, in, [](input&) {});
}
BENCHMARK(BM_brainrot_step_submit_vote_8_players);

void BM_brainrot_snapshot_encode(benchmark::State& state) {
  brainrot_module module;
  auto r = build_room(module, state.range(0));
  bench::measure_snapshot_encode(state, r->instance());
}
BENCHMARK(BM_brainrot_snapshot_encode)->ArgName("players")->Arg(8)->Arg(100);

void BM_brainrot_snapshot_restore(benchmark::State& state) {
  brainrot_module module;
  auto r = build_room(module, state.range(0));
  bench::measure_snapshot_restore(state, module, r->instance().snapshot());
}
BENCHMARK(BM_brainrot_snapshot_restore)->ArgName("players")->Arg(8)->Arg(100);

}  // namespace
}  // namespace partyd
