// Snapshots written before the room rng and the toolkit changes (schema 1 envelopes, as stored by
// partyd up to abb3642: tests/fixtures/snapshots/*_schema1.json) still restore: the envelope's
// seed becomes the new rng's state, each game rebuilds its room and writes the same game bytes
// back, and the runtime reopens both rooms.
#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "engine/room_snapshot.hpp"
#include "engine/runtime.hpp"
#include "games/registry.hpp"
#include "relay/relay_harness.hpp"

namespace partyd {
namespace {

std::string fixture(const std::string& name) {
  std::ifstream in(std::string(PARTYD_SOURCE_DIR) + "/tests/fixtures/snapshots/" + name);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class SnapshotCompat : public ::testing::TestWithParam<const char*> {};

TEST_P(SnapshotCompat, SchemaOneRestoresUnderTheCurrentCode) {
  const std::string bytes = fixture(GetParam());
  ASSERT_FALSE(bytes.empty()) << GetParam();
  std::string error;
  auto envelope = decode_room_snapshot(bytes, error);
  ASSERT_TRUE(envelope) << error;
  // Schema 1 kept a seed and a draw count (0: no game drew then).
  EXPECT_EQ(bytes.find("\"schema\":1,"), 0u + 1);
  const std::size_t seed_at = bytes.find("\"rngSeed\":\"") + 11;
  const std::uint64_t seed = std::stoull(bytes.substr(seed_at, bytes.find('"', seed_at) - seed_at));
  EXPECT_EQ(envelope->rng_state, room_rng(seed).state());

  metrics_registry metrics;
  // The runtime's clock stands at the snapshot's last activity: a fixture written hours ago must
  // not expire as inactive while the test looks at it.
  runtime_options options;
  const time_ms frozen = envelope->last_activity;
  options.clock = [frozen] { return frozen; };
  runtime engine(std::move(options), metrics);
  for (const auto& game : game_factories()) {
    engine.add_module(game->make());
  }
  const game_module* module = engine.module_by_name(envelope->game);
  ASSERT_NE(module, nullptr) << envelope->game;
  auto restored = module->restore(envelope->state);
  ASSERT_TRUE(restored) << "the game rejected its schema-1 state";
  // Written again in the game's current schema, it restores to the same bytes.
  const std::string current = restored->snapshot();
  auto again = module->restore(current);
  ASSERT_TRUE(again);
  EXPECT_EQ(again->snapshot(), current);

  if (envelope->game == "relay") {
    // A seat from before seat tokens is reclaimed with its clientId as the token.
    const std::size_t at = envelope->state.find("\"clientId\":\"") + 12;
    const std::string client_id = envelope->state.substr(at, envelope->state.find('"', at) - at);
    relay::testing::harness h(module->restore(envelope->state));
    relay::testing::outcome back = h.handshake(9, {{"role", "player"},
                                                   {"password", "pw"},
                                                   {"clientId", client_id},
                                                   {"seatToken", client_id}});
    EXPECT_EQ(back.error_code(9), "");
    const std::string without_token =
        boost::json::serialize(boost::json::object{{"type", "handshake"},
                                                   {"roomCode", envelope->code},
                                                   {"role", "player"},
                                                   {"password", "pw"},
                                                   {"clientId", client_id}});
    EXPECT_EQ(h.send_text(10, without_token).error_code(10), "wrong_seat_token");
  }

  engine.start();
  const auto outcome = engine.restore_room(bytes);
  EXPECT_TRUE(outcome.ok) << outcome.error;
  auto room = engine.find(envelope->code);
  ASSERT_TRUE(room);
  EXPECT_EQ(room->state_version(), envelope->version);
  EXPECT_GE(room->summary().seats, 1u);
  // Written again, it is a schema 2 envelope with the same rng state.
  auto reread = decode_room_snapshot(encode_room_snapshot(*envelope), error);
  ASSERT_TRUE(reread) << error;
  EXPECT_EQ(reread->rng_state, envelope->rng_state);
  engine.stop();
}

INSTANTIATE_TEST_SUITE_P(Games, SnapshotCompat,
                         ::testing::Values("relay_schema1.json", "brainrot_schema1.json"));

}  // namespace
}  // namespace partyd
