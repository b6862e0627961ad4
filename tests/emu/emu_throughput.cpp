// emu_throughput [BLOCKS THREADS ROUNDS]: how fast the CUDA emulator runs a barrier-heavy kernel
// (two __syncthreads per round), in thread-barriers per second, for round robin and a shuffled
// schedule. ROUNDS 0 measures what a thread costs without barriers (fiber start, kernel, exit).
// The figures size the emulator tests (docs/cuda-emulator.md); not a test itself.
#include <chrono>
#include <cstdio>
#include <cstdlib>

#include "barrier_bench.h"
#include "emu/control.h"

int main(int argc, char** argv) {
  const int blocks = argc > 1 ? std::atoi(argv[1]) : 64;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 256;
  const int rounds = argc > 3 ? std::atoi(argv[3]) : 200;
  if (blocks <= 0 || threads <= 0 || threads > 1024 || rounds < 0) {
    std::fprintf(stderr, "usage: emu_throughput [BLOCKS THREADS(1-1024) ROUNDS]\n");
    return 2;
  }
  dg::test::run_barrier_rounds(1, threads, 1);  // warm-up: maps the fiber stacks
  for (uint64_t seed : {uint64_t{0}, uint64_t{1}}) {
    dg::emu::set_schedule_seed(seed);
    const auto start = std::chrono::steady_clock::now();
    const float checksum = dg::test::run_barrier_rounds(blocks, threads, rounds);
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double thread_barriers = 2.0 * rounds * threads * blocks;
    std::printf("seed %llu (%s): %d blocks x %d threads x %d barriers in %.3f s: %.1f M thread-barriers/s, "
                "%.3f M threads/s through the kernel (checksum %g)\n",
                static_cast<unsigned long long>(seed), seed == 0 ? "round robin" : "shuffled", blocks, threads,
                2 * rounds, seconds, thread_barriers / seconds / 1e6, double(blocks) * threads / seconds / 1e6,
                checksum);
  }
  return 0;
}
