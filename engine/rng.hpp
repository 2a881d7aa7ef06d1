// A room's seeded random generator: xoshiro256** (Blackman and Vigna), seeded by splitmix64.
// 32 bytes of state (a mt19937_64 took 2.5 KiB per room), persisted as is in the room's snapshot
// and restored without replaying draws. Deterministic everywhere: next() and below() are defined
// here bit for bit, not by a standard library's distribution, so a replay or a restore on another
// build draws the same numbers.
// Thread: owned by the room's worker.
#pragma once

#include <array>
#include <cstdint>

namespace partyd {

class room_rng {
 public:
  using state_type = std::array<std::uint64_t, 4>;

  explicit room_rng(std::uint64_t seed = 0) noexcept {
    for (std::uint64_t& word : state_) {
      word = splitmix64(seed);
    }
  }

  // The generator at a position a snapshot recorded. An all-zero state (never produced by the
  // seeding above) would draw zeros forever; it is replaced by the state of seed 0.
  static room_rng from_state(const state_type& state) noexcept {
    room_rng rng;
    if (state != state_type{}) {
      rng.state_ = state;
    }
    return rng;
  }
  const state_type& state() const noexcept { return state_; }

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const std::uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, bound), without bias (Lemire's multiply-and-reject); bound > 0.
  std::uint64_t below(std::uint64_t bound) noexcept {
    unsigned __int128 product = static_cast<unsigned __int128>(next()) * bound;
    auto low = static_cast<std::uint64_t>(product);
    if (low < bound) {
      const std::uint64_t threshold = (0 - bound) % bound;
      while (low < threshold) {
        product = static_cast<unsigned __int128>(next()) * bound;
        low = static_cast<std::uint64_t>(product);
      }
    }
    return static_cast<std::uint64_t>(product >> 64);
  }

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  static std::uint64_t splitmix64(std::uint64_t& x) noexcept {
    std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
  }

  state_type state_{};
};

}  // namespace partyd
