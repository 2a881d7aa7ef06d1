// The measuring loops every game's micro benchmarks share: decode of one message, one step of a
// decoded command, snapshot encode and restore. Each game's file builds its room and inputs.
#pragma once

#include <benchmark/benchmark.h>

#include <cstdint>
#include <memory>
#include <string>

#include "engine/effects.hpp"
#include "engine/game.hpp"

namespace partyd::bench {

inline void measure_decode(benchmark::State& state, const game_module& module,
                           const std::string& text, bool first_message) {
  for (auto _ : state) {
    decode_result decoded = module.decode(text, first_message);
    benchmark::DoNotOptimize(decoded.cmd.get());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
  state.counters["message_bytes"] = static_cast<double>(text.size());
}

// Steps `in` once an iteration; `refill(in)` runs before each step, for games whose step takes
// its payload out of the command (pass a no-op otherwise).
template <class Refill>
void measure_step(benchmark::State& state, game& instance, room_rng& rng, time_ms now, input& in,
                  Refill refill) {
  effects out;
  std::size_t made = 0;
  for (auto _ : state) {
    refill(in);
    instance.step(in, now, rng, out);
    made += out.list().size();
    out.clear();
  }
  state.counters["effects_per_step"] =
      static_cast<double>(made) / static_cast<double>(state.iterations());
}

inline void measure_snapshot_encode(benchmark::State& state, const game& instance) {
  std::size_t bytes = 0;
  for (auto _ : state) {
    std::string snapshot = instance.snapshot();
    bytes = snapshot.size();
    benchmark::DoNotOptimize(snapshot.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(bytes));
  state.counters["snapshot_bytes"] = static_cast<double>(bytes);
}

inline void measure_snapshot_restore(benchmark::State& state, const game_module& module,
                                     const std::string& snapshot) {
  for (auto _ : state) {
    std::unique_ptr<game> restored = module.restore(snapshot);
    if (!restored) {
      state.SkipWithError("restore failed");
      break;
    }
    benchmark::DoNotOptimize(restored.get());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(snapshot.size()));
  state.counters["snapshot_bytes"] = static_cast<double>(snapshot.size());
}

}  // namespace partyd::bench
