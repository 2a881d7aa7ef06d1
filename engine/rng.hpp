// A room's seeded random generator. Deterministic: the same seed and the same draws give the
// same numbers, so replays and restores agree. Persisted compactly as (seed, draws).
// Thread: owned by the room's worker.
#pragma once

#include <cstdint>
#include <random>

namespace partyd {

class room_rng {
 public:
  explicit room_rng(std::uint64_t seed = 0) : seed_(seed), engine_(seed) {}

  std::uint64_t next() {
    ++draws_;
    return engine_();
  }
  // Uniform in [0, bound); bound > 0.
  std::uint64_t below(std::uint64_t bound) {
    std::uniform_int_distribution<std::uint64_t> dist(0, bound - 1);
    counting_engine counting{*this};
    return dist(counting);
  }

  std::uint64_t seed() const noexcept { return seed_; }
  std::uint64_t draws() const noexcept { return draws_; }

  // Rebuilds the generator at the position a snapshot recorded.
  static room_rng at(std::uint64_t seed, std::uint64_t draws) {
    room_rng rng(seed);
    rng.engine_.discard(draws);
    rng.draws_ = draws;
    return rng;
  }

 private:
  struct counting_engine {
    using result_type = std::mt19937_64::result_type;
    static constexpr result_type min() { return std::mt19937_64::min(); }
    static constexpr result_type max() { return std::mt19937_64::max(); }
    room_rng& owner;
    result_type operator()() { return owner.next(); }
  };

  std::uint64_t seed_ = 0;
  std::uint64_t draws_ = 0;
  std::mt19937_64 engine_;
};

}  // namespace partyd
