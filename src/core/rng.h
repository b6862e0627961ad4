// Seeded, platform-independent random numbers (xoshiro256** seeded by splitmix64, Box-Muller
// normals). std::normal_distribution is not specified bit-for-bit across standard libraries; this
// is, so a seed means the same initial weights on every machine.
#pragma once

#include <cmath>
#include <cstdint>

namespace dg {

// Everything that determines an Rng's future output: what a resumable checkpoint saves.
struct RngState {
  uint64_t words[4] = {0, 0, 0, 0};
  bool has_spare = false;
  double spare = 0.0;
};

class Rng {
 public:
  explicit Rng(uint64_t seed) {
    uint64_t x = seed;
    for (auto& s : state_) s = splitmix64(x);
  }

  uint64_t next_u64() {
    const uint64_t result = rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = rotl(state_[3], 45);
    return result;
  }

  // Uniform in [0, 1) with 53 random bits.
  double uniform() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  // Uniform integer in [0, n).
  uint64_t below(uint64_t n) { return next_u64() % n; }
  // Skips n draws of next_u64() (below() and uniform() take one each).
  void discard(uint64_t n) {
    while (n-- > 0) next_u64();
  }

  double normal() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    double u1 = 0.0;
    while (u1 <= 0.0) u1 = uniform();
    const double u2 = uniform();
    const double radius = std::sqrt(-2.0 * std::log(u1));
    const double angle = 2.0 * 3.14159265358979323846 * u2;
    spare_ = radius * std::sin(angle);
    has_spare_ = true;
    return radius * std::cos(angle);
  }
  double normal(double mean, double std) { return mean + std * normal(); }

  RngState state() const {
    RngState s;
    for (int i = 0; i < 4; ++i) s.words[i] = state_[i];
    s.has_spare = has_spare_;
    s.spare = spare_;
    return s;
  }
  void restore(const RngState& s) {
    for (int i = 0; i < 4; ++i) state_[i] = s.words[i];
    has_spare_ = s.has_spare;
    spare_ = s.spare;
  }

 private:
  static uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
  static uint64_t splitmix64(uint64_t& x) {
    uint64_t z = (x += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t state_[4];
  double spare_ = 0.0;
  bool has_spare_ = false;
};

}  // namespace dg
